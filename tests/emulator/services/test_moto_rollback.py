"""A cancelled TransactWriteItems leaves a table's stream as if it never ran.

AWS: a cancelled transaction writes nothing, so it adds no stream record, and readers
holding shard iterators go on reading later writes (docs/aws-behaviour.md §8, §10).
moto rolls a cancelled transaction back by installing a copy of each table it touched,
stream shard included, which left every iterator taken earlier on the old shard: deaf
to all later writes (moto/patches.py "transactions" and "stream-rollback"). Each test
runs through a real moto child and unmodified boto3.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.services.moto.internal import internal_call
from emulator.services.moto_server import MotoServer
from emulator.services.provision import provision
from emulator.services.streams import StreamPoller
from emulator.services.ttl import TtlMarks

STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def _client(service: str, url: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class Tables:
    """Two stream-enabled tables (hash key only; hash and range key) and their shards."""

    def __init__(self, url: str, prefix: str) -> None:
        self.ddb = _client("dynamodb", url)
        self.streams = _client("dynamodbstreams", url)
        self.plain, self.ranged = f"{prefix}-plain", f"{prefix}-ranged"
        self.arns = {
            self.plain: self.ddb.create_table(
                TableName=self.plain,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification=STREAM,
            )["TableDescription"]["LatestStreamArn"],
            self.ranged: self.ddb.create_table(
                TableName=self.ranged,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification=STREAM,
            )["TableDescription"]["LatestStreamArn"],
        }

    def iterator(self, table: str, kind: str, sequence: str | None = None) -> str:
        arn = self.arns[table]
        [shard] = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        extra = {"SequenceNumber": sequence} if sequence is not None else {}
        iterator: str = self.streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind, **extra
        )["ShardIterator"]
        return iterator

    def read(self, iterator: str) -> tuple[list[dict[str, Any]], str]:
        """(records, next iterator) of one GetRecords."""
        reply = self.streams.get_records(ShardIterator=iterator)
        return reply["Records"], reply["NextShardIterator"]

    def cancelled(self, transact_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a transaction that must be cancelled; its CancellationReasons."""
        with pytest.raises(ClientError) as caught:
            self.ddb.transact_write_items(TransactItems=transact_items)
        assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
        reasons: list[dict[str, Any]] = caught.value.response["CancellationReasons"]
        return reasons

    def cancel_one(self, tag: str) -> None:
        """Writes to both tables (one new item, one update in place), then a failed check."""
        reasons = self.cancelled(
            [
                {"Put": {"TableName": self.plain, "Item": {"pk": _s(f"{tag}-new")}}},
                {
                    "Update": {
                        "TableName": self.ranged,
                        "Key": {"pk": _s("u"), "sk": _s("1")},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": _s(f"{tag}-cancelled")},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": self.plain,
                        "Key": {"pk": _s("before")},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        assert [r["Code"] for r in reasons] == ["None", "None", "ConditionalCheckFailed"]


def _keys(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records]


def _sequences(records: list[dict[str, Any]]) -> list[int]:
    return [int(r["dynamodb"]["SequenceNumber"]) for r in records]


def _held_iterators_survive(url: str, prefix: str) -> None:
    """The scenario of the module docstring against the moto at `url`."""
    t = Tables(url, prefix)
    t.ddb.put_item(TableName=t.plain, Item={"pk": _s("before")})
    t.ddb.put_item(TableName=t.ranged, Item={"pk": _s("u"), "sk": _s("1"), "v": _s("kept")})
    horizon = {name: t.iterator(name, "TRIM_HORIZON") for name in (t.plain, t.ranged)}
    latest = {name: t.iterator(name, "LATEST") for name in (t.plain, t.ranged)}
    # A poller's iterator chain: read once (nothing new yet), keep the next iterator.
    records, polled = t.read(latest[t.plain])
    assert records == []

    t.cancel_one("first")
    t.ddb.put_item(TableName=t.plain, Item={"pk": _s("after")})
    t.ddb.put_item(TableName=t.ranged, Item={"pk": _s("u"), "sk": _s("2")})

    records, polled = t.read(polled)
    assert _keys(records) == [("INSERT", "after")]
    assert _keys(t.read(latest[t.plain])[0]) == [("INSERT", "after")]
    assert _keys(t.read(latest[t.ranged])[0]) == [("INSERT", "u")]
    held = {name: t.read(horizon[name])[0] for name in (t.plain, t.ranged)}
    assert _keys(held[t.plain]) == [("INSERT", "before"), ("INSERT", "after")]
    ranged_new = [r["dynamodb"].get("NewImage") for r in held[t.ranged]]
    assert ranged_new == [
        {"pk": _s("u"), "sk": _s("1"), "v": _s("kept")},
        {"pk": _s("u"), "sk": _s("2")},
    ]
    # The items are as before the transaction, too.
    kept = t.ddb.get_item(TableName=t.ranged, Key={"pk": _s("u"), "sk": _s("1")})["Item"]
    assert kept["v"] == _s("kept")
    assert "Item" not in t.ddb.get_item(TableName=t.plain, Key={"pk": _s("first-new")})

    # Sequence numbers go on from the records that stand: a fresh iterator reads what the
    # held one did, and one after the first record finds the second.
    for name in (t.plain, t.ranged):
        fresh = t.read(t.iterator(name, "TRIM_HORIZON"))[0]
        assert fresh == held[name]
        sequences = _sequences(fresh)
        assert sequences == sorted(set(sequences))
        after_first = t.iterator(name, "AFTER_SEQUENCE_NUMBER", str(sequences[0]))
        assert t.read(after_first)[0] == fresh[1:]

    # Again, and then a transaction that goes through: the same chain sees exactly it.
    t.cancel_one("second")
    t.ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t.plain, "Item": {"pk": _s("committed")}}},
            {"Delete": {"TableName": t.plain, "Key": {"pk": _s("before")}}},
        ]
    )
    records, polled = t.read(polled)
    assert _keys(records) == [("INSERT", "committed"), ("REMOVE", "before")]
    assert t.read(polled)[0] == []


