"""Interleavings of concurrent Lambdas, replayed against moto one step at a time.

Two handler invocations run in two threads over the same moto; a botocore `before-call`
hook parks one of them right before an AWS call and lets the other run up to a chosen
call (or to its end), which is exactly the window DynamoDB's conditions (and nothing
else) protect.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest.mock import ANY

import boto3
import pytest

from duel.machine import Timing
from duel.timers import Timer, TimerKind

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})


class Gate:
    """Park the thread named `parked` at its first write; release it at `trigger`'s first write.

    When the trigger reaches its write, the parked call (and the rest of its handler)
    finishes before the triggering call proceeds, so the parked write lands in between.
    `park_at` = (operation, n) parks at the n-th call of that operation instead (any
    service: `("Query", 1)`, `("SendMessage", 1)`); without a trigger, `go.set()` opens
    the gate by hand once the test has run whatever it wants in the window. With `fail`
    set, the parked call raises it when the gate opens: the environment died there.
    """

    def __init__(self) -> None:
        self.parked: threading.Thread | None = None
        self.at_write = threading.Event()
        self.go = threading.Event()
        self.done = threading.Event()
        self.trigger: threading.Thread | None = None
        self.park_at: tuple[str, int] | None = None
        self.fail: BaseException | None = None
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
                if self.fail is not None:
                    raise self.fail
        elif model.name in WRITES and me is self.trigger and not self._fired:
            self._fired = True
            self.go.set()
            assert self.done.wait(10), "the parked call never finished"


@pytest.fixture
def gate(aws) -> Iterator[Gate]:
    gate = Gate()
    # Clients copy the session's handlers when created: the SQS client already exists.
    emitters = [boto3.DEFAULT_SESSION.events, aws.sqs.meta.events]
    for events in emitters:
        events.register("before-call", gate.hook)
    yield gate
    gate.go.set()  # never leave a parked thread behind a failed assertion
    for events in emitters:
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


class EnvironmentDied(Exception):
    """Raised inside a parked handler: its invocation ends there, as a killed one would."""


@pytest.fixture
def duel(world) -> tuple[str, str, str, str]:
    """bob invited carol (two tabs); returns bob, carol, carol's second tab, session id."""
    bob, carol = world.connect("u-bob", "bob"), world.connect("u-carol", "carol")
    carol2 = world.connect("u-carol", "carol")
    session_id = world.invite(bob, "u-carol")
    world.frames(carol), world.frames(carol2)
    return bob, carol, carol2, session_id


def accept_in_thread(world, gate: Gate, carol: str, session_id: str) -> threading.Thread:
    body = {"action": "response", "sessionId": session_id, "accept": True}
    return park(gate, lambda: world.send(carol, body))


def deliver_owed_ending(world) -> None:
    """Run the stream (it queues an owed-ending timer if one was left), then that timer
    once the accepter's lease has passed."""
    sent = len(world.timers.sent)
    world.stream()
    for timer, delay in world.timers.sent[sent:]:
        if timer.kind is TimerKind.OWED_ENDING:
            world.clock.advance(delay)
            assert world.deliver(timer) == {"batchItemFailures": []}


# Where the accept is when bob's stop runs from start to end: before its write, after it,
# between its two users' `start`, before recording startSent, after recording it.
ACCEPT_STEPS = [
    ("UpdateItem", 1),
    ("Query", 1),
    ("Query", 2),
    ("UpdateItem", 2),
    ("SendMessage", 1),
]


