"""SQS -> Lambda: the event source mapping's poller, against moto.

Long-polls the queue the way Lambda does, builds Lambda's SQS event (docs/aws-behaviour.md §9),
invokes the function and deletes what succeeded. A failed batch is left alone, so it
comes back after the visibility timeout; moto moves a message to the queue's DLQ on the
receive after `maxReceiveCount` receives (moto/sqs/models.py `receive_message`), which
is what SQS does, so the poller needs no DLQ logic of its own.

Delayed messages: moto's own long poll waits on a condition nothing signals when a
delay ends, so MotoServer emulates long polling in 50 ms steps; a due message is thus
received within about 50 ms plus one request (see moto_server.py).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import functools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.runner.base import FunctionRunner, Invocation
from emulator.services.aws import client
from emulator.services.patterns import matches_any, parse_patterns
from emulator.template.model import EventSource, Queue
from emulator.virtual.activity import Activity, activity_of

if TYPE_CHECKING:
    from emulator.faults.sqs import SqsFaults

MAX_RECEIVE = 10  # AWS: ReceiveMessage returns at most 10 messages
ERROR_BACKOFF_S = 1.0
# AWS: for a standard queue Lambda polls with several batches in flight at once (five at
# first, scaling up; Lambda developer guide, "How Lambda scales with SQS"). Here batches
# go one at a time for a FIFO queue (message groups stay in order) and for a queue whose
# visibility timeout is 0, where a message being processed is visible to the next
# receive at once and concurrent batches would only process it twice.
CONCURRENT_BATCHES = 5
# On a virtual clock the poller asks without long polling (see SqsPoller.run), again at
# once after every change and at least this often (real seconds) otherwise.
VIRTUAL_POLL_S = 0.25


def _b64(data: object) -> str:
    raw = data if isinstance(data, bytes | bytearray) else str(data).encode()
    return base64.b64encode(raw).decode()


def message_attributes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """ReceiveMessage's MessageAttributes, Lambda's lower-camel form (docs/aws-behaviour.md §9)."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in raw.items():
        value: dict[str, Any] = {}
        if "StringValue" in attr:
            value["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            value["binaryValue"] = _b64(attr["BinaryValue"])
        value["stringListValues"] = list(attr.get("StringListValues", []))
        value["binaryListValues"] = [_b64(b) for b in attr.get("BinaryListValues", [])]
        value["dataType"] = attr["DataType"]
        out[name] = value
    return out


def lambda_record(message: Mapping[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One Lambda SQS record from a ReceiveMessage message (docs/aws-behaviour.md §9)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        # AWS: attribute values are strings, timestamps in epoch ms.
        "attributes": {k: str(v) for k, v in message.get("Attributes", {}).items()},
        "messageAttributes": message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def filter_view(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record as filters see it: a JSON body is matched as parsed data.

    AWS: if the body is valid JSON, patterns on `body` match its fields; otherwise the
    body is a plain string (Lambda developer guide, "Filtering Amazon SQS messages").
    """
    try:
        body = json.loads(record["body"])
    except (ValueError, TypeError):
        return record
    return {**record, "body": body}


class BatchFailed(Exception):
    """The function's answer makes the whole batch a failure (message says why)."""


def failed_message_ids(result: object, message_ids: list[str]) -> set[str]:
    """The messages to keep after a ReportBatchItemFailures answer (empty = all done).

    AWS: no answer, `{}` or a null/empty `batchItemFailures` is success; an entry with
    an empty, missing or unknown `itemIdentifier` fails the whole batch (§9).
    """
    if result is None:
        return set()
    if not isinstance(result, Mapping):
        raise BatchFailed(f"response is not an object: {type(result).__name__}")
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        raise BatchFailed("batchItemFailures is not a list")
    kept: set[str] = set()
    for entry in failures:
        ident = entry.get("itemIdentifier") if isinstance(entry, Mapping) else None
        if not isinstance(ident, str) or ident not in message_ids:
            raise BatchFailed(f"invalid itemIdentifier in {entry!r}")
        kept.add(ident)
    return kept


class SqsPoller:
    """One SQS event source mapping: a queue feeding one function.

    `region` goes into every record's `awsRegion` and picks moto's regional backend;
    `account_id` is the template's (the queue's URL and ARN already carry it).
    """

    def __init__(
        self,
        aws_url: str,
        source: EventSource,
        queue: Queue,
        runner: FunctionRunner,
        *,
        region: str,
        account_id: str,
        wait_time_s: int = 2,
        clock: Clock = SYSTEM_CLOCK,
        faults: SqsFaults | None = None,
    ) -> None:
        if source.kind != "sqs":
            raise ValueError(f"{source.logical_id} is not an SQS event source")
        self.source = source
        self.queue = queue
        self._aws_url = aws_url
        self._runner = runner
        self._region = region
        self.account_id = account_id
        # Lambda long-polls for 20 s; a shorter wait only bounds how long a cancelled
        # poller's last request lingers in its thread (new messages return at once).
        self._wait_time_s = wait_time_s
        self._patterns = parse_patterns(source.filter_patterns)
        self._sqs: Any = None
        # Receives get threads of their own: a cancelled long poll may linger for up to
        # wait_time_s, and must not hold up the event loop's default executor shutdown.
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.invocations = 0  # for logs and tests
        # Fault mode (emulator/faults/sqs.py): duplicate, delay, reorder deliveries.
        self._faults = faults
        self._activity: Activity | None = activity_of(clock)
        if self._activity is not None:
            self._wait_time_s = 0

    async def run(self) -> None:
        """Receive, invoke and delete until cancelled.

        On a virtual clock (emulator/virtual/) receives are short: a long poll that
        finds a message hands it back with no sign the poller could see in time, so
        time might jump while the message travels. Each receive, and each batch from
        the moment it is received until its messages are deleted, is work time must not
        jump under; a receive that found nothing tells the advancer this poller is
        caught up, and the next one follows at once when anything changes.
        """
        self._sqs = await asyncio.to_thread(client, "sqs", self._aws_url, self._region)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"sqs-{self.source.logical_id}"
        )
        try:
            await self._loop()
        finally:
            self._executor.shutdown(wait=False)

    async def _loop(self) -> None:
        emit(
            SERVICE,
            f"sqs poller {self.source.logical_id}: {self.queue.name} -> {self.source.function}",
            source=self.source.logical_id,
            queue=self.queue.url,
        )
        sequential = self.queue.fifo or self.queue.visibility_timeout_s <= 0
        slots = asyncio.Semaphore(1 if sequential else CONCURRENT_BATCHES)
        batches: set[asyncio.Task[None]] = set()
        activity = self._activity
        poller = activity.poller(f"sqs {self.source.logical_id}") if activity else None
        try:
            while True:
                await slots.acquire()
                started = poller.look() if poller is not None else None
                busy = activity.busy("sqs receive") if activity else contextlib.nullcontext()
                try:
                    with busy:
                        messages = await self._gather()
                except asyncio.CancelledError:
                    slots.release()
                    raise
                except Exception as exc:
                    slots.release()
                    emit(
                        SERVICE,
                        f"sqs poller {self.source.logical_id}: ReceiveMessage failed: {exc}",
                        level=logging.WARNING,
                        source=self.source.logical_id,
                    )
                    await asyncio.sleep(ERROR_BACKOFF_S)
                    continue
                if not messages:
                    slots.release()
                    if poller is not None and started is not None:
                        poller.caught_up(started)
                        await poller.pause(VIRTUAL_POLL_S)
                    continue
                # Entered here, before the task runs, so no moment between the receive
                # and the batch looks quiet to a virtual clock.
                hold = contextlib.ExitStack()
                if activity is not None:
                    hold.enter_context(activity.busy("sqs batch"))
                # The next receive starts while this batch runs: one slow invoke must not
                # hold back messages (timers) that come due meanwhile.
                batch = asyncio.get_running_loop().create_task(self._batch(messages, slots, hold))
                batches.add(batch)
                batch.add_done_callback(batches.discard)
        finally:
            for batch in batches:
                batch.cancel()
            await asyncio.gather(*batches, return_exceptions=True)
            if poller is not None and activity is not None:
                activity.remove(poller)

    async def _batch(
        self,
        messages: list[dict[str, Any]],
        slots: asyncio.Semaphore,
        hold: contextlib.ExitStack | None = None,
    ) -> None:
        try:
            if self._faults is None:
                await self.handle(messages)
            else:
                await self._faults.deliver(self, messages, hold)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the messages reappear after the visibility timeout
            emit(
                SERVICE,
                f"sqs poller {self.source.logical_id}: batch failed: {exc!r}",
                level=logging.WARNING,
                source=self.source.logical_id,
            )
        finally:
            slots.release()
            if hold is not None:
                hold.close()

    # ------------------------------------------------------------------ receiving

    async def _gather(self) -> list[dict[str, Any]]:
        """One batch: up to BatchSize messages, waiting up to the batching window."""
        batch_size = max(1, self.source.batch_size)
        window = self.source.maximum_batching_window_s
        messages = await self._receive(min(batch_size, MAX_RECEIVE), self._wait_time_s)
        if not messages or len(messages) >= batch_size:
            return messages
        deadline = time.monotonic() + window
        while len(messages) < batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = await self._receive(
                min(batch_size - len(messages), MAX_RECEIVE), min(int(remaining), 20)
            )
            if not more and int(remaining) == 0:
                break
            messages.extend(more)
        return messages

    async def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        params = {
            "QueueUrl": self.queue.url,
            "MaxNumberOfMessages": count,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
            "WaitTimeSeconds": wait_s,
        }
        assert self._executor is not None
        call = self._executor.submit(functools.partial(self._sqs.receive_message, **params))
        try:
            reply = await asyncio.wrap_future(call)
        except asyncio.CancelledError:
            # The request lives on in its thread; whatever it still receives is handed
            # back at once instead of staying invisible for the visibility timeout.
            call.add_done_callback(self._release_late)
            raise
        received: list[dict[str, Any]] = reply.get("Messages", [])
        return received

    def _release_late(self, call: concurrent.futures.Future[Any]) -> None:
        """Runs in the receive's own thread when a cancelled receive finally returns."""
        if call.cancelled() or call.exception() is not None:
            return
        for message in call.result().get("Messages", []):
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            except Exception as exc:  # moto stopping: the messages are gone anyway
                emit(SERVICE, f"sqs poller: could not release a message: {exc}")

    # ------------------------------------------------------------------ invoking

    async def handle(self, messages: list[dict[str, Any]]) -> None:
        """Filter, invoke and delete one received batch."""
        records = [
            lambda_record(m, queue_arn=self.queue.arn, region=self._region) for m in messages
        ]
        matching = [r for r in records if matches_any(self._patterns, filter_view(r))]
        # AWS: messages that match no filter are deleted, not redelivered (§9).
        dropped = [r for r in records if r not in matching]
        if dropped:
            await self._delete(dropped)
        if not matching:
            return
        invocation = await self._runner.invoke(self.source.function, {"Records": matching})
        self.invocations += 1
        kept = self._kept(matching, invocation)
        done = [r for r in matching if r["messageId"] not in kept]
        if done:
            await self._delete(done)

    def _kept(self, records: list[dict[str, Any]], inv: Invocation) -> set[str]:
        """Message ids that stay on the queue (come back after the visibility timeout)."""
        ids = [r["messageId"] for r in records]
        if not inv.ok:
            reason = f"function {inv.outcome}"
            kept = set(ids)
        elif not self.source.report_batch_item_failures:
            return set()
        else:
            try:
                kept = failed_message_ids(inv.result, ids)
            except BatchFailed as exc:
                reason, kept = str(exc), set(ids)
            else:
                reason = "batch item failures"
        if kept:
            emit(
                SERVICE,
                f"sqs poller {self.source.logical_id}: {reason}; {len(kept)} of {len(ids)} "
                "message(s) return after the visibility timeout",
                level=logging.WARNING,
                source=self.source.logical_id,
                request_id=inv.request_id,
            )
        return kept

    async def invoke_copy(self, messages: list[dict[str, Any]]) -> None:
        """Deliver these messages once more (fault mode's duplicate): invoke, delete nothing.

        The first delivery's outcome decides what stays on the queue; the copy's is
        only logged.
        """
        records = [
            lambda_record(m, queue_arn=self.queue.arn, region=self._region) for m in messages
        ]
        matching = [r for r in records if matches_any(self._patterns, filter_view(r))]
        if not matching:
            return
        invocation = await self._runner.invoke(self.source.function, {"Records": matching})
        self.invocations += 1
        if not invocation.ok:
            emit(
                SERVICE,
                f"sqs poller {self.source.logical_id}: duplicate delivery {invocation.outcome}",
                level=logging.WARNING,
                source=self.source.logical_id,
                request_id=invocation.request_id,
            )

    async def hide(self, messages: Sequence[Mapping[str, Any]], seconds: int) -> None:
        """Keep received messages invisible for `seconds` more (ChangeMessageVisibility)."""
        # AWS: a visibility timeout is 0 s to 12 hours (SQS API reference).
        seconds = max(0, min(int(seconds), 43_200))
        for start in range(0, len(messages), MAX_RECEIVE):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(messages[start : start + MAX_RECEIVE])
            ]
            try:
                await asyncio.to_thread(
                    self._sqs.change_message_visibility_batch,
                    QueueUrl=self.queue.url,
                    Entries=entries,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the wait may then end in a redelivery
                emit(
                    SERVICE,
                    f"sqs poller {self.source.logical_id}: ChangeMessageVisibility failed: {exc}",
                    level=logging.WARNING,
                    source=self.source.logical_id,
                )

    async def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), MAX_RECEIVE):
            chunk = records[start : start + MAX_RECEIVE]
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
            ]
            try:
                reply = await asyncio.to_thread(
                    self._sqs.delete_message_batch, QueueUrl=self.queue.url, Entries=entries
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                emit(
                    SERVICE,
                    f"sqs poller {self.source.logical_id}: DeleteMessageBatch failed: {exc}",
                    level=logging.WARNING,
                    source=self.source.logical_id,
                )
                continue
            for failure in reply.get("Failed", []):
                emit(
                    SERVICE,
                    f"sqs poller {self.source.logical_id}: delete failed: {failure}",
                    level=logging.WARNING,
                    source=self.source.logical_id,
                )


__all__ = [
    "BatchFailed",
    "SqsPoller",
    "failed_message_ids",
    "filter_view",
    "lambda_record",
    "message_attributes",
]
