"""response: accept, reject, and every error in protocol order."""

from __future__ import annotations

import json
import os

import pytest

from adapters import deps as deps_module
from adapters.config import Config
from adapters.deps import Deps
from duel.timers import TimerKind


@pytest.fixture
def pair(world) -> tuple[str, str, str]:
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    session_id = world.invite(alice, "u-bob")
    world.frames(bob)
    return alice, bob, session_id


def respond(world, conn: str, session_id: str, accept: object, **extra: object) -> None:
    world.send(conn, {"action": "response", "sessionId": session_id, "accept": accept, **extra})


def only_error(world, conn: str) -> dict:
    (frame,) = world.frames(conn)
    assert frame["type"] == "error", frame
    return frame


def test_accept_starts_both_with_identical_times(world, pair) -> None:
    """Both users get start with byte-identical startAt/endsAt: accept + lead, + duel."""
    alice, bob, session_id = pair
    bob_tab2 = world.connect("u-bob", "bob")
    world.clock.advance(10)
    respond(world, bob, session_id, True, requestId="r-9")
    start = {
        "type": "start",
        "sessionId": session_id,
        "userA": "u-alice",
        "userB": "u-bob",
        "startAt": "2026-01-01T00:00:13.000Z",
        "endsAt": "2026-01-01T00:10:13.000Z",
        "durationSeconds": 600,
    }
    assert world.frames(alice) == world.frames(bob) == world.frames(bob_tab2) == [start]
    assert world.poster.raw(alice)[-1] == world.poster.raw(bob)[-1]


def test_accept_enqueues_the_duel_end(world, pair) -> None:
    """The duel_end timer waits until endsAt."""
    _, bob, session_id = pair
    respond(world, bob, session_id, True)
    timer, delay = world.timers.sent[-1]
    assert (timer.kind, timer.due, delay) == (TimerKind.DUEL_END, "2026-01-01T00:10:03.000Z", 603)


def test_long_duel_end_is_chained(world, aws, clock, poster, monkeypatch) -> None:
    """A duel longer than 900 s starts with a 900 s link of the chain."""
    monkeypatch.setenv("DUEL_SECONDS", "3600")
    deps_module.install(
        Deps(
            Config.from_env(os.environ),
            clock=clock,
            poster_factory=poster.for_endpoint,
            timers=world.timers,
        )
    )
    alice, bob = world.connect("u-alice"), world.connect("u-bob")
    session_id = world.invite(alice, "u-bob")
    respond(world, bob, session_id, True)
    assert world.timers.sent[-1][1] == 900


def test_reject(world, pair) -> None:
    """A reject tells both users who rejected."""
    alice, bob, session_id = pair
    respond(world, bob, session_id, False)
    expected = [{"type": "rejected", "sessionId": session_id, "by": "u-bob"}]
    assert world.frames(alice) == world.frames(bob) == expected
    session = world.deps.sessions.get(session_id)
    assert session is not None and session.end_reason.value == "rejected"


@pytest.mark.parametrize("accept", [1, "true", None])
def test_bad_request(world, pair, accept: object) -> None:
    """accept that is not a boolean is bad_request with the requestId."""
    _, bob, session_id = pair
    respond(world, bob, session_id, accept, requestId="q")
    assert only_error(world, bob) | {"message": ""} == {
        "type": "error",
        "code": "bad_request",
        "message": "",
        "requestId": "q",
    }


def test_not_found_hides_existence(world, pair) -> None:
    """An unknown session and someone else's session look the same: not_found."""
    _, _, session_id = pair
    carol = world.connect("u-carol")
    respond(world, carol, session_id, True)
    foreign = only_error(world, carol)
    respond(world, carol, "no-such-session", True)
    missing = only_error(world, carol)
    assert foreign == missing and foreign["code"] == "not_found"
    respond(world, carol, "USER#u-alice", True)
    assert only_error(world, carol)["code"] == "not_found"


def test_not_found_beats_forbidden(world, pair) -> None:
    """A bad_request is decided first, then not_found."""
    alice, _, _ = pair
    respond(world, alice, "nope", "yes")
    assert only_error(world, alice)["code"] == "bad_request"
    respond(world, alice, "nope", True)
    assert only_error(world, alice)["code"] == "not_found"


def test_inviter_answering_is_forbidden(world, pair) -> None:
    """The inviter may not answer their own invite, even once it is over."""
    alice, bob, session_id = pair
    respond(world, alice, session_id, True)
    assert only_error(world, alice)["code"] == "forbidden"
    respond(world, bob, session_id, False)
    world.frames(alice)
    respond(world, alice, session_id, True)
    assert only_error(world, alice)["code"] == "forbidden"


def test_answering_twice_is_invalid_state(world, pair) -> None:
    """A second answer (other tab, or a retry) is invalid_state and changes nothing."""
    alice, bob, session_id = pair
    bob2 = world.connect("u-bob")
    respond(world, bob, session_id, True)
    world.frames(alice), world.frames(bob), world.frames(bob2)
    respond(world, bob2, session_id, False, requestId="late")
    frame = only_error(world, bob2)
    assert (frame["code"], frame["requestId"]) == ("invalid_state", "late")
    assert world.frames(alice) == world.frames(bob) == []
    session = world.deps.sessions.get(session_id)
    assert session is not None and session.status.value == "active"


def test_late_accept_ends_the_invite_as_no_response_once(world, pair) -> None:
    """An accept at expiresAt gets invalid_state; both hear no_response exactly once."""
    alice, bob, session_id = pair
    expiry_timer = world.timers.sent[0][0]
    world.clock.advance(60)
    respond(world, bob, session_id, True, requestId="too-late")
    bob_frames = world.frames(bob)
    assert {json.dumps(f, sort_keys=True) for f in bob_frames} == {
        json.dumps(
            {
                "type": "error",
                "code": "invalid_state",
                "message": "the invite is no longer pending",
                "requestId": "too-late",
            },
            sort_keys=True,
        ),
        json.dumps({"type": "no_response", "sessionId": session_id}, sort_keys=True),
    }
    assert world.frames(alice) == [{"type": "no_response", "sessionId": session_id}]
    world.deliver(expiry_timer)
    respond(world, bob, session_id, True)
    assert [f["code"] for f in world.frames(bob)] == ["invalid_state"]
    assert world.frames(alice) == []
