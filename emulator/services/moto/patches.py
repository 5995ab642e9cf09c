"""Speed-ups of moto invisible in its answers (checked versions), and fixes of its answers.

Every speed-up here was read against moto's code in the versions named in
`CHECKED_VERSIONS`; on any other version none is applied (moto's own code runs, correct
and slower) and `apply` says so, and the direct request path (`dispatch.py`) gives way
to moto's Flask app too, since it mirrors moto's request conversion of those versions.
They are applied only in a moto child process (never to the moto of the emulator's own
process, which tests use as the unpatched reference), where requests of one service run
one at a time, which the temporary class changes below rely on. Each change also checks
the shape of the code it replaces and leaves moto alone when that differs.
tests/emulator/services/test_moto_server.py runs the same script against patched and
unpatched moto and compares the answers.

- "query": moto's `Table.query` starts from `Table.all_items()`, which sorts every item
  of the table by its keys, then filters the query's hash key and sorts the matches
  again: O(n log n) in the table per query. Here the candidates come from the key's own
  bucket (a plain query) or unsorted (an index query); the bucket holds exactly the
  items the filter keeps (moto hashes and compares keys by the same value), and the
  matches are sorted afterwards as before, so results, order and pagination are equal.
- "transactions": moto's `transact_write_items` backs up every table it touches with
  `copy.deepcopy(table)` (all items and every stream record ever written) per
  transaction. Here the backup is the table shallow-copied with its item map copied and
  the items the transaction names deep-copied (updates change items in place); a
  rollback installs it as before. The stream shard is not copied: the backup shares it,
  and "stream-rollback" (below) trims it, which this change includes.
- "sqs-retention": ReceiveMessage checked each candidate's retention through
  `get_queue_attributes` (every attribute, message counts included: a pass over all
  messages per message, O(n²)). Here it reads the queue's retention period directly.
- "sqs-send": SendMessage read `queue.attributes` (three passes over all messages for
  the message counts) to learn only ContentBasedDeduplication. While it runs the three
  counts are not computed (the check below makes sure nothing else of `attributes` is
  read on that path).
- "sqs-clock": `Message.visible`/`delayed`, asked of every message on each receive,
  read the time through `datetime.now(UTC)` minus `utcfromtimestamp(0)`; here through
  `time.time_ns()`, the same microsecond (datetime floors to it as well), ~10x cheaper.

One change is a fix, not a speed-up: moto answering unlike AWS. It is applied on any
moto version whose code has the shape it expects (checked or not) and also with
`DUELCTL_MOTO_PATCHES=0`, and listed in `FIXED` (not `APPLIED`):

- "stream-rollback": moto rolls a cancelled `TransactWriteItems` back by installing its
  backup of each table, stream shard included. Every shard iterator holds the shard
  object it was taken on, so a reader that held one (the emulator's stream pollers, a
  user's consumer) went on reading the old shard: the cancelled transaction's records
  and nothing written after. AWS: a cancelled transaction writes nothing and adds no
  stream record; the stream goes on (docs/aws-behaviour.md §10). Here, after a rollback,
  the installed table gets the original shard back, trimmed to the records it had
  before the transaction; moto numbers a shard's records by their count, so sequence
  numbers go on from there. GetRecords takes turns with DynamoDB's requests (one at a
  time), so no reader can have seen the trimmed records.

Thread mode (`DUELCTL_MOTO=thread`) runs moto in the emulator's own process, which this
module never patches (it is the tests' unpatched reference): there the fix is missing
unless the caller applies `apply_fixes()` to that process.
tests/emulator/services/test_moto_rollback.py checks the fix with and without the
speed-ups.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Callable
from importlib import metadata
from typing import Any

# moto versions whose code every change below (and dispatch.py's direct path) was
# checked against. Pin: moto[server]>=5.2.5,<5.3 (pyproject.toml).
CHECKED_VERSIONS = ("5.2.5", "5.2.6")

_log = logging.getLogger("emulator.services.moto")
DISABLE_ENV = "DUELCTL_MOTO_PATCHES"
APPLIED: list[str] = []  # names of the speed-ups applied in this process
FIXED: list[str] = []  # names of the fixes in effect in this process

# A speed-up's services -> the fixes they need (applied with it, or alone without it).
FIXES_WITH = {"transactions": ("stream-rollback",)}


def moto_version() -> str:
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:
        return "unknown"


def checked() -> bool:
    """True when the installed moto is one whose code this module was checked against."""
    return moto_version() in CHECKED_VERSIONS


# The changes each group's process needs (its services' code only).
BY_GROUP = {
    "dynamodb": ("query", "transactions"),
    "sqs": ("sqs-retention", "sqs-send", "sqs-clock"),
    "default": (),
    "all": ("query", "transactions", "sqs-retention", "sqs-send", "sqs-clock"),
}


def apply(names: tuple[str, ...] = BY_GROUP["all"]) -> list[str]:
    """Apply the changes `names` whose targets look as expected; return the speed-ups applied.

    On an unchecked moto version no speed-up is applied and a warning names the version;
    env `DUELCTL_MOTO_PATCHES=0` applies none either (an escape hatch, and the bench's
    A/B). The fixes the named services need (`FIXES_WITH`) are applied either way.
    """
    try:
        _apply_speed_ups(names)
    finally:
        apply_fixes(tuple(fix for name in names for fix in FIXES_WITH.get(name, ())))
    return list(APPLIED)


def apply_fixes(names: tuple[str, ...] = ("stream-rollback",)) -> list[str]:
    """Apply the fixes `names` (module docstring) whose targets look as expected, on any
    moto version; return all in effect. For a process that serves moto unpatched
    otherwise (thread mode)."""
    fixes: dict[str, Callable[[], bool]] = {"stream-rollback": _keep_stream_on_rollback}
    for name in names:
        if name in FIXED:
            continue
        if fixes[name]():
            FIXED.append(name)
        else:
            _log.warning("moto's code changed shape (%s); moto answers unlike AWS there", name)
    return list(FIXED)


def _apply_speed_ups(names: tuple[str, ...]) -> None:
    if os.environ.get(DISABLE_ENV, "1") == "0":
        return
    if not checked():
        _log.warning(
            "moto %s is not one of %s: running moto's own code (slower under load)",
            moto_version(),
            ", ".join(CHECKED_VERSIONS),
        )
        return
    changes: dict[str, Callable[[], bool]] = {
        "query": _fast_queries,
        "transactions": _fast_transactions,
        "sqs-retention": _fast_retention_check,
        "sqs-send": _fast_send,
        "sqs-clock": _fast_sqs_clock,
    }
    for name in names:
        if name in APPLIED:
            continue
        if changes[name]():
            APPLIED.append(name)
        else:
            _log.warning("moto's code changed shape (%s); keeping moto's own", name)


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def _mark(fast: Any, original: Any) -> Any:
    fast._duelctl_fast = True
    fast.__wrapped__ = original
    return fast


# ---------------------------------------------------------------------- DynamoDB


def _fast_queries() -> bool:
    from moto.dynamodb.models.table import Table

    query = Table.query
    if getattr(query, "_duelctl_fast", False):
        return True
    if "self.all_items()" not in _source(query) or not hasattr(Table, "all_items"):
        return False

    def candidates(table: Any, index_name: object, hash_key: object) -> list[Any]:
        if index_name is None and hash_key is not None:
            bucket = table.items.get(hash_key)
            if bucket is None:
                return []
            return list(bucket.values()) if table.range_key_attr else [bucket]
        items: list[Any] = []
        for bucket in table.items.values():
            if table.range_key_attr:
                items.extend(bucket.values())
            else:
                items.append(bucket)
        return items

    def fast_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        self.all_items = lambda: candidates(self, index_name, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items  # back to the class's sorted version (Scan uses it)

    Table.query = _mark(fast_query, query)  # type: ignore[method-assign]
    return True


def _named_keys(transact_items: Any) -> dict[str, list[Any]]:
    """Table name -> the attribute maps naming each item the transaction touches."""
    named: dict[str, list[Any]] = {}
    for entry in transact_items if isinstance(transact_items, list) else ():
        if not isinstance(entry, dict):
            continue
        for op_type, op in entry.items():
            if isinstance(op, dict):
                attrs = op.get("Item") if op_type == "Put" else op.get("Key")
                named.setdefault(str(op.get("TableName")), []).append(attrs or {})
    return named


def _rollback_shape_ok() -> bool:
    """True if moto rolls back by installing table copies and numbers stream records by
    their count (what `_keeping_streams` undoes and relies on)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard

    transact = inspect.unwrap(DynamoDBBackend.transact_write_items)
    add = _source(StreamShard.add)
    return (
        "self.tables[table_name] = original_table_state[table_name]" in _source(transact)
        and "len(self.items)" in add
        and "self.items.append(" in add
    )


