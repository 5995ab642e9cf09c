"""The small HTTP/1.1 server in front of moto, driven over real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulator.services.moto import httpd
from emulator.services.moto.httpd import HttpRequest, HttpResponse, Reply


class Echo:
    """Answers with what it received; `/later` is answered only when `release` is called."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []
        self.held: list[Reply] = []
        self.holding = asyncio.Event()

    def __call__(self, request: HttpRequest, reply: Reply) -> None:
        self.requests.append(request)
        if request.path == "/later":
            self.held.append(reply)
            self.holding.set()
            return
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        body = f"{request.method} {request.target} {len(request.body)}:".encode() + request.body
        reply(HttpResponse(200, [("Content-Type", "text/plain"), ("X-Seen", "1")], body))

    def release(self) -> None:
        for reply in self.held:
            reply(HttpResponse(201, [], b"done"))
        self.held.clear()


@pytest.fixture
async def served() -> AsyncIterator[tuple[Echo, int]]:
    echo = Echo()
    sock = socket.create_server(("127.0.0.1", 0))
    server = await httpd.serve(sock, echo)
    try:
        yield echo, sock.getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _exchange(port: int, data: bytes, *, responses: int = 1) -> list[bytes]:
    """Send `data` on one connection; read `responses` complete responses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    out = []
    try:
        for _ in range(responses):
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            out.append(head + (await reader.readexactly(length) if length else b""))
    finally:
        writer.close()
    return out


def _body(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


async def test_keep_alive_serves_requests_one_after_another(served: Any) -> None:
    """Two requests on one connection (sent at once) get two answers, in order."""
    echo, port = served
    data = (
        b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    first, second = await _exchange(port, data, responses=2)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert _body(first) == b"POST /a?x=1 3:abc"
    assert _body(second) == b"GET /b 0:"
    assert b"X-Seen: 1\r\n" in first and b"Date: " in first
    assert b"Connection: close" not in first
    assert [r.header("host") for r in echo.requests] == ["h", "h"]


async def test_chunked_body_and_expect_continue(served: Any) -> None:
    """A chunked upload is reassembled; Expect: 100-continue gets its interim answer."""
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    )
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert await reader.readexactly(len(b"PUT /up 9:wikipedia")) == b"PUT /up 9:wikipedia"
    writer.close()


async def test_http10_and_connection_close_end_the_connection(served: Any) -> None:
    _, port = served
    for request in (
        b"GET /x HTTP/1.0\r\n\r\n",
        b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 5)  # EOF: the server closed
        assert b"Connection: close" in data and data.endswith(b"GET /x 0:")
        writer.close()


async def test_a_deferred_reply_holds_the_connection_until_sent(served: Any) -> None:
    """The next request on the connection waits for the held one's answer."""
    echo, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /later HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(echo.holding.wait(), 10)
    assert [r.path for r in echo.requests] == ["/later"]
    echo.release()
    first = await reader.readuntil(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 201 Created")
    await reader.readexactly(4)
    second = await reader.readuntil(b"\r\n\r\n")
    assert second.startswith(b"HTTP/1.1 200 OK")
    assert [r.path for r in echo.requests] == ["/later", "/after"]
    writer.close()


async def test_malformed_requests_get_400_and_handler_errors_500(served: Any) -> None:
    _, port = served
    [bad] = await _exchange(port, b"NONSENSE\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 Bad Request")
    [bad_length] = await _exchange(port, b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert bad_length.startswith(b"HTTP/1.1 400")
    [boom] = await _exchange(port, b"GET /boom HTTP/1.1\r\n\r\n")
    assert boom.startswith(b"HTTP/1.1 500")


async def test_head_keeps_the_length_a_get_would_have(served: Any) -> None:
    """HEAD answers carry the handler's Content-Length and no body."""

    def handler(request: HttpRequest, reply: Reply) -> None:
        reply(HttpResponse(200, [("Content-Length", "42")], b""))

    sock = socket.create_server(("127.0.0.1", 0))
    server = await httpd.serve(sock, handler)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        writer.write(b"HEAD /obj HTTP/1.1\r\n\r\nGET /obj HTTP/1.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Content-Length: 42\r\n" in head
        after = await reader.readuntil(b"\r\n\r\n")  # no body bytes in between
        assert after.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 0\r\n" in after
        writer.close()
    finally:
        server.close()
