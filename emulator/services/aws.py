"""boto3 clients for the local moto server, shared by provisioning, reaper and pollers."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from emulator.faults.ddb import EMULATOR_AGENT

# moto accepts any credentials; these are the ones its docs use. Fixed, so nothing here
# ever picks up the developer's real AWS credentials from the environment.
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    # Marks the emulator's own calls: fault mode never throttles them (faults/ddb.py).
    user_agent_extra=EMULATOR_AGENT,
    connect_timeout=5,
    read_timeout=60,  # above SQS's 20 s maximum long poll
    max_pool_connections=20,
)

# One session for all clients: it caches the service models, which makes every client
# after the first of a service ~5x cheaper to build. Sessions are not thread-safe, and
# clients are built from worker threads, hence the lock; the clients themselves are.
_session: Any = None
_session_lock = threading.Lock()


AwsUrl = str | Mapping[str, str]
"""moto's URL: one for every service (the front), or one per service group
(`MotoServer.urls`: "dynamodb", "sqs", "default")."""


def url_for(aws_url: AwsUrl, service: str) -> str:
    """The URL of `aws_url` that serves boto3's client `service`."""
    if isinstance(aws_url, str):
        return aws_url
    from emulator.services.moto.groups import group_of_client

    return aws_url[group_of_client(service)]


def client(service: str, aws_url: AwsUrl, region: str) -> Any:
    """A boto3 client for `service` at the moto server `aws_url`."""
    global _session
    endpoint = url_for(aws_url, service)
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            config=_CONFIG,
            aws_access_key_id=CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        )


def region_of_arn(arn: str) -> str:
    """'us-east-1' from 'arn:aws:dynamodb:us-east-1:123456789012:table/x'."""
    parts = arn.split(":")
    if len(parts) < 6 or not parts[3]:
        raise ValueError(f"not a regional ARN: {arn!r}")
    return parts[3]
