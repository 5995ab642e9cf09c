"""SqsPoller: Lambda's SQS event, deletes, partial failures, DLQ and filters."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest

from emulator.runner.base import Invocation
from emulator.services.provision import provision
from emulator.services.sqs import (
    BatchFailed,
    SqsPoller,
    failed_message_ids,
    filter_view,
    message_attributes,
)
from emulator.template.model import Queue


class Queues:
    """Provisions queues and starts pollers with a fake runner."""

    def __init__(self, aws_url: str, build: Any, background: Any) -> None:
        self.aws_url, self.build, self.background = aws_url, build, background

    def start(
        self,
        *,
        script: Any = None,
        queue_kwargs: dict[str, Any] | None = None,
        with_dlq: int | None = None,
        region: str = "us-east-1",
        **source: Any,
    ) -> tuple[Queue, Queue | None, Any, SqsPoller]:
        kwargs = {"visibility_timeout_s": 0, **(queue_kwargs or {})}
        dlq = self.build.queue(logical_id="Dlq", region=region) if with_dlq else None
        if dlq is not None:
            kwargs |= {"redrive_target": "Dlq", "max_receive_count": with_dlq}
        queue = self.build.queue(region=region, **kwargs)
        template = self.build.template(
            region=region, queues=(queue,) + ((dlq,) if dlq is not None else ())
        )
        provision(template, self.aws_url)
        runner = self.build.runner(script)
        poller = SqsPoller(
            self.aws_url,
            self.build.source("sqs", "Queue", **source),
            queue,
            runner,
            region=region,
            account_id="123456789012",
            wait_time_s=1,
        )
        self.background(poller.run())
        return queue, dlq, runner, poller


@pytest.fixture
def queues(aws_url: str, build: Any, background: Any) -> Queues:
    return Queues(aws_url, build, background)


def _count(sqs: Any, queue: Queue) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_event_has_lambda_sqs_shape_and_success_deletes(
    queues: Queues, sqs: Any, build: Any
) -> None:
    """One record per message in Lambda's shape; after success the queue is empty."""
    queue, _, runner, _ = queues.start(
        queue_kwargs={"visibility_timeout_s": 30}, region="us-east-1"
    )
    body = '{"invite": "42"}'
    sent = sqs.send_message(
        QueueUrl=queue.url,
        MessageBody=body,
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "timeout"},
            "attempt": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )
    await runner.wait_for(lambda: len(runner.records) == 1)
    [event] = runner.events
    assert list(event) == ["Records"]
    [record] = event["Records"]
    assert list(record) == [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    attrs = record["attributes"]
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId"} <= set(attrs)
    assert "ApproximateFirstReceiveTimestamp" in attrs
    assert all(isinstance(v, str) for v in attrs.values())
    assert attrs["ApproximateReceiveCount"] == "1"
    assert attrs["SentTimestamp"].isdigit() and len(attrs["SentTimestamp"]) == 13
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "timeout",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "attempt": {
            "stringValue": "3",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Number",
        },
        "blob": {
            "binaryValue": base64.b64encode(b"\x00\xff").decode(),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    await build.eventually(lambda: _async(_count(sqs, queue) == 0))


async def _async(value: bool) -> bool:
    return value


async def test_delay_is_honoured(queues: Queues, sqs: Any) -> None:
    """A delayed message is first received no earlier than its delay."""
    queue, _, runner, _ = queues.start()
    sqs.send_message(QueueUrl=queue.url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=queue.url, MessageBody="now")
    await runner.wait_for(lambda: len(runner.records) == 2)
    assert [r["body"] for r in runner.records] == ["now", "later"]
    later = runner.records[1]["attributes"]
    assert int(later["ApproximateFirstReceiveTimestamp"]) - int(later["SentTimestamp"]) >= 1000


async def test_batch_collects_up_to_batch_size(queues: Queues, sqs: Any) -> None:
    """Messages already waiting arrive together, at most BatchSize per invocation."""
    queue, _, runner, _ = queues.start(batch_size=3)
    sqs.send_message_batch(
        QueueUrl=queue.url,
        Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(7)],
    )
    await runner.wait_for(lambda: len(runner.records) == 7)
    assert all(1 <= len(e["Records"]) <= 3 for e in runner.events)
    assert sorted(r["body"] for r in runner.records) == [f"m{i}" for i in range(7)]


async def test_partial_failure_keeps_only_reported_messages(
    queues: Queues, sqs: Any, build: Any
) -> None:
    """Reported ids come back (receive count 2); the rest are deleted."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        if n == 0:
            failed = [r for r in event["Records"] if r["body"] == "fail-me"]
            return "ok", {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed]}
        return "ok", {"batchItemFailures": None}

    queue, _, runner, _ = queues.start(report_batch_item_failures=True, script=script)
    sqs.send_message_batch(
        QueueUrl=queue.url,
        Entries=[
            {"Id": "a", "MessageBody": "ok-1"},
            {"Id": "b", "MessageBody": "fail-me"},
            {"Id": "c", "MessageBody": "ok-2"},
        ],
    )
    await runner.wait_for(lambda: len(runner.records) >= 3)
    if len(runner.events[0]["Records"]) < 3:
        pytest.fail("moto returned the batch split; the test needs one batch of three")
    await runner.wait_for(lambda: len(runner.events) >= 2)
    [retried] = runner.events[1]["Records"]
    assert retried["body"] == "fail-me"
    assert retried["attributes"]["ApproximateReceiveCount"] == "2"
    await build.eventually(lambda: _async(_count(sqs, queue) == 0))


@pytest.mark.parametrize(
    "answer",
    [
        ("ok", {"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}),
        ("ok", {"batchItemFailures": [{"itemIdentifier": ""}]}),
        ("error", {"errorMessage": "boom", "errorType": "Exception"}),
    ],
    ids=["unknown-id", "empty-id", "raise"],
)
async def test_bad_answer_fails_the_whole_batch(queues: Queues, sqs: Any, answer: Any) -> None:
    """An unknown or empty id, or an exception, leaves every message on the queue."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        return answer if n == 0 else ("ok", None)

    queue, _, runner, _ = queues.start(report_batch_item_failures=True, script=script)
    sqs.send_message_batch(
        QueueUrl=queue.url,
        Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(2)],
    )
    await runner.wait_for(lambda: sum(len(e["Records"]) for e in runner.events[1:]) >= 2)
    first_ids = {r["messageId"] for e in runner.events[:1] for r in e["Records"]}
    again = {r["messageId"] for e in runner.events[1:] for r in e["Records"]}
    assert first_ids <= again
    assert all(
        r["attributes"]["ApproximateReceiveCount"] == "2"
        for e in runner.events[1:]
        for r in e["Records"]
        if r["messageId"] in first_ids
    )


