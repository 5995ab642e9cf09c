"""The WebSocket client: handshake outcomes and the frame inbox."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from duelctl.client.ws import DuelSocket, HandshakeRefused, parse_frame, url_with_token
from duelctl.errors import TargetUnreachable


def test_url_with_token_keeps_existing_query() -> None:
    """The token is URL-encoded and appended to any query already there."""
    assert url_with_token("ws://h:1/local", "a.b+c") == "ws://h:1/local?token=a.b%2Bc"
    assert url_with_token("ws://h:1/local?x=1", "t") == "ws://h:1/local?x=1&token=t"
    assert url_with_token("ws://h:1/local", None) == "ws://h:1/local"


def test_frames_parse_json_objects_only() -> None:
    """Only a JSON object has a type; other text is kept raw."""
    assert parse_frame('{"type": "pong"}', 0).type == "pong"
    assert parse_frame("[1]", 0).data is None
    assert parse_frame("nope", 0).type is None


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def handler(conn: ServerConnection) -> None:
        async for message in conn:
            if message == "close":
                await conn.close(1008, "bye")
                return
            for n in range(int(json.loads(message)["n"])):
                await conn.send(json.dumps({"type": "n", "i": n}))

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if "token=ok" not in request.path:
            return conn.respond(403, "Forbidden\n")
        return None

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as srv:
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/local"


async def test_refused_handshakes_carry_the_status(server: str) -> None:
    """A non-101 answer is HandshakeRefused with the HTTP status."""
    with pytest.raises(HandshakeRefused) as info:
        await DuelSocket.open(server, "bad", "a")
    assert info.value.status == 403 and "Forbidden" in info.value.body


async def test_nothing_listening_is_unreachable() -> None:
    """A closed port is TargetUnreachable, not a traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TargetUnreachable):
        await DuelSocket.open(f"ws://127.0.0.1:{port}/local", "ok", "a")


async def test_wait_for_consumes_matching_frames_in_any_order(server: str) -> None:
    """An expectation takes the first unconsumed match; others stay for later steps."""
    seen: list[str] = []
    sock = await DuelSocket.open(server, "ok", "a", on_frame=lambda s, f: seen.append(f.text))
    await sock.send_json({"n": 3})
    second = await sock.wait_for(lambda f: (f.data or {}).get("i") == 1, 2)
    assert second is not None and second.consumed
    assert [f.data["i"] for f in sock.pending() if f.data] == [0, 2]
    assert await sock.wait_for(lambda f: (f.data or {}).get("i") == 1, 0.1) is None
    assert len(seen) == 3
    await sock.close()
    assert not sock.is_open


async def test_a_server_close_is_recorded(server: str) -> None:
    """When the server closes, waiting ends early and the close code is kept."""
    closed: list[int | None] = []
    sock = await DuelSocket.open(server, "ok", "a", on_close=lambda s: closed.append(s.close_code))
    await sock.send_text("close")
    assert await sock.wait_closed(2)
    assert await asyncio.wait_for(sock.wait_for(lambda f: True, 5), 1) is None
    assert closed == [1008] and sock.close_reason == "bye"
    with pytest.raises(ConnectionError):
        await sock.send_text("x")
