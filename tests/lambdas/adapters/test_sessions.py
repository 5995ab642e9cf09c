"""Sessions repository on moto: item shape, conditional transitions, locks and races.

Races are played as interleavings: a `decide` callback lets a competing Lambda commit
between our read and our conditional write, which is exactly the window DynamoDB's
conditions protect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters.locks import LockRepository, lock_key
from adapters.sessions import (
    LOCK_PREFIX,
    SessionsRepository,
    TransitionConflict,
    session_from_item,
    session_to_item,
)
from duel.errors import DuelError, ErrorCode
from duel.machine import (
    Outcome,
    Party,
    Timing,
    Transition,
    answer,
    answer_expectation,
    lock_expire_at,
    on_timer,
    open_invite,
    stop,
)
from duel.session import EndReason, Session, Status
from duel.timers import Timer, TimerKind
from duel.times import iso

T0 = 1_767_225_600_000
TIMING = Timing(invite_timeout_s=60, duel_s=600, start_lead_s=3)
TABLE = "duelctl-sessions"


def s(seconds: float) -> int:
    return T0 + round(seconds * 1000)


@pytest.fixture
def repo(aws) -> SessionsRepository:
    return SessionsRepository(aws.dynamodb, TABLE)


@pytest.fixture
def locks(aws, repo) -> LockRepository:
    return LockRepository(aws.dynamodb, TABLE, repo)


def invite(locks: LockRepository, a: str, b: str, sid: str = "s1", at: float = 0) -> Session:
    transition = open_invite(sid, Party(a, a), Party(b, b), s(at), TIMING, None)
    settled: list[Transition] = []
    locks.open_invite(transition, s(at), TIMING, settled.append)
    assert settled == []
    return transition.after


def accept(repo: SessionsRepository, sid: str, by: str, at: float) -> Outcome:
    return repo.run(sid, lambda cur: answer(cur, by, True, s(at), TIMING))


# ---------------------------------------------------------------- items


def test_item_has_exactly_the_protocol_fields(repo, locks, aws) -> None:
    """Pending, active and stopped items carry docs/protocol.md's fields and nothing else."""
    invite(locks, "ua", "ub")
    item = repo._client.get_item(TableName=TABLE, Key={"sessionId": {"S": "s1"}})["Item"]
    assert set(item) == {
        "sessionId", "userA", "userB", "status", "createdAt", "expiresAt", "expireAt"
    }  # fmt: skip
    assert item["expireAt"] == {"N": str(s(60) // 1000 + 300)}
    accept(repo, "s1", "ub", 10)
    active = repo.get("s1")
    assert active is not None and set(session_to_item(active)) == set(item) | {"startAt", "endsAt"}
    repo.run("s1", lambda cur: stop(cur, "ua", s(20), TIMING))
    stored = repo.get("s1")
    assert stored is not None
    stopped = session_to_item(stored)
    assert stopped["endReason"] == {"S": "stop"} and stopped["endedBy"] == {"S": "ua"}
    assert stopped["expireAt"] == {"N": str(s(20) // 1000 + 86400)}


def test_item_round_trip_and_locks_are_not_sessions() -> None:
    """session_from_item inverts session_to_item; a lock item or nothing is no session."""
    session = Session(
        "s1", "a", "b", Status.STOPPED, "c", "e", 5, "x", "y", EndReason.REJECTED, "b"
    )
    assert session_from_item(session_to_item(session)) == session
    lock = {**lock_key("a"), "holder": {"S": "s1"}, "expireAt": {"N": "9"}}
    assert session_from_item(lock) is None
    assert session_from_item(None) is None


def test_get_treats_lock_ids_and_bad_keys_as_missing(repo, locks) -> None:
    """A client naming a lock item, an empty or an oversized id finds nothing."""
    invite(locks, "ua", "ub")
    assert repo.get(LOCK_PREFIX + "ua") is None
    assert repo.get("") is None
    assert repo.get("s" * 3000) is None
    assert repo.get("s1") is not None


# ---------------------------------------------------------------- transitions


def test_save_conflict_returns_the_winner(repo, locks) -> None:
    """A conditional write on a stale status fails and hands back the current item."""
    pending = invite(locks, "ua", "ub")
    won = answer(pending, "ub", True, s(10), TIMING).transition
    lost = stop(pending, "ua", s(10), TIMING).transition
    assert won is not None and lost is not None
    repo.save(won)
    with pytest.raises(TransitionConflict) as conflict:
        repo.save(lost)
    assert conflict.value.current == won.after
    assert repo.get("s1") == won.after


def test_save_on_missing_item_conflicts_with_none(repo, locks) -> None:
    """A session deleted under us (TTL) is a conflict with nothing."""
    pending = invite(locks, "ua", "ub")
    repo._client.delete_item(TableName=TABLE, Key={"sessionId": {"S": "s1"}})
    transition = stop(pending, "ua", s(1), TIMING).transition
    assert transition is not None
    with pytest.raises(TransitionConflict) as conflict:
        repo.save(transition)
    assert conflict.value.current is None


class interleaved:
    """A decide function that lets `competitor` commit right after our first read."""

    def __init__(
        self, first: Callable[[Session | None], Outcome], competitor: Callable[[], object]
    ) -> None:
        self.first = first
        self.competitor = competitor
        self.calls: list[Any] = []  # the items `first` decided on

    def __call__(self, current: Session | None) -> Outcome:
        if not self.calls:
            self.competitor()
        self.calls.append(current)
        return self.first(current)


def test_stop_losing_to_accept_stops_the_duel(repo, locks) -> None:
    """Inviter's withdraw read pending, but the accept committed first: the stop ends the duel."""
    invite(locks, "ua", "ub")
    decide = interleaved(
        lambda cur: stop(cur, "ua", s(30), TIMING), lambda: accept(repo, "s1", "ub", 30)
    )
    outcome = repo.run("s1", decide)
    assert [c.status for c in decide.calls] == [Status.PENDING, Status.ACTIVE]
    assert outcome.error is None and outcome.transition is not None
    assert outcome.transition.notices[0].frame == {"type": "stop", "sessionId": "s1", "by": "ua"}
    final = repo.get("s1")
    assert final is not None and final.end_reason is EndReason.STOP


def test_accept_losing_to_withdraw_is_invalid_state(repo, locks) -> None:
    """The accept read pending, the withdraw committed first: invalid_state, nothing written."""
    invite(locks, "ua", "ub")
    decide = interleaved(
        lambda cur: answer(cur, "ub", True, s(30), TIMING),
        lambda: repo.run("s1", lambda cur: stop(cur, "ua", s(30), TIMING)),
    )
    outcome = repo.run("s1", decide)
    assert outcome.transition is None
    assert outcome.error is not None and outcome.error.code is ErrorCode.INVALID_STATE
    final = repo.get("s1")
    assert final is not None and final.end_reason is EndReason.WITHDRAWN


def test_timer_losing_to_accept_is_dropped(repo, locks) -> None:
    """The expiry timer read pending, the accept (decided before the deadline) won: no-op."""
    invite(locks, "ua", "ub")
    timer = Timer(TimerKind.INVITE_EXPIRY, "s1", iso(s(60)))
    decide = interleaved(
        lambda cur: on_timer(cur, timer, s(60), TIMING), lambda: accept(repo, "s1", "ub", 59.9)
    )
    assert repo.run("s1", decide) == Outcome()
    final = repo.get("s1")
    assert final is not None and final.status is Status.ACTIVE


def test_duplicate_timers_racing_end_the_invite_once(repo, locks) -> None:
    """Two deliveries of one timer both read pending; only one transition is written, and
    the loser is left with the stored ending to resend (receipts decide what still goes)."""
    invite(locks, "ua", "ub")
    timer = Timer(TimerKind.INVITE_EXPIRY, "s1", iso(s(60)))
    seen: list[Outcome] = []

    def twin() -> None:
        seen.append(repo.run("s1", lambda cur: on_timer(cur, timer, s(60.1), TIMING)))

    outcome = repo.run("s1", interleaved(lambda cur: on_timer(cur, timer, s(60), TIMING), twin))
    assert seen[0].transition is not None
    assert outcome.transition is None and outcome.error is None
    assert outcome.resend is not None and outcome.resend.notices == seen[0].transition.notices


# ---------------------------------------------------------------- invites and locks


def test_open_invite_writes_session_and_both_locks(repo, locks, aws) -> None:
    """One transaction: the session plus a lock per user pointing at it."""
    session = invite(locks, "ua", "ub")
    assert locks.holder("ua") == locks.holder("ub") == "s1"
    lock = repo._client.get_item(TableName=TABLE, Key=lock_key("ua"))["Item"]
    assert lock["expireAt"] == {"N": str(lock_expire_at(session, TIMING))}
    assert "userA" not in lock and "userB" not in lock  # out of the GSIs


@pytest.mark.parametrize(("a", "b"), [("ua", "uc"), ("uc", "ub"), ("ub", "uc"), ("uc", "ua")])
def test_open_invite_busy_on_either_side(repo, locks, a: str, b: str) -> None:
    """While ua and ub have a pending invite, neither may invite or be invited."""
    invite(locks, "ua", "ub")
    transition = open_invite("s2", Party(a, a), Party(b, b), s(1), TIMING, None)
    with pytest.raises(DuelError) as refused:
        locks.open_invite(transition, s(1), TIMING, pytest.fail)
    assert refused.value.code is ErrorCode.USER_BUSY
    assert repo.get("s2") is None


def test_open_invite_busy_during_active_duel(repo, locks) -> None:
    """An accepted duel keeps both users busy until it ends."""
    invite(locks, "ua", "ub")
    accept(repo, "s1", "ub", 10)
    transition = open_invite("s2", Party("uc", "uc"), Party("ub", "ub"), s(500), TIMING, None)
    with pytest.raises(DuelError):
        locks.open_invite(transition, s(500), TIMING, pytest.fail)


def test_lock_of_stopped_or_missing_session_is_free(repo, locks) -> None:
    """A lock whose holder stopped or vanished does not make anyone busy."""
    invite(locks, "ua", "ub")
    repo.run("s1", lambda cur: answer(cur, "ub", False, s(5), TIMING))
    invite(locks, "ub", "ua", "s2", at=6)
    repo._client.delete_item(TableName=TABLE, Key={"sessionId": {"S": "s2"}})
    invite(locks, "ua", "uc", "s3", at=7)
    assert locks.holder("ua") == "s3" and locks.holder("ub") == "s2"


def test_overdue_holder_is_ended_before_the_new_invite(repo, locks) -> None:
    """A lock held by a pending invite past its deadline is freed by expiring that invite."""
    invite(locks, "ua", "ub")
    transition = open_invite("s2", Party("uc", "uc"), Party("ub", "ub"), s(61), TIMING, None)
    settled: list[Transition] = []
    locks.open_invite(transition, s(61), TIMING, settled.append)
    assert [t.after.end_reason for t in settled] == [EndReason.NO_RESPONSE]
    old = repo.get("s1")
    assert old is not None and old.end_reason is EndReason.NO_RESPONSE
    assert locks.holder("ub") == "s2"


def test_concurrent_invites_to_one_user_one_wins(repo, locks, aws) -> None:
    """Two invites read the invitee's lock as free; the loser's transaction is cancelled
    and, deciding again on what the cancellation returned, it is user_busy."""
    transition = open_invite("s1", Party("ua", "ua"), Party("ub", "ub"), s(0), TIMING, None)
    original = aws.dynamodb.transact_write_items
    rival: list[bool] = []

    def rival_first(**kwargs):  # the competitor commits between our read and our write
        if not rival:
            rival.append(True)
            invite(locks, "uc", "ub", "s-other")
        return original(**kwargs)

    locks._client = type("Client", (), {})()  # a client whose transaction is raced
    for name in ("batch_get_item", "update_item", "get_item"):
        setattr(locks._client, name, getattr(aws.dynamodb, name))
    locks._client.transact_write_items = rival_first
    with pytest.raises(DuelError) as refused:
        locks.open_invite(transition, s(0), TIMING, pytest.fail)
    assert refused.value.code is ErrorCode.USER_BUSY
    assert repo.get("s1") is None and locks.holder("ua") is None
    assert locks.holder("ub") == "s-other"


def test_overdue_holder_is_announced_even_if_the_other_side_is_busy(repo, locks) -> None:
    """Busy is decided before anything is settled, so no ending goes unannounced."""
    invite(locks, "ua", "ub")
    invite(locks, "uc", "ud", "s2", at=30)
    transition = open_invite("s3", Party("ua", "ua"), Party("uc", "uc"), s(61), TIMING, None)
    with pytest.raises(DuelError):
        locks.open_invite(transition, s(61), TIMING, pytest.fail)
    still = repo.get("s1")
    assert still is not None and still.status is Status.PENDING  # left for its timer


def test_overdue_holders_of_both_users_are_each_settled_once(repo, locks) -> None:
    """Two users locked by the same overdue session: it is ended once, then re-locked."""
    invite(locks, "ua", "ub")
    transition = open_invite("s2", Party("ub", "ub"), Party("ua", "ua"), s(61), TIMING, None)
    settled: list[Transition] = []
    locks.open_invite(transition, s(61), TIMING, settled.append)
    assert [t.after.session_id for t in settled] == ["s1"]
    assert locks.holder("ua") == locks.holder("ub") == "s2"


# ---------------------------------------------------------------- reads


def test_for_user_finds_both_roles(repo, locks) -> None:
    """A user's sessions come from both GSIs; lock items never show up."""
    invite(locks, "ua", "ub")
    repo.run("s1", lambda cur: stop(cur, "ua", s(1), TIMING))
    invite(locks, "uc", "ua", "s2", at=2)
    assert sorted(x.session_id for x in repo.for_user("ua")) == ["s1", "s2"]
    assert [x.session_id for x in repo.for_user("ub")] == ["s1"]
    assert repo.for_user("nobody") == []


def test_current_sessions_batch_reads_locks_then_holders(repo, locks) -> None:
    """Every user maps to their lock's holder session, or None."""
    invite(locks, "ua", "ub")
    current = locks.current_sessions(["ua", "ub", "uc"])
    assert current["ua"] is not None and current["ua"].session_id == "s1"
    assert current["ub"] == current["ua"]
    assert current["uc"] is None
    many = locks.current_sessions([f"user-{i}" for i in range(250)] + ["ua"])
    assert len(many) == 251 and many["ua"] is not None


# ---------------------------------------------------------------- start before ending


def test_start_delivery_state_round_trips() -> None:
    """startLease and startSent survive item conversion (the TTL backstop writes them back)."""
    session = Session(
        "s1", "a", "b", Status.ACTIVE, "c", "e", 5, "x", "y", start_lease=s(10), start_sent=True
    )
    item = session_to_item(session)
    assert (item["startLease"], item["startSent"]) == ({"N": str(s(10))}, {"BOOL": True})
    assert session_from_item(item) == session


def test_accept_takes_the_start_lease_and_start_sent_fences_enders(repo, locks) -> None:
    """The accept's write records its lease; startSent returns the item as it stands, so
    an accepter learns whether an ending came first."""
    invite(locks, "ua", "ub")
    repo.run(
        "s1",
        lambda cur: answer(cur, "ub", True, s(10), TIMING),
        expect=answer_expectation("ub", True, s(10), TIMING),
        lease_until=s(20),
    )
    active = repo.get("s1")
    assert active is not None and (active.start_lease, active.start_sent) == (s(20), False)
    marked = repo.mark_start_sent("s1")
    assert marked is not None and marked.status is Status.ACTIVE and marked.start_sent
    outcome = repo.run("s1", lambda cur: stop(cur, "ua", s(11), TIMING))
    assert outcome.transition is not None and outcome.transition.before == marked
    assert repo.mark_start_sent("nope") is None


def test_a_transition_names_the_item_its_write_replaced(repo, locks) -> None:
    """A stop decided on an item read before startSent was recorded, but written after it:
    its `before` is the item it replaced, startSent included, not the stale read."""
    invite(locks, "ua", "ub")
    repo.run(
        "s1",
        lambda cur: answer(cur, "ub", True, s(10), TIMING),
        expect=answer_expectation("ub", True, s(10), TIMING),
        lease_until=s(20),
    )
    decide = interleaved(
        lambda cur: stop(cur, "ua", s(11), TIMING), lambda: repo.mark_start_sent("s1")
    )
    outcome = repo.run("s1", decide)
    assert [c.start_sent for c in decide.calls] == [False]
    assert outcome.transition is not None and outcome.transition.before is not None
    assert outcome.transition.before.start_sent
