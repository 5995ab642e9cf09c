"""moto's server, in-process: DynamoDB, Streams, SQS and Cognito on 127.0.0.1:<port>.

Handlers reach it through `AWS_ENDPOINT_URL`, so every call goes through botocore's real
request serialization and moto's real request parsing. It runs as werkzeug's threaded
WSGI server in a daemon thread of this process (no subprocess, no Docker), which keeps
start-up cheap and lets `provision` reach moto's backends directly (Cognito ids).

A WSGI middleware makes moto behave like AWS where its server mode does not:

- DynamoDB (and Streams) requests run one at a time. moto's `put_item`/`update_item` read
  the item, evaluate the condition and write with no lock, so two concurrent conditional
  writes can both win; DynamoDB guarantees one winner (aws-fidelity §10, §14;
  reproduced by tests/emulator/services/race_without_lock.py).
- DynamoDB Streams shard iterators expire after 15 minutes, as in AWS; moto keeps them
  forever (a leak at 4 polls a second) and crashes on unknown ones.
- SQS requests run one at a time too (moto's `delete_message` rebuilds the message list
  without its lock, so a concurrent `SendMessage` could vanish (inferred from
  moto/sqs/models.py, not reproduced)), and long polling
  (`WaitTimeSeconds` > 0) is done here: moto's own long poll sleeps on a condition that
  nothing notifies when a delayed message comes due, so it returned such messages up to
  a second late, and holding the lock through it would stall every sender. Here a long
  poll asks moto again when another SQS request may have changed the queue, or when the
  queue's next delayed or in-flight message comes due, and otherwise sleeps.

Cost per request (it is paid by every handler's AWS call): moto's dispatcher looks the
backend up for each request by listing moto's package directory; the answer depends only
on the host it computed, so it is cached. moto also runs flask-cors on every response,
which formats the headers for a debug log line whether or not anyone logs; CORS matters
only to browsers, so it runs only for requests that carry an `Origin` header (AWS sends
CORS headers only to those as well).

Two modes (`MotoServer(mode=...)`, default from `DUELCTL_MOTO`, else "process"):

- "process": moto runs in a child interpreter (`python -m emulator.services.moto_server`)
  with its own interpreter lock. In the emulator's process moto's request handling
  (werkzeug, Flask, moto's parsing) took most of the CPU time under load, and every
  request from a handler competed with the gateway's event loop for the lock; as a child
  it runs on another core. The child binds its port first and then imports moto, so the
  emulator goes on starting while moto loads; requests wait in the listen backlog.
  The child ends when its stdin closes (the parent stopped or died).
- "thread": moto in a daemon thread of this process. moto keeps its state in
  process-wide singletons, so all thread-mode `MotoServer`s of one process share one
  AWS "account": the first one to start wipes moto's state, later ones started while
  it runs join it. Resources must have distinct names across concurrent servers.

What the emulator needs from moto beyond the AWS APIs goes through internal routes under
`/_duelctl/` that this middleware serves wherever moto runs: re-keying Cognito ids to the
template model's (provision.py), the items whose TTL has passed (ttl.py; a Scan would
deep-copy the whole table every sweep) and the number of waiting long polls.

Query cost: moto's `Table.query` starts from `Table.all_items()`, which sorts every item
of the table by its keys (Python comparisons), then filters the query's hash key and
sorts the matches again. So each Query cost O(n log n) in the table's size, inside the
DynamoDB lock; a local stack with a thousand connections and thousands of finished
sessions spent most of its time there. In a moto child process (process mode) the query
gets the items it filters from the key's own bucket (a plain query) or unsorted (an index
query); the bucket holds exactly the items the filter keeps (moto hashes and compares
keys by the same value), and the matches are sorted afterwards as before, so results,
order and pagination are unchanged (tests/emulator/services/test_moto_server.py checks
them against unpatched moto). Thread mode leaves the process's moto untouched.

Transaction cost: moto's `transact_write_items` backs up every table it touches with
`copy.deepcopy(table)` before running, to restore on failure: all items and every stream
record the table ever produced, per transaction, so transactions grew slower (and memory
churned) with every write. In a moto child the backup is taken the way it is used: the
table shallow-copied with its item map copied, the items the transaction names deep-copied
(updates change items in place), and the stream shard's record list copied. Rolling back
installs that backup exactly as before, so a failed transaction leaves the same items and
stream records (checked by the same tests).

Receive cost: moto's ReceiveMessage checks each candidate message's retention through
`get_queue_attributes`, which computes every queue attribute, message counts included
(a pass over all messages), so a receive cost O(n²) in the queue's messages; the timer
queue holds one delayed message per pending invite and running duel. In a moto child
the check reads the queue's retention period directly: the same number.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode

from emulator.logs import SERVICE, emit

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# One lock per service for the whole process: moto's backends are process-wide.
_DYNAMODB_LOCK = threading.Lock()
_SQS_LOCK = threading.Lock()
_REGISTRY_LOCK = threading.Lock()
# Bumped and notified after every SQS request that is not a long poll.
_SQS_CHANGED = threading.Condition()
_sqs_generation = [0]
_running = 0

# AWS: a shard iterator expires 15 minutes after it is returned (DynamoDB Streams API
# reference, GetShardIterator). moto keeps every iterator forever; a poller asking
# 4 times a second would leak ~30 MB an hour, so old ones are dropped.
SHARD_ITERATOR_TTL_S = 900.0
_PRUNE_EVERY_S = 60.0
# How often an emulated long poll looks at the queue when it cannot tell when the next
# message comes due (the queue is unknown to it); with a known queue it sleeps until
# the next due time or another SQS request, but never longer than LONG_POLL_MAX_SLEEP_S.
LONG_POLL_STEP_S = 0.05
LONG_POLL_MAX_SLEEP_S = 1.0


def _service_of(environ: dict[str, Any]) -> str | None:
    """'dynamodb', 'sqs' or None, from X-Amz-Target or the SigV4 credential scope."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith(("DynamoDB_", "DynamoDBStreams_")):
        return "dynamodb"
    if target.startswith("AmazonSQS."):
        return "sqs"
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if not target and "/sqs/aws4_request" in auth:
        return "sqs"  # the query protocol (older SDKs)
    return None


