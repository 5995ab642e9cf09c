"""The session state machine on its own: transitions, error precedence, and races.

A race between Lambdas is modelled as the order in which their decisions reach the
table: each decides with its own `now`, and a loser decides again on what the winner
wrote (SessionsRepository.run), which is the same as deciding in that order.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from duel.errors import ErrorCode
from duel.machine import (
    TRANSITIONS,
    Command,
    Ending,
    IllegalTransition,
    Notice,
    Outcome,
    Party,
    Timing,
    Transition,
    answer,
    apply,
    check_invite,
    ending_left_to_accepter,
    ending_notices,
    ending_of,
    expect,
    is_engaged,
    lock_expire_at,
    on_timer,
    on_ttl_removed,
    open_invite,
    settle,
    start_in_flight,
    stop,
    timer_expectation,
    user_status,
)
from duel.session import EndReason, Session, Status
from duel.timers import Timer, TimerKind, timer_for
from duel.times import iso

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
TIMING = Timing(invite_timeout_s=60, duel_s=600, start_lead_s=3)
A, B, C = "user-a", "user-b", "user-c"


def s(seconds: float) -> int:
    return T0 + round(seconds * 1000)


def invited(at: float = 0, request_id: str | None = None) -> Session:
    return open_invite("s1", Party(A, "alice"), Party(B, "bob"), s(at), TIMING, request_id).after


def accepted(at: float = 30) -> Session:
    outcome = answer(invited(), B, True, s(at), TIMING)
    assert outcome.transition is not None
    return outcome.transition.after


def types(notices: tuple[Notice, ...], user: str = A) -> list[str]:
    return [n.frame["type"] for n in notices if n.user_id == user]


# ---------------------------------------------------------------- the table


def test_table_covers_exactly_the_lifecycle() -> None:
    """Seven commands, each from exactly one source state, all ending where the protocol says."""
    assert {(src, cmd): (r.target, r.end_reason) for (src, cmd), r in TRANSITIONS.items()} == {
        (None, Command.INVITE): (Status.PENDING, None),
        (Status.PENDING, Command.ACCEPT): (Status.ACTIVE, None),
        (Status.PENDING, Command.REJECT): (Status.STOPPED, EndReason.REJECTED),
        (Status.PENDING, Command.WITHDRAW): (Status.STOPPED, EndReason.WITHDRAWN),
        (Status.PENDING, Command.INVITE_EXPIRED): (Status.STOPPED, EndReason.NO_RESPONSE),
        (Status.ACTIVE, Command.STOP): (Status.STOPPED, EndReason.STOP),
        (Status.ACTIVE, Command.DUEL_ENDED): (Status.STOPPED, EndReason.TIMEOUT),
    }


def test_open_invite() -> None:
    """An invite is pending until now + timeout; TTL is the deadline + 300 s."""
    transition = open_invite("s1", Party(A, "alice"), Party(B, "bob"), s(0), TIMING, "r1")
    session = transition.after
    assert transition.before is None
    assert (session.status, session.user_a, session.user_b) == (Status.PENDING, A, B)
    assert session.created_at == "2026-01-01T00:00:00.000Z"
    assert session.expires_at == "2026-01-01T00:01:00.000Z"
    assert session.expire_at == T0 // 1000 + 60 + 300
    sent, invite = transition.notices
    assert sent.user_id == A and invite.user_id == B
    assert sent.frame["type"] == "invite_sent" and sent.frame["requestId"] == "r1"
    assert sent.frame["toUsername"] == "bob" and invite.frame["fromUsername"] == "alice"
    assert sent.frame["expiresAt"] == invite.frame["expiresAt"] == session.expires_at
    assert "requestId" not in invite.frame


def test_check_invite_refuses_self() -> None:
    """Inviting yourself is self_invite; anyone else passes."""
    error = check_invite(A, A)
    assert error is not None and error.code is ErrorCode.SELF_INVITE
    assert check_invite(A, B) is None


def test_accept_starts_after_the_lead() -> None:
    """startAt = accept + lead, endsAt = startAt + duel; both users get one identical frame."""
    outcome = answer(invited(), B, True, s(30), TIMING)
    assert outcome.error is None and outcome.transition is not None
    after = outcome.transition.after
    assert after.status is Status.ACTIVE
    assert after.start_at == iso(s(33)) and after.ends_at == iso(s(633))
    assert after.expire_at == s(633) // 1000 + 300
    to_a, to_b = outcome.transition.notices
    assert (to_a.user_id, to_b.user_id) == (A, B)
    assert to_a.frame is to_b.frame
    assert to_a.frame["durationSeconds"] == 600


def test_reject_withdraw_stop_record_who() -> None:
    """User endings keep endReason and endedBy and live a day in the table."""
    rejected = answer(invited(), B, False, s(10), TIMING).transition
    assert rejected is not None
    assert (rejected.after.end_reason, rejected.after.ended_by) == (EndReason.REJECTED, B)
    assert rejected.after.expire_at == s(10) // 1000 + 86400
    assert rejected.notices[0].frame == {"type": "rejected", "sessionId": "s1", "by": B}

    withdrawn = stop(invited(), A, s(10), TIMING).transition
    assert withdrawn is not None
    assert (withdrawn.after.end_reason, withdrawn.after.ended_by) == (EndReason.WITHDRAWN, A)
    assert withdrawn.notices[1].frame == {"type": "stop", "sessionId": "s1", "by": A}

    stopped = stop(accepted(), B, s(100), TIMING).transition
    assert stopped is not None
    assert (stopped.after.end_reason, stopped.after.ended_by) == (EndReason.STOP, B)
    assert stopped.notices[0].frame == {"type": "stop", "sessionId": "s1", "by": B}


def test_system_endings_have_no_ended_by() -> None:
    """no_response and timeout are nobody's doing."""
    expired = settle(invited(), s(60), TIMING)
    assert expired is not None and expired.after.ended_by is None
    assert expired.after.end_reason is EndReason.NO_RESPONSE
    assert types(expired.notices, A) == types(expired.notices, B) == ["no_response"]
    ended = settle(accepted(), s(633), TIMING)
    assert ended is not None and ended.after.end_reason is EndReason.TIMEOUT
    assert types(ended.notices, B) == ["timeout"]


