"""`$connect` as API Gateway builds it, through the real gateway and a raw upgrade request.

AWS (API Gateway dev guide, "Set up a $connect route that requires a WebSocket
subprotocol"; docs/aws-behaviour.md §1): the 101 carries `Sec-WebSocket-Protocol` only when the
`$connect` integration's response returned it; the event keeps header names as the
client sent them, with `multiValueHeaders` and `multiValueQueryStringParameters` for
repeats.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from emulator.gateway.server import WebSocketGateway
from tests.emulator.gateway.conftest import (
    ACCOUNT,
    DOMAIN,
    FUNCTIONS,
    REGION,
    STAGE,
    FakeRunner,
    default_handlers,
    make_api,
)


def on_connect(event: dict[str, Any]) -> Any:
    """Answer with the subprotocol `?answer=` names (none without it); `?status=` refuses."""
    query = event.get("queryStringParameters") or {}
    if "status" in query:
        return {"statusCode": int(query["status"])}
    if "answer" in query:
        return {"statusCode": 200, "headers": {"sec-websocket-protocol": query["answer"]}}
    if "multi" in query:
        return {"statusCode": 200, "multiValueHeaders": {"Sec-WebSocket-Protocol": ["v2"]}}
    return {"statusCode": 200}


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[WebSocketGateway, FakeRunner]]:
    handlers = default_handlers()
    handlers["ConnectFn"] = on_connect
    runner = FakeRunner(handlers)
    gw = WebSocketGateway(
        make_api(authorizer=None),
        functions=FUNCTIONS,
        runner=runner,
        region=REGION,
        account_id=ACCOUNT,
    )
    async with gw:
        yield gw, runner


async def upgrade(gw: WebSocketGateway, target: str, headers: list[tuple[str, str]]) -> list[str]:
    """Send a raw upgrade request; return the response's status line and header lines."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: 127.0.0.1:{gw.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()
    return head.decode().split("\r\n")[:-2]


def protocol_headers(head: list[str]) -> list[str]:
    return [line for line in head if line.lower().startswith("sec-websocket-protocol:")]


async def test_101_names_the_subprotocol_connect_returned(
    gateway: tuple[WebSocketGateway, FakeRunner],
) -> None:
    gw, _ = gateway
    head = await upgrade(
        gw, f"/{STAGE}?answer=chat.v2", [("Sec-WebSocket-Protocol", "chat.v1, chat.v2")]
    )
    assert head[0] == "HTTP/1.1 101 Switching Protocols"
    assert protocol_headers(head) == ["Sec-WebSocket-Protocol: chat.v2"]


async def test_no_subprotocol_unless_connect_returns_one(
    gateway: tuple[WebSocketGateway, FakeRunner],
) -> None:
    """The gateway never picks one itself, even when the client offered some."""
    gw, _ = gateway
    head = await upgrade(gw, f"/{STAGE}", [("Sec-WebSocket-Protocol", "chat.v1")])
    assert head[0] == "HTTP/1.1 101 Switching Protocols"
    assert protocol_headers(head) == []
    multi = await upgrade(gw, f"/{STAGE}?multi=1", [("Sec-WebSocket-Protocol", "v2")])
    assert protocol_headers(multi) == ["Sec-WebSocket-Protocol: v2"]


async def test_a_websockets_client_sees_the_negotiated_subprotocol(
    gateway: tuple[WebSocketGateway, FakeRunner],
) -> None:
    gw, _ = gateway
    async with connect(
        gw.url + "?answer=news", subprotocols=[Subprotocol("other"), Subprotocol("news")]
    ) as ws:
        assert ws.subprotocol == "news"
    async with connect(gw.url, subprotocols=[Subprotocol("news")]) as ws:
        assert ws.subprotocol is None  # a browser would drop this connection


async def test_refusal_has_no_upgrade(gateway: tuple[WebSocketGateway, FakeRunner]) -> None:
    gw, _ = gateway
    head = await upgrade(gw, f"/{STAGE}?status=400", [("Sec-WebSocket-Protocol", "x")])
    assert head[0].startswith("HTTP/1.1 400")
    assert protocol_headers(head) == []


async def test_connect_event_keeps_names_and_repeats(
    gateway: tuple[WebSocketGateway, FakeRunner],
) -> None:
    """Header names as sent, repeats in multiValueHeaders, repeated query parameters."""
    gw, runner = gateway
    await upgrade(
        gw,
        f"/{STAGE}?room=a&room=b&solo=1",
        [
            ("x-lower-case", "1"),
            ("X-Mixed-Case", "2"),
            ("X-Repeated", "first"),
            ("x-repeated", "second"),
            ("Sec-WebSocket-Protocol", "chat.v1, chat.v2"),
        ],
    )
    (event,) = await runner.wait_for("ConnectFn")
    headers, multi = event["headers"], event["multiValueHeaders"]
    assert headers["x-lower-case"] == "1"
    assert headers["X-Mixed-Case"] == "2"
    assert "x-mixed-case" not in headers
    assert headers["X-Repeated"] == "second"
    assert multi["X-Repeated"] == ["first", "second"]
    assert headers["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"
    assert headers["Host"] == DOMAIN
    assert event["queryStringParameters"] == {"room": "b", "solo": "1"}
    assert event["multiValueQueryStringParameters"] == {"room": ["a", "b"], "solo": ["1"]}
    assert event["requestContext"]["eventType"] == "CONNECT"
