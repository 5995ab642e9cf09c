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


def test_ping_for_a_deleted_connection_is_invalid_state(world) -> None:
    """A connection whose item is gone is told so, and no half item is created."""
    alice = world.connect("u-alice")
    world.deps.connections.delete("u-alice", alice)
    world.send(alice, {"action": "ping", "requestId": "p2"})
    (frame,) = world.frames(alice)
    assert (frame["code"], frame["requestId"]) == ("invalid_state", "p2")
    assert world.aws.items("duelctl-connections") == []


def test_ping_with_bad_request_id(world) -> None:
    """A non-string requestId is bad_request, with no requestId echoed."""
    alice = world.connect("u-alice")
    world.send(alice, {"action": "ping", "requestId": 12})
    (frame,) = world.frames(alice)
    assert frame["code"] == "bad_request" and "requestId" not in frame