def _keeping_streams(backend: Any, transact_items: Any, run: Callable[[], Any]) -> Any:
    """`run()` (a TransactWriteItems), with each touched table's stream shard kept through
    a rollback and trimmed to its records from before (module docstring, "stream-rollback").
    """
    kept: list[tuple[str, Any, Any, int]] = []
    for name in _named_keys(transact_items):
        table = backend.tables.get(name)
        shard = getattr(table, "stream_shard", None)
        if shard is not None:
            kept.append((name, table, shard, len(shard.items)))
    try:
        return run()
    except BaseException:
        for name, table, shard, count in kept:
            restored = backend.tables.get(name)
            if restored is None or restored is table:
                continue  # no rollback: the error came before any write
            # AWS: a cancelled transaction adds no stream record (docs/aws-behaviour.md §10).
            del shard.items[count:]
            shard.table = restored
            restored.stream_shard = shard
        raise


def _keep_stream_on_rollback() -> bool:
    from moto.dynamodb.models import DynamoDBBackend

    transact = DynamoDBBackend.transact_write_items
    if getattr(transact, "_duelctl_streams", False):
        return True  # the "transactions" speed-up, which includes this
    if not _rollback_shape_ok():
        return False

    def transact_keeping_streams(self: Any, transact_items: Any) -> Any:
        return _keeping_streams(self, transact_items, lambda: transact(self, transact_items))

    fixed = _mark(transact_keeping_streams, transact)
    fixed._duelctl_streams = True
    DynamoDBBackend.transact_write_items = fixed  # type: ignore[method-assign]
    return True


