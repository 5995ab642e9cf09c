"""gone-window and drop-disconnect on the real WebSocket gateway (sockets, fake runner).

The gone window runs on a FakeClock the test moves: what is asserted is which calls
are refused before the window ends and which succeed after, never durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from emulator.clock import FakeClock
from emulator.faults.gateway import GatewayFaults
from emulator.faults.record import FaultLog, rng_for
from emulator.gateway.server import WebSocketGateway
from emulator.management.errors import Gone
from tests.emulator.gateway.conftest import ACCOUNT, FUNCTIONS, REGION, FakeRunner, make_api


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log() -> FaultLog:
    return FaultLog()


async def until(predicate: Callable[[], bool]) -> None:
    """Wait until `predicate()` holds: the gateway's state, which no event announces."""
    async with asyncio.timeout(10):  # a hang guard, not a timing assertion
        while not predicate():  # noqa: ASYNC110 - nothing to wait on but the state itself
            await asyncio.sleep(0.01)


async def opened(url: str) -> Any:
    """The client connection once the handshake completes (a task can wait on this)."""
    return await connect(url)


async def serve(
    runner: FakeRunner, clock: FakeClock, faults: GatewayFaults
) -> AsyncIterator[WebSocketGateway]:
    gateway = WebSocketGateway(
        make_api(),
        functions=FUNCTIONS,
        runner=runner,
        region=REGION,
        account_id=ACCOUNT,
        clock=clock,
        integration_timeout_s=5,
        shutdown_timeout_s=5,
    )
    gateway.engine.faults = faults
    async with gateway:
        yield gateway


@pytest.fixture
async def windowed(
    runner: FakeRunner, clock: FakeClock, log: FaultLog
) -> AsyncIterator[WebSocketGateway]:
    faults = GatewayFaults(log, gone_window_s=2.0, drop_disconnect=None, rng=rng_for(1, "d"))
    async for gateway in serve(runner, clock, faults):
        yield gateway


@pytest.fixture
async def dropping(
    runner: FakeRunner, clock: FakeClock, log: FaultLog
) -> AsyncIterator[WebSocketGateway]:
    faults = GatewayFaults(log, gone_window_s=None, drop_disconnect=1.0, rng=rng_for(1, "d"))
    async for gateway in serve(runner, clock, faults):
        yield gateway


async def test_a_new_connection_is_gone_until_its_window_ends(
    windowed: WebSocketGateway, runner: FakeRunner, clock: FakeClock, log: FaultLog
) -> None:
    opening = asyncio.create_task(opened(f"{windowed.url}?token=good-bob"))
    [event] = await runner.wait_for("ConnectFn")
    connection_id = event["requestContext"]["connectionId"]
    faults = windowed.engine.faults
    assert faults is not None
    await until(lambda: connection_id in faults.held)
    # $connect has returned; the handshake is held, as on AWS before it completes.
    with pytest.raises(Gone):
        await windowed.post_to_connection(connection_id, b'{"type":"invite"}')
    with pytest.raises(Gone):
        windowed.get_connection(connection_id)
    assert not opening.done()
    assert log.counts["gone-window"] == 2
    clock.advance(1.0)
    await asyncio.sleep(0)
    with pytest.raises(Gone):
        await windowed.post_to_connection(connection_id, b"still early")
    clock.advance(1.0)
    async with await opening as ws:
        await windowed.post_to_connection(connection_id, b"welcome")
        assert await ws.recv() == "welcome"
    assert log.counts["gone-window"] == 3


async def test_a_client_that_leaves_during_the_window_still_gets_its_disconnect(
    windowed: WebSocketGateway, runner: FakeRunner, clock: FakeClock
) -> None:
    opening = asyncio.create_task(opened(f"{windowed.url}?token=good-bob"))
    [event] = await runner.wait_for("ConnectFn")
    opening.cancel()
    await asyncio.gather(opening, return_exceptions=True)
    clock.advance(2.0)
    [gone] = await runner.wait_for("DisconnectFn")
    assert gone["requestContext"]["connectionId"] == event["requestContext"]["connectionId"]


async def test_dropped_disconnects_never_run_and_are_recorded(
    dropping: WebSocketGateway, runner: FakeRunner, log: FaultLog
) -> None:
    faults = dropping.engine.faults
    assert faults is not None
    async with connect(f"{dropping.url}?token=good-alice") as ws:
        [event] = await runner.wait_for("ConnectFn")
        await dropping.post_to_connection(event["requestContext"]["connectionId"], b"hi")
        assert await ws.recv() == "hi"
    connection_id = event["requestContext"]["connectionId"]
    await until(lambda: connection_id in faults.disconnects)
    assert faults.disconnects[connection_id] == "dropped"
    assert log.counts["drop-disconnect"] == 1
    await dropping.wait_idle()
    assert runner.events("DisconnectFn") == []
    with pytest.raises(Gone):
        await dropping.post_to_connection(connection_id, b"late")


async def test_without_drops_every_close_runs_disconnect_and_is_recorded(
    runner: FakeRunner, clock: FakeClock, log: FaultLog
) -> None:
    faults = GatewayFaults(log, gone_window_s=None, drop_disconnect=None, rng=rng_for(1, "d"))
    async for gateway in serve(runner, clock, faults):
        async with connect(f"{gateway.url}?token=good-carol"):
            [event] = await runner.wait_for("ConnectFn")
        await runner.wait_for("DisconnectFn")
        assert faults.disconnects[event["requestContext"]["connectionId"]] == "ran"
    assert log.counts == {}
