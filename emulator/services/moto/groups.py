"""Which moto process serves which AWS service, and how clients are pointed at it.

moto runs as one process per service group (`MotoServer(split=True)`, the default in
process mode) so that each group has an interpreter lock of its own: SQS timers and
Cognito sign-ins never queue behind a burst of DynamoDB writes.

- "dynamodb": DynamoDB and DynamoDB Streams (Streams reads DynamoDB's own tables, so the
  two cannot be apart).
- "sqs": SQS.
- "default": Cognito and every other service moto knows, and the *front*: a request for
  DynamoDB or SQS that arrives here is relayed to its group's process, so the single
  `AWS_ENDPOINT_URL` (the endpoints file's `aws_endpoint_url`, the aws CLI's
  `--endpoint-url`, duelctl's own Cognito sign-in) still answers every service.

Handlers reach each group directly through botocore's per-service endpoint variables,
`AWS_ENDPOINT_URL_<SERVICE ID>` (the service id upper-cased, spaces to underscores:
"DynamoDB Streams" -> `AWS_ENDPOINT_URL_DYNAMODB_STREAMS`; botocore configprovider.py,
"service-specific endpoint"), with `AWS_ENDPOINT_URL` for everything else. The TLS proxy
maps real host names the same way (`group_of_host`).

Nothing here imports moto: the emulator's process uses it to route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DYNAMODB = "dynamodb"
SQS = "sqs"
DEFAULT = "default"
GROUPS = (DYNAMODB, SQS, DEFAULT)  # start order does not matter; DEFAULT is the front

# botocore environment variable -> the group whose URL it gets. AWS_ENDPOINT_URL (every
# service without a variable of its own) goes to the front.
ENDPOINT_VARIABLES: Mapping[str, str] = {
    "AWS_ENDPOINT_URL_DYNAMODB": DYNAMODB,
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": DYNAMODB,
    "AWS_ENDPOINT_URL_SQS": SQS,
    "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": DEFAULT,
    "AWS_ENDPOINT_URL": DEFAULT,
}

# boto3 client names (`boto3.client(NAME)`) of the services outside the default group.
_CLIENT_GROUPS: Mapping[str, str] = {
    "dynamodb": DYNAMODB,
    "dynamodbstreams": DYNAMODB,
    "sqs": SQS,
}

# AWS host names (AWS General Reference, "Service endpoints"): DynamoDB's regional and
# account-based endpoints, Streams, SQS's current and legacy names.
_HOSTS = (
    (re.compile(r"^(streams\.)?dynamodb\.[a-z0-9-]+\.amazonaws\.com$"), DYNAMODB),
    (re.compile(r"^[0-9]+\.ddb\.[a-z0-9-]+\.amazonaws\.com$"), DYNAMODB),
    (re.compile(r"^sqs\.[a-z0-9-]+\.amazonaws\.com$"), SQS),
    (re.compile(r"^([a-z0-9-]+\.)?queue\.amazonaws\.com$"), SQS),
)


def group_of_client(service: str) -> str:
    """The group serving boto3's client `service` ("dynamodb", "cognito-idp", ...)."""
    return _CLIENT_GROUPS.get(service, DEFAULT)


def group_of_request(target: str, authorization: str) -> str:
    """The group of one AWS request, from its X-Amz-Target or its SigV4 credential scope.

    JSON-protocol services name themselves in X-Amz-Target (`DynamoDB_20120810.PutItem`,
    `AmazonSQS.SendMessage`); query-protocol SQS (older SDKs) only in the scope of the
    signature, `Credential=KEY/DATE/REGION/sqs/aws4_request` (DynamoDB Streams signs as
    "dynamodb").
    """
    if target:
        if target.startswith(("DynamoDB_", "DynamoDBStreams_")):
            return DYNAMODB
        if target.startswith("AmazonSQS."):
            return SQS
        return DEFAULT
    if "/sqs/aws4_request" in authorization:
        return SQS
    if "/dynamodb/aws4_request" in authorization:
        return DYNAMODB
    return DEFAULT


def group_of_host(host: str) -> str:
    """The group behind an AWS host name (lower-case, no port); the front for any other."""
    for pattern, group in _HOSTS:
        if pattern.match(host):
            return group
    return DEFAULT


def endpoint_variables(urls: Mapping[str, str]) -> dict[str, str]:
    """The endpoint variables for a function's environment, given each group's URL."""
    return {name: urls[group] for name, group in ENDPOINT_VARIABLES.items()}


__all__ = [
    "DEFAULT",
    "DYNAMODB",
    "ENDPOINT_VARIABLES",
    "GROUPS",
    "SQS",
    "endpoint_variables",
    "group_of_client",
    "group_of_host",
    "group_of_request",
]