@pytest.mark.parametrize(
    ("session", "command", "by", "at"),
    [
        (invited, Command.ACCEPT, A, 10),  # inviter cannot accept
        (invited, Command.WITHDRAW, B, 10),  # invitee cannot withdraw
        (invited, Command.STOP, A, 10),  # stop is for active duels
        (invited, Command.ACCEPT, B, 60),  # too late
        (invited, Command.INVITE_EXPIRED, None, 59.999),  # too early
        (accepted, Command.STOP, C, 100),  # outsider
        (accepted, Command.DUEL_ENDED, None, 632.999),  # too early
        (accepted, Command.STOP, A, 633),  # too late
        (accepted, Command.ACCEPT, B, 100),  # not pending
    ],
)
def test_apply_refuses_what_the_table_forbids(
    session: Callable[[], Session], command: Command, by: str | None, at: float
) -> None:
    """Wrong state, wrong role or wrong side of the deadline is a programming error."""
    with pytest.raises(IllegalTransition):
        apply(session(), command, s(at), TIMING, by=by)


# ---------------------------------------------------------------- error precedence


def code(outcome: Outcome) -> ErrorCode | None:
    return outcome.error.code if outcome.error else None


def test_answer_precedence() -> None:
    """not_found, then forbidden, then invalid_state."""
    assert code(answer(None, B, True, s(10), TIMING)) is ErrorCode.NOT_FOUND
    assert code(answer(invited(), C, True, s(10), TIMING)) is ErrorCode.NOT_FOUND
    assert code(answer(invited(), A, True, s(10), TIMING)) is ErrorCode.FORBIDDEN
    stopped = stop(invited(), A, s(5), TIMING).transition
    assert stopped is not None
    # forbidden beats invalid_state: the inviter may never answer.
    assert code(answer(stopped.after, A, True, s(10), TIMING)) is ErrorCode.FORBIDDEN
    assert code(answer(stopped.after, B, True, s(10), TIMING)) is ErrorCode.INVALID_STATE
    assert code(answer(accepted(), B, False, s(40), TIMING)) is ErrorCode.INVALID_STATE
    # Errors change nothing.
    assert answer(stopped.after, B, True, s(10), TIMING).transition is None


def test_stop_precedence() -> None:
    """not_found, then forbidden (invitee on a pending invite), then invalid_state."""
    assert code(stop(None, A, s(10), TIMING)) is ErrorCode.NOT_FOUND
    assert code(stop(accepted(), C, s(40), TIMING)) is ErrorCode.NOT_FOUND
    assert code(stop(invited(), B, s(10), TIMING)) is ErrorCode.FORBIDDEN
    ended = stop(accepted(), A, s(40), TIMING).transition
    assert ended is not None
    assert code(stop(ended.after, A, s(41), TIMING)) is ErrorCode.INVALID_STATE
    assert code(stop(ended.after, B, s(41), TIMING)) is ErrorCode.INVALID_STATE
    assert code(stop(ended.after, C, s(41), TIMING)) is ErrorCode.NOT_FOUND


