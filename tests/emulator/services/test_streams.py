"""StreamPoller: Lambda record shapes, filters, batches, retries and partial failures."""

from __future__ import annotations

import re
from typing import Any

import pytest

from emulator.services.provision import provision
from emulator.services.streams import (
    BatchFailed,
    StreamPoller,
    item_size,
    lambda_record,
    resume_point,
)
from emulator.services.ttl import TtlMarks
from emulator.template.model import Table


class Stream:
    """A provisioned table with a stream, a fake runner and a running poller."""

    def __init__(self, aws_url: str, build: Any, background: Any) -> None:
        self.aws_url, self.build, self.background = aws_url, build, background

    async def start(
        self,
        *,
        view: str = "NEW_AND_OLD_IMAGES",
        region: str = "us-east-1",
        script: Any = None,
        **source: Any,
    ) -> tuple[Table, Any, Any, StreamPoller]:
        table = self.build.table(region=region, stream_view_type=view)
        arn = provision(self.build.template(region=region, tables=(table,)), self.aws_url)
        runner = self.build.runner(script)
        source.setdefault("starting_position", "TRIM_HORIZON")
        poller = StreamPoller(
            self.aws_url,
            self.build.source("dynamodb", "Table", **source),
            table,
            runner,
            region=region,
            stream_arn=arn.stream_arns["Table"],
            ttl_marks=TtlMarks(),
            poll_interval_s=0.02,
        )
        from emulator.services.aws import client

        ddb = client("dynamodb", self.aws_url, region)
        return table, ddb, runner, poller

    def run(self, poller: StreamPoller) -> None:
        self.background(poller.run())


@pytest.fixture
def stream(aws_url: str, build: Any, background: Any) -> Stream:
    return Stream(aws_url, build, background)


def _put(ddb: Any, table: Table, pk: str, **attrs: str) -> None:
    item = {"pk": {"S": pk}} | {k: {"S": v} for k, v in attrs.items()}
    ddb.put_item(TableName=table.name, Item=item)


async def test_records_have_lambda_shape(stream: Stream) -> None:
    """INSERT, MODIFY and REMOVE arrive as Lambda records of the template's region."""
    table, ddb, runner, poller = await stream.start(region="eu-west-1")
    stream.run(poller)
    _put(ddb, table, "s1", status="pending")
    _put(ddb, table, "s1", status="active")
    ddb.delete_item(TableName=table.name, Key={"pk": {"S": "s1"}})
    await runner.wait_for(lambda: len(runner.records) == 3)

    insert, modify, remove = runner.records
    assert [r["eventName"] for r in runner.records] == ["INSERT", "MODIFY", "REMOVE"]
    for record in runner.records:
        assert list(record) == [
            "eventID",
            "eventName",
            "eventVersion",
            "eventSource",
            "awsRegion",
            "dynamodb",
            "eventSourceARN",
        ]
        assert re.fullmatch(r"[0-9a-f]{32}", record["eventID"])
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "eu-west-1"
        assert record["eventSourceARN"] == poller.stream_arn
        assert record["eventSourceARN"].startswith(table.arn + "/stream/")
        ddb_part = record["dynamodb"]
        assert isinstance(ddb_part["ApproximateCreationDateTime"], int)
        assert 1_600_000_000 < ddb_part["ApproximateCreationDateTime"] < 4_000_000_000
        assert ddb_part["Keys"] == {"pk": {"S": "s1"}}
        assert ddb_part["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(ddb_part["SizeBytes"], int) and ddb_part["SizeBytes"] > 0
        assert "userIdentity" not in record
    assert insert["dynamodb"]["NewImage"] == {"pk": {"S": "s1"}, "status": {"S": "pending"}}
    assert "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"]["status"] == {"S": "pending"}
    assert modify["dynamodb"]["NewImage"]["status"] == {"S": "active"}
    assert remove["dynamodb"]["OldImage"]["status"] == {"S": "active"}
    assert "NewImage" not in remove["dynamodb"]
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in runner.records]
    assert sequence == sorted(sequence) and len(set(sequence)) == 3
    assert len({r["eventID"] for r in runner.records}) == 3


