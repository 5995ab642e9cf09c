"""The advancer decides when virtual time jumps and where to: against a fake stack.

The clock, its file, the activity counters and the advancer are the real ones; the
gateway and moto are replaced by `FakeProbe` (frame counts per port, moto's next due
time) and invocations by `FakeRunner`, whose invokes stay in flight until released.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.timesync import ClockFile
from emulator.virtual.activity import Activity
from emulator.virtual.advancer import Advancer, Backwards, DueUnknown
from emulator.virtual.clock import VirtualClock
from emulator.virtual.peers import ClientConnection, PeerFrames


@dataclass
class FakeProbe:
    peers: dict[int, PeerFrames] = field(default_factory=dict)
    due: float | None = None
    moto_down: bool = False
    gateway_tasks: int = 0
    syncs: int = 0

    def not_quiet(self) -> str | None:
        return f"{self.gateway_tasks} gateway task(s)" if self.gateway_tasks else None

    def peer(self, port: int) -> PeerFrames | None:
        return self.peers.get(port)

    async def next_due(self) -> float | None:
        if self.moto_down:
            raise DueUnknown("moto")
        return self.due

    async def synced(self) -> None:
        self.syncs += 1


class FakeRunner:
    """Invokes that stay in flight (counted like runtime._RunnerRef) until released."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self.release = asyncio.Event()
        self.seen_at: list[float] = []

    async def invoke(self, clock: VirtualClock) -> None:
        with self.activity.invocation():
            self.seen_at.append(clock.now())
            await self.release.wait()
            self.seen_at.append(clock.now())


@dataclass
class Stack:
    clock: VirtualClock
    probe: FakeProbe
    advancer: Advancer
    file: ClockFile


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    file = ClockFile(tmp_path / "offset")
    clock = VirtualClock(file, Activity())
    probe = FakeProbe()
    advancer = Advancer(clock, probe, tick_s=0.001)
    task = asyncio.create_task(advancer.run())
    try:
        yield Stack(clock, probe, advancer, file)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        file.close()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.002)


async def test_a_waiting_client_gets_its_deadline_at_once(stack: Stack) -> None:
    """Quiet stack, one client waiting 600 s: the clock jumps there; the file follows."""
    client = stack.advancer.register("test")
    start = stack.clock.now()
    reason = await asyncio.wait_for(stack.advancer.wait(client, until=start + 600), timeout=5)
    assert reason == "deadline"
    assert stack.clock.now() >= start + 600
    assert stack.file.offset == pytest.approx(stack.clock.offset)
    assert stack.clock.offset >= 599
    assert stack.probe.syncs >= 1


async def test_no_jump_while_a_registered_client_holds(stack: Stack) -> None:
    """A second client between steps (registered, not waiting) freezes the clock."""
    holder = stack.advancer.register("holder")
    waiter = stack.advancer.register("waiter")
    wait = asyncio.create_task(stack.advancer.wait(waiter, until=stack.clock.now() + 60))
    await settle()
    assert not wait.done()
    assert stack.clock.offset == 0
    assert "between steps" in (stack.advancer.not_quiet() or "")
    stack.advancer.unregister(holder)
    assert await asyncio.wait_for(wait, 5) == "deadline"
    assert stack.clock.offset >= 59


async def test_no_jump_under_an_invocation_in_flight(stack: Stack) -> None:
    """Work in flight never sees time jump under it; the jump follows its end."""
    runner = FakeRunner(stack.clock.activity)
    invoke = asyncio.create_task(runner.invoke(stack.clock))
    await settle()
    client = stack.advancer.register()
    wait = asyncio.create_task(stack.advancer.wait(client, until=stack.clock.now() + 30))
    await settle()
    assert not wait.done() and stack.clock.offset == 0
    runner.release.set()
    await invoke
    assert runner.seen_at[1] - runner.seen_at[0] < 1  # the invoke saw real time only
    assert await asyncio.wait_for(wait, 5) == "deadline"
    assert stack.clock.offset >= 29


async def test_jumps_to_what_moto_has_due_first_then_waits_for_pollers(stack: Stack) -> None:
    """A due SQS message before the deadline is a stop on the way; after the jump every
    poller must look again before the clock moves on."""
    activity = stack.clock.activity
    poller = activity.poller("sqs Timer")
    poller.caught_up(poller.look())
    start = stack.clock.now()
    stack.probe.due = start + 60
    client = stack.advancer.register()
    wait = asyncio.create_task(stack.advancer.wait(client, until=start + 600))
    await settle()
    # It stopped just past the message's due time: the poller has not looked since.
    assert stack.clock.now() == pytest.approx(start + 60, abs=0.5)
    assert not poller.is_caught_up
    assert not wait.done()
    stack.probe.due = None  # the poller received it and the handler deleted it
    poller.caught_up(poller.look())
    assert await asyncio.wait_for(wait, 5) == "deadline"
    assert stack.clock.now() >= start + 600