def test_late_accept_expires_the_invite_once() -> None:
    """An accept at or after expiresAt is invalid_state and ends the invite as no_response."""
    outcome = answer(invited(), B, True, s(60), TIMING)
    assert code(outcome) is ErrorCode.INVALID_STATE
    assert outcome.transition is not None
    assert outcome.transition.after.end_reason is EndReason.NO_RESPONSE
    assert types(outcome.transition.notices) == ["no_response"]
    # The expiry timer that comes afterwards changes nothing; it only owes the stored
    # ending's notices, which receipts show as sent (adapters/delivery.py).
    timer = timer_for(invited())
    assert timer is not None
    later = on_timer(outcome.transition.after, timer, s(60.2), TIMING)
    assert later.transition is None and later.error is None
    assert later.resend == Ending("s1", outcome.transition.notices)


def test_late_stop_times_the_duel_out_once() -> None:
    """A stop at or after endsAt is invalid_state and the duel ends as timeout."""
    outcome = stop(accepted(), A, s(700), TIMING)
    assert code(outcome) is ErrorCode.INVALID_STATE
    assert outcome.transition is not None
    assert types(outcome.transition.notices, B) == ["timeout"]


# ---------------------------------------------------------------- timers


def test_timer_early_is_rescheduled_for_the_session_deadline() -> None:
    """A timer delivered early (a 900 s chain link, or ahead of time) re-enqueues itself."""
    session = accepted()
    early = Timer(TimerKind.DUEL_END, "s1", iso(s(633)))
    assert on_timer(session, early, s(400), TIMING) == Outcome(reschedule=early)


def test_timer_for_wrong_state_is_dropped() -> None:
    """An expiry timer for an accepted invite, or any timer for a gone session, does nothing."""
    expiry = Timer(TimerKind.INVITE_EXPIRY, "s1", iso(s(60)))
    assert on_timer(accepted(), expiry, s(60), TIMING) == Outcome()
    assert on_timer(None, expiry, s(60), TIMING) == Outcome()
    duel_end = Timer(TimerKind.DUEL_END, "s1", iso(s(633)))
    assert on_timer(invited(), duel_end, s(633), TIMING) == Outcome()


# ---------------------------------------------------------------- races


@dataclass(frozen=True)
class Step:
    name: str
    at: float
    decide: Callable[[Session | None, int], Outcome]


def run(session: Session, steps: tuple[Step, ...]) -> tuple[Session, list[str], dict[str, str]]:
    """Apply steps in order; returns the final session, frames to A, errors by step."""
    frames: list[str] = []
    errors: dict[str, str] = {}
    current: Session | None = session
    for step in steps:
        outcome = step.decide(current, s(step.at))
        if outcome.transition is not None:
            current = outcome.transition.after
            frames.extend(types(outcome.transition.notices, A))
            assert types(outcome.transition.notices, A) == types(outcome.transition.notices, B)
        if outcome.error is not None:
            errors[step.name] = outcome.error.code.value
    assert current is not None
    return current, frames, errors


EXPIRY = Timer(TimerKind.INVITE_EXPIRY, "s1", iso(s(60)))
DUEL_END = Timer(TimerKind.DUEL_END, "s1", iso(s(633)))
PENDING_ENDINGS = {"start", "rejected", "no_response", "stop"}


def accept_at(at: float) -> Step:
    return Step("accept", at, lambda cur, now: answer(cur, B, True, now, TIMING))


def reject_at(at: float) -> Step:
    return Step("reject", at, lambda cur, now: answer(cur, B, False, now, TIMING))


def stop_at(at: float, by: str = A) -> Step:
    return Step(f"stop-{by}", at, lambda cur, now: stop(cur, by, now, TIMING))


