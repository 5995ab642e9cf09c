"""Builders for every server -> client frame type in docs/protocol.md.

Only sender-bound frames (`error`, `pong`, `state`) and `invite_sent` take a
`request_id`: docs/protocol.md lists exactly those as carrying the client's requestId, and
frames to the other user never do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from duel.errors import DuelError
from duel.session import Session
from duel.times import parse_iso

Frame = dict[str, Any]


def encode(frame: Frame) -> bytes:
    """The text a frame is posted as: compact JSON, UTF-8."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


def _with_request_id(frame: Frame, request_id: str | None) -> Frame:
    if request_id is not None:
        frame["requestId"] = request_id
    return frame


def invite_sent_frame(session: Session, to_username: str, request_id: str | None) -> Frame:
    return _with_request_id(
        {
            "type": "invite_sent",
            "sessionId": session.session_id,
            "to": session.user_b,
            "toUsername": to_username,
            "expiresAt": session.expires_at,
        },
        request_id,
    )


def invite_frame(session: Session, from_username: str) -> Frame:
    return {
        "type": "invite",
        "sessionId": session.session_id,
        "from": session.user_a,
        "fromUsername": from_username,
        "expiresAt": session.expires_at,
    }


def start_frame(session: Session) -> Frame:
    """`start` with the stored `startAt`/`endsAt`, so both users get the same strings."""
    if session.start_at is None or session.ends_at is None:
        raise ValueError(f"session {session.session_id} has not started")
    duration_ms = parse_iso(session.ends_at) - parse_iso(session.start_at)
    return {
        "type": "start",
        "sessionId": session.session_id,
        "userA": session.user_a,
        "userB": session.user_b,
        "startAt": session.start_at,
        "endsAt": session.ends_at,
        "durationSeconds": duration_ms // 1000,
    }


def rejected_frame(session_id: str, by: str) -> Frame:
    return {"type": "rejected", "sessionId": session_id, "by": by}


def no_response_frame(session_id: str) -> Frame:
    return {"type": "no_response", "sessionId": session_id}


def stop_frame(session_id: str, by: str) -> Frame:
    return {"type": "stop", "sessionId": session_id, "by": by}


def timeout_frame(session_id: str) -> Frame:
    return {"type": "timeout", "sessionId": session_id}


def pong_frame(expire_at: str, request_id: str | None) -> Frame:
    return _with_request_id({"type": "pong", "expireAt": expire_at}, request_id)


def state_frame(sessions: Iterable[Session], request_id: str | None) -> Frame:
    return _with_request_id(
        {"type": "state", "sessions": [session.view() for session in sessions]}, request_id
    )


def error_frame(error: DuelError, request_id: str | None) -> Frame:
    return _with_request_id(
        {"type": "error", "code": error.code.value, "message": error.message}, request_id
    )


def online_body(usernames: Mapping[str, str], statuses: Mapping[str, str]) -> dict[str, Any]:
    """`GET /online` body: each user once, sorted by username case-insensitively.

    Ties (two users whose names differ only in case) are broken by userId so the order
    is stable.
    """
    order = sorted(usernames, key=lambda user: (usernames[user].casefold(), user))
    return {
        "users": [
            {"userId": user, "username": usernames[user], "status": statuses.get(user, "idle")}
            for user in order
        ]
    }