def _sqs_changed() -> None:
    with _SQS_CHANGED:
        _sqs_generation[0] += 1
        _SQS_CHANGED.notify_all()


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    return body


def _with_body(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(body)
    copy["CONTENT_LENGTH"] = str(len(body))
    return copy


class _Captured:
    """A WSGI response held in memory, so it is produced entirely inside a lock."""

    def __init__(self) -> None:
        self.status = "500 INTERNAL SERVER ERROR"
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status, self.headers = status, list(headers)
        return lambda data: None

    def run(self, app: WsgiApp, environ: dict[str, Any]) -> _Captured:
        result = app(environ, self.start_response)
        try:
            self.body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return self

    def send(self, start_response: Callable[..., Any]) -> list[bytes]:
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(self.body))))
        start_response(self.status, headers)
        return [self.body]


class _FidelityMiddleware:
    """Serializes DynamoDB and SQS requests and emulates SQS long polling (module doc)."""

    def __init__(self, app: WsgiApp, closing: threading.Event) -> None:
        self._app = app
        self._closing = closing
        self._iterator_births: dict[str, float] = {}
        self._last_prune = time.monotonic()
        self._count_lock = threading.Lock()
        self.long_polls_waiting = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "").startswith(INTERNAL_PREFIX):
            return self._internal(environ).send(start_response)
        service = _service_of(environ)
        if service == "dynamodb":
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            # Read the body before taking the lock: a client that is slow to send it (a
            # worker process the scheduler has not run yet) must not hold up every other
            # DynamoDB request.
            body = _read_body(environ)
            environ = _with_body(environ, body)
            with _DYNAMODB_LOCK:
                if target == "DynamoDBStreams_20120810.GetRecords" and _unknown_iterator(body):
                    return _expired_iterator().send(start_response)
                captured = _Captured().run(self._app, environ)
                if target.startswith("DynamoDBStreams_"):
                    self._prune_shard_iterators()
            return captured.send(start_response)
        if service == "sqs":
            return self._sqs(environ, start_response)
        return self._app(environ, start_response)

    # ------------------------------------------------------------------ internal routes

    def _internal(self, environ: dict[str, Any]) -> _Captured:
        """The emulator's own requests (module docstring); never reached by AWS SDKs."""
        method = environ.get("REQUEST_METHOD", "GET")
        parts = [unquote(p) for p in environ["PATH_INFO"][len(INTERNAL_PREFIX) :].split("/")]
        try:
            body = json.loads(_read_body(environ) or b"{}")
            if method == "GET" and parts == ["stats"]:
                stats = {"long_polls_waiting": self.long_polls_waiting, "speedups": SPEEDUPS}
                return _json_reply(200, stats)
            if parts[:2] == ["cognito", "pools"] and len(parts) >= 3:
                return _cognito_route(method, parts[2:], body)
            if method == "POST" and parts == ["dynamodb", "ttl-expired"]:
                with _DYNAMODB_LOCK:
                    return _json_reply(200, {"items": _ttl_expired(body)})
        except (ValueError, KeyError, TypeError) as exc:
            return _json_reply(400, {"message": str(exc)})
        return _json_reply(404, {"message": "no such internal route"})

    # ------------------------------------------------------------------ SQS

    def _sqs(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = _read_body(environ)
        environ = _with_body(environ, body)
        poll = self._long_poll_request(environ, body)
        if poll is None:
            with _SQS_LOCK:
                captured = _Captured().run(self._app, environ)
            _sqs_changed()  # a send (or a visibility change) may be what a long poll awaits
            return captured.send(start_response)
        short_body, wait_s, is_json, queue_url = poll
        deadline = time.monotonic() + wait_s
        with self._count_lock:
            self.long_polls_waiting += 1
        try:
            while True:
                with _SQS_CHANGED:
                    seen = _sqs_generation[0]
                with _SQS_LOCK:
                    captured = _Captured().run(self._app, _with_body(environ, short_body))
                left = deadline - time.monotonic()
                if (
                    not captured.status.startswith("200")
                    or _has_messages(captured.body, is_json=is_json)
                    or left <= 0
                    or self._closing.is_set()
                ):
                    return captured.send(start_response)
                # Woken by any other SQS request; else when the next delayed message or
                # visibility timeout comes due.
                pause = _next_due_s(queue_url, environ)
                with _SQS_CHANGED:
                    if _sqs_generation[0] == seen:
                        _SQS_CHANGED.wait(min(pause, left))
        finally:
            with self._count_lock:
                self.long_polls_waiting -= 1

    def _long_poll_request(
        self, environ: dict[str, Any], body: bytes
    ) -> tuple[bytes, float, bool, object] | None:
        """(the same ReceiveMessage with WaitTimeSeconds=0, the wait, json?, QueueUrl)."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            if target != "AmazonSQS.ReceiveMessage":
                return None
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                return None
            if not isinstance(params, dict):
                return None
            wait = _wait_seconds(params.get("WaitTimeSeconds"), params.get("QueueUrl"), environ)
            if wait is None:
                return None
            params["WaitTimeSeconds"] = 0
            return json.dumps(params).encode(), wait, True, params.get("QueueUrl")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("Action") != "ReceiveMessage":
            return None
        wait = _wait_seconds(form.get("WaitTimeSeconds"), form.get("QueueUrl"), environ)
        if wait is None:
            return None
        form["WaitTimeSeconds"] = "0"
        return urlencode(form).encode(), wait, False, form.get("QueueUrl")

    # ------------------------------------------------------------------ Streams

    def _prune_shard_iterators(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        alive: set[str] = set()
        backend: Any
        for _account, _region, backend in dynamodbstreams_backends.iter_backends():
            iterators = backend.shard_iterators
            for arn in list(iterators):
                born = self._iterator_births.setdefault(arn, now)
                if now - born > SHARD_ITERATOR_TTL_S:
                    del iterators[arn]
                else:
                    alive.add(arn)
        self._iterator_births = {a: t for a, t in self._iterator_births.items() if a in alive}


def _unknown_iterator(body: bytes) -> bool:
    """True if a GetRecords names an iterator moto no longer (or never) had."""
    try:
        iterator = json.loads(body or b"{}").get("ShardIterator")
    except (ValueError, AttributeError):
        return False
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    backend: Any
    for _account, _region, backend in dynamodbstreams_backends.iter_backends():
        if iterator in backend.shard_iterators:
            return False
    return True


def _expired_iterator() -> _Captured:
    """AWS's answer to a GetRecords with an expired iterator; moto would crash (500)."""
    reply = _Captured()
    reply.status = "400 Bad Request"
    reply.headers = [("Content-Type", "application/x-amz-json-1.0")]
    reply.body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
            "message": "Iterator expired. The iterator was created at a time more than "
            "15 minutes ago.",
        }
    ).encode()
    return reply


