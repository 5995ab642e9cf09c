"""Bad input found by fuzzing the running stack: every frame gets an answer, never a crash.

Bodies are sent as raw text, as a client puts them on the wire: `\\ud800` is valid JSON
text that decodes to a lone surrogate, which is not Unicode and cannot be stored,
posted or echoed (docs/protocol.md, "Input limits").
"""

from __future__ import annotations

import json

import pytest

from duel.frames import encode
from duel.messages import MAX_ECHOED_ACTION, MAX_REQUEST_ID

# AWS: a posted message is at most 128 KB (docs/aws-behaviour.md §6).
MAX_POST_BYTES = 128 * 1024


def only_error(world, conn: str) -> dict:
    (frame,) = world.frames(conn)
    assert frame["type"] == "error", frame
    return frame


@pytest.mark.parametrize(
    "body",
    [
        r'{"action":"ping","requestId":"\ud800"}',
        r'{"action":"state","requestId":"a\udfffb"}',
        r'{"action":"stop","sessionId":"\udfff"}',
        r'{"action":"response","sessionId":"\udfff","accept":true}',
        r'{"action":"invite","to":"\ud800"}',
        r'{"action":"ping","x":["ok","\ud800"]}',
        r'{"action":"ping","\ud800":1}',
        r'{"action":"dance\ud800"}',
        r'{"action":"\ud800"}',
    ],
)
def test_lone_surrogates_are_bad_request(world, body: str) -> None:
    """A lone surrogate escape anywhere in the frame is bad_request, not an error."""
    alice = world.connect("u-alice")
    world.connect("u-bob")
    world.send(alice, body)
    frame = only_error(world, alice)
    assert frame["code"] == "bad_request"
    assert "requestId" not in frame


def test_surrogate_elsewhere_keeps_a_good_request_id(world) -> None:
    """Only a readable requestId is echoed: a surrogate in another field keeps it."""
    alice = world.connect("u-alice")
    world.send(alice, r'{"action":"stop","sessionId":"\udfff","requestId":"r1"}')
    assert only_error(world, alice) | {"message": ""} == {
        "type": "error",
        "code": "bad_request",
        "message": "",
        "requestId": "r1",
    }


def test_surrogate_pairs_are_fine(world) -> None:
    """An escaped surrogate pair is one real character and is echoed as such."""
    alice = world.connect("u-alice")
    world.send(alice, r'{"action":"ping","requestId":"\ud83d\ude00"}')
    (frame,) = world.frames(alice)
    assert frame["type"] == "pong" and frame["requestId"] == "\U0001f600"


@pytest.mark.parametrize("action", ["ping", "state", "stop", "response", "invite", "dance"])
@pytest.mark.parametrize("depth", [1000, 5000])
def test_deeply_nested_json_is_answered(world, action: str, depth: int) -> None:
    """A body nested 1,000 levels or more is bad_request (the decoder's limit), with an answer."""
    alice = world.connect("u-alice")
    world.send(alice, '{"action":"' + action + '","x":' + "[" * depth + "]" * depth + "}")
    assert only_error(world, alice)["code"] == "bad_request"


def test_request_id_limit(world) -> None:
    """A requestId up to the limit is echoed; a longer one is bad_request with none echoed."""
    alice = world.connect("u-alice")
    longest = "r" * MAX_REQUEST_ID
    world.send(alice, {"action": "ping", "requestId": longest})
    assert world.frames(alice)[0]["requestId"] == longest
    for action in ("ping", "state", "stop", "response", "invite", "dance", None):
        body = {"action": action, "requestId": "r" * 120_000}
        world.send(alice, body if action else {"requestId": "r" * 120_000})
        frame = only_error(world, alice)
        assert frame["code"] == "bad_request" and "requestId" not in frame, action


def test_unknown_action_echo_is_capped(world) -> None:
    """A 120 KB action of backslashes yields a small unknown_action frame that can be posted."""
    alice = world.connect("u-alice")
    world.send(alice, json.dumps({"action": "\\" * 120_000, "requestId": "r"}))
    frame = only_error(world, alice)
    assert frame["code"] == "unknown_action" and frame["requestId"] == "r"
    assert len(encode(frame)) < 1024
    world.send(alice, {"action": "d" * (MAX_ECHOED_ACTION + 10)})
    message = only_error(world, alice)["message"]
    assert "d" * MAX_ECHOED_ACTION in message and "d" * (MAX_ECHOED_ACTION + 1) not in message


def test_every_error_frame_fits_a_post(world) -> None:
    """No client input can make the reply larger than @connections accepts."""
    alice = world.connect("u-alice")
    filler = "x" * 120_000
    for body in (
        {"action": "dance", "y": filler},
        {"action": "invite", "to": filler},
        {"action": "stop", "sessionId": filler},
        {"action": "response", "sessionId": filler, "accept": True},
    ):
        world.send(alice, body)
        assert len(world.poster.raw(alice)[-1]) < MAX_POST_BYTES
        assert only_error(world, alice)["code"] in {"unknown_action", "user_offline", "not_found"}