def test_held_iterators_read_on_after_a_cancelled_transaction(moto: MotoServer, build: Any) -> None:
    """The patched transaction path (the default): LATEST and TRIM_HORIZON iterators taken
    before a cancelled transaction see none of it and every write after it."""
    _held_iterators_survive(moto.urls["dynamodb"], build.name("rollback"))


def test_moto_s_own_transaction_path_keeps_the_stream_too(build: Any) -> None:
    """Without the speed-ups (`DUELCTL_MOTO_PATCHES=0`, as on a moto version not checked)
    moto's own rollback runs, and the stream fix alone keeps the shard."""
    with MotoServer(env={"DUELCTL_MOTO_PATCHES": "0"}) as plain:
        assert internal_call(plain.urls["dynamodb"], "GET", "stats")["speedups"] == []
        _held_iterators_survive(plain.urls["dynamodb"], build.name("unpatched"))


async def test_stream_poller_delivers_writes_after_a_cancelled_transaction(
    aws_url: str, build: Any, background: Any
) -> None:
    """The emulator's poller (a stream event source mapping) is not deafened by a user_busy
    style refusal: the write after it reaches the function, the cancelled one never."""
    table = build.table(stream_view_type="NEW_AND_OLD_IMAGES")
    arns = provision(build.template(tables=(table,)), aws_url)
    runner = build.runner()
    poller = StreamPoller(
        aws_url,
        build.source("dynamodb", "Table", starting_position="LATEST"),
        table,
        runner,
        region="us-east-1",
        stream_arn=arns.stream_arns["Table"],
        ttl_marks=TtlMarks(),
        poll_interval_s=0.02,
    )
    background(poller.run())
    await poller.wait_ready()
    ddb = _client("dynamodb", aws_url)
    ddb.put_item(TableName=table.name, Item={"pk": _s("busy")})
    await runner.wait_for(lambda: len(runner.records) == 1)
    with pytest.raises(ClientError):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table.name, "Item": {"pk": _s("lock")}}},
                {
                    "Put": {
                        "TableName": table.name,
                        "Item": {"pk": _s("busy")},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    ddb.put_item(TableName=table.name, Item={"pk": _s("later")})
    await runner.wait_for(lambda: len(runner.records) >= 2)
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in runner.records]
    assert keys == ["busy", "later"]
