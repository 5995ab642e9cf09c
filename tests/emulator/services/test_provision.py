"""provision: tables, queues and Cognito created in moto exactly as the model says."""

from __future__ import annotations

import json
import random
import string
import urllib.request
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt
import pytest

from emulator.local_auth import create_user
from emulator.services.aws import client
from emulator.services.moto_server import MotoServer
from emulator.services.provision import provision
from emulator.template.model import Index, KeyAttr, UserPool, UserPoolClient

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "provision-test-pw"


def _pool_ids(region: str) -> tuple[str, str]:
    alnum = string.ascii_letters + string.digits
    pool_id = f"{region}_" + "".join(random.choices(alnum, k=9))
    client_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=26))
    return pool_id, client_id


def _cognito(build: Any, region: str = "us-east-1") -> tuple[UserPool, UserPoolClient]:
    pool_id, client_id = _pool_ids(region)
    pool = UserPool(
        logical_id="UserPool",
        pool_id=pool_id,
        name=build.name("users"),
        arn=f"arn:aws:cognito-idp:{region}:123456789012:userpool/{pool_id}",
        properties=MappingProxyType(
            {
                "UserPoolName": "ignored-the-model-name-wins",
                "UsernameConfiguration": {"CaseSensitive": False},
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 8,
                        "RequireLowercase": False,
                        "RequireNumbers": False,
                        "RequireSymbols": False,
                        "RequireUppercase": False,
                    }
                },
            }
        ),
    )
    app = UserPoolClient(
        logical_id="UserPoolClient",
        client_id=client_id,
        pool="UserPool",
        name=build.name("client"),
        explicit_auth_flows=(
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ),
        generate_secret=False,
    )
    return pool, app


def _full_template(build: Any) -> Any:
    sessions = build.table(
        logical_id="Sessions",
        hash_key="sessionId",
        ttl_attribute="expireAt",
        stream_view_type="NEW_AND_OLD_IMAGES",
        global_indexes=(
            Index(
                "byUserA", KeyAttr("userA", "S"), None, MappingProxyType({"ProjectionType": "ALL"})
            ),
            Index(
                "byUserB",
                KeyAttr("userB", "S"),
                KeyAttr("createdAt", "N"),
                MappingProxyType({"ProjectionType": "INCLUDE", "NonKeyAttributes": ("status",)}),
            ),
        ),
    )
    connections = build.table(
        logical_id="Connections",
        hash_key="userId",
        range_key="connectionId",
        ttl_attribute="expireAt",
        local_indexes=(
            Index(
                "byConnectedAt",
                KeyAttr("userId", "S"),
                KeyAttr("connectedAt", "S"),
                MappingProxyType({"ProjectionType": "KEYS_ONLY"}),
            ),
        ),
    )
    dlq = build.queue(logical_id="Dlq")
    timers = build.queue(
        logical_id="Timers", visibility_timeout_s=60, redrive_target="Dlq", max_receive_count=5
    )
    fifo_dlq = build.queue(logical_id="FifoDlq", fifo=True)
    fifo = build.queue(
        logical_id="Fifo", fifo=True, delay_seconds=3, redrive_target="FifoDlq", max_receive_count=2
    )
    pool, app = _cognito(build)
    return build.template(
        tables=(sessions, connections),
        # The main queues come first: provisioning must not depend on order.
        queues=(timers, fifo, dlq, fifo_dlq),
        user_pools=(pool,),
        user_pool_clients=(app,),
    )


@pytest.fixture
def provisioned(moto: MotoServer, build: Any) -> tuple[Any, Any]:
    template = _full_template(build)
    return template, provision(template, moto.url)


