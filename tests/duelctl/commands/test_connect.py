"""`duelctl connect`: a user can find and end their sessions, even from a fresh connection."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from duelctl.cli import app
from duelctl.client.auth import CognitoTokens

# Piped input ends with `connect` waiting for 1 s of quiet (replies on their way): ~2 s each.
pytestmark = pytest.mark.slow
runner = CliRunner()


def connect(duel_server, user: str, typed: str):
    return runner.invoke(app, ["connect", user, "--endpoints", str(duel_server.file)], input=typed)


def stuck_session(duel_server, user: str, status: str = "active", sid: str | None = None) -> str:
    """A session the user is in, left over from another connection (say, a closed tab)."""
    me = CognitoTokens(duel_server.endpoints).signed_in(user).user_id
    sid = sid or str(uuid.uuid4())
    duel_server.server.sessions[sid] = {
        "sessionId": sid,
        "userA": me,
        "userB": str(uuid.uuid4()),
        "status": status,
        "startAt": "2026-01-01T00:00:00.000Z",
        "endsAt": "2026-01-01T00:10:00.000Z",
    }
    return sid


def sent(duel_server) -> list[dict[str, object]]:
    return [json.loads(text) for text in duel_server.server.received]


def test_stop_alone_stops_the_users_current_session(duel_server) -> None:
    """A fresh connection knows no session: `stop` asks `state` first, then stops that one."""
    sid = stuck_session(duel_server, "erin")
    result = connect(duel_server, "erin", "stop\nquit\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert sent(duel_server)[-1] == {"action": "stop", "sessionId": sid}
    assert "← stop" in result.stdout
    assert duel_server.server.sessions[sid]["status"] == "stopped"


def test_state_lists_whole_session_ids(duel_server) -> None:
    """What `state` shows can be copied into `stop`: the whole id, with who and until when."""
    sid = stuck_session(duel_server, "fay")
    result = connect(duel_server, "fay", "state\nquit\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if sid in line]
    assert "active" in line and "ends 2026-01-01T00:10:00.000Z" in line


def test_stop_takes_a_unique_prefix_of_an_id(duel_server) -> None:
    """The frame lines show 8 characters; typing them (even with the …) is enough."""
    sid = stuck_session(duel_server, "gil")
    result = connect(duel_server, "gil", f"stop {sid[:8]}…\nquit\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert sent(duel_server)[-1] == {"action": "stop", "sessionId": sid}


def test_an_ambiguous_prefix_is_not_sent(duel_server) -> None:
    """Two sessions share the prefix: nothing is sent and both ids are named."""
    first = stuck_session(duel_server, "hal", sid="abcd0001-0000-4000-8000-000000000001")
    second = stuck_session(
        duel_server, "hal", status="pending", sid="abcd0002-0000-4000-8000-000000000002"
    )
    result = connect(duel_server, "hal", "stop abcd\nquit\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "'abcd' matches several sessions" in result.stderr
    assert first in result.stderr and second in result.stderr
    assert not any(m.get("action") == "stop" for m in sent(duel_server))


def test_accept_alone_answers_the_invite_to_the_user(duel_server) -> None:
    """`accept` picks a pending invite to me, not my own invite or an active duel."""
    me = CognitoTokens(duel_server.endpoints).signed_in("ivy").user_id
    mine = stuck_session(duel_server, "ivy", status="pending")  # ivy invited someone
    theirs = str(uuid.uuid4())
    duel_server.server.sessions[theirs] = {
        "sessionId": theirs,
        "userA": str(uuid.uuid4()),
        "userB": me,
        "status": "pending",
    }
    result = connect(duel_server, "ivy", "accept\nquit\n")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert sent(duel_server)[-1] == {"action": "response", "sessionId": theirs, "accept": True}
    assert mine != theirs
