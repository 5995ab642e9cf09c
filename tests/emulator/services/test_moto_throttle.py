"""ddb-throttle in moto's real DynamoDB process: unmodified boto3 sees AWS's answers.

The stack hands its fault spec to moto's processes in `DUELCTL_FAULTS`; with P = 1 every
write a handler makes is refused before moto sees it, while reads and the emulator's
own writes (its clients' user agent) go through.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.faults.ddb import ENV, SEED_ENV
from emulator.services.aws import client as emulator_client
from emulator.services.moto_server import MotoServer

pytestmark = pytest.mark.moto_child


@pytest.fixture(scope="module")
def throttling_moto() -> Iterator[MotoServer]:
    with MotoServer(mode="process", env={ENV: "ddb-throttle=1", SEED_ENV: "1"}) as server:
        yield server


def handler_client(url: str, attempts: int | None = None) -> Any:
    """boto3 as a handler builds it: default config (standard retries) unless told."""
    config = (
        Config(retries={"mode": "standard", "total_max_attempts": attempts}) if attempts else None
    )
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


@pytest.fixture
def table(throttling_moto: MotoServer) -> str:
    name = f"throttle-{uuid.uuid4().hex[:8]}"
    emulator_client("dynamodb", throttling_moto.urls, "us-east-1").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def report(moto: MotoServer) -> dict[str, Any]:
    url = moto.url_for("dynamodb") + "/_duelctl/faults"
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def test_a_throttled_put_retries_as_boto3_does_and_changes_nothing(
    throttling_moto: MotoServer, table: str
) -> None:
    before = report(throttling_moto)["counts"]["ddb-throttle"]
    ddb = handler_client(throttling_moto.url_for("dynamodb"), attempts=2)
    with pytest.raises(ddb.exceptions.ProvisionedThroughputExceededException) as caught:
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore retried it itself
    assert response["ThrottlingReasons"][0]["resource"].endswith(f":table/{table}")
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})
    after = report(throttling_moto)
    assert after["counts"]["ddb-throttle"] == before + 2
    assert after["events"][-1]["operation"] == "PutItem"
    assert after["events"][-1]["tables"] == [table]


def test_a_throttled_transaction_is_cancelled_with_a_transaction_conflict(
    throttling_moto: MotoServer, table: str
) -> None:
    ddb = handler_client(throttling_moto.url)  # through the front, relayed to DynamoDB's
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "x"}}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": "y"}}}},
            ]
        )
    error = caught.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert error["ResponseMetadata"]["RetryAttempts"] == 0  # botocore never retries it
    codes = sorted(r["Code"] for r in error["CancellationReasons"])
    assert codes == ["None", "TransactionConflict"]
    assert ddb.scan(TableName=table)["Count"] == 0


def test_the_emulators_own_writes_go_through(throttling_moto: MotoServer, table: str) -> None:
    own = emulator_client("dynamodb", throttling_moto.urls, "us-east-1")
    own.put_item(TableName=table, Item={"pk": {"S": "reaper"}})
    own.delete_item(TableName=table, Key={"pk": {"S": "reaper"}})
    assert own.scan(TableName=table)["Count"] == 0
