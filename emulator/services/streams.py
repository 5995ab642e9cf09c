"""DynamoDB Streams -> Lambda: the event source mapping's poller, against moto.

Reads a table's stream the way Lambda does (DescribeStream, GetShardIterator,
GetRecords, ~4 polls a second), turns moto's records into Lambda's record shape, drops
records that no filter matches, and invokes the function in batches, in order, retrying
a failed batch while blocking the shard (docs/aws-behaviour.md §7, §8).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.runner.base import FunctionRunner, Invocation
from emulator.services.aws import client
from emulator.services.patterns import matches_any, parse_patterns
from emulator.services.ttl import TtlMarks, TtlMarkView
from emulator.template.model import EventSource, Table
from emulator.virtual.activity import activity_of

if TYPE_CHECKING:
    from emulator.faults.streams import StreamFaults

# AWS: TTL deletions stream with this identity; user deletes carry none (§7).
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
GET_RECORDS_LIMIT = 1000
MAX_RETRY_DELAY_S = 5.0
ATTACH_RETRY_S = 1.0


def item_size(attrs: Mapping[str, Any]) -> int:
    """An item's size in bytes by DynamoDB's rules: names plus values (approximate).

    AWS: strings and binaries count their UTF-8/byte length, numbers about one byte per
    two significant digits plus one, booleans and nulls one byte, lists and maps three
    bytes plus one per element (DynamoDB developer guide, "Item sizes").
    """
    return sum(len(name.encode()) + _value_size(v) for name, v in attrs.items())


def _value_size(value: Mapping[str, Any]) -> int:
    kind, v = next(iter(value.items()))
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        digits = str(v).lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(v) if isinstance(v, bytes | bytearray) else len(base64.b64decode(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_value_size({"N": n}) for n in v)
    if kind == "BS":
        return sum(_value_size({"B": b}) for b in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(e) for k, e in v.items())
    return 0


def _epoch_seconds(value: object, fallback: float) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, int | float):
        return int(value)
    return int(fallback)


def lambda_record(
    raw: Mapping[str, Any],
    *,
    region: str,
    stream_arn: str,
    ttl_removal: bool,
    now: float,
) -> dict[str, Any]:
    """One Lambda DynamoDB stream record from a GetRecords record (docs/aws-behaviour.md §7/§8).

    moto's records differ from AWS's in eventVersion ("1.0"), awsRegion (always
    us-east-1), SizeBytes (inflated) and the missing userIdentity (§14); those come
    from here instead.
    """
    src = raw["dynamodb"]
    ddb: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(src.get("ApproximateCreationDateTime"), now),
        "Keys": src["Keys"],
    }
    images = {}
    for image in ("NewImage", "OldImage"):
        if image in src:
            ddb[image] = src[image]
            images[image] = src[image]
    ddb["SequenceNumber"] = src["SequenceNumber"]
    ddb["SizeBytes"] = item_size(src["Keys"]) + sum(item_size(i) for i in images.values())
    ddb["StreamViewType"] = src["StreamViewType"]
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": ddb,
    }
    if ttl_removal:
        record["userIdentity"] = dict(TTL_IDENTITY)
    record["eventSourceARN"] = stream_arn
    return record


class BatchFailed(Exception):
    """The function's answer makes the whole batch a failure (message says why)."""


def resume_point(result: object, sequence_numbers: list[str]) -> str | None:
    """Where to resume after a ReportBatchItemFailures answer; None = batch succeeded.

    AWS: null or empty `batchItemFailures` (or no answer) is success; otherwise resume
    at the lowest reported SequenceNumber. An entry without a usable `itemIdentifier`,
    or one naming no record of the batch, fails the whole batch (docs/aws-behaviour.md §8).
    """
    if result is None:
        return None
    if not isinstance(result, Mapping):
        raise BatchFailed(f"response is not an object: {type(result).__name__}")
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        raise BatchFailed("batchItemFailures is not a list")
    reported: list[str] = []
    for entry in failures:
        ident = entry.get("itemIdentifier") if isinstance(entry, Mapping) else None
        if not isinstance(ident, str) or ident not in sequence_numbers:
            raise BatchFailed(f"invalid itemIdentifier in {entry!r}")
        reported.append(ident)
    return min(reported, key=int)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    last_sequence: str | None = None  # newest record read from moto
    buffer: list[dict[str, Any]] = field(default_factory=list)  # Lambda records, in order
    first_buffered_at: float = 0.0  # monotonic, for MaximumBatchingWindowInSeconds
    failures: int = 0  # consecutive failed attempts at the buffer's head
    pinned: int | None = None  # size of a failed batch being retried as it was
    retry_at: float = 0.0  # monotonic


