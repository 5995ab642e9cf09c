"""A socketless API Gateway WebSocket API: one plain async method per client action.

`LocalGateway` owns everything stateful about connections: the registry, the opening
handshake (authorizer, `$connect`), message dispatch (a task per message, bounded per
connection), `$disconnect`, idle/duration timers and the @connections operations
(`ConnectionPort`). Every rule it applies comes from `core`; it only adds asyncio.

Two kinds of callers (style §4):
- tests call the client-side methods (`connect`, `message`, `disconnect`, `drain`, ...),
  which talk to the gateway through an in-memory `Transport`;
- `server.WebSocketGateway` adapts real sockets: it calls `open`, `receive` and
  `transport_closed` with a `Transport` that writes to a websockets connection.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlencode

from emulator import logs
from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.gateway import core
from emulator.management.errors import Gone, PayloadTooLarge
from emulator.management.port import ConnectionInfo
from emulator.runner.base import FunctionRunner, Invocation
from emulator.template.model import Function, WebSocketApi

if TYPE_CHECKING:
    from emulator.faults.gateway import GatewayFaults

_LOG_TEXT_CHARS = 200


class Transport(Protocol):
    """What the gateway needs from one client connection."""

    async def send_text(self, text: str) -> None:
        """Deliver one text message; raise if the connection can no longer take it."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start closing with `code`/`reason`. The transport later reports the end
        through `LocalGateway.transport_closed`."""
        ...


@dataclass(frozen=True, slots=True)
class LocalConnection:
    """A connection `LocalGateway.connect` opened."""

    id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The handshake was refused with this HTTP status; the socket never opened."""

    status: int
    body: str


LinkState = Literal["connecting", "open", "closing"]


@dataclass(eq=False, slots=True)
class _Link:
    """The gateway's side of one connection."""

    conn: core.Connection
    transport: Transport
    inflight: asyncio.Semaphore
    state: LinkState = "connecting"
    server_close: core.CloseWith | None = None  # set when the gateway started the close
    lost: core.CloseWith | None = None  # the transport ended while $connect still ran
    watchdog: asyncio.Task[None] | None = None


