"""A small HTTP/1.1 server on asyncio: keep-alive, one request at a time per connection.

moto's own server is werkzeug's development server (a thread per connection, HTTP parsed
in Python by http.server, a WSGI environ) with Flask and flask-cors in front of moto's
dispatch; under load those layers cost about a third of moto's CPU. Every client of the
emulator's moto is an AWS SDK (or the emulator itself) speaking plain HTTP/1.1 with
Content-Length bodies on keep-alive connections, so a protocol class on the event loop
that hands each complete request to a callback is all that is needed.

The handler answers through the `reply` callable it is given, now or later (a parked
SQS long poll, a request relayed to another process); until it does, the connection
reads no further request (AWS SDKs never pipeline, and a pipelined request simply waits).
Chunked request bodies and `Expect: 100-continue` are understood (S3 uploads through
the front); responses always carry Content-Length.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 64 * 1024
_log = logging.getLogger("emulator.services.moto")


@dataclass(slots=True)
class HttpRequest:
    """One request as received: the target is undecoded (`/path?query`), headers in order."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    client: tuple[str, int] = ("127.0.0.1", 0)
    _lower: dict[str, str] | None = field(default=None, repr=False)

    def header(self, name: str, default: str = "") -> str:
        """The value of header `name` (any case); repeated headers joined with ", "."""
        if self._lower is None:
            lower: dict[str, str] = {}
            for key, value in self.headers:
                key = key.lower()
                lower[key] = f"{lower[key]}, {value}" if key in lower else value
            self._lower = lower
        return self._lower.get(name.lower(), default)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Reply:
    """Answers one request, once (later calls are ignored); `open` says whether the
    client is still connected, so a parked request whose client left can be dropped."""

    __slots__ = ("_answered", "_keep_alive", "_protocol", "_request")

    def __init__(self, protocol: HttpProtocol, request: HttpRequest, keep_alive: bool) -> None:
        self._protocol, self._request, self._keep_alive = protocol, request, keep_alive
        self._answered = False

    @property
    def open(self) -> bool:
        return not self._protocol.closed

    def __call__(self, response: HttpResponse) -> None:
        if self._answered:
            return
        self._answered = True
        self._protocol.send(self._request, response, self._keep_alive)


Handler = Callable[[HttpRequest, Reply], None]


class _DateHeader:
    """RFC 9110 Date value, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def value(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, email.utils.formatdate(now, usegmt=True)
        return self._value


_DATE = _DateHeader()
_NO_BODY = frozenset({204, 304})


class _BadRequest(Exception):
    pass


class HttpProtocol(asyncio.Protocol):
    """One client connection: parse a request, hand it over, write the reply, repeat."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False  # a request was handed over and is not answered yet
        self.closed = False
        self._continued = False  # 100 Continue sent for the request being received
        self._client: tuple[str, int] = ("127.0.0.1", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next_request()

    # ------------------------------------------------------------------ parsing

    def _next_request(self) -> None:
        try:
            parsed = self._parse()
        except _BadRequest as exc:
            self._fail(400, str(exc))
            return
        if parsed is None:
            return
        request, keep_alive = parsed
        self._busy = True
        reply = Reply(self, request, keep_alive)
        try:
            self._handler(request, reply)
        except Exception:
            _log.exception("moto request handler failed")
            reply(HttpResponse(500, [("Content-Type", "text/plain")], b"internal error"))

    def _parse(self) -> tuple[HttpRequest, bool] | None:
        """The next complete request in the buffer (removed from it), or None for more."""
        buf = self._buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise _BadRequest("request head too large")
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        while lines and not lines[0]:
            lines.pop(0)  # stray CRLF between requests (RFC 9112 §2.2)
        if not lines:
            del buf[: end + 4]
            return None
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest("malformed request line")
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest("malformed header line")
            headers.append((name, value.strip()))
        request = HttpRequest(method, target, version, headers, b"", self._client)
        body_start = end + 4
        if "chunked" in request.header("transfer-encoding").lower():
            decoded = _dechunk(buf, body_start)
            if decoded is None:
                self._maybe_continue(request)
                return None
            request.body, consumed = decoded
            request.headers = [
                (k, v)
                for k, v in headers
                if k.lower() not in ("transfer-encoding", "content-length")
            ] + [("Content-Length", str(len(request.body)))]
            request._lower = None
            del buf[:consumed]
        else:
            try:
                length = int(request.header("content-length") or 0)
            except ValueError as exc:
                raise _BadRequest("bad Content-Length") from exc
            if length < 0:
                raise _BadRequest("bad Content-Length")
            if len(buf) < body_start + length:
                self._maybe_continue(request)
                return None
            request.body = bytes(buf[body_start : body_start + length])
            del buf[: body_start + length]
        self._continued = False
        connection = request.header("connection").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        return request, keep_alive

    def _maybe_continue(self, request: HttpRequest) -> None:
        if (
            not self._continued
            and request.header("expect").lower() == "100-continue"
            and self._transport is not None
        ):
            self._continued = True
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    # ------------------------------------------------------------------ replying

    def send(self, request: HttpRequest, response: HttpResponse, keep_alive: bool) -> None:
        """Write the answer to `request` (through its `Reply`), then go on reading."""
        transport = self._transport
        if self.closed or transport is None:
            return  # the client went away meanwhile (a long poll it gave up on)
        try:
            reason = http.HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        head = [f"HTTP/1.1 {response.status} {reason}"]
        length = None
        for name, value in response.headers:
            lower = name.lower()
            if lower == "content-length":
                length = value
            elif lower not in ("connection", "date", "transfer-encoding"):
                head.append(f"{name}: {value}")
        body = response.body
        if response.status in _NO_BODY:
            body = b""
        elif request.method == "HEAD" and length is not None and not body:
            head.append(f"Content-Length: {length}")  # what a GET would have sent
        else:
            head.append(f"Content-Length: {len(body)}")
        head.append(f"Date: {_DATE.value()}")
        if not keep_alive:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if request.method != "HEAD":
            data += body
        transport.write(data)
        self._busy = False
        if not keep_alive:
            transport.close()
            return
        if self._buffer:
            self._next_request()

    def _fail(self, status: int, message: str) -> None:
        if self._transport is None:
            return
        body = message.encode()
        reason = http.HTTPStatus(status).phrase
        self._transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
            + body
        )
        self._transport.close()


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """(body, bytes consumed from `buf`) of a complete chunked body at `start`, else None."""
    pos = start
    chunks: list[bytes] = []
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = bytes(buf[pos:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise _BadRequest("bad chunk size") from exc
        pos = line_end + 2
        if size == 0:
            # Trailer fields, then an empty line.
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                empty = line_end == pos
                pos = line_end + 2
                if empty:
                    return b"".join(chunks), pos
        if len(buf) < pos + size + 2:
            return None
        chunks.append(bytes(buf[pos : pos + size]))
        pos += size + 2


async def serve(sock: socket.socket, handler: Handler) -> asyncio.Server:
    """Serve `handler` on the already listening `sock` from the running loop."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    return await loop.create_server(lambda: HttpProtocol(handler), sock=sock, backlog=1024)


__all__ = ["Handler", "HttpProtocol", "HttpRequest", "HttpResponse", "Reply", "serve"]