async def test_message_moves_to_dlq_after_max_receive_count(
    queues: Queues, sqs: Any, build: Any
) -> None:
    """A message failing maxReceiveCount times lands in the DLQ and stops coming."""
    queue, dlq, runner, _ = queues.start(
        with_dlq=2, script=lambda e, n: ("error", {"errorMessage": "always"})
    )
    assert dlq is not None
    sqs.send_message(QueueUrl=queue.url, MessageBody="poison")

    async def in_dlq() -> bool:
        got = sqs.receive_message(QueueUrl=dlq.url, WaitTimeSeconds=0, VisibilityTimeout=30)
        return bool(got.get("Messages"))

    await build.eventually(in_dlq)
    assert [r["body"] for r in runner.records] == ["poison", "poison"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in runner.records] == ["1", "2"]


async def test_filtered_out_messages_are_deleted(queues: Queues, sqs: Any, build: Any) -> None:
    """Non-matching messages are deleted, not delivered and not left on the queue."""
    pattern = '{"body": {"kind": ["invite_timeout"]}}'
    queue, _, runner, _ = queues.start(filter_patterns=(pattern,))
    sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps({"kind": "duel_end"}))
    sqs.send_message(QueueUrl=queue.url, MessageBody="not json")
    sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps({"kind": "invite_timeout"}))
    await runner.wait_for(lambda: len(runner.records) >= 1)
    await build.eventually(lambda: _async(_count(sqs, queue) == 0))
    assert [json.loads(r["body"]) for r in runner.records] == [{"kind": "invite_timeout"}]


def test_failed_message_ids_follow_aws_rules() -> None:
    """Null/empty is success; reported ids stay; bad identifiers fail the whole batch."""
    ids = ["m1", "m2"]
    assert failed_message_ids(None, ids) == set()
    assert failed_message_ids({}, ids) == set()
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "m2"}]}, ids) == {"m2"}
    for bad in (
        {"batchItemFailures": [{"itemIdentifier": "m3"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"id": "m1"}]},
        {"batchItemFailures": {"itemIdentifier": "m1"}},
        "ok",
    ):
        with pytest.raises(BatchFailed):
            failed_message_ids(bad, ids)


