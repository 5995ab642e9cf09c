"""`sqs-duplicate[=P]`, `sqs-delay=MAX`, `sqs-reorder[=WINDOW]`: how the SQS poller delivers.

AWS: a standard queue delivers every message at least once, occasionally more than once,
and not necessarily in the order sent; consumers must be idempotent (docs/aws-behaviour.md
§9, §17). Lambda's pollers add their own latency. The poller (services/sqs.py) hands each
received batch to `SqsFaults.deliver` instead of delivering it at once:

- delay: the batch waits a random time up to MAX before its invocation;
- reorder: the batch's records are shuffled and it waits a random time up to WINDOW, so
  a batch received later can be invoked first (batches run side by side);
- duplicate: each message is, with probability P, delivered a second time in an
  invocation of its own, either at the same time as the first (two pollers received the
  same message) or right after it. The copy carries the same `messageId` and body; it
  is never deleted (the first delivery's outcome decides what stays on the queue).

A FIFO queue keeps its order: no reordering, and a copy only ever follows the original.
While a batch waits its messages stay invisible (their visibility timeout is extended
by the wait), so the wait never turns into a redelivery of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Sequence
from typing import Any, Protocol

from emulator.clock import Clock
from emulator.faults.record import FaultLog
from emulator.template.model import EventSource, Queue
from emulator.virtual.activity import activity_of

Message = dict[str, Any]  # one ReceiveMessage message


class SqsDelivery(Protocol):
    """What SqsFaults needs from the poller (services/sqs.py `SqsPoller`)."""

    source: EventSource
    queue: Queue

    async def handle(self, messages: list[Message]) -> None:
        """Filter, invoke and delete one received batch (the normal delivery)."""
        ...

    async def invoke_copy(self, messages: list[Message]) -> None:
        """Invoke the function once more with these messages; delete nothing."""
        ...

    async def hide(self, messages: Sequence[Message], seconds: int) -> None:
        """Keep these received messages invisible for `seconds` from now."""
        ...


class SqsFaults:
    """The SQS delivery faults of one stack (shared by its pollers)."""

    def __init__(
        self,
        log: FaultLog,
        clock: Clock,
        *,
        duplicate: float | None,
        delay_s: float | None,
        reorder_s: float | None,
        duplicate_rng: random.Random,
        delay_rng: random.Random,
        reorder_rng: random.Random,
    ) -> None:
        self._log = log
        self._clock = clock
        self._duplicate = duplicate
        self._delay_s = delay_s
        self._reorder_s = reorder_s
        self._duplicate_rng = duplicate_rng
        self._delay_rng = delay_rng
        self._reorder_rng = reorder_rng

    async def deliver(
        self,
        poller: SqsDelivery,
        messages: list[Message],
        hold: contextlib.ExitStack | None = None,
    ) -> None:
        """Deliver one received batch with this stack's faults (module docstring).

        `hold` is the poller's "busy" hold on a virtual clock: released while the batch
        waits, so virtual time can jump to the batch's due time, and taken again after.
        Raises what `poller.handle` raises (the batch then returns after its timeout).
        """
        name = poller.source.logical_id
        wait_s = 0.0
        if self._delay_s:
            extra = self._delay_rng.uniform(0, self._delay_s)
            wait_s += extra
            self._log.fired(
                "sqs-delay",
                f"{name}: {len(messages)} message(s) delivered {extra * 1000:.0f} ms late",
                source=name,
                delay_ms=round(extra * 1000),
                message_ids=_ids(messages),
            )
        if self._reorder_s and not poller.queue.fifo:
            self._reorder_rng.shuffle(messages)
            held = self._reorder_rng.uniform(0, self._reorder_s)
            wait_s += held
            self._log.fired(
                "sqs-reorder",
                f"{name}: batch of {len(messages)} shuffled and held {held * 1000:.0f} ms; "
                "later batches may overtake it",
                source=name,
                delay_ms=round(held * 1000),
                message_ids=_ids(messages),
            )
        if wait_s > 0:
            await self._wait(poller, messages, wait_s, hold)
        p = self._duplicate or 0.0
        copies = [m for m in messages if p and self._duplicate_rng.random() < p]
        if not copies:
            await poller.handle(messages)
            return
        together = not poller.queue.fifo and self._duplicate_rng.random() < 0.5
        for message in copies:
            self._log.fired(
                "sqs-duplicate",
                f"{name}: message {message.get('MessageId')} delivered twice"
                + (", both at once" if together else ", the copy right after"),
                source=name,
                message_id=message.get("MessageId"),
            )
        if not together:
            await poller.handle(messages)
            await poller.invoke_copy(copies)
            return
        first, _ = await asyncio.gather(
            poller.handle(messages), poller.invoke_copy(copies), return_exceptions=True
        )
        if isinstance(first, BaseException):
            raise first

    async def _wait(
        self,
        poller: SqsDelivery,
        messages: Sequence[Message],
        seconds: float,
        hold: contextlib.ExitStack | None,
    ) -> None:
        # AWS: a received message stays invisible for the visibility timeout (§9); the
        # wait is added so the held batch is not received again meanwhile.
        await poller.hide(messages, poller.queue.visibility_timeout_s + math.ceil(seconds))
        activity = activity_of(self._clock)
        if hold is not None:
            hold.close()
        try:
            await self._clock.sleep_until(self._clock.now() + seconds)
        finally:
            if hold is not None and activity is not None:
                hold.enter_context(activity.busy("sqs batch"))


def _ids(messages: Sequence[Message]) -> list[str]:
    return [str(m.get("MessageId")) for m in messages]


__all__ = ["SqsDelivery", "SqsFaults"]