def _wait_seconds(raw: object, queue_url: object, environ: dict[str, Any]) -> float | None:
    """The long-poll wait of a ReceiveMessage, or None to hand it to moto unchanged.

    Out-of-range values go to moto so it answers AWS's InvalidParameterValue. Without
    WaitTimeSeconds the queue's ReceiveMessageWaitTimeSeconds applies (SQS API reference).
    """
    if raw is None:
        raw = _queue_default_wait(queue_url, environ)
    try:
        wait = int(str(raw))
    except ValueError:
        return None
    if wait < 0 or wait > 20:
        return None
    return float(wait)


def _find_queue(queue_url: object, environ: dict[str, Any]) -> Any:
    """moto's queue object for a request's QueueUrl (region from the signature), or None."""
    if not isinstance(queue_url, str):
        return None
    parts = queue_url.rstrip("/").split("/")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        region = auth.split("Credential=", 1)[1].split("/")[2]
        account, name = parts[-2], parts[-1]
        from moto.sqs.models import sqs_backends

        return sqs_backends[account][region].queues.get(name)
    except (IndexError, KeyError):
        return None


def _queue_default_wait(queue_url: object, environ: dict[str, Any]) -> int:
    queue = _find_queue(queue_url, environ)
    return int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)


def _next_due_s(queue_url: object, environ: dict[str, Any]) -> float:
    """Seconds until the queue's next delayed or in-flight message may be received.

    moto keeps `delayed_until` and `visible_at` (epoch ms) on each message and decides
    receivability from them at receive time (moto/sqs/models.py `Message.visible`,
    `Message.delayed`), so this is exactly when a poll could first find something new.
    """
    queue = _find_queue(queue_url, environ)
    if queue is None:
        return LONG_POLL_STEP_S
    with _SQS_LOCK:
        dues = [
            max(float(getattr(m, "visible_at", 0.0)), float(getattr(m, "delayed_until", 0.0)))
            for m in list(getattr(queue, "_messages", ()))
        ]
    now_ms = time.time() * 1000
    upcoming = [due for due in dues if due >= now_ms]
    if not upcoming:
        return LONG_POLL_MAX_SLEEP_S
    # moto: visible once now > visible_at; +1 ms so the next poll is past the boundary.
    return min(LONG_POLL_MAX_SLEEP_S, (min(upcoming) - now_ms + 1) / 1000)


