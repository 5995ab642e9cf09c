"""Interleavings of concurrent Lambdas, replayed against moto one step at a time.

Two handler invocations run in two threads over the same moto; a botocore `before-call`
hook parks one of them right before an AWS call and lets the other run up to a chosen
call (or to its end), which is exactly the window DynamoDB's conditions (and nothing
else) protect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})


class Gate:
    """Park the thread named `parked` at its first write; release it at `trigger`'s first write.

    When the trigger reaches its write, the parked call (and the rest of its handler)
    finishes before the triggering call proceeds, so the parked write lands in between.
    `park_at` = (operation, n) parks at the n-th call of that operation instead (any
    service: `("Query", 1)`, `("SendMessage", 1)`); without a trigger, `go.set()` opens
    the gate by hand once the test has run whatever it wants in the window.
    """

    def __init__(self) -> None:
        self.parked: threading.Thread | None = None
        self.at_write = threading.Event()
        self.go = threading.Event()
        self.done = threading.Event()
        self.trigger: threading.Thread | None = None
        self.park_at: tuple[str, int] | None = None
        self._fired = False
        self._seen = 0

    def _parks_here(self, operation: str) -> bool:
        if self.park_at is None:
            return operation in WRITES
        if operation != self.park_at[0]:
            return False
        self._seen += 1
        return self._seen == self.park_at[1]

    def hook(self, model: Any, **_: Any) -> None:
        me = threading.current_thread()
        if me is self.parked and not self.at_write.is_set():
            if self._parks_here(model.name):
                self.at_write.set()
                assert self.go.wait(10), "the gate was never opened"
        elif model.name in WRITES and me is self.trigger and not self._fired:
            self._fired = True
            self.go.set()
            assert self.done.wait(10), "the parked call never finished"


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register("before-call", gate.hook)
    yield gate
    gate.go.set()  # never leave a parked thread behind a failed assertion
    events.unregister("before-call", gate.hook)


def park(gate: Gate, work: Callable[[], None]) -> threading.Thread:
    """Start `work` in a thread that stops at its first write until the gate opens."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # surfaced by the caller
            errors.append(exc)
        finally:
            gate.done.set()

    thread = threading.Thread(target=run, daemon=True)
    gate.parked = thread
    thread.start()
    assert gate.at_write.wait(10), "the parked handler made no write"
    thread.errors = errors  # type: ignore[attr-defined]
    return thread


def test_accept_written_after_a_rival_invite_read_the_lock(world, gate) -> None:
    """Issue 14, defect 2: bob accepts S1 5 ms before its deadline; the write lands after
    carol's invite read bob's lock (and found S1 past its deadline). carol must get
    user_busy, and bob must never hold two live sessions."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    carol = world.connect("u-carol", "carol")
    s1 = world.invite(alice, "u-bob")
    world.frames(bob)
    world.clock.advance(60 - 0.005)  # 5 ms before expiresAt

    accept = {"action": "response", "sessionId": s1, "accept": True}
    bobs_accept = park(gate, lambda: world.send(bob, accept))
    world.clock.advance(0.006)  # carol acts 1 ms after the deadline
    gate.trigger = threading.current_thread()
    world.send(carol, {"action": "invite", "to": "u-bob", "requestId": "c1"})
    bobs_accept.join(10)
    assert bobs_accept.errors == []  # type: ignore[attr-defined]

    carol_frames = world.frames(carol)
    assert [f["type"] for f in carol_frames] == ["error"], carol_frames
    assert (carol_frames[0]["code"], carol_frames[0]["requestId"]) == ("user_busy", "c1")
    assert [f["type"] for f in world.frames(bob)] == ["start"]
    assert [f["type"] for f in world.frames(alice)] == ["start"]
    live = [
        s for s in world.deps.sessions.for_user("u-bob") if s.status.value in ("pending", "active")
    ]
    assert [s.session_id for s in live] == [s1]


def kinds(world, *conns: str) -> list[list[str]]:
    return [[f["type"] for f in world.frames(c)] for c in conns]


def test_stop_between_the_accepts_write_and_its_start_frames(world, gate) -> None:
    """The fault hunt's race: carol's accept commits pending -> active, bob's stop then
    commits active -> stopped, and only then does the accept post `start`. Each user must
    get `start` before `stop`, once each, and nothing after the ending."""
    bob, carol = world.connect("u-bob", "bob"), world.connect("u-carol", "carol")
    session_id = world.invite(bob, "u-carol")
    world.frames(carol)

    gate.park_at = ("Query", 1)  # the accept's write is in; its fan-out has not begun
    accepting = park(
        gate,
        lambda: world.send(carol, {"action": "response", "sessionId": session_id, "accept": True}),
    )
    world.send(bob, {"action": "stop", "sessionId": session_id})
    gate.go.set()
    accepting.join(10)
    assert accepting.errors == []  # type: ignore[attr-defined]

    assert kinds(world, bob, carol) == [["start", "stop"], ["start", "stop"]]
    stored = world.deps.sessions.get(session_id)
    assert stored is not None and (stored.end_reason, stored.ended_by) == ("stop", "u-bob")