class StreamPoller:
    """One DynamoDB event source mapping: a table's stream feeding one function."""

    def __init__(
        self,
        aws_url: str,
        source: EventSource,
        table: Table,
        runner: FunctionRunner,
        *,
        region: str,
        stream_arn: str | None = None,
        ttl_marks: TtlMarks | None = None,
        clock: Clock = SYSTEM_CLOCK,
        poll_interval_s: float = 0.25,
        faults: StreamFaults | None = None,
    ) -> None:
        if source.kind != "dynamodb":
            raise ValueError(f"{source.logical_id} is not a DynamoDB event source")
        self.source = source
        self.table = table
        self._aws_url = aws_url
        self._runner = runner
        self._region = region
        self._stream_arn = stream_arn
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._patterns = parse_patterns(source.filter_patterns)
        # Subscribe now, not in run(): a TTL deletion between construction and the
        # first poll must still be recognised.
        self._marks: TtlMarkView | None = ttl_marks.view(table.name) if ttl_marks else None
        self._streams: Any = None
        self._ready = asyncio.Event()
        self.invocations = 0  # for logs and tests
        self._faults = faults  # fault mode (emulator/faults/streams.py): duplicate batches

    @property
    def stream_arn(self) -> str | None:
        return self._stream_arn

    async def wait_ready(self) -> None:
        """Return once the poller holds its shard iterators: later writes will be seen."""
        await self._ready.wait()

    async def run(self) -> None:
        """Poll and invoke until cancelled."""
        self._streams = await asyncio.to_thread(
            client, "dynamodbstreams", self._aws_url, self._region
        )
        activity = activity_of(self._clock)
        poller = activity.poller(f"stream {self.source.logical_id}") if activity else None
        try:
            shards = await self._attach()
            self._ready.set()
            emit(
                SERVICE,
                f"stream poller {self.source.logical_id}: {self.table.name} -> "
                f"{self.source.function} ({self.source.starting_position or 'LATEST'})",
                source=self.source.logical_id,
                stream_arn=self._stream_arn,
            )
            if activity is None or poller is None:
                while True:
                    for shard in shards:
                        await self._step(shard)
                    await asyncio.sleep(self._poll_interval_s)
            # Virtual clock: a cycle is work time must not jump under, and one that
            # started after the last change (an invocation's end, a reap, a jump) tells
            # the advancer that every record written so far has been seen; the next
            # cycle follows at once when anything changes (emulator/virtual/activity.py).
            while True:
                started = poller.look()
                with activity.busy("stream poll"):
                    for shard in shards:
                        await self._step(shard)
                poller.caught_up(started)
                await poller.pause(self._poll_interval_s)
        finally:
            if activity is not None and poller is not None:
                activity.remove(poller)

    async def _attach(self) -> list[_Shard]:
        """Find the stream's shards and take iterators; retry while the table is missing."""
        while True:
            try:
                if self._stream_arn is None:
                    self._stream_arn = await asyncio.to_thread(self._latest_stream_arn)
                shards = await asyncio.to_thread(self._shards)
                for shard in shards:
                    shard.iterator = await asyncio.to_thread(self._new_iterator, shard)
                return shards
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                emit(
                    SERVICE,
                    f"stream poller {self.source.logical_id}: cannot read the stream of "
                    f"{self.table.name} yet: {exc}",
                    level=logging.WARNING,
                    source=self.source.logical_id,
                )
                await asyncio.sleep(ATTACH_RETRY_S)

    # ------------------------------------------------------------------ reading

    def _latest_stream_arn(self) -> str:
        ddb = client("dynamodb", self._aws_url, self._region)
        arn: str | None = ddb.describe_table(TableName=self.table.name)["Table"].get(
            "LatestStreamArn"
        )
        if not arn:
            raise RuntimeError(f"table {self.table.name} has no stream")
        return arn

    def _shards(self) -> list[_Shard]:
        desc = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        return [_Shard(s["ShardId"]) for s in desc.get("Shards", [])]

    def _new_iterator(self, shard: _Shard) -> str:
        if shard.last_sequence is not None:
            kind: dict[str, str] = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": shard.last_sequence,
            }
        elif self.source.starting_position == "TRIM_HORIZON":
            kind = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            kind = {"ShardIteratorType": "LATEST"}
        iterator: str = self._streams.get_shard_iterator(
            StreamArn=self._stream_arn, ShardId=shard.shard_id, **kind
        )["ShardIterator"]
        return iterator

    def _read(self, shard: _Shard) -> list[dict[str, Any]]:
        if shard.iterator is None:
            shard.iterator = self._new_iterator(shard)
        try:
            reply = self._streams.get_records(ShardIterator=shard.iterator, Limit=GET_RECORDS_LIMIT)
        except self._streams.exceptions.ExpiredIteratorException:
            # AWS: iterators expire after 15 minutes (MotoServer drops them too), e.g.
            # while a batch kept failing: start again right after the last record read.
            shard.iterator = self._new_iterator(shard)
            reply = self._streams.get_records(ShardIterator=shard.iterator, Limit=GET_RECORDS_LIMIT)
        shard.iterator = reply.get("NextShardIterator") or shard.iterator
        records: list[dict[str, Any]] = reply.get("Records", [])
        if records:
            shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        return records

    async def _step(self, shard: _Shard) -> None:
        if len(shard.buffer) < self.source.batch_size:
            try:
                raw = await asyncio.to_thread(self._read, shard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                emit(
                    SERVICE,
                    f"stream poller {self.source.logical_id}: GetRecords failed: {exc}",
                    level=logging.WARNING,
                    source=self.source.logical_id,
                )
                return
            await self._accept(shard, raw)
        await self._deliver(shard)

    async def _accept(self, shard: _Shard, raw: list[dict[str, Any]]) -> None:
        assert self._stream_arn is not None
        for rec in raw:
            ttl = False
            if rec.get("eventName") == "REMOVE" and self._marks is not None:
                ttl = await self._marks.claim(
                    rec["dynamodb"]["Keys"], rec["dynamodb"].get("OldImage")
                )
            record = lambda_record(
                rec,
                region=self._region,
                stream_arn=self._stream_arn,
                ttl_removal=ttl,
                now=self._clock.now(),
            )
            # AWS: records no filter matches are skipped for good (docs/aws-behaviour.md §8).
            if not matches_any(self._patterns, record):
                continue
            if not shard.buffer:
                shard.first_buffered_at = time.monotonic()
            shard.buffer.append(record)

    # ------------------------------------------------------------------ invoking

    async def _deliver(self, shard: _Shard) -> None:
        while shard.buffer:
            now = time.monotonic()
            if now < shard.retry_at:
                return
            window = self.source.maximum_batching_window_s
            full = len(shard.buffer) >= self.source.batch_size
            waiting = window and now - shard.first_buffered_at < window
            if shard.pinned is None and not full and waiting:
                return  # MaximumBatchingWindowInSeconds: let the batch fill up
            batch = shard.buffer[: shard.pinned or self.source.batch_size]
            invocation = await self._runner.invoke(self.source.function, {"Records": batch})
            self.invocations += 1
            faults = self._faults
            if (
                faults is not None
                and invocation.ok
                and faults.redeliver(self.source.logical_id, batch)
            ):
                # AWS: a batch whose checkpoint was lost is delivered again; the shard
                # moves on with that delivery's outcome (docs/aws-behaviour.md §8, §17).
                invocation = await self._runner.invoke(self.source.function, {"Records": batch})
                self.invocations += 1
            done = self._settle(shard, batch, invocation)
            if not done:
                return

    def _settle(self, shard: _Shard, batch: list[dict[str, Any]], inv: Invocation) -> bool:
        """Apply one invocation's outcome to the buffer; False = back off and retry later."""
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in batch]
        failed_from: str | None = None
        reason = ""
        if not inv.ok:
            failed_from, reason = sequence_numbers[0], f"function {inv.outcome}"
        elif self.source.report_batch_item_failures:
            try:
                failed_from = resume_point(inv.result, sequence_numbers)
            except BatchFailed as exc:
                failed_from, reason = sequence_numbers[0], str(exc)
            else:
                reason = f"batch item failure at {failed_from}"
        shard.pinned = None
        if failed_from is None:
            del shard.buffer[: len(batch)]
            shard.failures = 0
            self._restart_window(shard)
            return True

        # AWS: processing resumes at the lowest reported record; the records before it
        # are done (docs/aws-behaviour.md §8).
        # A whole-batch failure retries that same batch; after a partial one the next
        # batch starts at the failed record and may take in later ones.
        done = sequence_numbers.index(failed_from)
        if done:
            del shard.buffer[:done]
            shard.failures = 0
        else:
            shard.pinned = len(batch)
        shard.failures += 1
        retries_used = shard.failures - 1
        limit = self.source.maximum_retry_attempts
        if limit is not None and retries_used >= limit:
            dropped = len(batch) - done
            del shard.buffer[:dropped]
            shard.failures = 0
            self._restart_window(shard)
            emit(
                SERVICE,
                f"stream poller {self.source.logical_id}: {reason}; retries exhausted "
                f"({limit}), {dropped} record(s) discarded",
                level=logging.WARNING,
                source=self.source.logical_id,
                discarded=dropped,
            )
            return True
        delay = min(self._poll_interval_s * 2 ** (shard.failures - 1), MAX_RETRY_DELAY_S)
        shard.retry_at = time.monotonic() + delay
        emit(
            SERVICE,
            f"stream poller {self.source.logical_id}: {reason}; retry {shard.failures}"
            + (f"/{limit}" if limit is not None else ""),
            level=logging.WARNING,
            source=self.source.logical_id,
            request_id=inv.request_id,
        )
        return False

    @staticmethod
    def _restart_window(shard: _Shard) -> None:
        shard.first_buffered_at = time.monotonic()


__all__ = ["BatchFailed", "StreamPoller", "item_size", "lambda_record", "resume_point"]
