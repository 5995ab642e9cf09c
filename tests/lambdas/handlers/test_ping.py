"""ping: refresh expireAt, answer pong to the sender."""

from __future__ import annotations

START_S = 1_767_225_600


def test_ping_refreshes_and_pongs(world) -> None:
    """pong carries the new expireAt as a wire time; the item moves with it."""
    tab1, tab2 = world.connect("u-alice"), world.connect("u-alice")
    world.clock.advance(100)
    world.send(tab1, {"action": "ping", "requestId": "p1"})
    assert world.frames(tab1) == [
        {"type": "pong", "expireAt": "2026-01-01T01:01:40.000Z", "requestId": "p1"}
    ]
    assert world.frames(tab2) == []
    expiries = {
        c.connection_id: c.expire_at
        for c in world.deps.connections.live("u-alice", world.clock.now)
    }
    assert expiries == {tab1: START_S + 100 + 3600, tab2: START_S + 3600}


def test_ping_keeps_an_expired_but_undeleted_connection(world) -> None:
    """TTL deletes late; a ping from a socket that is still open makes it live again."""
    alice = world.connect("u-alice")
    world.clock.advance(3700)
    assert world.deps.connections.live("u-alice", world.clock.now) == []
    world.send(alice, {"action": "ping"})
    assert world.frames(alice)[0]["type"] == "pong"
    assert len(world.deps.connections.live("u-alice", world.clock.now)) == 1


def test_ping_restores_a_deleted_connection(world) -> None:
    """A ping from a socket whose item is gone (TTL, a wrong 410 clean-up) writes the item
    again, whole, from the authorizer's identity, and pongs (issue 14, defect 3)."""
    alice = world.connect("u-alice", "alice")
    (before,) = world.deps.connections.live("u-alice", world.clock.now)
    world.deps.connections.delete("u-alice", alice)
    world.clock.advance(5)
    world.send(alice, {"action": "ping", "requestId": "p2"})
    (frame,) = world.frames(alice)
    assert (frame["type"], frame["requestId"]) == ("pong", "p2")
    (after,) = world.deps.connections.live("u-alice", world.clock.now)
    assert after.connection_id == alice and after.username == "alice"
    assert after.connected_at == before.connected_at
    assert after.expire_at == START_S + 5 + 3600


def test_ping_with_bad_request_id(world) -> None:
    """A non-string requestId is bad_request, with no requestId echoed."""
    alice = world.connect("u-alice")
    world.send(alice, {"action": "ping", "requestId": 12})
    (frame,) = world.frames(alice)
    assert frame["code"] == "bad_request" and "requestId" not in frame
