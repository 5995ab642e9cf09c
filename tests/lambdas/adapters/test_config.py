"""Config from the Globals environment of template.yaml."""

from __future__ import annotations

import pytest

from adapters.config import Config
from duel.machine import Timing

ENV = {
    "AWS_REGION": "eu-west-1",
    "CONNECTIONS_TABLE": "c",
    "SESSIONS_TABLE": "s",
    "TIMER_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/t",
    "WEBSOCKET_MANAGEMENT_URL": "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
    "USER_POOL_ID": "eu-west-1_AbCdEf123",
    "USER_POOL_CLIENT_ID": "client",
    "INVITE_TIMEOUT_SECONDS": "2",
    "DUEL_SECONDS": "5",
    "START_LEAD_SECONDS": "0",
    "CONNECTION_TTL_SECONDS": "3600",
}


def test_from_env_reads_every_variable() -> None:
    """Every Globals variable lands in Config, numbers parsed."""
    config = Config.from_env(ENV)
    assert config.timing == Timing(invite_timeout_s=2, duel_s=5, start_lead_s=0)
    assert config.connection_ttl_s == 3600
    assert config.management_url == ENV["WEBSOCKET_MANAGEMENT_URL"]


def test_issuer_and_jwks_are_the_plain_aws_urls() -> None:
    """The JWKS URL is built from region and pool id, never from an endpoint override."""
    config = Config.from_env({**ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})
    assert config.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    assert config.jwks_url == config.issuer + "/.well-known/jwks.json"


def test_missing_variable_is_named() -> None:
    """A missing variable fails loudly with its name."""
    env = dict(ENV)
    del env["SESSIONS_TABLE"]
    with pytest.raises(KeyError, match="SESSIONS_TABLE"):
        Config.from_env(env)