def _has_messages(body: bytes, *, is_json: bool) -> bool:
    if not is_json:
        return b"<Message>" in body
    try:
        return bool(json.loads(body or b"{}").get("Messages"))
    except (ValueError, AttributeError):
        return True  # not ours to judge: hand it back


INTERNAL_PREFIX = "/_duelctl/"
SPEEDUPS: list[str] = []  # moto speed-ups applied in this process (a moto child only)


def _json_reply(status: int, body: object) -> _Captured:
    reply = _Captured()
    reply.status = f"{status} {'OK' if status == 200 else 'ERROR'}"
    reply.headers = [("Content-Type", "application/json")]
    reply.body = json.dumps(body).encode()
    return reply


def _moto_pool(pool_id: str) -> tuple[Any, Any] | None:
    """(moto backend, moto pool object) holding `pool_id`, or None."""
    from moto.cognitoidp.models import cognitoidp_backends

    backend: Any
    for _account, _region, backend in cognitoidp_backends.iter_backends():
        found = backend.user_pools.get(pool_id)
        if found is not None:
            return backend, found
    return None


def _cognito_route(method: str, parts: list[str], body: dict[str, Any]) -> _Captured:
    """GET pools/ID; POST pools/ID/rekey {"id"}; POST pools/ID/clients/CID/rekey {"id"}.

    moto picks random pool and client ids; the template model fixed AWS-shaped ones at
    load (model.py), and moto derives a pool's `iss` and ARN from its id, so provisioning
    renames moto's objects to the model's ids right after creating them.
    """
    located = _moto_pool(parts[0])
    if located is None:
        return _json_reply(404, {"message": f"no user pool {parts[0]}"})
    backend, pool = located
    if method == "GET" and len(parts) == 1:
        return _json_reply(200, {"id": pool.id, "clients": sorted(pool.clients)})
    if method == "POST" and parts[1:] == ["rekey"]:
        new_id = str(body["id"])
        del backend.user_pools[pool.id]
        pool.arn = pool.arn.replace(pool.id, new_id)
        pool.id = new_id
        backend.user_pools[new_id] = pool
        return _json_reply(200, {"id": new_id})
    if method == "POST" and len(parts) == 4 and parts[1] == "clients" and parts[3] == "rekey":
        app_client = pool.clients.pop(parts[2], None)
        if app_client is None:
            return _json_reply(404, {"message": f"no client {parts[2]}"})
        app_client.id = str(body["id"])
        pool.clients[app_client.id] = app_client
        return _json_reply(200, {"id": app_client.id})
    return _json_reply(404, {"message": "no such internal route"})