async def test_keys_only_stream_has_no_images(stream: Stream) -> None:
    """StreamViewType KEYS_ONLY delivers Keys without NewImage/OldImage."""
    table, ddb, runner, poller = await stream.start(view="KEYS_ONLY")
    stream.run(poller)
    _put(ddb, table, "k1", status="x")
    await runner.wait_for(lambda: len(runner.records) == 1)
    [record] = runner.records
    assert set(record["dynamodb"]) == {
        "ApproximateCreationDateTime",
        "Keys",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert record["dynamodb"]["StreamViewType"] == "KEYS_ONLY"


async def test_latest_skips_records_written_before_start(stream: Stream) -> None:
    """LATEST starts after the newest record; TRIM_HORIZON would include it."""
    table, ddb, runner, poller = await stream.start(starting_position="LATEST")
    _put(ddb, table, "before")
    stream.run(poller)
    await poller.wait_ready()
    _put(ddb, table, "after")
    await runner.wait_for(lambda: len(runner.records) >= 1)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in runner.records] == ["after"]


async def test_batches_respect_batch_size_and_order(stream: Stream) -> None:
    """Records arrive in order, at most BatchSize per invocation."""
    table, ddb, runner, poller = await stream.start(batch_size=2)
    for i in range(5):
        _put(ddb, table, f"k{i}")
    stream.run(poller)
    await runner.wait_for(lambda: len(runner.records) == 5)
    assert [len(e["Records"]) for e in runner.events] == [2, 2, 1]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in runner.records] == [f"k{i}" for i in range(5)]


async def test_filters_drop_unmatched_records_for_good(stream: Stream) -> None:
    """Only records matching a filter are delivered; the others never come back."""
    active = '{"dynamodb": {"NewImage": {"status": {"S": ["active"]}}}}'
    removes = '{"eventName": ["REMOVE"]}'
    table, ddb, runner, poller = await stream.start(filter_patterns=(active, removes))
    stream.run(poller)
    _put(ddb, table, "a", status="pending")
    _put(ddb, table, "a", status="active")
    _put(ddb, table, "b", status="stopped")
    ddb.delete_item(TableName=table.name, Key={"pk": {"S": "b"}})
    _put(ddb, table, "c", status="active")
    await runner.wait_for(lambda: len(runner.records) >= 3)
    _put(ddb, table, "sentinel", status="active")
    await runner.wait_for(lambda: len(runner.records) >= 4)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in runner.records] == [
        ("MODIFY", "a"),
        ("REMOVE", "b"),
        ("INSERT", "c"),
        ("INSERT", "sentinel"),
    ]


async def test_function_error_retries_the_same_batch_until_success(stream: Stream) -> None:
    """A failed batch blocks the shard and is retried, unchanged, until it succeeds."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        return ("error", {"errorMessage": "boom"}) if n < 2 else ("ok", None)

    table, ddb, runner, poller = await stream.start(batch_size=2, script=script)
    for i in range(3):
        _put(ddb, table, f"k{i}")
    stream.run(poller)
    await runner.wait_for(lambda: len(runner.events) >= 4)
    keys = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in runner.events]
    assert keys == [["k0", "k1"], ["k0", "k1"], ["k0", "k1"], ["k2"]]
    assert runner.events[0] == runner.events[2]  # same eventIDs, same records


async def test_retries_stop_after_maximum_retry_attempts(stream: Stream) -> None:
    """With MaximumRetryAttempts=1 a failing batch runs twice, then is discarded."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        first = event["Records"][0]["dynamodb"]["Keys"]["pk"]["S"]
        return ("timeout", {"errorType": "Sandbox.Timedout"}) if first == "bad" else ("ok", None)

    table, ddb, runner, poller = await stream.start(
        batch_size=1, maximum_retry_attempts=1, script=script
    )
    _put(ddb, table, "bad")
    _put(ddb, table, "good")
    stream.run(poller)
    await runner.wait_for(
        lambda: any(r["dynamodb"]["Keys"]["pk"]["S"] == "good" for r in runner.records)
    )
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in runner.records] == ["bad", "bad", "good"]


