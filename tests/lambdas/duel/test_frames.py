"""Server -> client frame shapes, exactly as docs/protocol.md lists them."""

from __future__ import annotations

import json

from duel.errors import DuelError, ErrorCode
from duel.frames import (
    encode,
    error_frame,
    invite_frame,
    invite_sent_frame,
    no_response_frame,
    online_body,
    pong_frame,
    rejected_frame,
    start_frame,
    state_frame,
    stop_frame,
    timeout_frame,
)
from duel.session import Session, Status

PENDING = Session(
    "s1", "ua", "ub", Status.PENDING, "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z", 1
)
ACTIVE = Session(
    "s1",
    "ua",
    "ub",
    Status.ACTIVE,
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:01:00.000Z",
    1,
    start_at="2026-01-01T00:00:33.000Z",
    ends_at="2026-01-01T00:10:33.000Z",
)


def test_invite_pair() -> None:
    """invite_sent and invite carry the same expiresAt; only invite_sent echoes requestId."""
    assert invite_sent_frame(PENDING, "bob", "r1") == {
        "type": "invite_sent",
        "sessionId": "s1",
        "to": "ub",
        "toUsername": "bob",
        "expiresAt": "2026-01-01T00:01:00.000Z",
        "requestId": "r1",
    }
    assert "requestId" not in invite_sent_frame(PENDING, "bob", None)
    assert invite_frame(PENDING, "alice") == {
        "type": "invite",
        "sessionId": "s1",
        "from": "ua",
        "fromUsername": "alice",
        "expiresAt": "2026-01-01T00:01:00.000Z",
    }


def test_start_frame() -> None:
    """start has both users, the stored times and the duration in seconds."""
    assert start_frame(ACTIVE) == {
        "type": "start",
        "sessionId": "s1",
        "userA": "ua",
        "userB": "ub",
        "startAt": "2026-01-01T00:00:33.000Z",
        "endsAt": "2026-01-01T00:10:33.000Z",
        "durationSeconds": 600,
    }


def test_ending_frames() -> None:
    """rejected, no_response, stop and timeout carry only what the table says."""
    assert rejected_frame("s1", "ub") == {"type": "rejected", "sessionId": "s1", "by": "ub"}
    assert no_response_frame("s1") == {"type": "no_response", "sessionId": "s1"}
    assert stop_frame("s1", "ua") == {"type": "stop", "sessionId": "s1", "by": "ua"}
    assert timeout_frame("s1") == {"type": "timeout", "sessionId": "s1"}


def test_sender_frames_echo_request_id() -> None:
    """pong, state and error carry the requestId when one was sent, and only then."""
    assert pong_frame("2026-01-01T01:00:00.000Z", "r") == {
        "type": "pong",
        "expireAt": "2026-01-01T01:00:00.000Z",
        "requestId": "r",
    }
    assert pong_frame("2026-01-01T01:00:00.000Z", None) == {
        "type": "pong",
        "expireAt": "2026-01-01T01:00:00.000Z",
    }
    assert state_frame([PENDING, ACTIVE], "r") == {
        "type": "state",
        "sessions": [
            {
                "sessionId": "s1",
                "userA": "ua",
                "userB": "ub",
                "status": "pending",
                "expiresAt": "2026-01-01T00:01:00.000Z",
            },
            {
                "sessionId": "s1",
                "userA": "ua",
                "userB": "ub",
                "status": "active",
                "startAt": "2026-01-01T00:00:33.000Z",
                "endsAt": "2026-01-01T00:10:33.000Z",
                "expiresAt": "2026-01-01T00:01:00.000Z",
            },
        ],
        "requestId": "r",
    }
    error = DuelError(ErrorCode.NOT_FOUND, "no such session")
    assert error_frame(error, None) == {
        "type": "error",
        "code": "not_found",
        "message": "no such session",
    }
    assert error_frame(error, "r")["requestId"] == "r"


def test_encode_is_compact_utf8_json() -> None:
    """Frames go out as compact UTF-8 JSON text."""
    data = encode({"type": "invite", "fromUsername": "zoë"})
    assert data == '{"type":"invite","fromUsername":"zoë"}'.encode()
    assert json.loads(data) == {"type": "invite", "fromUsername": "zoë"}


def test_online_body_sorts_case_insensitively() -> None:
    """Users are sorted by username ignoring case, ties by userId; status defaults to idle."""
    body = online_body(
        {"u3": "bob", "u1": "Alice", "u2": "carol", "u0": "alice"}, {"u3": "in_duel"}
    )
    assert body == {
        "users": [
            {"userId": "u0", "username": "alice", "status": "idle"},
            {"userId": "u1", "username": "Alice", "status": "idle"},
            {"userId": "u3", "username": "bob", "status": "in_duel"},
            {"userId": "u2", "username": "carol", "status": "idle"},
        ]
    }
