"""GET /online: each live user once, minus the caller, sorted, with a status."""

from __future__ import annotations

import json

CALLER = "8f23cf1a-3e53-414c-8b8f-00035bb95687"


def online(world, event) -> tuple[int, dict]:
    response = world.handler("online").handle(event("http_online"), world.context)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_lists_live_users_with_status(world, event) -> None:
    """Users with a live connection appear once, sorted by name ignoring case, with status."""
    world.connect(CALLER, "alice")
    bob = world.connect("u-bob", "bob")
    world.connect("u-bob", "bob")
    world.connect("u-carol", "Carol")
    dave = world.connect("u-dave", "dave")
    world.connect("u-erin", "Erin")
    world.connect("u-zed", "zed")
    session_id = world.invite(bob, "u-carol")
    world.invite(dave, "u-erin")
    world.send(
        world.connect("u-carol", "Carol"),
        {"action": "response", "sessionId": session_id, "accept": True},
    )
    status, body = online(world, event)
    assert status == 200
    assert body == {
        "users": [
            {"userId": "u-bob", "username": "bob", "status": "in_duel"},
            {"userId": "u-carol", "username": "Carol", "status": "in_duel"},
            {"userId": "u-dave", "username": "dave", "status": "invited"},
            {"userId": "u-erin", "username": "Erin", "status": "invited"},
            {"userId": "u-zed", "username": "zed", "status": "idle"},
        ]
    }


def test_expired_connections_and_deadlines_count_as_gone(world, event) -> None:
    """A connection past expireAt is not online; an invite past its deadline is idle."""
    world.connect("u-old", "old")
    world.clock.advance(3000)
    fresh = world.connect("u-new", "new")
    world.connect("u-other", "other")
    world.invite(fresh, "u-other")
    world.clock.advance(600)  # old's connection expired; the invite's deadline passed
    _, body = online(world, event)
    assert body == {
        "users": [
            {"userId": "u-new", "username": "new", "status": "idle"},
            {"userId": "u-other", "username": "other", "status": "idle"},
        ]
    }


def test_empty_when_alone(world, event) -> None:
    """The caller never sees themselves."""
    world.connect(CALLER, "alice")
    assert online(world, event) == (200, {"users": []})


def test_missing_claims_is_unauthorized(world, event) -> None:
    """Without JWT claims (authorizer bypassed) the answer is 401 Unauthorized."""
    raw = event("http_online")
    del raw["requestContext"]["authorizer"]
    response = world.handler("online").handle(raw, world.context)
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"message": "Unauthorized"}