def _fast_transactions() -> bool:
    import copy

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    transact = DynamoDBBackend.transact_write_items
    if getattr(transact, "_duelctl_fast", False):
        return True
    if getattr(transact, "_duelctl_streams", False):
        return False  # the stream fix alone wraps moto's code already: keep it so
    source = _source(transact)
    if "copy.deepcopy(" not in source or "original_table_state" not in source:
        return False
    if "__deepcopy__" in vars(Table) or not _rollback_shape_ok():
        return False

    def backup(table: Any, named: list[Any], memo: dict[int, Any]) -> Any:
        copied = copy.copy(table)
        memo[id(table)] = copied
        ranged = table.range_key_attr is not None
        copied.items = copy.copy(table.items)  # keeps its type: moto uses a defaultdict
        if ranged:
            for hash_value, bucket in copied.items.items():
                copied.items[hash_value] = copy.copy(bucket)
        for attrs in named:
            try:
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = DynamoType(attrs[table.range_key_attr]) if ranged else None
            except (KeyError, TypeError, AttributeError, IndexError):
                continue  # a malformed key: moto rejects it before changing anything
            if ranged:
                bucket = copied.items.get(hash_value)
                if bucket is not None and range_value in bucket:
                    bucket[range_value] = copy.deepcopy(bucket[range_value])
            elif hash_value in copied.items:
                copied.items[hash_value] = copy.deepcopy(copied.items[hash_value])
        # `copied.stream_shard` is the table's own: `_keeping_streams` trims it on rollback.
        return copied

    def fast_transact(self: Any, transact_items: Any) -> Any:
        named = _named_keys(transact_items)

        def table_backup(table: Any, memo: dict[int, Any]) -> Any:
            return backup(table, named.get(table.name, []), memo)

        # Only while this transaction runs; DynamoDB requests run one at a time, so no
        # other deepcopy of a table can see it.
        Table.__deepcopy__ = table_backup  # type: ignore[attr-defined]
        try:
            return _keeping_streams(self, transact_items, lambda: transact(self, transact_items))
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    fast = _mark(fast_transact, transact)
    fast._duelctl_streams = True
    DynamoDBBackend.transact_write_items = fast  # type: ignore[method-assign]
    return True