async def test_something_due_by_real_time_makes_the_pollers_look_again(stack: Stack) -> None:
    """A due time that passed after the pollers last looked blocks the jump and pokes them."""
    activity = stack.clock.activity
    poller = activity.poller("stream")
    poller.caught_up(poller.look())
    stack.probe.due = stack.clock.now() + 0.05
    await asyncio.sleep(0.1)  # real time carries the clock past it
    client = stack.advancer.register()
    pokes = activity.pokes
    wait = asyncio.create_task(stack.advancer.wait(client, until=stack.clock.now() + 60))
    await settle()
    assert not wait.done() and stack.clock.offset == 0
    assert activity.pokes > pokes
    poller.caught_up(poller.look())  # it looked: nothing left to do
    assert await asyncio.wait_for(wait, 5) == "deadline"


async def test_frames_in_flight_block_the_jump_and_end_the_wait(stack: Stack) -> None:
    """The stack never jumps while a frame is in flight on a waiting client's connection,
    either way, and a wait returns as soon as the stack sent something."""
    peer = stack.probe.peers[50000] = PeerFrames(received=1, sent=1)
    client = stack.advancer.register()
    until = stack.clock.now() + 60
    # The client sent 2 frames; the gateway has read 1: no jump, no return.
    sent_two = ClientConnection(port=50000, sent=2, received=1)
    wait = asyncio.create_task(stack.advancer.wait(client, until=until, connections=[sent_two]))
    await settle()
    assert not wait.done() and stack.clock.offset == 0
    peer.received = 2
    peer.sent = 2  # ... and its handler answered
    assert await asyncio.wait_for(wait, 5) == "frames"
    assert stack.clock.offset == 0
    # Caught up both ways: time moves to the deadline.
    read_all = ClientConnection(port=50000, sent=2, received=2)
    reason = await stack.advancer.wait(client, until=until, connections=[read_all])
    assert reason == "deadline"
    # The server closing the connection is news as well.
    peer.open = False
    reason = await stack.advancer.wait(client, until=until + 60, connections=[read_all])
    assert reason == "frames"


async def test_gateway_tasks_and_overdue_timers_block_the_jump(stack: Stack) -> None:
    stack.probe.gateway_tasks = 1
    client = stack.advancer.register()
    wait = asyncio.create_task(stack.advancer.wait(client, until=stack.clock.now() + 10))
    await settle()
    assert not wait.done()
    stack.probe.gateway_tasks = 0
    assert await asyncio.wait_for(wait, 5) == "deadline"


async def test_sleepers_wake_on_a_jump_and_are_stops_on_the_way(stack: Stack) -> None:
    """An idle-connection timer (a clock sleeper) at +600 s fires at +600 s when a manual
    advance of an hour passes it, before the clock goes on."""
    start = stack.clock.now()
    woke_at: list[float] = []

    async def watchdog() -> None:
        await stack.clock.sleep_until(start + 600)
        woke_at.append(stack.clock.now())

    sleeper = asyncio.create_task(watchdog())
    await settle()
    assert stack.clock.next_sleeper() == start + 600
    assert await asyncio.wait_for(stack.advancer.advance_to(start + 3600), 5)
    await sleeper
    assert woke_at[0] == pytest.approx(start + 600, abs=0.5)
    assert stack.clock.now() >= start + 3600
    assert stack.advancer.jumps >= 2


async def test_time_never_moves_backwards(stack: Stack) -> None:
    now = stack.clock.now()
    with pytest.raises(Backwards):
        await stack.advancer.advance_to(now - 10)
    assert stack.clock.jump_to(now - 10) == 0
    assert stack.clock.offset == 0


async def test_a_silent_client_loses_its_lease(tmp_path: Path) -> None:
    """A client that registered and died does not freeze the stack forever."""
    file = ClockFile(tmp_path / "offset")
    clock = VirtualClock(file)
    advancer = Advancer(clock, FakeProbe(), tick_s=0.001, lease_s=0.05)
    task = asyncio.create_task(advancer.run())
    try:
        advancer.register("crashed")
        assert await asyncio.wait_for(advancer.advance_to(clock.now() + 5), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        file.close()


async def test_no_jump_while_moto_cannot_say_what_is_due(stack: Stack) -> None:
    """An unanswered next-due is not "nothing due": a timer may be waiting there."""
    stack.probe.moto_down = True
    client = stack.advancer.register()
    wait = asyncio.create_task(stack.advancer.wait(client, until=stack.clock.now() + 60))
    await settle()
    assert not wait.done() and stack.clock.offset == 0
    assert "did not say" in (stack.advancer.last_reason or "")
    stack.probe.moto_down = False
    assert await asyncio.wait_for(wait, 5) == "deadline"