@pytest.mark.parametrize("step", ACCEPT_STEPS, ids=lambda step: f"{step[0]}#{step[1]}")
def test_stop_at_every_step_of_an_accept(world, gate, duel, step: tuple[str, int]) -> None:
    """Whatever the accept has done when the stop runs, every connection gets `start`
    before `stop`, or no `start` at all; one ending each, and nothing after it, also
    once the owed-ending timer (if any) has come and gone."""
    bob, carol, carol2, session_id = duel
    gate.park_at = step
    accepting = accept_in_thread(world, gate, carol, session_id)
    world.send(bob, {"action": "stop", "sessionId": session_id})
    gate.go.set()
    accepting.join(10)
    assert accepting.errors == []  # type: ignore[attr-defined]
    deliver_owed_ending(world)

    got = kinds(world, bob, carol, carol2)
    stored = world.deps.sessions.get(session_id)
    assert stored is not None
    if step == ("UpdateItem", 1):  # the withdraw won: no start, and carol's accept is late
        assert got == [["stop"], ["stop", "error"], ["stop"]]
        assert stored.end_reason == "withdrawn"
    else:
        assert got == [["start", "stop"]] * 3
        assert (stored.end_reason, stored.ended_by) == ("stop", "u-bob")


def test_accepter_dying_before_it_records_start_sent(world, gate, duel) -> None:
    """The accept posts `start`, bob's stop leaves its frame to the accept, and the
    accept's environment dies before recording startSent: once its lease has passed,
    the owed-ending timer (queued through the stream) delivers `stop`, once."""
    bob, carol, carol2, session_id = duel
    gate.park_at = ("UpdateItem", 2)
    gate.fail = EnvironmentDied()
    accepting = accept_in_thread(world, gate, carol, session_id)
    world.send(bob, {"action": "stop", "sessionId": session_id})
    gate.go.set()
    accepting.join(10)
    assert accepting.errors == [gate.fail]  # type: ignore[attr-defined]
    assert kinds(world, bob, carol, carol2) == [["start"]] * 3

    assert world.stream() == {"batchItemFailures": []}
    owed, delay = world.timers.sent[-1]
    # Due at the accept's lease: its clock reading + the 10 s it had left.
    assert (owed.kind, owed.session_id, delay) == (TimerKind.OWED_ENDING, session_id, 10)
    assert world.deliver(owed) == {"batchItemFailures": [{"itemIdentifier": ANY}]}
    assert kinds(world, bob, carol, carol2) == [[], [], []]  # early: the accept may live

    world.clock.advance(10)
    assert world.deliver(owed) == {"batchItemFailures": []}
    stop = {"type": "stop", "sessionId": session_id, "by": "u-bob"}
    assert [world.frames(c) for c in (bob, carol, carol2)] == [[stop]] * 3
    assert world.deliver(owed) == {"batchItemFailures": []}  # a duplicate: nothing
    assert kinds(world, bob, carol, carol2) == [[], [], []]


def test_duel_end_while_start_is_going_out(world, gate, duel) -> None:
    """A duel shorter than the accept's lease: the duel-end timer commits `timeout` while
    the accept has not posted `start`. The accept announces it after `start`, with
    receipts, so neither a duplicate of the timer nor the owed-ending timer sends more."""
    bob, carol, carol2, session_id = duel
    timing = Timing(invite_timeout_s=60, duel_s=2, start_lead_s=1)
    world.deps.config = dataclasses.replace(world.deps.config, timing=timing)
    gate.park_at = ("Query", 1)
    accepting = accept_in_thread(world, gate, carol, session_id)
    active = world.deps.sessions.get(session_id)
    assert active is not None and active.ends_at is not None
    duel_end = Timer(TimerKind.DUEL_END, session_id, active.ends_at)
    world.clock.advance(3)
    assert world.deliver(duel_end) == {"batchItemFailures": []}
    assert kinds(world, bob, carol, carol2) == [[], [], []]
    gate.go.set()
    accepting.join(10)
    assert accepting.errors == []  # type: ignore[attr-defined]
    assert kinds(world, bob, carol, carol2) == [["start", "timeout"]] * 3

    assert world.deliver(duel_end) == {"batchItemFailures": []}
    deliver_owed_ending(world)
    assert kinds(world, bob, carol, carol2) == [[], [], []]
    assert [t.kind for t, _ in world.timers.sent].count(TimerKind.DUEL_END) == 0
