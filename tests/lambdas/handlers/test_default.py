"""$default: unknown_action or bad_request, to the sender only."""

from __future__ import annotations

import pytest

ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"


def test_unknown_action_echoes_request_id(world) -> None:
    """An unrouted string action gets unknown_action with the requestId, on that tab only."""
    tab1, tab2 = world.connect("u-alice"), world.connect("u-alice")
    world.send(tab1, {"action": "dance", "requestId": "r-7"})
    (frame,) = world.frames(tab1)
    assert frame["type"] == "error" and frame["code"] == "unknown_action"
    assert frame["requestId"] == "r-7" and "dance" in frame["message"]
    assert world.frames(tab2) == []
    assert world.poster.posts[0][0] == ENDPOINT  # https://{domainName}/{stage}


@pytest.mark.parametrize(
    ("body", "request_id"),
    [
        ("hello", None),
        ("[1,2]", None),
        ("42", None),
        ('{"to":"u-bob","requestId":"r1"}', "r1"),
        ('{"action":7,"requestId":"r2"}', "r2"),
        ('{"action":null}', None),
    ],
)
def test_anything_else_is_bad_request(world, body: str, request_id: str | None) -> None:
    """Not JSON, not an object, or no string action: bad_request (+ requestId if readable)."""
    alice = world.connect("u-alice")
    world.send(alice, body)
    (frame,) = world.frames(alice)
    assert (frame["type"], frame["code"]) == ("error", "bad_request")
    assert frame.get("requestId") == request_id
