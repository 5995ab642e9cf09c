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
  (`WaitTimeSeconds` > 0) is done here in short locked steps: moto's own long poll
  sleeps on a condition that nothing notifies when a delayed message comes due, so it
  returned such messages up to a second late, and holding the lock through it would
  stall every sender.

moto keeps its state in process-wide singletons, so all `MotoServer`s of one process
share one AWS "account": the first one to start wipes moto's state, later ones started
while it runs join it. Resources must have distinct names across concurrent servers.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

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
# How often an emulated long poll looks at the queue again when no other SQS request
# woke it: the worst lateness of a delayed message for a long-polling consumer.
LONG_POLL_STEP_S = 0.05


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
        service = _service_of(environ)
        if service == "dynamodb":
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            body = b""
            if target == "DynamoDBStreams_20120810.GetRecords":
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
        short_body, wait_s, is_json = poll
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
                # Woken by any other SQS request; else look again after a step, for
                # delayed messages and visibility timeouts coming due.
                with _SQS_CHANGED:
                    if _sqs_generation[0] == seen:
                        _SQS_CHANGED.wait(min(LONG_POLL_STEP_S, left))
        finally:
            with self._count_lock:
                self.long_polls_waiting -= 1

    def _long_poll_request(
        self, environ: dict[str, Any], body: bytes
    ) -> tuple[bytes, float, bool] | None:
        """(the same ReceiveMessage with WaitTimeSeconds=0, the wait, json?) or None."""
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
            return json.dumps(params).encode(), wait, True
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("Action") != "ReceiveMessage":
            return None
        wait = _wait_seconds(form.get("WaitTimeSeconds"), form.get("QueueUrl"), environ)
        if wait is None:
            return None
        form["WaitTimeSeconds"] = "0"
        return urlencode(form).encode(), wait, False

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


def _queue_default_wait(queue_url: object, environ: dict[str, Any]) -> int:
    if not isinstance(queue_url, str):
        return 0
    parts = queue_url.rstrip("/").split("/")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        region = auth.split("Credential=", 1)[1].split("/")[2]
        account, name = parts[-2], parts[-1]
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[account][region].queues.get(name)
    except (IndexError, KeyError):
        return 0
    return int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)


def _has_messages(body: bytes, *, is_json: bool) -> bool:
    if not is_json:
        return b"<Message>" in body
    try:
        return bool(json.loads(body or b"{}").get("Messages"))
    except (ValueError, AttributeError):
        return True  # not ours to judge: hand it back


def reset_moto_state() -> None:
    """Forget every resource moto holds in this process (all services, all accounts)."""
    from moto.core.base_backend import BackendDict
    from moto.core.model_instances import reset_model_data

    BackendDict.reset()
    reset_model_data()


class MotoServer:
    """moto's server on `host:port` (0 = a free port) in a daemon thread of this process.

    `start()` returns once the socket accepts; `stop()` closes it. The first server of
    the process to start wipes moto's state; see the module docstring for sharing.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._server: Any = None
        self._middleware: _FidelityMiddleware | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.started_in_s = 0.0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MotoServer is not running")
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def long_polls_waiting(self) -> int:
        """ReceiveMessage calls currently waiting for messages (for tests and logs)."""
        return self._middleware.long_polls_waiting if self._middleware is not None else 0

    def start(self) -> None:
        """Bind, start serving in a daemon thread, and return once accepting."""
        global _running
        if self._server is not None:
            raise RuntimeError("MotoServer already started")
        began = time.perf_counter()
        # Imported here: moto takes ~0.4 s to import; its service backends load lazily
        # on the first request to each service.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )
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
            dispatcher = DomainDispatcherApplication(create_backend_app)
            app = self._middleware = _FidelityMiddleware(dispatcher, self._closing)
            # Binding happens here, so the port accepts (queues in the backlog) as soon as
            # make_server returns, before the thread even runs serve_forever.
            self._server = make_server(
                self._host, self._requested_port, app, threaded=True, request_handler=_QuietHandler
            )
        except BaseException:
            with _REGISTRY_LOCK:
                _running -= 1
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"moto-{self.port}", daemon=True
        )
        self._thread.start()
        self.started_in_s = time.perf_counter() - began
        emit(
            SERVICE,
            f"moto server on {self.url} in {self.started_in_s * 1000:.0f} ms",
            url=self.url,
            start_ms=self.started_in_s * 1000,
        )

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent. moto's state stays until the
        next first start."""
        global _running
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


__all__ = ["MotoServer", "reset_moto_state"]
