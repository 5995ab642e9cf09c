"""The WebSocket gateway on real sockets: a thin websockets adapter over `LocalGateway`.

Every decision is made in `core` and every piece of connection state lives in
`LocalGateway`; this module only translates between websockets and them:

- The authorizer and `$connect` run in websockets' `process_request` hook, so a refusal
  is an HTTP response and the socket never opens (style §2, docs/aws-behaviour.md §3).
- Frame limits are checked per frame in `_GatewayConnection.process_event`, which
  websockets calls once for every frame it parses, before reassembly (see that class).
- `$disconnect` is driven from `connection_lost`, the single place every connection
  ends (close frame with or without a code, abrupt drop, gateway close).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import http
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import BINARY, CONT, DATA_OPCODES, TEXT, Close, Frame
from websockets.http11 import Request, Response
from websockets.protocol import Event
from websockets.typing import Subprotocol

from emulator import logs
from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.gateway import core
from emulator.gateway.local import LocalGateway
from emulator.management.port import ConnectionInfo
from emulator.runner.base import FunctionRunner
from emulator.template.model import Function, WebSocketApi
from emulator.virtual.peers import PeerFrames, PeerTable

# websockets' own per-frame limit, far above AWS's 32 KB: it only stops absurd frames
# before their payload is buffered; core.on_frame makes every real decision.
_FRAME_BACKSTOP_BYTES = 2**20

_KINDS: dict[Any, core.FrameKind] = {TEXT: "text", BINARY: "binary", CONT: "continuation"}


def _close_of(close: Close | None) -> core.CloseWith | None:
    return None if close is None else core.CloseWith(int(close.code), close.reason)


class _GatewayConnection(ServerConnection):
    """A websockets server connection with API Gateway's per-frame limits.

    How frame sizes are seen: websockets' Sans-I/O `Protocol` parses the byte stream
    into `Frame` events, and the asyncio `Connection.data_received` hands each one to
    `process_event` *before* the `Assembler` joins fragments into a message. Overriding
    `process_event` therefore sees every data frame with its own payload length and FIN
    bit; `core.on_frame` tracks the running message size and decides 1009 (frame > 32 KB
    or message > 128 KB) or 1003 (binary). On a violation we fail the connection right
    there (`Protocol.fail` sends the close frame and half-closes TCP) and drop the frame,
    so no oversized message ever reaches the gateway. permessage-deflate is disabled,
    so payload length is the on-the-wire frame size, as API Gateway counts it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_id: str | None = None
        self.on_lost: functools.partial[Any] | None = None
        self.tracker = core.FrameTracker()
        self.limit_hit = False
        # What $connect returned (core.connect_subprotocol); websockets owns `subprotocol`.
        self.connect_subprotocol: str | None = None
        self.peer_frames: PeerFrames | None = None  # virtual time only (track_peers)
        self.peer_table: PeerTable | None = None

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)
            return
        if self.limit_hit:
            return  # the connection is failing; later frames are discarded
        verdict = core.on_frame(self.tracker, _KINDS[event.opcode], len(event.data), fin=event.fin)
        if verdict is None:
            super().process_event(event)
            return
        self.limit_hit = True
        self.protocol.fail(verdict.code, verdict.reason)
        try:
            self.send_data()
        except Exception as exc:
            self.set_connection_exc(exc)
        if self.close_deadline is None and self.close_timeout is not None:
            self.close_deadline = self.loop.time() + self.close_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.peer_table is not None and self.peer_frames is not None:
            self.peer_table.closed(self.peer_frames)
        if self.on_lost is not None:
            protocol = self.protocol
            self.on_lost(
                core.observed_close(
                    sent=_close_of(protocol.close_sent),
                    received=_close_of(protocol.close_rcvd),
                    received_first=protocol.close_rcvd_then_sent is True,
                )
            )


class _SocketTransport:
    """`local.Transport` over one websockets connection."""

    def __init__(self, ws: _GatewayConnection, closers: set[asyncio.Task[None]]) -> None:
        self._ws = ws
        self._closers = closers

    async def send_text(self, text: str) -> None:
        if self._ws.peer_frames is not None:
            self._ws.peer_frames.sent += 1  # counted before the bytes leave (virtual time)
        parts = core.outbound_fragments(text)
        if len(parts) == 1:
            await self._ws.send(parts[0])
        else:
            await self._ws.send(parts)

    def close(self, code: int, reason: str) -> None:
        if self._ws.peer_frames is not None:
            self._ws.peer_frames.open = False  # a close is on its way to the client
        # Don't make the caller wait for the closing handshake; connection_lost reports
        # the end to the gateway.
        task = asyncio.get_running_loop().create_task(self._ws.close(code, reason))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)


def _refusal(refuse: core.Refuse) -> Response:
    """An HTTP response refusing the upgrade, with AWS-style JSON body.

    Built by hand because websockets' `respond()` only knows `http.HTTPStatus` codes,
    while a `$connect` integration may return any status (docs/aws-behaviour.md §3).
    """
    body = refuse.body.encode()
    try:
        phrase = http.HTTPStatus(refuse.status).phrase
    except ValueError:
        phrase = ""
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/json"),
        ]
    )
    return Response(refuse.status, phrase, headers, body)


