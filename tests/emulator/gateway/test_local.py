"""LocalGateway: API Gateway's WebSocket semantics without sockets, over a fake runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulator.clock import FakeClock
from emulator.gateway import core
from emulator.gateway.local import LocalConnection, LocalGateway, Refused
from emulator.management.errors import Gone, PayloadTooLarge

# pytest registers conftest modules under their package path before collecting tests.
from tests.emulator.gateway.conftest import (
    ACCOUNT,
    FUNCTIONS,
    METHOD_ARN,
    REGION,
    ROUTES,
    FakeRunner,
    HandlerTimeout,
    make_api,
)

START = 1_767_225_600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def make_gateway(runner: FakeRunner, clock: FakeClock, **options: Any) -> LocalGateway:
    api = options.pop("api", None) or make_api()
    return LocalGateway(
        api,
        functions=FUNCTIONS,
        runner=runner,
        region=REGION,
        account_id=ACCOUNT,
        clock=clock,
        **options,
    )


@pytest.fixture
async def gateway(runner: FakeRunner, clock: FakeClock) -> AsyncIterator[LocalGateway]:
    async with make_gateway(runner, clock) as gw:
        yield gw


async def connect(gw: LocalGateway, user: str = "alice", **options: Any) -> LocalConnection:
    conn = await gw.connect(query={"token": f"good-{user}"}, **options)
    assert isinstance(conn, LocalConnection)
    return conn


async def settle() -> None:
    """Let woken tasks run (yields to the loop; no wall-clock wait)."""
    for _ in range(20):
        await asyncio.sleep(0)


# ------------------------------------------------------------------ handshake


async def test_connect_runs_authorizer_then_connect(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """A good token is authorized, then $connect sees the authorizer context."""
    conn = await connect(gateway, "alice", headers={"User-Agent": "wscat/6"})
    [auth] = runner.events("AuthFn")
    [connect_event] = runner.events("ConnectFn")
    assert auth["methodArn"] == METHOD_ARN
    assert auth["requestContext"]["connectionId"] == conn.id
    ctx = connect_event["requestContext"]
    assert ctx["connectionId"] == conn.id
    assert ctx["requestId"] == auth["requestContext"]["requestId"]
    assert ctx["authorizer"] == {
        "principalId": "alice",
        "userId": "alice",
        "n": "1",
        "ok": "true",
        "integrationLatency": 3,
    }
    assert ctx["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "wscat/6"}
    assert connect_event["queryStringParameters"] == {"token": "good-alice"}
    assert ctx["connectedAt"] == ctx["requestTimeEpoch"] == int(START * 1000)


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ({}, 401, '{"message": "Unauthorized"}'),
        ({"token": ""}, 401, '{"message": "Unauthorized"}'),
        ({"token": "unauthorized"}, 401, '{"message": "Unauthorized"}'),
        ({"token": "deny"}, 403, '{"message": "Forbidden"}'),
        ({"token": "rest-style"}, 403, '{"message": "Forbidden"}'),
        ({"token": "crash"}, 500, '{"message": "Internal server error"}'),
        ({"token": "timeout"}, 500, '{"message": "Internal server error"}'),
        ({"token": "malformed"}, 500, '{"message": "Internal server error"}'),
        ({"token": "good-a", "status": "401"}, 401, ""),
        ({"token": "good-a", "status": "301", "body": "moved"}, 301, "moved"),
        ({"token": "good-a", "raise": "1"}, 502, '{"message": "Internal server error"}'),
    ],
)
async def test_handshake_refusals(
    gateway: LocalGateway, runner: FakeRunner, query: dict[str, str], status: int, body: str
) -> None:
    """Every refusal has AWS's status; the connection never exists."""
    refused = await gateway.connect(query=query)
    assert refused == Refused(status, body)
    if not query.get("token"):
        assert runner.events("AuthFn") == []  # missing identity source: not invoked
    assert runner.events("DisconnectFn") == []


async def test_wrong_stage_path_is_forbidden(gateway: LocalGateway, runner: FakeRunner) -> None:
    """A path other than /{stage} is refused 403 before anything runs."""
    assert await gateway.connect(path="/dev", query={"token": "good-a"}) == Refused(
        403, '{"message": "Forbidden"}'
    )
    assert runner.calls == []


