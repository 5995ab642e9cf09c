"""stop: withdraw a pending invite, stop an active duel, and the errors in protocol order."""

from __future__ import annotations

import pytest


@pytest.fixture
def pair(world) -> tuple[str, str, str]:
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    session_id = world.invite(alice, "u-bob")
    world.frames(bob)
    return alice, bob, session_id


def stop(world, conn: str, session_id: str, **extra: object) -> None:
    world.send(conn, {"action": "stop", "sessionId": session_id, **extra})


def accept(world, bob: str, session_id: str) -> None:
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})


def only_error(world, conn: str) -> dict:
    (frame,) = world.frames(conn)
    assert frame["type"] == "error", frame
    return frame


def test_inviter_withdraws_pending_invite(world, pair) -> None:
    """The inviter's stop on a pending invite sends stop (by the inviter) to both."""
    alice, bob, session_id = pair
    stop(world, alice, session_id)
    expected = [{"type": "stop", "sessionId": session_id, "by": "u-alice"}]
    assert world.frames(alice) == world.frames(bob) == expected
    session = world.deps.sessions.get(session_id)
    assert session is not None and session.end_reason.value == "withdrawn"


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_either_participant_stops_active_duel(world, pair, who: str) -> None:
    """During the start lead or later, either user's stop ends the duel for both."""
    alice, bob, session_id = pair
    accept(world, bob, session_id)
    world.frames(alice), world.frames(bob)
    world.clock.advance(1)  # still inside the 3 s lead
    stop(world, alice if who == "alice" else bob, session_id)
    expected = [{"type": "stop", "sessionId": session_id, "by": f"u-{who}"}]
    assert world.frames(alice) == world.frames(bob) == expected
    session = world.deps.sessions.get(session_id)
    assert session is not None and (session.end_reason.value, session.ended_by) == (
        "stop",
        f"u-{who}",
    )


def test_accept_then_inviter_stop_yields_start_then_stop(world, pair) -> None:
    """The Sessions item referees: an accept that lands first is followed by the stop."""
    alice, bob, session_id = pair
    accept(world, bob, session_id)
    stop(world, alice, session_id)
    assert [f["type"] for f in world.frames(bob)] == ["start", "stop"]


def test_bad_request(world) -> None:
    """A stop without a string sessionId is bad_request."""
    alice = world.connect("u-alice")
    stop(world, alice, 5, requestId="s")  # type: ignore[arg-type]
    frame = only_error(world, alice)
    assert (frame["code"], frame["requestId"]) == ("bad_request", "s")


def test_not_found(world, pair) -> None:
    """Strangers and unknown ids get not_found."""
    _, _, session_id = pair
    carol = world.connect("u-carol")
    stop(world, carol, session_id)
    assert only_error(world, carol)["code"] == "not_found"
    stop(world, carol, "nope")
    assert only_error(world, carol)["code"] == "not_found"


def test_invitee_stopping_pending_invite_is_forbidden(world, pair) -> None:
    """The invitee declines with response, not stop: forbidden, and nothing changes."""
    alice, bob, session_id = pair
    stop(world, bob, session_id, requestId="b")
    frame = only_error(world, bob)
    assert (frame["code"], frame["requestId"]) == ("forbidden", "b")
    assert world.frames(alice) == []
    session = world.deps.sessions.get(session_id)
    assert session is not None and session.status.value == "pending"


def test_stopping_a_stopped_session_is_invalid_state(world, pair) -> None:
    """A second stop (either user) is invalid_state; the first one's frames stand alone."""
    alice, bob, session_id = pair
    accept(world, bob, session_id)
    stop(world, alice, session_id)
    world.frames(alice), world.frames(bob)
    stop(world, bob, session_id)
    assert only_error(world, bob)["code"] == "invalid_state"
    stop(world, alice, session_id)
    assert only_error(world, alice)["code"] == "invalid_state"


def test_stop_after_ends_at_times_out_once(world, pair) -> None:
    """A stop arriving after endsAt is invalid_state, and the duel ends as timeout once."""
    alice, bob, session_id = pair
    accept(world, bob, session_id)
    duel_end = world.last_timer()
    world.frames(alice), world.frames(bob)
    world.clock.advance(603)
    stop(world, alice, session_id)
    assert sorted(f["type"] for f in world.frames(alice)) == ["error", "timeout"]
    assert world.frames(bob) == [{"type": "timeout", "sessionId": session_id}]
    world.deliver(duel_end)
    assert world.frames(alice) == world.frames(bob) == []
