"""$connect: the Connections item."""

from __future__ import annotations

import pytest

from adapters.events import EventError

START_S = 1_767_225_600


def test_connect_event_from_aws_writes_the_item(world, event) -> None:
    """The captured $connect shape yields the protocol's Connections item."""
    handler = world.handler("connect")
    assert handler.handle(event("websocket_connect"), world.context) == {"statusCode": 200}
    (item,) = world.aws.items("duelctl-connections")
    assert item == {
        "userId": {"S": "8f23cf1a-3e53-414c-8b8f-00035bb95687"},
        "connectionId": {"S": "BFHPhfCWIAMCKlQ="},
        "username": {"S": "alice"},
        "connectedAt": {"S": "2024-11-11T11:35:24.553Z"},
        "expireAt": {"N": str(START_S + 3600)},
    }


def test_connection_is_live_for_the_ttl(world) -> None:
    """A new connection is live until now + CONNECTION_TTL_SECONDS."""
    world.connect("u-alice", "alice")
    connections = world.deps.connections
    assert len(connections.live("u-alice", world.clock.now)) == 1
    world.clock.advance(3599.999)
    assert len(connections.live("u-alice", world.clock.now)) == 1
    world.clock.advance(0.001)
    assert connections.live("u-alice", world.clock.now) == []


def test_connect_without_authorizer_context_fails(world, event) -> None:
    """Without the authorizer's userId the handler raises (API Gateway answers 502)."""
    raw = event("websocket_connect")
    del raw["requestContext"]["authorizer"]
    with pytest.raises(EventError):
        world.handler("connect").handle(raw, world.context)
    assert world.aws.items("duelctl-connections") == []
