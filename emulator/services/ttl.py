"""DynamoDB TTL for moto: delete expired items and say which stream REMOVEs were TTL's.

moto stores a table's TTL setting but never expires anything (docs/aws-behaviour.md §14), and
the Sessions backstop (`SessionsStreamFunction`) only sees REMOVE records that carry
TTL's `userIdentity`. `TtlReaper` sweeps the tables, deletes expired items itself and
records each deletion in `TtlMarks`, which the stream pollers consult to add
`userIdentity {"type": "Service", "principalId": "dynamodb.amazonaws.com"}` to exactly
those REMOVE records (docs/aws-behaviour.md §7).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.services.aws import client, region_of_arn
from emulator.services.moto_server import internal_call
from emulator.template.model import Table
from emulator.virtual.activity import activity_of

# AWS: items whose TTL is more than five years in the past are never deleted
# (DynamoDB developer guide, "Time to Live"; docs/aws-behaviour.md §7).
FIVE_YEARS_S = 5 * 365 * 86400
# How long a stream poller waits for an in-flight reaper delete before deciding.
PENDING_WAIT_S = 5.0

Keys = Mapping[str, Any]  # DynamoDB JSON: {"pk": {"S": "x"}}


def key_id(keys: Keys) -> str:
    """A canonical string for an item's key, equal for equal keys in any order."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


class TtlMarks:
    """Which REMOVE stream records DynamoDB's TTL (here: the reaper) caused.

    The reaper calls `begin` before its DeleteItem and `end` after, so a poller that
    reads the REMOVE record before the reaper heard back from DeleteItem waits for the
    answer instead of guessing. Each stream poller holds its own `TtlMarkView` (one per
    event source mapping), because every mapping's function sees the same record.
    """

    def __init__(self) -> None:
        self._views: dict[str, list[TtlMarkView]] = defaultdict(list)
        self._pending: dict[tuple[str, str], int] = defaultdict(int)
        self._changed: asyncio.Event | None = None

    def view(self, table_name: str) -> TtlMarkView:
        """Marks of `table_name` from now on, for one stream poller."""
        view = TtlMarkView(self, table_name)
        self._views[table_name].append(view)
        return view

    def begin(self, table_name: str, keys: Keys) -> None:
        self._pending[(table_name, key_id(keys))] += 1

    def end(self, table_name: str, keys: Keys, old_image: Keys | None, *, deleted: bool) -> None:
        """The reaper's DeleteItem finished; `deleted` says whether it removed the item."""
        k = (table_name, key_id(keys))
        self._pending[k] -= 1
        if self._pending[k] <= 0:
            del self._pending[k]
        if deleted:
            for view in self._views.get(table_name, ()):
                view._add(k[1], old_image)
        self._notify()

    def removed(self, table_name: str, keys: Keys, old_image: Keys | None = None) -> None:
        """Record a TTL deletion that already happened (usable as `on_removed`)."""
        self._pending[(table_name, key_id(keys))] += 1
        self.end(table_name, keys, old_image, deleted=True)

    def _is_pending(self, table_name: str, kid: str) -> bool:
        return self._pending.get((table_name, kid), 0) > 0

    def _notify(self) -> None:
        event, self._changed = self._changed, None
        if event is not None:
            event.set()

    async def _wait_changed(self, timeout: float) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class TtlMarkView:
    """One stream poller's unconsumed TTL marks for one table."""

    def __init__(self, marks: TtlMarks, table_name: str) -> None:
        self._marks = marks
        self._table = table_name
        # Old images of TTL-deleted items; None = deleted, image unknown (matches any).
        self._unclaimed: dict[str, list[Keys | None]] = defaultdict(list)

    def _add(self, kid: str, old_image: Keys | None) -> None:
        self._unclaimed[kid].append(old_image)

    async def claim(self, keys: Keys, old_image: Keys | None) -> bool:
        """True (once) if the REMOVE of `keys` with `old_image` was a TTL deletion.

        `old_image` is the record's OldImage (None for KEYS_ONLY/NEW_IMAGE streams); it
        tells a TTL delete from a user delete of a later item with the same key.
        """
        kid = key_id(keys)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PENDING_WAIT_S
        while self._marks._is_pending(self._table, kid) and loop.time() < deadline:
            await self._marks._wait_changed(deadline - loop.time())
        images = self._unclaimed.get(kid)
        if not images:
            return False
        for i, image in enumerate(images):
            if old_image is None or image is None or dict(image) == dict(old_image):
                del images[i]
                if not images:
                    del self._unclaimed[kid]
                return True
        return False


@dataclass(frozen=True, slots=True)
class _Candidate:
    keys: dict[str, Any]
    ttl_value: dict[str, Any]  # {"N": "1767225600"}