class LocalGateway:
    """API Gateway's WebSocket behaviour without sockets; implements ConnectionPort.

    Use as an async context manager (or call `aclose`) so in-flight invocations are
    drained and timers cancelled.
    """

    def __init__(
        self,
        api: WebSocketApi,
        *,
        functions: Mapping[str, Function],
        runner: FunctionRunner,
        region: str,
        account_id: str,
        clock: Clock = SYSTEM_CLOCK,
        idle_timeout_s: float = core.IDLE_TIMEOUT_S,
        max_duration_s: float = core.MAX_DURATION_S,
        integration_timeout_s: float = core.MAX_INTEGRATION_TIMEOUT_S,
        max_inflight_per_connection: int = 32,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        core.validate(api)
        referenced = [(r.key, r.function) for r in api.routes.values() if r.function]
        if api.authorizer is not None:
            referenced.append((api.authorizer.logical_id, api.authorizer.function))
        for owner, function in referenced:
            if function not in functions:
                raise ValueError(f"{owner}: function {function!r} is not in the template")
        if max_inflight_per_connection < 1:
            raise ValueError("max_inflight_per_connection must be >= 1")
        self.deployment = core.Deployment(api, region, account_id)
        self._runner = runner
        self._clock = clock
        self._idle_timeout_s = idle_timeout_s
        self._max_duration_s = max_duration_s
        # AWS: the integration timeout is capped at 29 s (docs/aws-behaviour.md §6).
        self._integration_timeout_s = min(integration_timeout_s, core.MAX_INTEGRATION_TIMEOUT_S)
        self._max_inflight = max_inflight_per_connection
        self._random_bytes = random_bytes
        self._links: dict[str, _Link] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._clients: dict[str, _LocalClient] = {}
        self._closing = False
        # Fault mode (emulator/faults/gateway.py): a gone window after $connect, lost
        # $disconnects. Set by the runtime; None injects nothing.
        self.faults: GatewayFaults | None = None

    async def __aenter__(self) -> LocalGateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ for transports

    def new_id(self) -> str:
        """A fresh 16-char API Gateway id (connection, request or message id)."""
        return core.id_from_bytes(self._random_bytes(core.ID_RANDOM_BYTES))

    async def open(
        self, connection_id: str, request: core.ClientRequest, transport: Transport
    ) -> core.Accept | core.Refuse:
        """Run the opening handshake (authorizer, then `$connect`) for a new connection.

        The id is Gone for @connections until this returns Accept (docs/aws-behaviour.md §3).
        """
        if self._closing:
            return core.Refuse.unavailable("gateway shutting down")
        handshake = core.Handshake.begin(
            self.deployment,
            request,
            connection_id=connection_id,
            request_id=self.new_id(),
            now_ms=self._clock.now_ms(),
        )
        link = _Link(handshake.connection, transport, asyncio.Semaphore(self._max_inflight))
        self._links[connection_id] = link
        try:
            step = handshake.start()
            while isinstance(step, core.Invoke):
                invocation = await self._invoke(step.function, step.event, step.label)
                step = handshake.on_result(invocation)
            if isinstance(step, core.Accept) and self.faults is not None:
                # AWS: the id is Gone until the handshake completes (aws-behaviour §3, §17).
                await self.faults.connecting(
                    connection_id, handshake.connection.connected_at_ms, self._clock
                )
        except BaseException:
            self._links.pop(connection_id, None)
            raise
        if isinstance(step, core.Refuse):
            self._links.pop(connection_id, None)
            logs.emit(
                logs.CONNECTION,
                f"refused {step.status}: {step.why}",
                action="refuse",
                connection_id=connection_id,
                status=step.status,
                reason=step.why,
                source_ip=request.source_ip,
            )
            return step
        link.conn = step.connection
        if link.lost is not None or self._closing:
            # $connect succeeded but the client left (or we are shutting down) before the
            # socket opened; its handler may have stored the connection, so $disconnect.
            self._links.pop(connection_id, None)
            self._finish(link, link.lost or core.GOING_AWAY)
            why = "client left during $connect" if link.lost else "gateway shutting down"
            return core.Refuse.unavailable(why)
        link.state = "open"
        link.watchdog = asyncio.get_running_loop().create_task(self._watch(link))
        logs.emit(
            logs.CONNECTION,
            f"connected {connection_id}",
            action="connect",
            connection_id=connection_id,
            source_ip=link.conn.source_ip,
            principal_id=(link.conn.authorizer or {}).get("principalId"),
            user=logs.caller_name(link.conn.authorizer),
        )
        return step

    async def receive(self, connection_id: str, text: str) -> asyncio.Task[None] | None:
        """Accept one complete text message from the client and dispatch it.

        Returns once the message has a task of its own, so the caller's receive loop
        never waits for an invocation; it waits only while the connection already has
        `max_inflight_per_connection` messages in flight (backpressure).
        """
        link = self._links.get(connection_id)
        if link is None or link.state != "open":
            return None
        now_ms = self._clock.now_ms()
        link.conn.last_active_at_ms = now_ms  # AWS: client messages reset the idle timer
        _log_frame("in", connection_id, text)
        await link.inflight.acquire()
        return self._spawn(self._handle_message(link, text, now_ms))

    def transport_closed(
        self, connection_id: str, close: core.CloseWith
    ) -> asyncio.Task[None] | None:
        """Record that a connection's transport ended; fire `$disconnect` once.

        `close` is what the transport observed (see `core.observed_close`); when the
        gateway itself started the close, its own code and reason win. Returns the
        `$disconnect` task, if one was started.
        """
        link = self._links.get(connection_id)
        if link is None:
            return None
        if link.state == "connecting":
            link.lost = close
            return None
        del self._links[connection_id]
        return self._finish(link, link.server_close or close)

    def close(self, connection_id: str, close: core.CloseWith) -> bool:
        """Start closing an open connection from the gateway's side; False if not open."""
        link = self._links.get(connection_id)
        if link is None or link.state != "open":
            return False
        link.state = "closing"
        link.server_close = close
        if link.watchdog is not None and link.watchdog is not asyncio.current_task():
            link.watchdog.cancel()
        link.transport.close(close.code, close.reason)
        return True

    def begin_shutdown(self) -> None:
        """Refuse new connections and close open ones with 1001 "Going away"."""
        self._closing = True
        for connection_id in list(self._links):
            self.close(connection_id, core.GOING_AWAY)

    @property
    def tasks_in_flight(self) -> int:
        """Messages, invocations and `$disconnect`s still running (virtual time waits for 0)."""
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Wait until no invocation, message or `$disconnect` is in flight."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.wait(pending)

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Shut down: close every connection (1001), then drain in-flight invocations,
        cancelling what is still running after `timeout_s`."""
        self.begin_shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while pending := [t for t in self._tasks if not t.done()]:
            remaining = deadline - loop.time()
            if remaining <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                logs.emit(
                    logs.SERVICE,
                    f"gateway shutdown cancelled {len(pending)} unfinished tasks",
                    level=logging.WARNING,
                )
                break
            await asyncio.wait(pending, timeout=remaining)
        for link in list(self._links.values()):
            if link.watchdog is not None:
                link.watchdog.cancel()

    # ------------------------------------------------------------ ConnectionPort

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send `data` as one text message. Raises Gone, PayloadTooLarge (> 128 KB)."""
        link = self._open_link(connection_id)
        if len(data) > core.MAX_POST_BYTES:
            raise PayloadTooLarge()
        # AWS: keep posted payloads UTF-8 text (docs/aws-behaviour.md §6); invalid bytes are
        # replaced rather than sent as a text frame the client would reject.
        text = data.decode("utf-8", errors="replace")
        try:
            await link.transport.send_text(text)
        except Exception as exc:
            raise Gone() from exc
        _log_frame("out", connection_id, text)

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        """Raises Gone for unknown, closed or still-connecting ids."""
        conn = self._open_link(connection_id).conn
        return ConnectionInfo(
            connected_at_ms=conn.connected_at_ms,
            last_active_at_ms=conn.last_active_at_ms,
            source_ip=conn.source_ip,
            user_agent=conn.user_agent,
        )

    async def delete_connection(self, connection_id: str) -> None:
        """Close the socket (1000) so `$disconnect` fires. Raises Gone.

        AWS: returns at once; `$disconnect` follows with 1000 "Connection Closed
        Normally" (docs/aws-behaviour.md §1, §5).
        """
        self._open_link(connection_id)
        self.close(connection_id, core.DELETED)

    # ------------------------------------------------------------ simulated clients

    async def connect(
        self,
        *,
        query: Mapping[str, str | Sequence[str]] | None = None,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        path: str | None = None,
        source_ip: str = "127.0.0.1",
    ) -> LocalConnection | Refused:
        """Open a connection as a WebSocket client would; returns once the handshake
        is decided. `path` defaults to `/{stage}`."""
        target = path if path is not None else f"/{self.deployment.api.stage}"
        if query:
            target += "?" + urlencode(query, doseq=True)
        extra = list(headers.items() if isinstance(headers, Mapping) else headers or [])
        overridden = {name.lower() for name, _ in extra}
        defaults = [
            ("Host", "127.0.0.1"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", core.id_from_bytes(self._random_bytes(11))),
            ("Sec-WebSocket-Version", "13"),
        ]
        request = core.ClientRequest(
            target=target,
            headers=tuple([(k, v) for k, v in defaults if k.lower() not in overridden] + extra),
            source_ip=source_ip,
        )
        connection_id = self.new_id()
        client = _LocalClient(self, connection_id)
        step = await self.open(connection_id, request, client)
        if isinstance(step, core.Refuse):
            return Refused(step.status, step.body)
        self._clients[connection_id] = client
        return LocalConnection(connection_id)

    async def message(self, connection_id: str, data: str | bytes) -> None:
        """Send one single-frame message (bytes = a binary frame) and wait until its
        invocation and any frames it causes are done."""
        await self.message_fragments(connection_id, [data])

    async def message_fragments(self, connection_id: str, fragments: Sequence[str | bytes]) -> None:
        """Send one message split into frames, checking every frame as the server does
        (so a > 32 KB frame or > 128 KB message closes with 1009, binary with 1003)."""
        client = self._client(connection_id)
        if client.closed is not None:
            raise ConnectionError(f"connection {connection_id} is closed")
        if not fragments:
            raise ValueError("a message needs at least one frame")
        payload = bytearray()
        for index, fragment in enumerate(fragments):
            kind: core.FrameKind
            if index > 0:
                kind = "continuation"
            else:
                kind = "binary" if isinstance(fragment, bytes) else "text"
            data = fragment if isinstance(fragment, bytes) else fragment.encode("utf-8")
            fin = index == len(fragments) - 1
            verdict = core.on_frame(client.tracker, kind, len(data), fin=fin)
            if verdict is not None:
                self.close(connection_id, verdict)
                await client.wait_disconnect()
                return
            payload += data
        task = await self.receive(connection_id, payload.decode("utf-8"))
        if task is not None:
            await task

    async def disconnect(
        self, connection_id: str, code: int | None = 1000, reason: str = ""
    ) -> None:
        """Close from the client side (`code=None`: a close frame without status) and
        wait for `$disconnect`."""
        client = self._client(connection_id)
        received = core.CloseWith(1005 if code is None else code, "" if code is None else reason)
        client.end(core.observed_close(sent=None, received=received, received_first=True))
        await client.wait_disconnect()

    async def drop(self, connection_id: str) -> None:
        """End the client's TCP connection without a close frame (1006); wait for
        `$disconnect`."""
        client = self._client(connection_id)
        client.end(core.observed_close(sent=None, received=None, received_first=None))
        await client.wait_disconnect()

    def drain(self, connection_id: str) -> list[str]:
        """The text messages sent to this connection since the last drain."""
        client = self._client(connection_id)
        frames, client.frames = client.frames, []
        return frames

    def close_status(self, connection_id: str) -> core.CloseWith | None:
        """How the connection ended (None while open)."""
        return self._client(connection_id).closed

    # ------------------------------------------------------------ internals

    def _client(self, connection_id: str) -> _LocalClient:
        try:
            return self._clients[connection_id]
        except KeyError:
            raise KeyError(f"no connection {connection_id} was opened by connect()") from None

    def _open_link(self, connection_id: str) -> _Link:
        link = self._links.get(connection_id)
        if link is None or link.state != "open":
            if link is not None and link.state == "connecting" and self.faults is not None:
                self.faults.gone(connection_id)
            raise Gone()
        return link

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _invoke(self, function: str, event: Mapping[str, Any], label: str) -> Invocation:
        """Invoke with the integration timeout; never raises for handler failures.

        AWS: past the integration timeout API Gateway answers, but the Lambda keeps
        running (docs/aws-behaviour.md §2), so the invoke task is left to finish and drained at
        shutdown.
        """
        task = self._spawn(self._runner.invoke(function, event, route=label))
        done, _ = await asyncio.wait({task}, timeout=self._integration_timeout_s)
        if task not in done:
            return Invocation(
                function=function,
                request_id="",
                outcome="timeout",
                result={"errorMessage": "Endpoint request timed out"},
                duration_ms=self._integration_timeout_s * 1000,
            )
        try:
            result: Invocation = task.result()
        except Exception as exc:
            logs.emit(
                logs.SERVICE,
                f"runner failed invoking {function}: {exc!r}",
                level=logging.ERROR,
                function=function,
                traceback="".join(traceback.format_exception(exc)),
            )
            return Invocation(
                function=function,
                request_id="",
                outcome="error",
                result={"errorMessage": f"runner failed: {exc}", "errorType": "Emulator.Runner"},
                duration_ms=0.0,
            )
        return result

    async def _handle_message(self, link: _Link, text: str, now_ms: int) -> None:
        try:
            step = core.on_message(
                self.deployment,
                link.conn,
                text,
                request_id=self.new_id(),
                message_id=self.new_id(),
                now_ms=now_ms,
            )
            if isinstance(step, core.Reply):
                await self._send(link, step.frame)
                return
            invocation = await self._invoke(step.function, step.event, step.route.key)
            for frame in core.on_message_result(step, link.conn.id, invocation):
                await self._send(link, frame)
        finally:
            link.inflight.release()

    async def _send(self, link: _Link, text: str) -> None:
        if link.state != "open":
            return
        try:
            await link.transport.send_text(text)
        except Exception as exc:
            logs.emit(
                logs.FRAME,
                f"could not send to {link.conn.id}: {exc!r}",
                level=logging.DEBUG,
                direction="out",
                connection_id=link.conn.id,
            )
            return
        _log_frame("out", link.conn.id, text)

    def _finish(self, link: _Link, close: core.CloseWith) -> asyncio.Task[None] | None:
        """The connection is over: log it and fire `$disconnect` (best effort, result
        ignored; docs/aws-behaviour.md §3)."""
        if link.watchdog is not None and link.watchdog is not asyncio.current_task():
            link.watchdog.cancel()
        conn = link.conn
        logs.emit(
            logs.CONNECTION,
            f"disconnected {conn.id}: {close.code} {close.reason}".rstrip(),
            action="disconnect",
            connection_id=conn.id,
            code=close.code,
            reason=close.reason,
        )
        route = self.deployment.api.routes.get("$disconnect")
        if route is None or route.function is None:
            return None
        if self.faults is not None and not self.faults.disconnect(conn.id):
            return None  # AWS: $disconnect is best effort (aws-behaviour §3, §17)
        event = core.disconnect_event(
            self.deployment, conn, close, request_id=self.new_id(), now_ms=self._clock.now_ms()
        )
        return self._spawn(self._invoke(route.function, event, "$disconnect"))

    async def _watch(self, link: _Link) -> None:
        """Close the connection when it idles out or reaches its maximum duration."""
        while link.state == "open":
            limit = core.time_limit(
                link.conn,
                self._clock.now_ms(),
                idle_timeout_s=self._idle_timeout_s,
                max_duration_s=self._max_duration_s,
            )
            if isinstance(limit, core.Expired):
                self.close(link.conn.id, limit.close)
                return
            await self._clock.sleep_until(limit.deadline)


@dataclass(eq=False)
class _LocalClient:
    """An in-memory client: records what the gateway sends and closes instantly."""

    gateway: LocalGateway
    connection_id: str
    frames: list[str] = field(default_factory=list)
    closed: core.CloseWith | None = None
    tracker: core.FrameTracker = field(default_factory=core.FrameTracker)
    disconnect_task: asyncio.Task[None] | None = None

    async def send_text(self, text: str) -> None:
        if self.closed is not None:
            raise ConnectionError(f"connection {self.connection_id} is closed")
        self.frames.append(text)

    def close(self, code: int, reason: str) -> None:
        # The gateway closes; an in-memory client answers the close frame at once.
        self.end(core.CloseWith(code, reason))

    def end(self, close: core.CloseWith) -> None:
        if self.closed is not None:
            return
        self.closed = close
        self.disconnect_task = self.gateway.transport_closed(self.connection_id, close)

    async def wait_disconnect(self) -> None:
        if self.disconnect_task is not None:
            await self.disconnect_task


def _log_frame(direction: Literal["in", "out"], connection_id: str, text: str) -> None:
    logs.emit(
        logs.FRAME,
        f"{direction} {connection_id} {len(text)} chars",
        level=logging.DEBUG,
        direction=direction,
        connection_id=connection_id,
        size=len(text.encode("utf-8")),
        text=text[:_LOG_TEXT_CHARS],
    )
