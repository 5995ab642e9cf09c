"""Service groups: which moto process serves what, and how clients are pointed at it.

The variable names are checked against real boto3 clients: botocore must read each one
for its service, or handlers would silently go to the front instead.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from emulator.proxy.connect import aws_route
from emulator.services.moto import groups
from emulator.services.moto.dispatch import fast_backend

URLS = {
    groups.DYNAMODB: "http://127.0.0.1:1001",
    groups.SQS: "http://127.0.0.1:1002",
    groups.DEFAULT: "http://127.0.0.1:1003",
}


@pytest.mark.parametrize(
    ("client_name", "group"),
    [
        ("dynamodb", groups.DYNAMODB),
        ("dynamodbstreams", groups.DYNAMODB),
        ("sqs", groups.SQS),
        ("cognito-idp", groups.DEFAULT),
        ("sts", groups.DEFAULT),
        ("s3", groups.DEFAULT),
    ],
)
def test_botocore_reads_each_endpoint_variable_for_its_service(
    monkeypatch: pytest.MonkeyPatch, client_name: str, group: str
) -> None:
    """With the handler environment set, each boto3 client goes to its group's URL."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
            monkeypatch.delenv(name)
    for name, value in groups.endpoint_variables(URLS).items():
        monkeypatch.setenv(name, value)
    client: Any = boto3.session.Session().client(
        client_name,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert client.meta.endpoint_url == URLS[group]
    assert groups.group_of_client(client_name) == group


def test_endpoint_variables_name_every_group() -> None:
    """AWS_ENDPOINT_URL is the front; the per-service names follow botocore's service ids."""
    env = groups.endpoint_variables(URLS)
    assert env == {
        "AWS_ENDPOINT_URL_DYNAMODB": URLS[groups.DYNAMODB],
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": URLS[groups.DYNAMODB],
        "AWS_ENDPOINT_URL_SQS": URLS[groups.SQS],
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": URLS[groups.DEFAULT],
        "AWS_ENDPOINT_URL": URLS[groups.DEFAULT],
    }


@pytest.mark.parametrize(
    ("target", "authorization", "group"),
    [
        ("DynamoDB_20120810.PutItem", "", groups.DYNAMODB),
        ("DynamoDBStreams_20120810.GetRecords", "", groups.DYNAMODB),
        ("AmazonSQS.SendMessage", "", groups.SQS),
        ("AWSCognitoIdentityProviderService.InitiateAuth", "", groups.DEFAULT),
        ("", "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/sqs/aws4_request, S=x", groups.SQS),
        ("", "AWS4-HMAC-SHA256 Credential=k/20260101/eu-west-1/dynamodb/aws4_request", "dynamodb"),
        ("", "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/sts/aws4_request", groups.DEFAULT),
        ("", "", groups.DEFAULT),
    ],
)
def test_requests_are_grouped_by_target_then_signature(
    target: str, authorization: str, group: str
) -> None:
    assert groups.group_of_request(target, authorization) == group


@pytest.mark.parametrize(
    ("host", "group"),
    [
        ("dynamodb.us-east-1.amazonaws.com", groups.DYNAMODB),
        ("streams.dynamodb.eu-west-1.amazonaws.com", groups.DYNAMODB),
        ("123456789012.ddb.us-east-1.amazonaws.com", groups.DYNAMODB),
        ("sqs.us-east-1.amazonaws.com", groups.SQS),
        ("queue.amazonaws.com", groups.SQS),
        ("us-west-2.queue.amazonaws.com", groups.SQS),
        ("cognito-idp.us-east-1.amazonaws.com", groups.DEFAULT),
        ("sts.amazonaws.com", groups.DEFAULT),
        ("evil-dynamodb.us-east-1.amazonaws.com", groups.DEFAULT),
    ],
)
def test_host_names_map_to_groups(host: str, group: str) -> None:
    assert groups.group_of_host(host) == group


def test_the_tls_proxy_routes_aws_hosts_to_each_groups_process() -> None:
    """aws_route with per-group ports: DynamoDB, SQS, Cognito (JWKS) and the rest."""
    ports = {groups.DYNAMODB: 2001, groups.SQS: 2002, groups.DEFAULT: 2003}
    route = aws_route(http_port=1111, moto_port=ports)
    assert route("dynamodb.us-east-1.amazonaws.com") == ("127.0.0.1", 2001)
    assert route("streams.dynamodb.us-east-1.amazonaws.com") == ("127.0.0.1", 2001)
    assert route("sqs.us-east-1.amazonaws.com") == ("127.0.0.1", 2002)
    assert route("cognito-idp.us-east-1.amazonaws.com") == ("127.0.0.1", 2003)
    assert route("sts.amazonaws.com") == ("127.0.0.1", 2003)
    assert route("abc123defg.execute-api.us-east-1.amazonaws.com") == ("127.0.0.1", 1111)
    assert route("lambda.us-east-1.amazonaws.com") == ("127.0.0.1", 1111)
    assert route("example.com") is None
    assert aws_route(1111, 2222)("sqs.us-east-1.amazonaws.com") == ("127.0.0.1", 2222)


@pytest.mark.parametrize(
    ("target", "authorization", "path", "backend"),
    [
        ("DynamoDB_20120810.UpdateItem", "sig", "/", "dynamodb"),
        ("DynamoDB_20111205.GetItem", "sig", "/", None),  # moto's backend of its own
        ("DynamoDBStreams_20120810.GetRecords", "sig", "/", "dynamodbstreams"),
        ("AmazonSQS.ReceiveMessage", "sig", "/", "sqs"),
        ("", "Credential=k/20260101/us-east-1/sqs/aws4_request", "/123/q", "sqs"),
        ("AWSCognitoIdentityProviderService.AdminInitiateAuth", "sig", "/", "cognitoidp"),
        ("", "", "/us-east-1_abc/.well-known/jwks.json", "cognitoidp"),
        ("", "", "/us-east-1_abc/.well-known/openid-configuration", "cognitoidp"),
        ("", "", "/moto-api/data.json", None),
        ("AWSSecurityTokenServiceV20110615.GetCallerIdentity", "sig", "/", None),
    ],
)
def test_the_direct_path_covers_the_hot_services_only(
    target: str, authorization: str, path: str, backend: str | None
) -> None:
    assert fast_backend(target, authorization, path) == backend