# ---------------------------------------------------------------------- SQS


def _fast_retention_check() -> bool:
    from moto.sqs import models

    check = models.SQSBackend.is_message_valid_based_on_retention_period
    if getattr(check, "_duelctl_fast", False):
        return True
    source = _source(check)
    if "get_queue_attributes(" not in source or '"MessageRetentionPeriod"' not in source:
        return False

    def fast_check(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        retain_until = retention_period + message.sent_timestamp / 1000
        return not retain_until <= models.unix_time()

    models.SQSBackend.is_message_valid_based_on_retention_period = _mark(fast_check, check)  # type: ignore[method-assign]
    return True


_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)
_ATTRIBUTE_READ = re.compile(r"\.attributes\b(.{0,40})")


def _reads_only_deduplication(*functions: Any) -> bool:
    """True if every `.attributes` read in `functions` is `.get("ContentBasedDeduplication")`."""
    for function in functions:
        source = _source(function)
        if not source:
            return False
        for match in _ATTRIBUTE_READ.finditer(source):
            if not match.group(1).startswith('.get("ContentBasedDeduplication")'):
                return False
    return True


def _fast_send() -> bool:
    from moto.sqs import models

    send = models.SQSBackend.send_message
    if getattr(send, "_duelctl_fast", False):
        return True
    queue_class = models.Queue
    if not all(isinstance(vars(queue_class).get(n), property) for n in _COUNTS):
        return False
    if "lambda_event_source_mappings" not in _source(queue_class.add_message):
        return False
    if not _reads_only_deduplication(
        send, models.SQSBackend._validate_message, queue_class.add_message
    ):
        return False
    counts = {name: vars(queue_class)[name] for name in _COUNTS}
    uncounted = property(lambda queue: 0)

    def fast_send(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.queues.get(queue_name)
        if queue is None or queue.lambda_event_source_mappings:
            # Unknown queue (moto raises its error) or moto's own Lambda poller runs
            # inside add_message: nothing to skip safely.
            return send(self, queue_name, *args, **kwargs)
        for name in _COUNTS:
            setattr(queue_class, name, uncounted)
        try:
            return send(self, queue_name, *args, **kwargs)
        finally:
            for name, prop in counts.items():
                setattr(queue_class, name, prop)

    models.SQSBackend.send_message = _mark(fast_send, send)  # type: ignore[method-assign]
    return True


def _fast_sqs_clock() -> bool:
    import time

    from moto.core import utils
    from moto.sqs import models

    if getattr(models.unix_time_millis, "_duelctl_fast", False):
        return True
    if (
        models.unix_time is not utils.unix_time
        or models.unix_time_millis is not utils.unix_time_millis
    ):
        return False
    if "unix_time_millis()" not in _source(models.Message):
        return False
    if "utcnow()" not in _source(utils.unix_time):
        return False
    slow_time, slow_millis = utils.unix_time, utils.unix_time_millis

    def fast_unix_time(dt: Any = None) -> float:
        if dt is not None:
            return slow_time(dt)
        # moto: (utcnow() - epoch) as days*86400 + (seconds + microseconds/1e6), where
        # datetime.now floors the clock to the microsecond.
        seconds, micro = divmod(time.time_ns() // 1000, 1_000_000)
        days, seconds = divmod(seconds, 86400)
        return (days * 86400) + (seconds + (micro / 1e6))

    def fast_unix_time_millis(dt: Any = None) -> float:
        return fast_unix_time(dt) * 1000.0

    models.unix_time = _mark(fast_unix_time, slow_time)
    models.unix_time_millis = _mark(fast_unix_time_millis, slow_millis)
    return True


__all__ = [
    "APPLIED",
    "BY_GROUP",
    "CHECKED_VERSIONS",
    "FIXED",
    "FIXES_WITH",
    "apply",
    "apply_fixes",
    "checked",
    "moto_version",
]
