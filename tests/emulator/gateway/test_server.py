"""WebSocketGateway over real sockets (127.0.0.1, free port) with the fake runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from emulator.gateway import core
from emulator.gateway.server import WebSocketGateway
from emulator.management.errors import Gone, PayloadTooLarge

# pytest registers conftest modules under their package path before collecting tests.
from tests.emulator.gateway.conftest import (
    ACCOUNT,
    FUNCTIONS,
    REGION,
    ROUTES,
    STAGE,
    FakeRunner,
    make_api,
)


def make_server(runner: FakeRunner, **options: Any) -> WebSocketGateway:
    api = options.pop("api", None) or make_api()
    options.setdefault("integration_timeout_s", 5)
    options.setdefault("shutdown_timeout_s", 5)
    return WebSocketGateway(
        api, functions=FUNCTIONS, runner=runner, region=REGION, account_id=ACCOUNT, **options
    )


@pytest.fixture
async def server(runner: FakeRunner) -> AsyncIterator[WebSocketGateway]:
    async with make_server(runner) as gw:
        yield gw


async def open_client(
    gw: WebSocketGateway, runner: FakeRunner, user: str = "alice", **options: Any
) -> tuple[ClientConnection, str]:
    """Connect as `user`; return the socket and the gateway's connection id."""
    ws = await connect(f"{gw.url}?token=good-{user}", **options)
    connection_id = runner.events("ConnectFn")[-1]["requestContext"]["connectionId"]
    return ws, connection_id


async def disconnect_of(runner: FakeRunner, connection_id: str) -> dict[str, Any]:
    """Wait for the $disconnect event of one connection and return its requestContext."""
    count = 1
    while True:
        events = await runner.wait_for("DisconnectFn", count)
        for event in events:
            if event["requestContext"]["connectionId"] == connection_id:
                ctx: dict[str, Any] = event["requestContext"]
                return ctx
        count = len(events) + 1


async def expect_close(ws: ClientConnection) -> tuple[int, str]:
    """Wait until the gateway closes the socket; return its close code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            while True:
                await ws.recv()
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


def test_port_is_unknown_before_start(runner: FakeRunner) -> None:
    """Asking for the URL before start() is an error, not a made-up port."""
    gw = make_server(runner)
    with pytest.raises(RuntimeError):
        _ = gw.url


async def test_listens_on_a_free_local_port(server: WebSocketGateway) -> None:
    """Port 0 picks a free port on 127.0.0.1."""
    assert server.port > 0
    assert server.url == f"ws://127.0.0.1:{server.port}/{STAGE}"


# ------------------------------------------------------------------ handshake


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ("", 401, b'{"message": "Unauthorized"}'),
        ("?token=unauthorized", 401, b'{"message": "Unauthorized"}'),
        ("?token=deny", 403, b'{"message": "Forbidden"}'),
        ("?token=crash", 500, b'{"message": "Internal server error"}'),
        ("?token=good-a&raise=1", 502, b'{"message": "Internal server error"}'),
        ("?token=good-a&status=401", 401, b""),
        ("?token=good-a&status=301&body=moved", 301, b"moved"),
        ("?token=good-a&status=599", 599, b""),
    ],
)
async def test_refused_handshakes_never_open(
    server: WebSocketGateway, runner: FakeRunner, query: str, status: int, body: bytes
) -> None:
    """Refusals answer the upgrade with AWS's status; the socket never opens."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.url + query):
            pytest.fail("the socket opened")
    response = info.value.response
    assert (response.status_code, response.body) == (status, body)
    await server.wait_idle()
    assert runner.events("DisconnectFn") == []
    if not query:
        assert runner.events("AuthFn") == []