async def test_partial_failure_resumes_at_the_lowest_reported_record(stream: Stream) -> None:
    """ReportBatchItemFailures: the next batch starts at the lowest failed record."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        records = event["Records"]
        if n == 0:
            failures = [records[3], records[1]]  # reported out of order
            return "ok", {
                "batchItemFailures": [
                    {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failures
                ]
            }
        return "ok", {"batchItemFailures": []}

    table, ddb, runner, poller = await stream.start(
        batch_size=4, report_batch_item_failures=True, script=script
    )
    for i in range(5):
        _put(ddb, table, f"k{i}")
    stream.run(poller)
    await runner.wait_for(lambda: len(runner.events) >= 2)
    keys = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in runner.events]
    assert keys[:2] == [["k0", "k1", "k2", "k3"], ["k1", "k2", "k3", "k4"]]


async def test_malformed_item_failure_fails_the_whole_batch(stream: Stream) -> None:
    """An empty itemIdentifier makes the whole batch fail and run again."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        if n == 0:
            return "ok", {"batchItemFailures": [{"itemIdentifier": ""}]}
        return "ok", None

    table, ddb, runner, poller = await stream.start(
        batch_size=10, report_batch_item_failures=True, script=script
    )
    _put(ddb, table, "k0")
    _put(ddb, table, "k1")
    stream.run(poller)
    await runner.wait_for(lambda: len(runner.events) >= 2)
    assert runner.events[0] == runner.events[1]


def test_resume_point_follows_aws_rules() -> None:
    """Null/empty means success; bad identifiers fail the batch; lowest number wins."""
    seqs = ["100", "200", "1000"]
    assert resume_point(None, seqs) is None
    assert resume_point({}, seqs) is None
    assert resume_point({"batchItemFailures": None}, seqs) is None
    assert resume_point({"batchItemFailures": []}, seqs) is None
    assert (
        resume_point(
            {"batchItemFailures": [{"itemIdentifier": "1000"}, {"itemIdentifier": "200"}]}, seqs
        )
        == "200"
    )
    for bad in (
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifer": "100"}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": "100"},
        "not an object",
        ["100"],
    ):
        with pytest.raises(BatchFailed):
            resume_point(bad, seqs)


def test_lambda_record_marks_ttl_removals_only_when_told() -> None:
    """userIdentity appears only on records the reaper caused."""
    raw = {
        "eventID": "0" * 32,
        "eventName": "REMOVE",
        "eventVersion": "1.0",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": "a"}},
            "OldImage": {"pk": {"S": "a"}, "n": {"N": "12345"}},
            "SequenceNumber": "1",
            "SizeBytes": 999,
            "StreamViewType": "OLD_IMAGE",
        },
    }
    plain = lambda_record(raw, region="ap-south-1", stream_arn="arn", ttl_removal=False, now=5.9)
    ttl = lambda_record(raw, region="ap-south-1", stream_arn="arn", ttl_removal=True, now=5.9)
    assert "userIdentity" not in plain
    assert ttl["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert plain["dynamodb"]["ApproximateCreationDateTime"] == 5
    assert plain["awsRegion"] == "ap-south-1"
    # Keys: "pk"+"a" = 3; OldImage: 3 + "n" + 12345 (5 digits -> 3 + 1) = 8.
    assert plain["dynamodb"]["SizeBytes"] == 3 + 8


def test_item_size_counts_names_and_values() -> None:
    """DynamoDB's size rules for each attribute type."""
    assert item_size({"s": {"S": "héllo"}}) == 1 + 6
    assert item_size({"n": {"N": "-0.0012"}}) == 1 + 2
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size({"ss": {"SS": ["a", "bc"]}}) == 2 + 3
    assert item_size({"bin": {"B": b"\x00\x01"}}) == 3 + 2


async def test_retried_batch_does_not_grow_with_new_records(stream: Stream) -> None:
    """A whole-batch failure retries exactly the records of that batch."""
    ddb_holder: dict[str, Any] = {}

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        if n == 0:  # a record arrives while the first batch fails
            _put(ddb_holder["ddb"], ddb_holder["table"], "late")
            return "error", {"errorMessage": "boom"}
        return "ok", None

    table, ddb, runner, poller = await stream.start(batch_size=10, script=script)
    ddb_holder.update(ddb=ddb, table=table)
    _put(ddb, table, "first")
    stream.run(poller)
    await runner.wait_for(lambda: len(runner.records) >= 3)
    keys = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in runner.events]
    assert keys == [["first"], ["first"], ["late"]]