def _ttl_expired(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys and TTL values of items whose TTL attribute is a Number in [floor, now].

    Reads moto's table in place (no copies); call with the DynamoDB lock held.
    """
    from decimal import Decimal, InvalidOperation

    from moto.dynamodb.models import dynamodb_backends

    table: Any = dynamodb_backends[request["account"]][request["region"]].tables[request["table"]]
    attribute = request["attribute"]
    floor, now = Decimal(str(request["floor"])), Decimal(str(request["now"]))
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    found = []
    for bucket in list(table.items.values()):
        items: list[Any] = list(bucket.values()) if table.range_key_attr else [bucket]
        for item in items:
            value = item.attrs.get(attribute)
            if value is None or value.type != "N":
                continue
            try:
                number = Decimal(value.value)
            except (InvalidOperation, TypeError):
                continue
            if floor <= number <= now:
                keys = {n: item.attrs[n].to_json() for n in names if n in item.attrs}
                found.append({"keys": keys, "ttl": value.to_json()})
    return found


def _speed_up_moto_queries() -> bool:
    """Make moto's Query take its candidates without sorting the table (module docstring).

    Returns False (and changes nothing) when moto's Table does not look as expected.
    """
    import inspect

    from moto.dynamodb.models.table import Table

    query = Table.query
    if getattr(query, "_duelctl_fast", False):
        return True
    try:
        source = inspect.getsource(query)
    except (OSError, TypeError):
        return False
    if "self.all_items()" not in source or not hasattr(Table, "all_items"):
        return False
    sorted_items = Table.all_items

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

    fast_query._duelctl_fast = True  # type: ignore[attr-defined]
    fast_query.__wrapped__ = query  # type: ignore[attr-defined]
    Table.query = fast_query  # type: ignore[method-assign]
    assert Table.all_items is sorted_items
    return True


def _speed_up_moto_transactions() -> bool:
    """Give moto's TransactWriteItems a backup of what it can change (module docstring).

    Returns False (and changes nothing) when moto's code does not look as expected.
    """
    import copy
    import inspect

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    transact = DynamoDBBackend.transact_write_items
    if getattr(transact, "_duelctl_fast", False):
        return True
    try:
        source = inspect.getsource(transact)
    except (OSError, TypeError):
        return False
    if "copy.deepcopy(" not in source or "original_table_state" not in source:
        return False
    if "__deepcopy__" in vars(Table):
        return False

    def named_keys(transact_items: Any) -> dict[str, list[Any]]:
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
        shard = table.stream_shard
        if shard is not None:
            copied.stream_shard = copy.copy(shard)
            copied.stream_shard.items = list(shard.items)
            copied.stream_shard.table = copied
        return copied

    def fast_transact(self: Any, transact_items: Any) -> Any:
        named = named_keys(transact_items)

        def table_backup(table: Any, memo: dict[int, Any]) -> Any:
            return backup(table, named.get(table.name, []), memo)

        # Only while this transaction runs; DynamoDB requests run one at a time (the
        # middleware's lock), so no other deepcopy of a table can see it.
        Table.__deepcopy__ = table_backup  # type: ignore[attr-defined]
        try:
            return transact(self, transact_items)
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    fast_transact._duelctl_fast = True  # type: ignore[attr-defined]
    fast_transact.__wrapped__ = transact  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = fast_transact  # type: ignore[method-assign]
    return True


def _speed_up_moto_sqs() -> bool:
    """Let moto's retention check read the period directly (module docstring)."""
    import inspect

    from moto.sqs import models

    check = models.SQSBackend.is_message_valid_based_on_retention_period
    if getattr(check, "_duelctl_fast", False):
        return True
    try:
        source = inspect.getsource(check)
    except (OSError, TypeError):
        return False
    if "get_queue_attributes(" not in source or '"MessageRetentionPeriod"' not in source:
        return False

    def fast_check(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        retain_until = retention_period + message.sent_timestamp / 1000
        return not retain_until <= models.unix_time()

    fast_check._duelctl_fast = True  # type: ignore[attr-defined]
    fast_check.__wrapped__ = check  # type: ignore[attr-defined]
    models.SQSBackend.is_message_valid_based_on_retention_period = fast_check  # type: ignore[method-assign]
    return True


def internal_call(aws_url: str, method: str, path: str, body: object = None) -> Any:
    """Call one of the `/_duelctl/` routes of the moto server at `aws_url`; None on 404."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        aws_url.rstrip("/") + INTERNAL_PREFIX + path, data=data, method=method
    )
    # The emulator's own call: never through a proxy from the developer's environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as reply:
            return json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def _backend_app(service: Any) -> Any:
    """moto's Flask app for `service`, with flask-cors only for browser requests."""
    from flask import request
    from moto.moto_server.werkzeug_app import create_backend_app

    app = create_backend_app(service)
    hooks = app.after_request_funcs.get(None, [])

    def only_with_origin(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(response: Any) -> Any:
            return hook(response) if request.headers.get("Origin") else response

        return run

    app.after_request_funcs[None] = [
        only_with_origin(h) if getattr(h, "__name__", "") == "cors_after_request" else h
        for h in hooks
    ]
    return app


def _caching_dispatcher_class() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    class CachingDispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves each host it computed."""

        def __init__(self, create_app: Callable[[Any], Any]) -> None:
            super().__init__(create_app)
            self._backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            try:
                return self._backends[host]
            except KeyError:
                backend = self._backends[host] = super().get_backend_for_host(host)
                return backend

    return CachingDispatcher


def reset_moto_state() -> None:
    """Forget every resource moto holds in this process (all services, all accounts)."""
    from moto.core.base_backend import BackendDict
    from moto.core.model_instances import reset_model_data

    BackendDict.reset()
    reset_model_data()


Mode = Literal["thread", "process"]
# The moto backends the emulator uses (template tables, streams, queues, user pools).
WARM_SERVICES = ("dynamodb", "sqs", "cognitoidp", "dynamodbstreams")
MODE_ENV = "DUELCTL_MOTO"
CHILD_START_TIMEOUT_S = 30.0


def default_mode() -> Mode:
    """`DUELCTL_MOTO` ("thread" or "process"), else "process" (module docstring)."""
    return "thread" if os.environ.get(MODE_ENV, "").strip().lower() == "thread" else "process"


class MotoServer:
    """moto's server on `host:port` (0 = a free port), in a child process or a thread.

    `start()` returns once the socket accepts; `stop()` closes it. See the module
    docstring for the two modes and, in thread mode, sharing state within a process.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, mode: Mode | None = None):
        self._host = host
        self._requested_port = port
        self.mode: Mode = mode or default_mode()
        self._server: Any = None
        self._middleware: _FidelityMiddleware | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._child_port: int | None = None
        self.started_in_s = 0.0

    @property
    def port(self) -> int:
        if self._child_port is not None:
            return self._child_port
        if self._server is None:
            raise RuntimeError("MotoServer is not running")
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def pid(self) -> int:
        """The process moto runs in (this one in thread mode)."""
        return self._child.pid if self._child is not None else os.getpid()

    @property
    def long_polls_waiting(self) -> int:
        """ReceiveMessage calls currently waiting for messages (for tests and logs)."""
        if self._child is not None:
            stats = internal_call(self.url, "GET", "stats")
            return int(stats["long_polls_waiting"]) if stats else 0
        return self._middleware.long_polls_waiting if self._middleware is not None else 0

    def start(self) -> None:
        """Bind and serve (in a child process or a daemon thread); return once accepting."""
        if self._server is not None or self._child is not None:
            raise RuntimeError("MotoServer already started")
        began = time.perf_counter()
        if self.mode == "process":
            self._start_child()
        else:
            self._start_thread()
        self.started_in_s = time.perf_counter() - began
        emit(
            SERVICE,
            f"moto server ({self.mode}) on {self.url} in {self.started_in_s * 1000:.0f} ms",
            url=self.url,
            start_ms=self.started_in_s * 1000,
            mode=self.mode,
        )

    def _start_thread(self, sock: socket.socket | None = None) -> None:
        global _running
        # Imported here: moto takes ~0.4 s to import; its service backends load lazily
        # on the first request to each service.
        from werkzeug.serving import WSGIRequestHandler, make_server

        class _QuietHandler(WSGIRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass  # one line per AWS call would drown the emulator's own log

        with _REGISTRY_LOCK:
            if _running == 0:
                reset_moto_state()
            _running += 1
        try:
            self._closing.clear()
            dispatcher = _caching_dispatcher_class()(_backend_app)
            app = self._middleware = _FidelityMiddleware(dispatcher, self._closing)
            # Binding happens here (or happened already: `sock`), so the port accepts
            # (queues in the backlog) before the thread even runs serve_forever.
            self._server = make_server(
                self._host,
                self._requested_port,
                app,
                threaded=True,
                request_handler=_QuietHandler,
                fd=sock.fileno() if sock is not None else None,
            )
        except BaseException:
            with _REGISTRY_LOCK:
                _running -= 1
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"moto-{self.port}", daemon=True
        )
        self._thread.start()

    def _start_child(self) -> None:
        import emulator

        root = str(Path(emulator.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env[MODE_ENV] = "thread"
        args = [sys.executable, "-m", "emulator.services.moto_server"]
        args += ["--host", self._host, "--port", str(self._requested_port)]
        child = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True
        )
        assert child.stdout is not None
        line = b""
        deadline = time.monotonic() + CHILD_START_TIMEOUT_S
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            readable, _, _ = select.select([child.stdout], [], [], max(0.0, left))
            chunk = os.read(child.stdout.fileno(), 64) if readable else b""
            if not chunk:
                _end_child(child)
                raise OSError(f"the moto server process did not start (exit {child.poll()})")
            line += chunk
        child.stdout.close()
        words = line.split()
        if len(words) != 2 or words[0] != b"listening":
            _end_child(child)
            raise OSError(f"the moto server process said {line!r}")
        self._child, self._child_port = child, int(words[1])

    def warm(self, services: Iterable[str] = WARM_SERVICES) -> None:
        """Load moto's backends for `services` now rather than on their first request.

        moto imports a service's models and builds its Flask app on the first request to
        it; the emulator's start-up makes those first requests one after another, so the
        loading would sit on its critical path. Warming runs in a thread while requests
        are already served; a request for a service still loading waits for it.
        """
        middleware = self._middleware
        if middleware is None:
            return
        dispatcher: Any = middleware._app
        for service in services:
            with dispatcher.lock:
                if service not in dispatcher.app_instances:
                    dispatcher.app_instances[service] = dispatcher.create_app(service)

    def _middleware_waiting(self) -> int:
        return self._middleware.long_polls_waiting if self._middleware is not None else 0

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent. In thread mode moto's state stays
        until the next first start; a child process takes its state with it."""
        global _running
        if self._child is not None:
            child, self._child, self._child_port = self._child, None, None
            _end_child(child)
            emit(SERVICE, "moto server stopped")
            return
        server, thread = self._server, self._thread
        if server is None:
            return
        self._closing.set()  # emulated long polls return now
        _sqs_changed()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None
        with _REGISTRY_LOCK:
            _running -= 1
        emit(SERVICE, "moto server stopped")

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _end_child(child: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin (its signal to stop), wait briefly, then kill it."""
    if child.stdin is not None:
        with contextlib.suppress(OSError):
            child.stdin.close()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _child_main(argv: list[str]) -> None:
    """`python -m emulator.services.moto_server`: serve until stdin closes.

    Prints `listening PORT` on stdout as soon as the socket accepts (before moto is even
    imported), then sends its stdout to stderr: moto prints now and then, and nobody
    reads stdout any more.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m emulator.services.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sock = socket.create_server((args.host, args.port), backlog=1024)
    sys.stdout.write(f"listening {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    os.dup2(2, 1)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("moto: %(levelname)s %(message)s"))
    log = logging.getLogger("emulator")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    server = MotoServer(args.host, sock.getsockname()[1], mode="thread")
    server._start_thread(sock)
    for name, speed_up, gap in (
        ("query", _speed_up_moto_queries, "queries stay O(n log n)"),
        ("transactions", _speed_up_moto_transactions, "transactions keep copying tables"),
        ("sqs-retention", _speed_up_moto_sqs, "receives stay O(n²)"),
    ):
        if speed_up():
            SPEEDUPS.append(name)
        else:
            log.warning("moto changed shape (%s); %s", name, gap)
    threading.Thread(target=server.warm, name="moto-warm", daemon=True).start()
    with contextlib.suppress(OSError):
        while sys.stdin.buffer.read(4096):
            pass
    server.stop()
    # Waiting long polls were answered by stop(); let their threads finish writing the
    # replies before the process (and its daemon threads) ends.
    deadline = time.monotonic() + 2.0
    while server._middleware_waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)


__all__ = ["MotoServer", "default_mode", "internal_call", "reset_moto_state"]

if __name__ == "__main__":
    _child_main(sys.argv[1:])
