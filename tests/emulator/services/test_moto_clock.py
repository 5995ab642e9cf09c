"""moto's processes on a virtual clock: they follow the clock file and say what comes due.

A `ClockFile` written here stands for the emulator's virtual clock; the moto children get
its path in `DUELCTL_CLOCK_FILE`. Each request syncs the child's clock first, and
`POST /_duelctl/clock/sync` makes it adopt a jump at once (and look again at its parked
long polls); `GET /_duelctl/next-due` says when the next SQS message or DynamoDB TTL
comes due, for the clock to jump to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from emulator.services.moto.internal import internal_call
from emulator.services.moto_server import MotoServer
from emulator.timesync import ENV, ClockFile

DAY = 86400.0


@pytest.fixture
def clock_file(tmp_path: Path) -> Iterator[ClockFile]:
    clock = ClockFile(tmp_path / "offset")
    yield clock
    clock.close()


@pytest.fixture
def virtual_moto(clock_file: ClockFile) -> Iterator[MotoServer]:
    with MotoServer(mode="process", env={ENV: str(clock_file.path)}) as server:
        yield server


def _client(service: str, url: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _due(url: str) -> float | None:
    reply = internal_call(url, "GET", "next-due")
    due: float | None = reply["due"]
    return due


def test_sync_adopts_the_clock_files_offset_in_every_process(
    virtual_moto: MotoServer, clock_file: ClockFile
) -> None:
    """clock/sync answers with the offset it now runs at and the time it reads."""
    clock_file.set_offset(3 * DAY)
    for url in set(virtual_moto.urls.values()):
        reply = internal_call(url, "POST", "clock/sync", {})
        assert reply["offset"] == 3 * DAY
        assert reply["now"] > time.time() + 3 * DAY - 60
    virtual_moto.clock_sync()  # the same for all processes at once


def test_sqs_next_due_follows_delayed_and_in_flight_messages(
    virtual_moto: MotoServer, clock_file: ClockFile
) -> None:
    """null with nothing waiting; a delayed message's due time; after a jump past it the
    message is received, and then its visibility timeout is what comes due."""
    sqs_url = virtual_moto.urls["sqs"]
    sqs = _client("sqs", sqs_url)
    queue = sqs.create_queue(QueueName="clocked", Attributes={"VisibilityTimeout": "600"})
    url = queue["QueueUrl"]
    assert _due(sqs_url) is None
    sent_at = time.time()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    due = _due(sqs_url)
    assert due is not None and sent_at + 900 <= due <= time.time() + 901
    assert virtual_moto.next_due() == due  # the DynamoDB process has nothing due
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []

    clock_file.set_offset(1000.0)  # no sync call: the next request syncs by itself
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "later"
    in_flight = _due(sqs_url)
    assert in_flight is not None and in_flight >= sent_at + 1000 + 600


def test_a_jump_wakes_a_parked_long_poll(virtual_moto: MotoServer, clock_file: ClockFile) -> None:
    """A receive waiting for a message delayed by 15 minutes gets it once the clock
    jumps past the delay and clock/sync is called."""
    sqs_url = virtual_moto.urls["sqs"]
    sqs = _client("sqs", sqs_url)
    url = sqs.create_queue(QueueName="jump")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="after-the-jump", DelaySeconds=900)
    result: dict[str, Any] = {}
    waiter = threading.Thread(
        target=lambda: result.update(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
    )
    waiter.start()
    while virtual_moto.long_polls_waiting == 0 and waiter.is_alive():
        time.sleep(0.01)
    clock_file.set_offset(901.0)
    virtual_moto.clock_sync()
    waiter.join(timeout=30)
    assert [m["Body"] for m in result["Messages"]] == ["after-the-jump"]
    assert virtual_moto.long_polls_waiting == 0


def test_dynamodb_next_due_is_the_earliest_ttl_still_ahead(
    virtual_moto: MotoServer, clock_file: ClockFile
) -> None:
    """Only tables with TTL enabled count, only Number values after now; a jump past
    the earliest makes the next one due."""
    ddb_url = virtual_moto.urls["dynamodb"]
    ddb = _client("dynamodb", ddb_url)
    now = int(time.time())
    for name, ttl_enabled in (("with-ttl", True), ("without-ttl", False)):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if ttl_enabled:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expireAt"},
            )
    assert _due(ddb_url) is None
    items = {
        "past": {"N": str(now - 10)},
        "soon": {"N": str(now + 100)},
        "later": {"N": str(now + 5000)},
        "text": {"S": str(now + 50)},
    }
    for pk, ttl in items.items():
        ddb.put_item(TableName="with-ttl", Item={"pk": {"S": pk}, "expireAt": ttl})
    ddb.put_item(TableName="without-ttl", Item={"pk": {"S": "x"}, "expireAt": {"N": str(now + 20)}})
    assert _due(ddb_url) == now + 100
    assert virtual_moto.next_due() == now + 100

    clock_file.set_offset(200.0)
    virtual_moto.clock_sync()
    assert _due(ddb_url) == now + 5000