def timer_at(at: float, timer: Timer, name: str = "timer") -> Step:
    return Step(name, at, lambda cur, now: on_timer(cur, timer, now, TIMING))


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([accept_at(59), stop_at(59), timer_at(60, EXPIRY)])),
    ids=lambda order: ">".join(step.name for step in order),
)
def test_pending_race_accept_stop_timer(order: tuple[Step, ...]) -> None:
    """Whatever order accept, the inviter's stop and the expiry timer land in, the invite
    ends exactly once, and an active duel is stopped at most once."""
    final, frames, errors = run(invited(), order)
    first = order[0].name
    assert frames[0] in PENDING_ENDINGS and final.status is Status.STOPPED
    if first == "accept":
        # The accept won: the inviter's stop then ends the duel; the timer is dropped.
        assert frames == ["start", "stop"]
        assert final.end_reason is EndReason.STOP
        assert errors == {}
    elif first == "stop-user-a":
        assert frames == ["stop"]
        assert final.end_reason is EndReason.WITHDRAWN
        assert errors == {"accept": "invalid_state"}
    else:
        # The timer won: the later accept and stop (decided before the deadline) lose.
        assert frames == ["no_response"]
        assert final.end_reason is EndReason.NO_RESPONSE
        assert errors == {"accept": "invalid_state", "stop-user-a": "invalid_state"}


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([accept_at(20), reject_at(20), timer_at(60, EXPIRY)])),
    ids=lambda order: ">".join(step.name for step in order),
)
def test_pending_race_accept_reject_timer(order: tuple[Step, ...]) -> None:
    """Two answers from the invitee's two tabs and the timer: the first to land wins."""
    _, frames, errors = run(invited(), order)
    expected = {"accept": "start", "reject": "rejected", "timer": "no_response"}[order[0].name]
    assert frames == [expected]
    losers = {step.name for step in order[1:] if step.name != "timer"}
    assert set(errors) == losers
    assert set(errors.values()) <= {"invalid_state"}


@pytest.mark.parametrize(
    "order",
    list(
        itertools.permutations(
            [
                stop_at(632, A),
                stop_at(632, B),
                timer_at(633, DUEL_END, "timer-1"),
                timer_at(633.5, DUEL_END, "timer-2"),
            ]
        )
    ),
    ids=lambda order: ">".join(step.name for step in order),
)
def test_active_race_stops_and_duplicate_timers(order: tuple[Step, ...]) -> None:
    """Both users' stops and a duplicated duel_end timer: exactly one stop or timeout."""
    final, frames, errors = run(accepted(), order)
    assert len(frames) == 1
    winner = order[0].name
    if winner.startswith("stop"):
        assert frames == ["stop"] and final.ended_by == winner.removeprefix("stop-")
    else:
        assert frames == ["timeout"] and final.end_reason is EndReason.TIMEOUT
    # Losing user inputs get invalid_state; losing timers are dropped without a word.
    assert set(errors) == {step.name for step in order[1:] if step.name.startswith("stop")}


def test_duplicate_expiry_timers_notify_once() -> None:
    """A timer delivered twice ends the invite once; the second delivery is silent."""
    _, frames, errors = run(invited(), (timer_at(60, EXPIRY, "t1"), timer_at(60, EXPIRY, "t2")))
    assert frames == ["no_response"] and errors == {}


def test_accept_then_both_timers() -> None:
    """After an accept the expiry timer is dropped and the duel_end timer times the duel out."""
    _, frames, _ = run(invited(), (accept_at(10), timer_at(60, EXPIRY), timer_at(613, DUEL_END)))
    assert frames == ["start", "timeout"]


# ---------------------------------------------------------------- status and TTL backstop


def test_engagement_and_status() -> None:
    """Pending/active sessions bind their users until their deadline, then free them."""
    assert user_status(None, s(0)) == "idle"
    assert user_status(invited(), s(59)) == "invited" and is_engaged(invited(), s(59))
    assert user_status(invited(), s(60)) == "idle" and not is_engaged(invited(), s(60))
    assert user_status(accepted(), s(632)) == "in_duel"
    assert user_status(accepted(), s(633)) == "idle"
    stopped = stop(accepted(), A, s(40), TIMING).transition
    assert stopped is not None and user_status(stopped.after, s(41)) == "idle"


def test_lock_outlives_any_accepted_duel() -> None:
    """A user lock's TTL is past the end of a duel accepted at the last moment."""
    latest_end = s(60 + 3 + 600)
    assert lock_expire_at(invited(), TIMING) >= latest_end // 1000 + 300


def test_ttl_backstop() -> None:
    """A session TTL-removed while pending ends as no_response, while active as timeout,
    whatever the clock says; a stopped one (or none) says nothing."""
    pending = on_ttl_removed(invited(), s(10), TIMING)
    assert pending is not None and types(pending.notices, B) == ["no_response"]
    assert pending.after.status is Status.STOPPED and pending.after.ended_by is None
    assert pending.after.end_reason is EndReason.NO_RESPONSE
    assert pending.after.expire_at == s(10) // 1000 + 86400
    active = on_ttl_removed(accepted(), s(1000), TIMING)
    assert active is not None and types(active.notices, A) == ["timeout"]
    stopped = stop(accepted(), A, s(40), TIMING).transition
    assert stopped is not None
    assert on_ttl_removed(stopped.after, s(1000), TIMING) is None
    assert on_ttl_removed(None, s(1000), TIMING) is None