async def test_wrong_stage_is_forbidden(server: WebSocketGateway, runner: FakeRunner) -> None:
    """Connecting to another stage's path is refused 403."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{server.port}/dev?token=good-a"):
            pytest.fail("the socket opened")
    assert info.value.response.status_code == 403
    assert runner.calls == []


async def test_connect_event_comes_from_the_real_handshake(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """$connect sees the client's headers, query, identity and the API's domain."""
    ws, connection_id = await open_client(
        server, runner, "alice", additional_headers={"X-Trace": "t1"}, user_agent_header="ua/1"
    )
    async with ws:
        [event] = runner.events("ConnectFn")
        assert event["headers"]["Host"] == "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
        assert event["headers"]["X-Trace"] == "t1"
        assert event["headers"]["Sec-WebSocket-Version"] == "13"
        assert event["queryStringParameters"] == {"token": "good-alice"}
        ctx = event["requestContext"]
        assert ctx["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua/1"}
        assert ctx["authorizer"]["userId"] == "alice"
        assert len(connection_id) == 16 and connection_id.endswith("=")
        info = server.get_connection(connection_id)
        assert (info.source_ip, info.user_agent) == ("127.0.0.1", "ua/1")


async def test_no_user_agent_means_no_identity_user_agent(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """identity.userAgent is absent when the client sends none."""
    ws, _ = await open_client(server, runner, user_agent_header=None)
    async with ws:
        assert runner.events("ConnectFn")[0]["requestContext"]["identity"] == {
            "sourceIp": "127.0.0.1"
        }


# ------------------------------------------------------------------ frames to the client


async def test_route_response_comes_back_as_a_text_frame(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """A route with a route response answers on the socket."""
    ws, _ = await open_client(server, runner)
    async with ws:
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == 'echo:{"action": "echo"}'


async def test_forbidden_frame_without_default_route(runner: FakeRunner) -> None:
    """No matching route and no $default: AWS's Forbidden frame; the socket stays open."""
    api = make_api(routes={k: v for k, v in ROUTES.items() if k != "$default"})
    async with make_server(runner, api=api) as gw:
        ws, connection_id = await open_client(gw, runner)
        async with ws:
            await ws.send('{"action": "dance"}')
            frame = await ws.recv()
            assert frame == core.forbidden_frame(connection_id, json.loads(frame)["requestId"])
            await ws.send('{"action": "echo"}')
            assert await ws.recv() == 'echo:{"action": "echo"}'