async def test_authorizer_integration_timeout_is_500(runner: FakeRunner, clock: FakeClock) -> None:
    """An authorizer that outlives the integration timeout refuses with 500."""
    release = asyncio.Event()

    async def hang(event: dict[str, Any]) -> Any:
        await release.wait()
        return None

    runner.handlers["AuthFn"] = hang
    async with make_gateway(runner, clock, integration_timeout_s=0.01) as gw:
        assert await gw.connect(query={"token": "x"}) == Refused(
            500, '{"message": "Internal server error"}'
        )
        release.set()


# ------------------------------------------------------------------ messages


async def test_route_response_is_sent_back(gateway: LocalGateway) -> None:
    """A route with a route response sends the integration's body back."""
    conn = await connect(gateway)
    await gateway.message(conn.id, '{"action": "echo"}')
    assert gateway.drain(conn.id) == ['echo:{"action": "echo"}']


async def test_results_without_route_response_are_discarded(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """Without a route response the integration's return value goes nowhere."""
    conn = await connect(gateway)
    await gateway.message(conn.id, '{"action": "chat"}')
    await gateway.message(conn.id, '{"action": "dance"}')
    assert gateway.drain(conn.id) == []
    assert [e["requestContext"]["routeKey"] for e in runner.events("ChatFn")] == ["chat"]
    assert [e["requestContext"]["routeKey"] for e in runner.events("DefaultFn")] == ["$default"]


async def test_message_events_carry_the_authorizer_context(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """MESSAGE events carry the connection's authorizer context and fresh ids."""
    conn = await connect(gateway, "bob")
    await gateway.message(conn.id, '{"action": "chat", "text": "hi"}')
    [event] = runner.events("ChatFn")
    ctx = event["requestContext"]
    assert event["body"] == '{"action": "chat", "text": "hi"}'
    assert event["isBase64Encoded"] is False
    assert ctx["eventType"] == "MESSAGE"
    assert ctx["authorizer"]["principalId"] == "bob"
    assert ctx["authorizer"]["userId"] == "bob"
    assert ctx["connectionId"] == conn.id
    assert ctx["messageId"] != ctx["requestId"]
    assert "headers" not in event


async def test_unroutable_message_gets_forbidden_frame(
    runner: FakeRunner, clock: FakeClock
) -> None:
    """Without $default an unknown action gets AWS's Forbidden frame; the socket stays."""
    api = make_api(routes={k: v for k, v in ROUTES.items() if k != "$default"})
    async with make_gateway(runner, clock, api=api) as gw:
        conn = await connect(gw)
        await gw.message(conn.id, '{"action": "dance"}')
        [frame] = gw.drain(conn.id)
        assert frame == core.forbidden_frame(conn.id, json.loads(frame)["requestId"])
        await gw.message(conn.id, '{"action": "echo"}')
        assert gw.drain(conn.id) == ['echo:{"action": "echo"}']


async def test_handler_error_gets_internal_server_error_frame(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """A raising handler gives the error frame named by the message's requestId."""
    conn = await connect(gateway)
    await gateway.message(conn.id, '{"action": "boom"}')
    [event] = runner.events("BoomFn")
    request_id = event["requestContext"]["requestId"]
    assert gateway.drain(conn.id) == [core.internal_error_frame(conn.id, request_id)]
    await gateway.message(conn.id, '{"action": "echo"}')
    assert gateway.drain(conn.id) == ['echo:{"action": "echo"}']
    assert gateway.close_status(conn.id) is None


async def test_function_timeout_gets_internal_server_error_frame(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """A Lambda timeout is a function error: same frame."""

    def timeout(event: dict[str, Any]) -> Any:
        raise HandlerTimeout()

    runner.handlers["ChatFn"] = timeout
    conn = await connect(gateway)
    await gateway.message(conn.id, '{"action": "chat"}')
    [frame] = gateway.drain(conn.id)
    assert json.loads(frame)["message"] == "Internal server error"


async def test_integration_timeout_answers_while_the_lambda_keeps_running(
    runner: FakeRunner, clock: FakeClock
) -> None:
    """Past the integration timeout the client gets the error frame; the invoke goes on."""
    release = asyncio.Event()
    finished = asyncio.Event()

    async def slow(event: dict[str, Any]) -> Any:
        await release.wait()
        finished.set()
        return {"statusCode": 200}

    runner.handlers["ChatFn"] = slow
    async with make_gateway(runner, clock, integration_timeout_s=0.01) as gw:
        conn = await connect(gw)
        await gw.message(conn.id, '{"action": "chat"}')
        [frame] = gw.drain(conn.id)
        assert json.loads(frame)["message"] == "Internal server error"
        assert not finished.is_set()
        release.set()
        await gw.wait_idle()
        assert finished.is_set()


async def test_messages_do_not_wait_for_each_other(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """A slow invocation does not hold back the next message of the same connection."""
    release = asyncio.Event()

    async def slow(event: dict[str, Any]) -> Any:
        await release.wait()
        return {"statusCode": 200, "body": "slow"}

    runner.handlers["EchoFn"] = slow
    conn = await connect(gateway)
    pending = asyncio.create_task(gateway.message(conn.id, '{"action": "echo"}'))
    await runner.wait_for("EchoFn")
    await gateway.message(conn.id, '{"action": "boom"}')
    assert json.loads(gateway.drain(conn.id)[0])["message"] == "Internal server error"
    assert not pending.done()
    release.set()
    await pending
    assert gateway.drain(conn.id) == ["slow"]


async def test_in_flight_messages_are_bounded_per_connection(
    runner: FakeRunner, clock: FakeClock
) -> None:
    """With one message in flight allowed, the next waits instead of invoking."""
    release = asyncio.Event()

    async def slow(event: dict[str, Any]) -> Any:
        await release.wait()
        return None

    runner.handlers["ChatFn"] = slow
    async with make_gateway(runner, clock, max_inflight_per_connection=1) as gw:
        conn = await connect(gw)
        first = asyncio.create_task(gw.message(conn.id, '{"action": "chat"}'))
        await runner.wait_for("ChatFn")
        second = asyncio.create_task(gw.message(conn.id, '{"action": "chat"}'))
        await settle()
        assert len(runner.events("ChatFn")) == 1
        release.set()
        await asyncio.gather(first, second)
        assert len(runner.events("ChatFn")) == 2


async def test_one_connections_error_does_not_affect_another(gateway: LocalGateway) -> None:
    """An error frame goes only to the connection whose message failed."""
    alice = await connect(gateway, "alice")
    bob = await connect(gateway, "bob")
    await gateway.message(alice.id, '{"action": "boom"}')
    await gateway.message(bob.id, '{"action": "echo"}')
    assert len(gateway.drain(alice.id)) == 1
    assert gateway.drain(bob.id) == ['echo:{"action": "echo"}']


# ------------------------------------------------------------------ limits


async def test_frame_over_32kb_closes_1009(gateway: LocalGateway, runner: FakeRunner) -> None:
    """A single frame over 32 KB closes the connection with 1009; $disconnect follows."""
    conn = await connect(gateway)
    await gateway.message(conn.id, "x" * core.MAX_FRAME_BYTES)  # exactly 32 KB is fine
    assert gateway.close_status(conn.id) is None
    await gateway.message(conn.id, "x" * (core.MAX_FRAME_BYTES + 1))
    assert gateway.close_status(conn.id) == core.MESSAGE_TOO_BIG
    [event] = runner.events("DisconnectFn")
    assert event["requestContext"]["disconnectStatusCode"] == 1009
    assert len(runner.events("DefaultFn")) == 1


async def test_reassembled_message_over_128kb_closes_1009(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """Fragments may add up to 128 KB; one byte more closes with 1009."""
    conn = await connect(gateway)
    chunk = "y" * core.MAX_FRAME_BYTES
    await gateway.message_fragments(conn.id, [chunk] * 4)
    [event] = runner.events("DefaultFn")
    assert len(event["body"]) == core.MAX_MESSAGE_BYTES
    await gateway.message_fragments(conn.id, [chunk] * 4 + ["z"])
    assert gateway.close_status(conn.id) == core.MESSAGE_TOO_BIG
    assert len(runner.events("DefaultFn")) == 1


async def test_binary_frame_closes_1003(gateway: LocalGateway, runner: FakeRunner) -> None:
    """A binary frame from the client closes the connection with 1003."""
    conn = await connect(gateway)
    await gateway.message(conn.id, b"\x00\x01")
    assert gateway.close_status(conn.id) == core.UNSUPPORTED_DATA
    [event] = runner.events("DisconnectFn")
    assert event["requestContext"]["disconnectStatusCode"] == 1003
    with pytest.raises(ConnectionError):
        await gateway.message(conn.id, "{}")


# ------------------------------------------------------------------ $disconnect


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (1000, "", (1000, "")),
        (1001, "", (1001, "")),
        (4000, "bye", (4000, "bye")),
        (None, "", (1005, "Client-side close frame status not set")),
    ],
)
async def test_client_close_fires_disconnect(
    gateway: LocalGateway,
    runner: FakeRunner,
    code: int | None,
    reason: str,
    expected: tuple[int, str],
) -> None:
    """$disconnect reports the client's code, 1005 with AWS's text when there was none."""
    conn = await connect(gateway, "carol")
    await gateway.disconnect(conn.id, code=code, reason=reason)
    [event] = runner.events("DisconnectFn")
    ctx = event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == expected
    assert ctx["authorizer"]["userId"] == "carol"
    assert ctx["connectionId"] == conn.id
    assert event["headers"]["x-restapi"] == ""


async def test_abrupt_drop_fires_disconnect_1006(gateway: LocalGateway, runner: FakeRunner) -> None:
    """A dropped TCP connection (no close frame) reports 1006."""
    conn = await connect(gateway)
    await gateway.drop(conn.id)
    [event] = runner.events("DisconnectFn")
    assert event["requestContext"]["disconnectStatusCode"] == 1006


async def test_disconnect_handler_failure_is_ignored(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """$disconnect is best effort: a raising handler changes nothing."""

    def broken(event: dict[str, Any]) -> Any:
        raise RuntimeError("nope")

    runner.handlers["DisconnectFn"] = broken
    alice = await connect(gateway)
    await gateway.disconnect(alice.id)
    bob = await connect(gateway, "bob")
    await gateway.message(bob.id, '{"action": "echo"}')
    assert gateway.drain(bob.id) == ['echo:{"action": "echo"}']


async def test_idle_timeout_closes_with_1001(
    gateway: LocalGateway, runner: FakeRunner, clock: FakeClock
) -> None:
    """Ten idle minutes close the connection with 1001 "Going away"."""
    conn = await connect(gateway)
    clock.advance(599)
    await settle()
    assert gateway.close_status(conn.id) is None
    clock.advance(2)
    [event] = await runner.wait_for("DisconnectFn")
    assert gateway.close_status(conn.id) == core.CloseWith(1001, "Going away")
    ctx = event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1001, "Going away")


async def test_client_messages_reset_the_idle_timer(
    gateway: LocalGateway, runner: FakeRunner, clock: FakeClock
) -> None:
    """A message restarts the idle countdown."""
    conn = await connect(gateway)
    clock.advance(500)
    await gateway.message(conn.id, '{"action": "chat"}')
    clock.advance(200)  # 700 s after connect, 200 s after the message
    await settle()
    assert gateway.close_status(conn.id) is None
    assert gateway.get_connection(conn.id).last_active_at_ms == int((START + 500) * 1000)
    clock.advance(401)
    await runner.wait_for("DisconnectFn")
    assert gateway.close_status(conn.id) == core.GOING_AWAY


async def test_maximum_duration_closes_even_busy_connections(
    runner: FakeRunner, clock: FakeClock
) -> None:
    """The duration limit ends a connection however active it is."""
    async with make_gateway(runner, clock, idle_timeout_s=60, max_duration_s=100) as gw:
        conn = await connect(gw)
        for _ in range(3):
            clock.advance(40)
            await gw.message(conn.id, '{"action": "chat"}')
        await runner.wait_for("DisconnectFn")
        assert gw.close_status(conn.id) == core.GOING_AWAY


async def test_aclose_says_going_away_to_everyone(runner: FakeRunner, clock: FakeClock) -> None:
    """Shutting down closes every connection with 1001 and fires $disconnect for each."""
    gw = make_gateway(runner, clock)
    alice = await connect(gw, "alice")
    bob = await connect(gw, "bob")
    await gw.aclose()
    assert gw.close_status(alice.id) == gw.close_status(bob.id) == core.GOING_AWAY
    assert len(runner.events("DisconnectFn")) == 2
    refused = await gw.connect(query={"token": "good-late"})
    assert isinstance(refused, Refused)
    assert refused.status == 503


# ------------------------------------------------------------------ @connections


async def test_handler_posts_land_in_drain(gateway: LocalGateway, runner: FakeRunner) -> None:
    """A handler posting through the ConnectionPort reaches the connection."""

    async def post(event: dict[str, Any]) -> Any:
        me = event["requestContext"]["connectionId"]
        await gateway.post_to_connection(me, b'{"type": "pong"}')
        return {"statusCode": 200}

    runner.handlers["PostFn"] = post
    conn = await connect(gateway)
    await gateway.message(conn.id, '{"action": "post"}')
    assert gateway.drain(conn.id) == ['{"type": "pong"}']


async def test_post_to_unknown_or_closed_connection_is_gone(gateway: LocalGateway) -> None:
    """Posting to an id that never existed, or has closed, raises Gone."""
    with pytest.raises(Gone):
        await gateway.post_to_connection("AAAAAAAAAAAAAAA=", b"x")
    conn = await connect(gateway)
    await gateway.disconnect(conn.id)
    with pytest.raises(Gone):
        await gateway.post_to_connection(conn.id, b"x")
    with pytest.raises(Gone):
        gateway.get_connection(conn.id)
    with pytest.raises(Gone):
        await gateway.delete_connection(conn.id)


async def test_post_during_connect_is_gone(gateway: LocalGateway, runner: FakeRunner) -> None:
    """A connection id exists for @connections only after $connect returned 2xx."""
    seen: list[BaseException] = []

    async def on_connect(event: dict[str, Any]) -> Any:
        me = event["requestContext"]["connectionId"]
        for attempt in (
            gateway.post_to_connection(me, b"early"),
            gateway.delete_connection(me),
        ):
            try:
                await attempt
            except Gone as exc:
                seen.append(exc)
        try:
            gateway.get_connection(me)
        except Gone as exc:
            seen.append(exc)
        return {"statusCode": 200}

    runner.handlers["ConnectFn"] = on_connect
    conn = await connect(gateway)
    assert len(seen) == 3
    assert gateway.drain(conn.id) == []
    await gateway.post_to_connection(conn.id, b"now")
    assert gateway.drain(conn.id) == ["now"]


async def test_post_size_limit(gateway: LocalGateway) -> None:
    """128 KB posts are delivered; one byte more raises PayloadTooLarge."""
    conn = await connect(gateway)
    await gateway.post_to_connection(conn.id, b"a" * core.MAX_POST_BYTES)
    assert [len(f) for f in gateway.drain(conn.id)] == [core.MAX_POST_BYTES]
    with pytest.raises(PayloadTooLarge):
        await gateway.post_to_connection(conn.id, b"a" * (core.MAX_POST_BYTES + 1))


async def test_get_connection_describes_the_connection(gateway: LocalGateway) -> None:
    """GetConnection returns connect time, last activity and identity."""
    conn = await connect(gateway, headers={"User-Agent": "test/1"}, source_ip="203.0.113.9")
    info = gateway.get_connection(conn.id)
    assert info.connected_at_ms == info.last_active_at_ms == int(START * 1000)
    assert (info.source_ip, info.user_agent) == ("203.0.113.9", "test/1")


async def test_delete_connection_closes_1000_and_fires_disconnect(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """DeleteConnection closes with 1000 and $disconnect says "Connection Closed Normally"."""
    conn = await connect(gateway, "dave")
    await gateway.delete_connection(conn.id)
    [event] = await runner.wait_for("DisconnectFn")
    ctx = event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (
        1000,
        "Connection Closed Normally",
    )
    assert ctx["authorizer"]["userId"] == "dave"
    assert gateway.close_status(conn.id) == core.DELETED
    with pytest.raises(Gone):
        await gateway.post_to_connection(conn.id, b"x")


async def test_client_leaving_during_connect_still_gets_disconnect(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """If the transport ends while $connect runs, a successful $connect is undone by
    $disconnect."""
    release = asyncio.Event()

    async def slow_connect(event: dict[str, Any]) -> Any:
        await release.wait()
        return {"statusCode": 200}

    runner.handlers["ConnectFn"] = slow_connect
    pending = asyncio.create_task(gateway.connect(query={"token": "good-eve"}))
    [connect_event] = await runner.wait_for("ConnectFn")
    conn_id = connect_event["requestContext"]["connectionId"]
    gateway.transport_closed(conn_id, core.ABNORMAL)
    release.set()
    assert isinstance(await pending, Refused)
    [event] = await runner.wait_for("DisconnectFn")
    assert event["requestContext"]["connectionId"] == conn_id
    assert event["requestContext"]["disconnectStatusCode"] == 1006


def test_routes_must_reference_known_functions(runner: FakeRunner, clock: FakeClock) -> None:
    """A route pointing at a missing function fails at construction."""
    with pytest.raises(ValueError, match="NoSuchFn"):
        LocalGateway(
            make_api(routes={**ROUTES, "x": ROUTES["chat"].__class__("x", "NoSuchFn")}),
            functions=FUNCTIONS,
            runner=runner,
            region=REGION,
            account_id=ACCOUNT,
            clock=clock,
        )
