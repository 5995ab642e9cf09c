"""state: the sender's pending and active sessions."""

from __future__ import annotations


def test_state_lists_pending_and_active(world) -> None:
    """Only sessions that still bind the sender are listed, as session views."""
    alice, bob, carol = (world.connect(u, u) for u in ("u-alice", "u-bob", "u-carol"))
    dave = world.connect("u-dave", "dave")
    first = world.invite(alice, "u-bob")
    world.send(bob, {"action": "response", "sessionId": first, "accept": False})
    world.clock.advance(1)
    second = world.invite(carol, "u-alice")
    world.send(alice, {"action": "state", "requestId": "s1"})
    (frame,) = world.frames(alice)[-1:]
    assert frame["type"] == "state" and frame["requestId"] == "s1"
    (view,) = frame["sessions"]
    assert view == {
        "sessionId": second,
        "userA": "u-carol",
        "userB": "u-alice",
        "status": "pending",
        "expiresAt": "2026-01-01T00:01:01.000Z",
    }
    world.send(alice, {"action": "response", "sessionId": second, "accept": True})
    world.send(carol, {"action": "state"})
    (active,) = world.frames(carol)[-1]["sessions"]
    assert active["status"] == "active" and set(active) >= {"startAt", "endsAt"}
    world.send(dave, {"action": "state"})
    assert world.frames(dave) == [{"type": "state", "sessions": []}]


def test_state_omits_sessions_past_their_deadline(world) -> None:
    """An invite whose deadline passed is not offered for resuming, timer or not."""
    alice, _ = world.connect("u-alice"), world.connect("u-bob")
    world.invite(alice, "u-bob")
    world.clock.advance(60)
    world.frames(alice)
    world.send(alice, {"action": "state"})
    assert world.frames(alice) == [{"type": "state", "sessions": []}]


def test_state_bad_request(world) -> None:
    """A wrongly typed requestId is bad_request."""
    alice = world.connect("u-alice")
    world.send(alice, '{"action":"state","requestId":["x"]}')
    assert world.frames(alice)[0]["code"] == "bad_request"