def test_message_attributes_lists_and_filter_view() -> None:
    """List attributes keep their values; filters see a JSON body parsed, text as text."""
    converted = message_attributes(
        {"l": {"DataType": "String", "StringListValues": ["a"], "BinaryListValues": [b"x"]}}
    )
    assert converted == {
        "l": {"stringListValues": ["a"], "binaryListValues": ["eA=="], "dataType": "String"}
    }
    assert filter_view({"body": '{"a": 1}'})["body"] == {"a": 1}
    assert filter_view({"body": "plain"})["body"] == "plain"


async def test_provisioned_fifo_queue_feeds_records(queues: Queues, sqs: Any) -> None:
    """FIFO messages carry their group and sequence attributes into the event."""
    queue, _, runner, _ = queues.start(queue_kwargs={"fifo": True})
    sqs.send_message(
        QueueUrl=queue.url, MessageBody="f1", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    await runner.wait_for(lambda: len(runner.records) == 1)
    attrs = runner.records[0]["attributes"]
    assert attrs["MessageGroupId"] == "g"
    assert attrs["MessageDeduplicationId"] == "d1"
    assert attrs["SequenceNumber"].isdigit()


class _HeldRunner:
    """A runner whose first invocation waits until released; it records every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.second = asyncio.Event()

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.events.append(dict(event))
        if len(self.events) >= 2:
            self.second.set()
        if len(self.events) == 1:
            await self.release.wait()
        return Invocation(function, f"req-{len(self.events)}", "ok", None, 1.0)


async def test_batches_of_a_standard_queue_run_concurrently(
    aws_url: str, build: Any, background: Any, sqs: Any
) -> None:
    """While one batch's invoke is still running, the next batch is received and invoked."""
    queue = build.queue(visibility_timeout_s=30)
    provision(build.template(queues=(queue,)), aws_url)
    runner = _HeldRunner()
    poller = SqsPoller(
        aws_url,
        build.source("sqs", "Queue", batch_size=1),
        queue,
        runner,
        region="us-east-1",
        account_id="123456789012",
        wait_time_s=1,
    )
    background(poller.run())
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=queue.url, MessageBody=body)
    await asyncio.wait_for(runner.second.wait(), 15)
    assert not runner.release.is_set()  # the first invoke has not finished yet
    runner.release.set()
    for _ in range(300):  # bounded wait until both messages are deleted
        if not _count(sqs, queue):
            break
        await asyncio.sleep(0.05)
    assert _count(sqs, queue) == 0


async def test_on_a_virtual_clock_receives_and_batches_are_work_in_flight(
    aws_url: str, sqs: Any, build: Any, background: Any, tmp_path: Any
) -> None:
    """Virtual time: no long polls; a batch counts as busy from its receive until its
    messages are deleted; an empty receive says the poller is caught up."""
    from emulator.timesync import ClockFile
    from emulator.virtual.clock import VirtualClock

    file = ClockFile(tmp_path / "offset")
    clock = VirtualClock(file)
    activity = clock.activity
    seen_busy: list[list[str]] = []

    def script(event: Any, n: int) -> tuple[str, None]:
        seen_busy.append(sorted(activity.busy_reasons))
        return "ok", None

    queue = build.queue(visibility_timeout_s=30)
    provision(build.template(queues=(queue,)), aws_url)
    runner = build.runner(script)
    poller = SqsPoller(
        aws_url,
        build.source("sqs", "Queue"),
        queue,
        runner,
        region="us-east-1",
        account_id="123456789012",
        clock=clock,
    )
    background(poller.run())

    async def quiet() -> bool:
        return bool(activity.pollers) and activity.not_quiet() is None

    await build.eventually(quiet)
    sqs.send_message(QueueUrl=queue.url, MessageBody="timer")
    activity.changed()  # as the end of the invocation that sent it would
    await runner.wait_for(lambda: len(runner.records) == 1)
    assert "sqs batch" in seen_busy[0]
    await build.eventually(quiet)
    assert _count(sqs, queue) == 0  # deleted before the poller counted as caught up
    file.close()