class TtlReaper:
    """Deletes items whose TTL attribute has passed, the way DynamoDB's TTL would.

    AWS deletes within days; locally it happens within `interval_s` of the clock
    passing the value, which is sooner than AWS but never before expiry (docs/aws-behaviour.md
    §7: handlers must not rely on the timing either way).
    """

    def __init__(
        self,
        aws_url: str,
        tables: Iterable[Table],
        *,
        clock: Clock = SYSTEM_CLOCK,
        interval_s: float = 1.0,
        on_removed: Callable[[str, dict[str, Any]], None] | None = None,
        marks: TtlMarks | None = None,
    ) -> None:
        self._aws_url = aws_url
        self._tables = tuple(t for t in tables if t.ttl_attribute)
        self._clock = clock
        self._interval_s = interval_s
        self._on_removed = on_removed
        self.marks = marks if marks is not None else TtlMarks()
        self._clients: dict[str, Any] = {}
        self._internal = True  # ask the moto server directly until it turns out not ours

    def _client(self, table: Table) -> Any:
        region = region_of_arn(table.arn)
        if region not in self._clients:
            self._clients[region] = client("dynamodb", self._aws_url, region)
        return self._clients[region]

    async def run(self) -> None:
        """Sweep every `interval_s` (on the injected clock) until cancelled.

        On a virtual clock a sweep also follows every jump at once, and each sweep is
        work time must not jump under; a sweep that deleted nothing tells the advancer
        the reaper is caught up (emulator/virtual/activity.py).
        """
        emit(
            SERVICE,
            f"ttl reaper on {', '.join(t.name for t in self._tables) or 'no tables'}",
            tables=[t.name for t in self._tables],
        )
        activity = activity_of(self._clock)
        if activity is None:
            while True:
                await self.sweep_once()
                await self._clock.sleep_until(self._clock.now() + self._interval_s)
        # Items expire as time passes; no handler writes an already-expired TTL.
        poller = activity.poller("ttl reaper", after_jumps_only=True)
        try:
            while True:
                started = poller.look()
                with activity.busy("ttl sweep"):
                    removed = await self.sweep_once()
                if removed:
                    activity.changed()  # REMOVE records for the stream pollers
                    continue  # caught up only once a sweep finds nothing
                poller.caught_up(started)
                await poller.pause(self._interval_s)
        finally:
            activity.remove(poller)

    async def sweep_once(self) -> int:
        """Delete every item expired at the clock's now; return how many went."""
        removed = 0
        for table in self._tables:
            try:
                removed += await self._sweep_table(table)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a missing table (reload) or moto stopping
                emit(
                    SERVICE,
                    f"ttl sweep of {table.name} failed: {exc}",
                    level=logging.WARNING,
                    table=table.name,
                )
        return removed

    async def _sweep_table(self, table: Table) -> int:
        now = int(self._clock.now())
        candidates = await asyncio.to_thread(self._expired, table, now)
        removed = 0
        for cand in candidates:
            if await self._delete(table, cand):
                removed += 1
        if removed:
            emit(
                SERVICE,
                f"ttl removed {removed} item(s) from {table.name}",
                table=table.name,
                count=removed,
            )
        return removed

    def _expired(self, table: Table, now: int) -> list[_Candidate]:
        """Items whose TTL is a Number in [now - 5 years, now].

        Asked of the emulator's moto server directly (`/_duelctl/dynamodb/ttl-expired`,
        moto_server.py), which reads the table in place: a Scan makes moto deep-copy and
        filter every item, once a second per table, while holding the lock every handler's
        DynamoDB call waits for. Any other endpoint gets the Scan.
        """
        assert table.ttl_attribute is not None
        if self._internal:
            try:
                return self._expired_internal(table, now)
            except (OSError, ValueError, KeyError, TypeError):
                self._internal = False  # not our moto server: Scan from now on
        return self._expired_scan(table, now)

    def _expired_internal(self, table: Table, now: int) -> list[_Candidate]:
        parts = table.arn.split(":")
        reply = internal_call(
            self._aws_url,
            "POST",
            "dynamodb/ttl-expired",
            {
                "account": parts[4],
                "region": region_of_arn(table.arn),
                "table": table.name,
                "attribute": table.ttl_attribute,
                "floor": now - FIVE_YEARS_S,
                "now": now,
            },
        )
        if reply is None:
            raise KeyError(table.name)
        return [_Candidate(found["keys"], found["ttl"]) for found in reply["items"]]

    def _expired_scan(self, table: Table, now: int) -> list[_Candidate]:
        """Scan for items whose TTL is a Number in [now - 5 years, now]."""
        assert table.ttl_attribute is not None
        key_names = [table.hash_key.name] + ([table.range_key.name] if table.range_key else [])
        names = {f"#k{i}": n for i, n in enumerate(key_names)} | {"#ttl": table.ttl_attribute}
        params: dict[str, Any] = {
            "TableName": table.name,
            # AWS ignores TTL values that are not Numbers (§7); the type test comes
            # first because moto's BETWEEN fails on a String against Number bounds.
            "FilterExpression": "attribute_type(#ttl, :number) AND #ttl BETWEEN :floor AND :now",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":number": {"S": "N"},
                ":floor": {"N": str(now - FIVE_YEARS_S)},
                ":now": {"N": str(now)},
            },
        }
        ddb = self._client(table)
        found: list[_Candidate] = []
        while True:
            page = ddb.scan(**params)
            for item in page.get("Items", []):
                keys = {k: item[k] for k in key_names if k in item}
                found.append(_Candidate(keys, item[table.ttl_attribute]))
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def _delete(self, table: Table, cand: _Candidate) -> bool:
        self.marks.begin(table.name, cand.keys)
        old: dict[str, Any] | None = None
        try:
            old = await asyncio.to_thread(self._delete_if_unchanged, table, cand)
        finally:
            self.marks.end(table.name, cand.keys, old, deleted=old is not None)
        if old is None:
            return False
        if self._on_removed is not None:
            self._on_removed(table.name, cand.keys)
        return True

    def _delete_if_unchanged(self, table: Table, cand: _Candidate) -> dict[str, Any] | None:
        """DeleteItem only if the TTL value is still the one scanned: a refresh wins."""
        ddb = self._client(table)
        try:
            reply = ddb.delete_item(
                TableName=table.name,
                Key=cand.keys,
                ConditionExpression="#ttl = :seen",
                ExpressionAttributeNames={"#ttl": table.ttl_attribute},
                ExpressionAttributeValues={":seen": cand.ttl_value},
                ReturnValues="ALL_OLD",
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return None
        old: dict[str, Any] = reply.get("Attributes") or {}
        return old or None


__all__ = ["FIVE_YEARS_S", "TtlMarkView", "TtlMarks", "TtlReaper", "key_id"]
