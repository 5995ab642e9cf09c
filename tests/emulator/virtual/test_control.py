"""The clock control API over HTTP (control.py), on a real aiohttp server.

The advancer behind it is the real one over a fake stack (test_advancer.FakeProbe): the
API's job is the wire format, the errors, and the wait protocol's connection counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from emulator.clock import SYSTEM_CLOCK
from emulator.timesync import ClockFile
from emulator.virtual.advancer import Advancer
from emulator.virtual.clock import VirtualClock
from emulator.virtual.control import ClockApi, parse_iso
from emulator.virtual.peers import PeerFrames


@dataclass
class Probe:
    peers: dict[int, PeerFrames]

    def not_quiet(self) -> str | None:
        return None

    def peer(self, port: int) -> PeerFrames | None:
        return self.peers.get(port)

    async def next_due(self) -> float | None:
        return None

    async def synced(self) -> None:
        return None


@dataclass
class Served:
    url: str
    clock: VirtualClock
    probe: Probe


async def serve(api: ClockApi) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/_duelctl/clock"


@pytest.fixture
async def virtual(tmp_path: Path) -> AsyncIterator[Served]:
    file = ClockFile(tmp_path / "offset")
    clock = VirtualClock(file)
    probe = Probe({})
    advancer = Advancer(clock, probe, tick_s=0.001)
    task = asyncio.create_task(advancer.run())
    runner, url = await serve(ClockApi(clock, advancer))
    try:
        yield Served(url, clock, probe)
    finally:
        await runner.cleanup()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        file.close()


async def test_state_advance_set_and_backwards(virtual: Served) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(virtual.url) as response:
            state = await response.json()
        assert state["mode"] == "virtual" and state["offset_s"] == 0
        assert abs(parse_iso(state["now"]) * 1000 - state["now_ms"]) < 2
        async with http.post(virtual.url + "/advance", json={"seconds": 90}) as response:
            assert response.status == 200
            assert (await response.json())["offset_s"] >= 89
        target = "2100-01-01T00:00:00Z"
        async with http.post(virtual.url + "/set", json={"time": target}) as response:
            assert response.status == 200
            assert (await response.json())["now"].startswith("2100-01-01T00:00:00")
        for path, body in (("/advance", {"seconds": -1}), ("/set", {"time": "2001-01-01"})):
            async with http.post(virtual.url + path, json=body) as response:
                assert response.status == 400
                assert "only moves forward" in (await response.json())["message"]
        async with http.post(virtual.url + "/set", json={"time": "soon"}) as response:
            assert response.status == 400
        assert virtual.clock.now() >= parse_iso(target)


async def test_a_client_waits_for_frames_or_its_deadline(virtual: Served) -> None:
    """The wait protocol: register, wait (frames end it; the stack's counts come back),
    wait again (the deadline ends it, time jumped), unregister."""
    peer = virtual.probe.peers[40000] = PeerFrames(received=1, sent=1)
    async with aiohttp.ClientSession() as http:
        async with http.post(virtual.url + "/clients", json={"name": "t"}) as response:
            assert response.status == 201
            client = (await response.json())["client"]
        wait_url = f"{virtual.url}/clients/{client}/wait"
        until_ms = int((virtual.clock.now() + 600) * 1000)
        conns = [{"port": 40000, "sent": 1, "received": 1, "open": True}]

        async def wait() -> dict[str, object]:
            body = {"until_ms": until_ms, "connections": conns}
            async with http.post(wait_url, json=body) as response:
                assert response.status == 200
                reply: dict[str, object] = await response.json()
                return reply

        peer.sent = 2  # the stack sent a frame the client has not read yet
        reply = await wait()
        assert reply["reason"] == "frames"
        assert reply["connections"] == [
            {"port": 40000, "frames_to_client": 2, "frames_from_client": 1, "open": True}
        ]
        assert virtual.clock.offset == 0  # never past an unread frame
        conns[0]["received"] = 2
        reply = await wait()
        assert reply["reason"] == "deadline" and int(str(reply["now_ms"])) >= until_ms
        async with http.delete(f"{virtual.url}/clients/{client}") as response:
            assert response.status == 204
        async with http.post(wait_url, json={"until_ms": until_ms}) as response:
            assert response.status == 404


async def test_a_real_clock_can_be_read_not_moved() -> None:
    runner, url = await serve(ClockApi(SYSTEM_CLOCK))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert (await response.json())["mode"] == "real"
            async with http.post(url + "/advance", json={"seconds": 5}) as response:
                assert response.status == 409
                assert "real clock" in (await response.json())["message"]
            async with http.get(url + "/nope") as response:
                assert response.status == 404
    finally:
        await runner.cleanup()