async def test_handler_error_frame_and_socket_stays_open(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """A failing handler gets the Internal server error frame; the socket stays open."""
    ws, connection_id = await open_client(server, runner)
    async with ws:
        await ws.send('{"action": "boom"}')
        frame = await ws.recv()
        [event] = runner.events("BoomFn")
        request_id = event["requestContext"]["requestId"]
        assert frame == core.internal_error_frame(connection_id, request_id)
        await ws.send('{"action": "echo"}')
        assert await ws.recv() == 'echo:{"action": "echo"}'


async def test_integration_timeout_sends_error_frame(runner: FakeRunner) -> None:
    """A handler slower than the integration timeout gets the error frame."""
    release = asyncio.Event()

    async def slow(event: dict[str, Any]) -> Any:
        await release.wait()
        return {"statusCode": 200, "body": "late"}

    runner.handlers["EchoFn"] = slow
    async with make_server(runner, integration_timeout_s=0.05) as gw:
        ws, _ = await open_client(gw, runner)
        async with ws:
            await ws.send('{"action": "echo"}')
            assert json.loads(await ws.recv())["message"] == "Internal server error"
            release.set()


async def test_one_connections_error_does_not_affect_another(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """An error on one connection leaves the others alone."""
    alice, _ = await open_client(server, runner, "alice")
    bob, _ = await open_client(server, runner, "bob")
    async with alice, bob:
        await alice.send('{"action": "boom"}')
        await bob.send('{"action": "echo"}')
        assert json.loads(await alice.recv())["message"] == "Internal server error"
        assert await bob.recv() == 'echo:{"action": "echo"}'
        await alice.send("x" * (core.MAX_FRAME_BYTES + 1))
        assert await expect_close(alice) == (1009, core.MESSAGE_TOO_BIG.reason)
        await bob.send('{"action": "echo", "n": 2}')
        assert await bob.recv() == 'echo:{"action": "echo", "n": 2}'


async def test_authorizer_context_on_message_and_disconnect(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """MESSAGE and DISCONNECT events carry the authorizer context."""
    ws, connection_id = await open_client(server, runner, "frank")
    await ws.send('{"action": "chat"}')
    [message] = await runner.wait_for("ChatFn")
    assert message["requestContext"]["authorizer"]["userId"] == "frank"
    assert message["requestContext"]["authorizer"]["principalId"] == "frank"
    await ws.close()
    ctx = await disconnect_of(runner, connection_id)
    assert ctx["authorizer"]["userId"] == "frank"
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1000, "")


# ------------------------------------------------------------------ $disconnect


async def test_close_without_status_reports_1005(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """An empty close frame becomes 1005 "Client-side close frame status not set"."""
    ws, connection_id = await open_client(server, runner)
    ws.protocol.send_close()  # a close frame with no status code
    ws.send_data()
    await ws.wait_closed()
    ctx = await disconnect_of(runner, connection_id)
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (
        1005,
        "Client-side close frame status not set",
    )


async def test_client_close_code_is_reported(server: WebSocketGateway, runner: FakeRunner) -> None:
    """The client's own close code and reason reach $disconnect."""
    ws, connection_id = await open_client(server, runner)
    await ws.close(4001, "tab closed")
    ctx = await disconnect_of(runner, connection_id)
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (4001, "tab closed")


async def test_abrupt_drop_reports_1006(server: WebSocketGateway, runner: FakeRunner) -> None:
    """A TCP connection dropped without a close frame reports 1006."""
    ws, connection_id = await open_client(server, runner)
    ws.transport.abort()
    ctx = await disconnect_of(runner, connection_id)
    assert ctx["disconnectStatusCode"] == 1006
    with pytest.raises(Gone):
        await server.post_to_connection(connection_id, b"x")


async def test_idle_timeout_closes_with_1001(runner: FakeRunner) -> None:
    """An idle connection is closed with 1001 "Going away" and $disconnect says so."""
    async with make_server(runner, idle_timeout_s=0.2) as gw:
        ws, connection_id = await open_client(gw, runner)
        assert await expect_close(ws) == (1001, "Going away")
        ctx = await disconnect_of(runner, connection_id)
        assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1001, "Going away")


async def test_aclose_closes_sockets_with_1001(runner: FakeRunner) -> None:
    """Shutting down closes sockets with 1001 and fires $disconnect for each."""
    gw = make_server(runner)
    await gw.start()
    ws, connection_id = await open_client(gw, runner)
    await gw.aclose()
    assert await expect_close(ws) == (1001, "Going away")
    ctx = await disconnect_of(runner, connection_id)
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1001, "Going away")


# ------------------------------------------------------------------ limits


async def test_frame_over_32kb_closes_1009(server: WebSocketGateway, runner: FakeRunner) -> None:
    """A 32 KB frame passes; a bigger one closes with 1009."""
    ws, connection_id = await open_client(server, runner)
    prefix = '{"action": "echo", "pad": "'
    body = prefix + "x" * (core.MAX_FRAME_BYTES - len(prefix) - 2) + '"}'
    assert len(body.encode()) == core.MAX_FRAME_BYTES
    await ws.send(body)
    assert await ws.recv() == "echo:" + body  # > 32 KB back: sent in fragments, reassembled
    await ws.send("x" * (core.MAX_FRAME_BYTES + 1))
    assert await expect_close(ws) == (1009, core.MESSAGE_TOO_BIG.reason)
    ctx = await disconnect_of(runner, connection_id)
    assert ctx["disconnectStatusCode"] == 1009


async def test_message_over_128kb_closes_1009(server: WebSocketGateway, runner: FakeRunner) -> None:
    """Fragments up to 128 KB are reassembled; a longer message closes with 1009."""
    ws, connection_id = await open_client(server, runner)
    chunk = "y" * core.MAX_FRAME_BYTES
    await ws.send([chunk] * 4)
    [event] = await runner.wait_for("DefaultFn")
    assert event["body"] == chunk * 4
    await ws.send([chunk] * 4 + ["z"])
    assert await expect_close(ws) == (1009, core.MESSAGE_TOO_BIG.reason)
    ctx = await disconnect_of(runner, connection_id)
    assert ctx["disconnectStatusCode"] == 1009
    assert len(runner.events("DefaultFn")) == 1


async def test_binary_frame_closes_1003(server: WebSocketGateway, runner: FakeRunner) -> None:
    """A binary frame closes the connection with 1003."""
    ws, connection_id = await open_client(server, runner)
    await ws.send(b"\x00\x01\x02")
    assert await expect_close(ws) == (1003, core.UNSUPPORTED_DATA.reason)
    ctx = await disconnect_of(runner, connection_id)
    assert ctx["disconnectStatusCode"] == 1003


# ------------------------------------------------------------------ @connections


async def test_post_to_connection_delivers_text(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """Posted data arrives as one text message, up to 128 KB."""
    ws, connection_id = await open_client(server, runner)
    async with ws:
        await server.post_to_connection(connection_id, b'{"type": "pong"}')
        assert await ws.recv() == '{"type": "pong"}'
        big = b"b" * core.MAX_POST_BYTES
        await server.post_to_connection(connection_id, big)
        assert await ws.recv() == big.decode()
        with pytest.raises(PayloadTooLarge):
            await server.post_to_connection(connection_id, big + b"!")


async def test_post_from_a_handler_reaches_the_socket(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """A message handler posting to its own connection reaches the client."""

    async def post(event: dict[str, Any]) -> Any:
        me = event["requestContext"]["connectionId"]
        await server.post_to_connection(me, json.dumps({"to": me}).encode())
        return {"statusCode": 200}

    runner.handlers["PostFn"] = post
    ws, connection_id = await open_client(server, runner)
    async with ws:
        await ws.send('{"action": "post"}')
        assert json.loads(await ws.recv()) == {"to": connection_id}


async def test_post_to_unknown_connection_is_gone(server: WebSocketGateway) -> None:
    """An id that never connected is Gone for every operation."""
    with pytest.raises(Gone):
        await server.post_to_connection("AAAAAAAAAAAAAAA=", b"x")
    with pytest.raises(Gone):
        server.get_connection("AAAAAAAAAAAAAAA=")
    with pytest.raises(Gone):
        await server.delete_connection("AAAAAAAAAAAAAAA=")


async def test_post_while_connect_runs_is_gone(
    server: WebSocketGateway, runner: FakeRunner
) -> None:
    """A connection still in $connect does not exist for @connections yet."""
    seen: list[Exception] = []

    async def on_connect(event: dict[str, Any]) -> Any:
        try:
            await server.post_to_connection(event["requestContext"]["connectionId"], b"early")
        except Gone as exc:
            seen.append(exc)
        return {"statusCode": 200}

    runner.handlers["ConnectFn"] = on_connect
    ws, connection_id = await open_client(server, runner)
    async with ws:
        assert len(seen) == 1
        await server.post_to_connection(connection_id, b"now")
        assert await ws.recv() == "now"


async def test_delete_connection_closes_1000(server: WebSocketGateway, runner: FakeRunner) -> None:
    """DeleteConnection closes the socket with 1000 and fires $disconnect."""
    ws, connection_id = await open_client(server, runner, "gina")
    await server.delete_connection(connection_id)
    with pytest.raises(Gone):
        await server.post_to_connection(connection_id, b"x")
    code, _ = await expect_close(ws)
    assert code == 1000
    ctx = await disconnect_of(runner, connection_id)
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (
        1000,
        "Connection Closed Normally",
    )
    assert ctx["authorizer"]["userId"] == "gina"
