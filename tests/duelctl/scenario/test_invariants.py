"""The duel's invariants (scenario/invariants.py) on hand-made histories, items and frames."""

from __future__ import annotations

from typing import Any

from duelctl.scenario.audit import sockets_of
from duelctl.scenario.invariants import (
    STOPPED_TTL_S,
    Change,
    Socket,
    check_connections,
    check_final,
    check_frames,
    check_history,
    plain,
)
from duelctl.scenario.model import Scenario
from duelctl.scenario.results import Event, Result

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
LEAD = 3.0


def wire(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session(sid: str, a: str, b: str, created: float, **extra: Any) -> dict[str, Any]:
    item = {
        "sessionId": sid,
        "userA": a,
        "userB": b,
        "status": "pending",
        "createdAt": wire(created),
        "expiresAt": wire(created + 60),
        "expireAt": created + 360,
    }
    item.update(extra)
    return item


def accepted(item: dict[str, Any], at: float) -> dict[str, Any]:
    start = at + LEAD
    return {**item, "status": "active", "startAt": wire(start), "endsAt": wire(start + 600)}


def stopped(item: dict[str, Any], at: float, reason: str) -> dict[str, Any]:
    return {
        **item,
        "status": "stopped",
        "endReason": reason,
        "expireAt": int(at) + 1 + STOPPED_TTL_S,
    }


class History:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.images: dict[str, dict[str, Any]] = {}

    def write(self, image: dict[str, Any]) -> History:
        sid = image["sessionId"]
        before = self.images.get(sid)
        self.images[sid] = image
        seq = str(100 + len(self.changes))
        self.changes.append(Change(seq, "MODIFY" if before else "INSERT", sid, before, image))
        return self


def test_two_live_sessions_for_one_user_are_reported_with_their_writes() -> None:
    s1 = session("s1", "alice", "bob", T0)
    s2 = session("s2", "carol", "bob", T0 + 1)
    history = History().write(s1).write(s2)
    [found] = check_history(history.changes, {"bob"}, start_lead_s=LEAD)
    assert found.invariant == "one-live-session" and found.subject == "bob"
    assert "session s1 pending" in found.message and "session s2 became pending" in found.message
    assert found.trace == ("#100 INSERT s1 pending", "#101 INSERT s2 pending")


def test_an_ended_or_overdue_session_frees_its_users() -> None:
    s1 = session("s1", "alice", "bob", T0)
    ended = History().write(s1).write(stopped(s1, T0 + 5, "rejected"))
    ended.write(session("s2", "carol", "bob", T0 + 6))
    assert check_history(ended.changes, {"bob"}, start_lead_s=LEAD) == []
    overdue = History().write(s1).write(session("s3", "carol", "bob", T0 + 60))
    assert check_history(overdue.changes, {"bob"}, start_lead_s=LEAD) == []


def test_an_accept_at_the_deadline_and_an_active_rival_are_violations() -> None:
    s1 = session("s1", "alice", "bob", T0)
    late = History().write(s1).write(accepted(s1, T0 + 60))
    [found] = check_history(late.changes, {"bob"}, start_lead_s=LEAD)
    assert found.invariant == "past-deadline" and "accepted at" in found.message
    rival = History().write(s1).write(accepted(s1, T0 + 59.9))
    rival.write(session("s2", "bob", "dave", T0 + 100))
    [busy] = check_history(rival.changes, {"bob"}, start_lead_s=LEAD)
    assert busy.invariant == "one-live-session" and "s1 active" in busy.message


def test_final_state_live_past_backstop_or_ended_late_by_a_user() -> None:
    s1 = session("s1", "alice", "bob", T0)
    assert check_final({"s1": s1}, T0 + 61) == []  # overdue, but the backstop has time
    [stuck] = check_final({"s1": s1}, T0 + 360 + 60)
    assert stuck.invariant == "past-deadline" and "still pending" in stuck.message
    late_reject = stopped(s1, T0 + 62, "rejected")
    [late] = check_final({"s1": late_reject}, T0 + 1000)
    assert "ended by rejected" in late.message
    assert check_final({"s1": stopped(s1, T0 + 30, "rejected")}, T0 + 1000) == []
    assert check_final({"s1": stopped(s1, T0 + 62, "no_response")}, T0 + 1000) == []


def socket(
    name: str, user: str, frames: list[tuple[float, dict[str, Any]]], **span: float
) -> Socket:
    return Socket(name, user, span.get("opened", T0 - 10), span.get("closed", T0 + 2000), frames)


def test_starts_and_endings_once_each_in_order() -> None:
    s1 = stopped(accepted(session("s1", "alice", "bob", T0), T0 + 5), T0 + 20, "stop")
    start = {"type": "start", "sessionId": "s1"}
    stop = {"type": "stop", "sessionId": "s1", "by": "alice"}
    good = socket("alice", "alice", [(T0 + 6, start), (T0 + 21, stop)])
    assert check_frames({"s1": s1}, [good], start_lead_s=LEAD, grace_s=200) == []
    twice = socket(
        "bob", "bob", [(T0 + 6, start), (T0 + 6.1, start), (T0 + 21, stop), (T0 + 22, stop)]
    )
    found = check_frames({"s1": s1}, [twice], start_lead_s=LEAD, grace_s=200)
    assert [v.invariant for v in found] == ["one-start", "one-ending"]
    assert found[1].trace[-1].endswith("bob <- stop by=alice")
    after = socket("bob", "bob", [(T0 + 21, stop), (T0 + 22, start)])
    assert [
        v.message.split(" after ")[0]
        for v in check_frames({"s1": s1}, [after], start_lead_s=LEAD, grace_s=200)
    ] == ["bob got start for session s1"]


def test_missing_frames_count_only_for_sockets_open_throughout() -> None:
    s1 = stopped(accepted(session("s1", "alice", "bob", T0), T0 + 5), T0 + 20, "timeout")
    silent = socket("bob", "bob", [])
    found = check_frames({"s1": s1}, [silent], start_lead_s=LEAD, grace_s=200)
    assert ["no start" in v.message or "no ending" in v.message for v in found] == [True, True]
    closed_early = socket("bob", "bob", [], closed=T0 + 30)
    assert check_frames({"s1": s1}, [closed_early], start_lead_s=LEAD, grace_s=200) == []
    wrong = socket(
        "bob",
        "bob",
        [
            (T0 + 6, {"type": "start", "sessionId": "s1"}),
            (T0 + 21, {"type": "stop", "sessionId": "s1"}),
        ],
    )
    [mismatch] = check_frames({"s1": s1}, [wrong], start_lead_s=LEAD, grace_s=200)
    assert "calls for timeout" in mismatch.message
    stranger = socket("carol", "carol", [])
    assert check_frames({"s1": s1}, [stranger], start_lead_s=LEAD, grace_s=200) == []


def test_only_items_whose_disconnect_ran_are_stale() -> None:
    found = check_connections([("u", "c1", "ran"), ("u", "c2", "dropped"), ("u", "c3", None)])
    assert [v.subject for v in found] == ["c1"]


def test_images_and_the_timeline_become_plain_data() -> None:
    assert plain({"status": {"S": "active"}, "expireAt": {"N": "12"}}) == {
        "status": "active",
        "expireAt": 12.0,
    }
    scenario = Scenario("s", "s.yaml", 1, "", {}, ("alice",), (), ())
    events = [
        Event(0, "alice", "connect", "connected"),
        Event(10, "alice", "recv", "{}", {"type": "pong"}),
        Event(20, "alice", "disconnect", "bye"),
        Event(30, "alice", "connect", "again"),
        Event(40, "alice", "recv", "{}", {"type": "state"}),
    ]
    result = Result(
        scenario, None, events, 1.0, {"alice": "a"}, {"alice": "uid-a"}, 0, started_at=T0
    )
    first, second = sockets_of(result)
    assert (first.opened_at, first.closed_at) == (T0, T0 + 0.02)
    assert [f["type"] for _t, f in first.frames] == ["pong"]
    assert (second.opened_at, second.closed_at, second.user_id) == (T0 + 0.03, T0 + 1.0, "uid-a")
    assert [f["type"] for _t, f in second.frames] == ["state"]
