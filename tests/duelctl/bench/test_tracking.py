"""Frame accounting of a bench connection, without sockets: `BenchConn.on_text` directly."""

from __future__ import annotations

import json

from duelctl.bench.conn import BenchConn, StepFailed, Tally
from duelctl.bench.stats import percentile, summarize


def conn() -> tuple[BenchConn, Tally]:
    tally = Tally()
    return BenchConn(0, "u-a", "alice", "token", tally), tally


def frame(**body: object) -> str:
    return json.dumps(body)


async def test_an_expected_frame_resolves_its_wait_once_and_a_repeat_is_a_duplicate() -> None:
    """The first `start` of a session fulfils the wait; the same frame again is duplicated."""
    c, tally = conn()
    wait = c.expect("start", session_id="s1")
    c.on_text(frame(type="start", sessionId="s1"))
    assert wait.future.done() and wait.future.result().data["sessionId"] == "s1"
    c.on_text(frame(type="start", sessionId="s1"))
    assert tally.duplicated == 1
    assert tally.duplicated_types == {"start": 1}
    assert tally.unexpected == {}


async def test_a_frame_after_its_wait_gave_up_is_late_not_lost() -> None:
    """give_up marks the frame lost until it arrives; then it counts as late."""
    c, tally = conn()
    wait = c.expect("pong", request_id="r1")
    c.give_up(wait)
    assert [e.type for e in c.timed_out] == ["pong"]
    c.on_text(frame(type="pong", requestId="r1", expireAt="2026-01-01T00:00:00.000Z"))
    assert c.timed_out == []
    assert tally.late == 1


async def test_frames_nobody_waits_for_are_unexpected_unless_their_session_was_abandoned() -> None:
    """Unexpected frames are counted by type; an abandoned session's frames are ignored."""
    c, tally = conn()
    c.on_text(frame(type="timeout", sessionId="s1"))
    c.abandoned.add("s2")
    c.on_text(frame(type="stop", sessionId="s2", by="u-b"))
    assert tally.unexpected == {"timeout": 1}
    assert tally.ignored == 1


async def test_an_error_answering_a_request_fails_its_wait_and_is_counted_by_code() -> None:
    """An error frame with the request's id ends that wait with StepFailed(code)."""
    c, tally = conn()
    wait = c.expect("invite_sent", request_id="r9")
    c.on_text(frame(type="error", code="user_busy", message="busy", requestId="r9"))
    assert isinstance(wait.future.exception(), StepFailed)
    assert tally.errors == {"user_busy": 1}


async def test_a_racing_request_defers_its_error_and_either_outcome_ends_the_wait() -> None:
    """A wait for ("stop", "timeout") takes whichever comes; the racing error waits aside."""
    c, tally = conn()
    wait = c.expect(("stop", "timeout"), session_id="s1")
    c.racing["r1"] = None
    c.on_text(frame(type="error", code="invalid_state", message="over", requestId="r1"))
    c.on_text(frame(type="timeout", sessionId="s1"))
    assert wait.future.result().data["type"] == "timeout"
    assert c.racing == {"r1": "invalid_state"}
    assert tally.errors == {}
    assert "stop" not in c.expects  # both frame types stop routing to the finished wait


async def test_api_gateway_message_frames_count_as_errors() -> None:
    """{"message": "Internal server error", ...} has no type: counted under its message."""
    c, tally = conn()
    c.on_text(json.dumps({"message": "Internal server error", "connectionId": "x"}))
    c.on_text("not json")
    assert tally.errors == {"internal_server_error": 1, "not_json": 1}


def test_percentiles_are_nearest_rank_and_empty_summaries_keep_their_keys() -> None:
    """p50 of 1..100 is 50, p99 is 99; no samples gives the same keys with None."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert summarize(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert summarize([]) == {"p50": None, "p95": None, "p99": None, "max": None}
