"""SqsPoller with fault mode (emulator/faults/sqs.py) against real moto queues.

Delays and reordering wait on a FakeClock the test moves, so what is asserted is the
order of deliveries, never how long anything took.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from emulator.clock import FakeClock
from emulator.faults.record import FaultLog, rng_for
from emulator.faults.sqs import SqsFaults
from emulator.services.provision import provision
from emulator.services.sqs import SqsPoller
from emulator.template.model import Queue


class Scripted(random.Random):
    """A random source whose `uniform` answers come from a list (and never shuffles)."""

    def __init__(self, uniforms: Sequence[float]) -> None:
        super().__init__(0)
        self.uniforms = list(uniforms)

    def uniform(self, a: float, b: float) -> float:
        return self.uniforms.pop(0)

    def shuffle(self, x: list[Any]) -> None:  # type: ignore[override]
        return None


def make_faults(
    log: FaultLog,
    clock: FakeClock,
    *,
    duplicate: float | None = None,
    delay_s: float | None = None,
    reorder_s: float | None = None,
    delays: Sequence[float] = (),
) -> SqsFaults:
    return SqsFaults(
        log,
        clock,
        duplicate=duplicate,
        delay_s=delay_s,
        reorder_s=reorder_s,
        duplicate_rng=rng_for(1, "sqs-duplicate"),
        delay_rng=Scripted(delays),
        reorder_rng=Scripted(delays),
    )


@pytest.fixture
def start(aws_url: str, build: Any, background: Any) -> Any:
    def start_poller(faults: SqsFaults, **options: Any) -> tuple[Queue, Any]:
        queue = build.queue(visibility_timeout_s=30, fifo=options.pop("fifo", False))
        provision(build.template(queues=(queue,)), aws_url)
        runner = build.runner()
        poller = SqsPoller(
            aws_url,
            build.source("sqs", "Queue", **options),
            queue,
            runner,
            region="us-east-1",
            account_id="123456789012",
            wait_time_s=1,
            faults=faults,
        )
        background(poller.run())
        return queue, runner

    return start_poller


def visible_or_not(sqs: Any, queue: Queue) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_duplicates_deliver_each_message_twice_and_delete_it_once(
    start: Any, sqs: Any, build: Any
) -> None:
    log = FaultLog()
    queue, runner = start(make_faults(log, FakeClock(), duplicate=1.0))
    sent = [
        sqs.send_message(QueueUrl=queue.url, MessageBody=f"m{i}")["MessageId"] for i in range(3)
    ]
    await runner.wait_for(lambda: len(runner.records) == 6)
    ids = sorted(r["messageId"] for r in runner.records)
    assert ids == sorted(sent * 2)
    assert log.counts["sqs-duplicate"] == 3
    copies = [r for e in runner.events[1:] for r in e["Records"]]
    assert {r["body"] for r in copies} <= {"m0", "m1", "m2"}

    async def drained() -> bool:
        return visible_or_not(sqs, queue) == (0, 0)

    await build.eventually(drained)


async def test_a_delayed_batch_waits_invisible_until_its_time(
    start: Any, sqs: Any, build: Any
) -> None:
    log, clock = FaultLog(), FakeClock()
    queue, runner = start(make_faults(log, clock, delay_s=5.0, delays=[4.0]))
    sqs.send_message(QueueUrl=queue.url, MessageBody="late")
    await runner.wait_for(lambda: log.counts["sqs-delay"] == 1)

    async def hidden() -> bool:
        return visible_or_not(sqs, queue) == (0, 1)

    await build.eventually(hidden)
    assert runner.events == []
    clock.advance(3.9)
    assert runner.events == []
    clock.advance(0.2)
    await runner.wait_for(lambda: len(runner.records) == 1)
    assert runner.records[0]["body"] == "late"


async def test_reordering_lets_a_later_batch_overtake_an_earlier_one(start: Any, sqs: Any) -> None:
    log, clock = FaultLog(), FakeClock()
    queue, runner = start(make_faults(log, clock, reorder_s=3.0, delays=[2.0, 1.0]), batch_size=1)
    sqs.send_message(QueueUrl=queue.url, MessageBody="first")
    await runner.wait_for(lambda: log.counts["sqs-reorder"] == 1)
    sqs.send_message(QueueUrl=queue.url, MessageBody="second")
    await runner.wait_for(lambda: log.counts["sqs-reorder"] == 2)
    clock.advance(1.5)
    await runner.wait_for(lambda: len(runner.records) == 1)
    clock.advance(1.0)
    await runner.wait_for(lambda: len(runner.records) == 2)
    assert [r["body"] for r in runner.records] == ["second", "first"]


async def test_a_fifo_queue_is_never_reordered_and_its_copies_follow(start: Any, sqs: Any) -> None:
    log, clock = FaultLog(), FakeClock()
    queue, runner = start(
        make_faults(log, clock, duplicate=1.0, reorder_s=3.0), fifo=True, batch_size=1
    )
    for body in ("a", "b"):
        sqs.send_message(
            QueueUrl=queue.url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body
        )
    await runner.wait_for(lambda: len(runner.records) == 4)
    assert [r["body"] for r in runner.records] == ["a", "a", "b", "b"]
    assert log.counts["sqs-reorder"] == 0 and log.counts["sqs-duplicate"] == 2