def test_timers_resend_only_their_own_ending() -> None:
    """A timer finding its session ended its way owes that ending; any other end, nothing."""
    expired = settle(invited(), s(60), TIMING)
    assert expired is not None
    expiry = Timer(TimerKind.INVITE_EXPIRY, "s1", iso(s(60)))
    assert on_timer(expired.after, expiry, s(61), TIMING).resend == Ending("s1", expired.notices)
    assert on_timer(expired.after, DUEL_END, s(700), TIMING) == Outcome()
    rejected = answer(invited(), B, False, s(5), TIMING).transition
    assert rejected is not None
    assert on_timer(rejected.after, expiry, s(61), TIMING) == Outcome()
    assert ending_notices(rejected.after) == ()


@pytest.mark.parametrize(
    ("command", "status", "by", "at"),
    [
        (Command.ACCEPT, Status.PENDING, B, 30),
        (Command.REJECT, Status.PENDING, B, 30),
        (Command.STOP, Status.ACTIVE, A, 100),
        (Command.STOP, Status.ACTIVE, B, 100),
        (Command.INVITE_EXPIRED, Status.PENDING, None, 60),
        (Command.DUEL_ENDED, Status.ACTIVE, None, 633),
    ],
)
def test_expectation_matches_apply(
    command: Command, status: Status, by: str | None, at: float
) -> None:
    """A blind write of an Expectation's changes gives exactly what `apply` decides."""
    session = invited() if status is Status.PENDING else accepted()
    expectation = expect(command, s(at), TIMING, by, status=status)
    transition = apply(session, command, s(at), TIMING, by)
    assert dataclasses.replace(session, **expectation.changes) == transition.after
    assert expectation.before_deadline == (by is not None)
    with pytest.raises(IllegalTransition):
        expect(command, s(at), TIMING, by, status=Status.STOPPED)


# ---------------------------------------------------------------- start before ending


def test_ending_of_every_stored_ending() -> None:
    """A stopped session owes both users the frame of whatever ended it; live ones nothing."""
    rejected = answer(invited(), B, False, s(5), TIMING).transition
    stopped = stop(accepted(), A, s(40), TIMING).transition
    timed_out = settle(accepted(), s(633), TIMING)
    assert rejected is not None and stopped is not None and timed_out is not None
    for transition in (rejected, stopped, timed_out):
        assert ending_of(transition.after) == Ending("s1", transition.notices)
    assert ending_of(invited()) is None
    assert ending_of(accepted()) is None


def test_an_ending_waits_for_start_only_while_the_accept_may_post_it() -> None:
    """Left to the accepter: an ending of an active session whose accept recorded a lease
    that has not passed and has not recorded startSent. Anything else is announced by
    whoever commits it, as is an ending of a pending invite (there is no start)."""
    lease = s(40)
    in_flight = dataclasses.replace(accepted(), start_lease=lease)

    def ends(session: Session, at: float) -> Transition:
        outcome = stop(session, A, s(at), TIMING)
        assert outcome.transition is not None
        return outcome.transition

    assert start_in_flight(in_flight, lease - 1)
    assert ending_left_to_accepter(ends(in_flight, 31), s(31))
    assert not start_in_flight(in_flight, lease)  # the accepting invocation has ended
    assert not ending_left_to_accepter(ends(in_flight, 31), lease)
    sent = dataclasses.replace(in_flight, start_sent=True)
    assert not ending_left_to_accepter(ends(sent, 31), s(31))
    assert not ending_left_to_accepter(ends(accepted(), 31), s(31))  # no lease recorded
    withdrawn = dataclasses.replace(invited(), start_lease=lease)
    assert not ending_left_to_accepter(ends(withdrawn, 31), s(31))


def test_owed_ending_timer_decides_nothing() -> None:
    """An owed-ending timer is no deadline: no expected write, and `on_timer` leaves the
    session alone (the adapters deliver its stored ending)."""
    owed = Timer(TimerKind.OWED_ENDING, "s1", iso(s(40)))
    assert timer_expectation(owed, s(41), TIMING) is None
    assert on_timer(accepted(), owed, s(41), TIMING) == Outcome()