def _connect_subprotocol(
    ws: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """websockets' subprotocol hook: echo `$connect`'s header, whatever the client offered."""
    chosen = cast(_GatewayConnection, ws).connect_subprotocol
    return None if chosen is None else Subprotocol(chosen)


class WebSocketGateway:
    """API Gateway WebSocket API on `ws://{host}:{port}/{stage}`; implements ConnectionPort.

    Start with `await start()` (or `async with`), stop with `aclose()`: that stops
    accepting, closes every socket with 1001 "Going away", fires `$disconnect` for each
    and drains in-flight invocations within `shutdown_timeout_s`.
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
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout_s: float = core.IDLE_TIMEOUT_S,
        max_duration_s: float = core.MAX_DURATION_S,
        integration_timeout_s: float = core.MAX_INTEGRATION_TIMEOUT_S,
        max_inflight_per_connection: int = 32,
        shutdown_timeout_s: float = 10.0,
    ) -> None:
        self.engine = LocalGateway(
            api,
            functions=functions,
            runner=runner,
            region=region,
            account_id=account_id,
            clock=clock,
            idle_timeout_s=idle_timeout_s,
            max_duration_s=max_duration_s,
            integration_timeout_s=integration_timeout_s,
            max_inflight_per_connection=max_inflight_per_connection,
        )
        """The socketless gateway this server adapts (shared state and rules)."""
        self._host = host
        self._requested_port = port
        self._integration_timeout_s = min(integration_timeout_s, core.MAX_INTEGRATION_TIMEOUT_S)
        self._shutdown_timeout_s = shutdown_timeout_s
        self._server: Server | None = None
        self._port: int | None = None
        self._closers: set[asyncio.Task[None]] = set()
        self.peers: PeerTable | None = None

    def track_peers(self) -> None:
        """Count frames per client port (`peers`), for a virtual clock's advancer."""
        if self.peers is None:
            self.peers = PeerTable()

    async def __aenter__(self) -> WebSocketGateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the gateway is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self.port}/{self.engine.deployment.api.stage}"

    async def start(self) -> None:
        """Listen; returns once connections are accepted."""
        if self._server is not None:
            raise RuntimeError("the gateway is already started")
        self._server = await serve(
            self._handler,
            self._host,
            self._requested_port,
            process_request=self._process_request,
            # AWS: the 101 names a subprotocol only when $connect's response did.
            select_subprotocol=_connect_subprotocol,
            create_connection=_GatewayConnection,
            # AWS API Gateway does not negotiate permessage-deflate (inferred); without
            # it a frame's payload length is its size on the wire.
            compression=None,
            # API Gateway does not ping clients; idle connections end by the idle timer.
            ping_interval=None,
            max_size=(None, _FRAME_BACKSTOP_BYTES),
            # The upgrade stays pending while the authorizer and $connect run.
            open_timeout=2 * self._integration_timeout_s + 10,
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        logs.emit(
            logs.SERVICE,
            f"WebSocket API {self.engine.deployment.api.logical_id} on {self.url}",
            url=self.url,
        )

    async def aclose(self) -> None:
        """Stop accepting, close sockets with 1001, fire `$disconnect`, drain invokes."""
        server, self._server = self._server, None
        if server is None:
            return
        self.engine.begin_shutdown()
        server.close(close_connections=True, code=1001, reason=core.GOING_AWAY.reason)
        try:
            async with asyncio.timeout(self._shutdown_timeout_s):
                await server.wait_closed()
        except TimeoutError:
            logs.emit(
                logs.SERVICE,
                "WebSocket server did not close in time",
                level=logging.WARNING,
            )
        await self.engine.aclose(self._shutdown_timeout_s)
        for task in list(self._closers):
            task.cancel()

    async def wait_idle(self) -> None:
        """Wait until no invocation, message or `$disconnect` is in flight."""
        await self.engine.wait_idle()

    # ------------------------------------------------------------ ConnectionPort

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send `data` as one text message. Raises Gone, PayloadTooLarge (> 128 KB)."""
        await self.engine.post_to_connection(connection_id, data)

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        """Raises Gone for unknown, closed or still-connecting ids."""
        return self.engine.get_connection(connection_id)

    async def delete_connection(self, connection_id: str) -> None:
        """Close the socket (1000) so `$disconnect` fires. Raises Gone."""
        await self.engine.delete_connection(connection_id)

    # ------------------------------------------------------------ websockets hooks

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Run the authorizer and `$connect` before the upgrade (style §2)."""
        upgrade = request.headers.get("Upgrade", "")
        if "websocket" not in upgrade.lower():
            return None  # not a WebSocket request: websockets answers 426 itself
        conn = cast(_GatewayConnection, ws)
        connection_id = self.engine.new_id()
        conn.connection_id = connection_id
        conn.on_lost = functools.partial(self.engine.transport_closed, connection_id)
        peer = conn.remote_address
        if self.peers is not None and peer:
            conn.peer_table = self.peers
            conn.peer_frames = self.peers.opened(int(peer[1]))
        client = core.ClientRequest(
            target=request.path,
            headers=tuple(request.headers.raw_items()),
            source_ip=str(peer[0]) if peer else "127.0.0.1",
        )
        step = await self.engine.open(connection_id, client, _SocketTransport(conn, self._closers))
        if isinstance(step, core.Refuse):
            return _refusal(step)
        conn.connect_subprotocol = step.subprotocol
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        """Feed complete text messages to the gateway until the connection ends."""
        connection_id = cast(_GatewayConnection, ws).connection_id
        if connection_id is None:
            return
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosed:
                return
            if isinstance(message, str):  # binary frames are refused in process_event
                await self.engine.receive(connection_id, message)
            frames = cast(_GatewayConnection, ws).peer_frames
            if frames is not None:
                frames.received += 1  # now dispatched: a task of the engine's (virtual time)