def test_tables_get_keys_indexes_streams_and_ttl(provisioned: tuple[Any, Any], ddb: Any) -> None:
    """Each table has the model's keys, GSIs, LSIs, billing mode, stream and TTL."""
    template, result = provisioned
    sessions = template.tables["Sessions"]
    desc = ddb.describe_table(TableName=sessions.name)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "sessionId", "KeyType": "HASH"}]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    gsis = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert gsis["byUserA"]["KeySchema"] == [{"AttributeName": "userA", "KeyType": "HASH"}]
    assert gsis["byUserB"]["KeySchema"] == [
        {"AttributeName": "userB", "KeyType": "HASH"},
        {"AttributeName": "createdAt", "KeyType": "RANGE"},
    ]
    assert gsis["byUserB"]["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["status"],
    }
    assert {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]} == {
        "sessionId": "S",
        "userA": "S",
        "userB": "S",
        "createdAt": "N",
    }
    assert desc["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert result.stream_arns == {"Sessions": desc["LatestStreamArn"]}
    ttl = ddb.describe_time_to_live(TableName=sessions.name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expireAt"}

    connections = template.tables["Connections"]
    desc = ddb.describe_table(TableName=connections.name)["Table"]
    assert desc["KeySchema"] == [
        {"AttributeName": "userId", "KeyType": "HASH"},
        {"AttributeName": "connectionId", "KeyType": "RANGE"},
    ]
    [lsi] = desc["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "byConnectedAt"
    assert lsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert "LatestStreamArn" not in desc


def test_queues_get_attributes_fifo_and_redrive_to_the_dlq_arn(
    provisioned: tuple[Any, Any], sqs: Any
) -> None:
    """Queues carry the model's attributes and a RedrivePolicy naming the DLQ's ARN."""
    template, result = provisioned
    timers, dlq = template.queues["Timers"], template.queues["Dlq"]
    attrs = sqs.get_queue_attributes(QueueUrl=timers.url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "60"
    assert attrs["DelaySeconds"] == "0"
    assert attrs["QueueArn"] == timers.arn
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq.arn,
        "maxReceiveCount": 5,
    }
    fifo = template.queues["Fifo"]
    attrs = sqs.get_queue_attributes(QueueUrl=fifo.url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["DelaySeconds"] == "3"
    assert (
        json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == template.queues["FifoDlq"].arn
    )
    assert (
        "RedrivePolicy"
        not in sqs.get_queue_attributes(QueueUrl=dlq.url, AttributeNames=["All"])["Attributes"]
    )
    assert result.queue_urls["Timers"] == timers.url


def _sign_in(moto: MotoServer, pool: UserPool, app: UserPoolClient, username: str) -> Any:
    idp = client("cognito-idp", moto.url, "us-east-1")
    create_user(idp, pool.pool_id, username, PASSWORD)
    return idp


def test_user_pool_and_client_use_the_model_ids_end_to_end(
    provisioned: tuple[Any, Any], moto: MotoServer
) -> None:
    """Tokens name the model's pool and client; the pool's JWKS verifies them."""
    template, result = provisioned
    pool = template.user_pools["UserPool"]
    app = template.user_pool_clients["UserPoolClient"]
    assert result.user_pool_ids == {"UserPool": pool.pool_id}
    assert result.user_pool_client_ids == {"UserPoolClient": app.client_id}

    idp = _sign_in(moto, pool, app, "alice")
    described = idp.describe_user_pool(UserPoolId=pool.pool_id)["UserPool"]
    assert described["Id"] == pool.pool_id
    assert described["Name"] == pool.name
    assert described["Arn"].endswith(f"userpool/{pool.pool_id}")
    app_desc = idp.describe_user_pool_client(UserPoolId=pool.pool_id, ClientId=app.client_id)
    assert app_desc["UserPoolClient"]["ExplicitAuthFlows"] == list(app.explicit_auth_flows)
    assert [
        c["ClientId"]
        for c in idp.list_user_pool_clients(UserPoolId=pool.pool_id)["UserPoolClients"]
    ] == [app.client_id]

    admin = idp.admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=app.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    user = idp.initiate_auth(
        ClientId=app.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]

    with urllib.request.urlopen(f"{moto.url}/{pool.pool_id}/.well-known/jwks.json") as reply:
        jwks = json.loads(reply.read())
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    for tokens in (admin, user):
        id_kid = jwt.get_unverified_header(tokens["IdToken"])["kid"]
        id_claims = jwt.decode(
            tokens["IdToken"],
            keys[id_kid],
            algorithms=["RS256"],
            audience=app.client_id,
            issuer=issuer,
        )
        assert id_claims["token_use"] == "id"
        assert id_claims["cognito:username"] == "alice"
        access_kid = jwt.get_unverified_header(tokens["AccessToken"])["kid"]
        access = jwt.decode(
            tokens["AccessToken"], keys[access_kid], algorithms=["RS256"], issuer=issuer
        )
        assert access["client_id"] == app.client_id
        assert access["token_use"] == "access"


def test_reprovisioning_keeps_data_and_adds_what_is_new(
    provisioned: tuple[Any, Any], moto: MotoServer, ddb: Any, sqs: Any, build: Any
) -> None:
    """A second provision creates nothing old, keeps items and users, adds new resources."""
    template, first = provisioned
    assert set(first.created) == {
        "Sessions",
        "Connections",
        "Timers",
        "Fifo",
        "Dlq",
        "FifoDlq",
        "UserPool",
        "UserPoolClient",
    }
    sessions = template.tables["Sessions"]
    ddb.put_item(TableName=sessions.name, Item={"sessionId": {"S": "s1"}})
    sqs.send_message(QueueUrl=template.queues["Timers"].url, MessageBody="kept")
    pool = template.user_pools["UserPool"]
    _sign_in(moto, pool, template.user_pool_clients["UserPoolClient"], "bob")

    again = provision(template, moto.url)
    assert again.created == ()
    assert again.stream_arns == first.stream_arns
    assert ddb.get_item(TableName=sessions.name, Key={"sessionId": {"S": "s1"}})["Item"]
    attrs = sqs.get_queue_attributes(
        QueueUrl=template.queues["Timers"].url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"
    idp = client("cognito-idp", moto.url, "us-east-1")
    assert idp.admin_get_user(UserPoolId=pool.pool_id, Username="bob")["Username"] == "bob"

    # A reload that adds a table, a queue and a GSI on an existing table.
    extra_table = build.table(logical_id="Extra")
    extra_queue = build.queue(logical_id="ExtraQueue")
    grown = sessions.__class__(
        **{
            **{f: getattr(sessions, f) for f in sessions.__slots__},
            "global_indexes": (
                *sessions.global_indexes,
                Index("byStatus", KeyAttr("status", "S"), None, MappingProxyType({})),
            ),
        }
    )
    reloaded = build.template(
        tables=(grown, template.tables["Connections"], extra_table),
        queues=(*template.queues.values(), extra_queue),
        user_pools=tuple(template.user_pools.values()),
        user_pool_clients=tuple(template.user_pool_clients.values()),
    )
    third = provision(reloaded, moto.url)
    assert set(third.created) == {"Extra", "ExtraQueue"}
    gsis = ddb.describe_table(TableName=sessions.name)["Table"]["GlobalSecondaryIndexes"]
    assert {g["IndexName"] for g in gsis} == {"byUserA", "byUserB", "byStatus"}
    assert ddb.get_item(TableName=sessions.name, Key={"sessionId": {"S": "s1"}})["Item"]


def test_provisions_the_project_template(moto: MotoServer, build: Any) -> None:
    """template.yaml, loaded by the real loader, provisions and signs a user in."""
    from emulator.template.load import load_template

    # A stack name of its own: the e2e stack may share this process's moto.
    template = load_template(ROOT / "template.yaml", {}, stack_name=build.name("prov"))
    result = provision(template, moto.url)
    ddb = client("dynamodb", moto.url, template.region)
    for table in template.tables.values():
        assert ddb.describe_table(TableName=table.name)["Table"]["TableStatus"] == "ACTIVE"
    for logical_id, table in template.tables.items():
        if table.stream_view_type:
            desc = ddb.describe_table(TableName=table.name)["Table"]
            assert result.stream_arns[logical_id] == desc["LatestStreamArn"]
    sqs = client("sqs", moto.url, template.region)
    for queue in template.queues.values():
        attrs = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
        assert attrs["QueueArn"] == queue.arn
    pool = next(iter(template.user_pools.values()))
    app = next(iter(template.user_pool_clients.values()))
    idp = _sign_in(moto, pool, app, "carol")
    tokens = idp.initiate_auth(
        ClientId=app.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "carol", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    claims = jwt.decode(tokens["IdToken"], options={"verify_signature": False})
    assert claims["iss"].endswith(f"/{pool.pool_id}")
    assert claims["aud"] == app.client_id
