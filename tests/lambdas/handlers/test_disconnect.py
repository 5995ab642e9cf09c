"""$disconnect: forget the connection, end nothing."""

from __future__ import annotations


def test_disconnect_event_from_aws_deletes_the_item(world, event) -> None:
    """The captured $disconnect shape deletes that connection's item only."""
    world.handler("connect").handle(event("websocket_connect"), world.context)
    connect = event("websocket_connect")
    connect["requestContext"]["connectionId"] = "BFaT_fALIAMCKug="
    world.handler("connect").handle(connect, world.context)
    result = world.handler("disconnect").handle(event("websocket_disconnect"), world.context)
    assert result == {"statusCode": 200}
    assert [i["connectionId"]["S"] for i in world.aws.items("duelctl-connections")] == [
        "BFHPhfCWIAMCKlQ="
    ]


def test_disconnect_ends_no_session(world) -> None:
    """A pending invite stays pending and an active duel keeps running after a disconnect."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    session_id = world.invite(alice, "u-bob")
    world.disconnect(alice)
    pending = world.deps.sessions.get(session_id)
    assert pending is not None and pending.status.value == "pending"
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    world.disconnect(bob)
    active = world.deps.sessions.get(session_id)
    assert active is not None and active.status.value == "active"
    assert world.aws.items("duelctl-connections") == []
