"""The session state machine: `(session, command, now) -> transition`, as a table.

Pure: no AWS, no clock, no logging. Callers pass `now_ms` and persist a transition with
a conditional write on the `before` status; a lost race re-runs the decision on the
session the winner wrote, so every transition happens exactly once (docs/protocol.md,
"Session lifecycle").

    invite ──► pending ──accept──► active ──stop / duel_ended──► stopped
                  │ reject / invite_expired / withdraw
                  └──────────────────────────────────────────────► stopped

User commands are allowed only before the state's deadline (`expiresAt` while
pending, `endsAt` while active) and the system commands only from it on, so a late
accept cannot beat the invite's expiry, and a late stop cannot beat the timeout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from duel import frames
from duel.errors import DuelError, ErrorCode
from duel.frames import Frame
from duel.session import EndReason, Session, Status
from duel.timers import Timer, TimerKind, timer_for
from duel.times import ceil_seconds, iso

# docs/protocol.md: expireAt = deadline + 300 while pending/active, end time + 86400 once stopped.
LIVE_TTL_MARGIN_S = 300
STOPPED_TTL_S = 86400


@dataclass(frozen=True, slots=True)
class Timing:
    """The template parameters that shape a session (docs/protocol.md, "Settings")."""

    invite_timeout_s: int
    duel_s: int
    start_lead_s: int


class Command(StrEnum):
    INVITE = "invite"
    ACCEPT = "accept"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    STOP = "stop"
    INVITE_EXPIRED = "invite_expired"
    DUEL_ENDED = "duel_ended"


class Role(Enum):
    """Who may issue a command."""

    INVITER = "userA"
    INVITEE = "userB"
    EITHER = "either"
    SYSTEM = "system"  # a timer or the TTL backstop, only once the deadline has passed


@dataclass(frozen=True, slots=True)
class Rule:
    """What a (source status, command) pair of the table leads to."""

    target: Status
    role: Role
    end_reason: EndReason | None
    frame: Callable[[Session], Frame] | None  # what both users get; None: invite (per-user)


def _ended_by(session: Session) -> str:
    if session.ended_by is None:
        raise ValueError(f"session {session.session_id} was not ended by a user")
    return session.ended_by


TRANSITIONS: Mapping[tuple[Status | None, Command], Rule] = MappingProxyType(
    {
        (None, Command.INVITE): Rule(Status.PENDING, Role.INVITER, None, None),
        (Status.PENDING, Command.ACCEPT): Rule(
            Status.ACTIVE, Role.INVITEE, None, frames.start_frame
        ),
        (Status.PENDING, Command.REJECT): Rule(
            Status.STOPPED,
            Role.INVITEE,
            EndReason.REJECTED,
            lambda s: frames.rejected_frame(s.session_id, _ended_by(s)),
        ),
        (Status.PENDING, Command.WITHDRAW): Rule(
            Status.STOPPED,
            Role.INVITER,
            EndReason.WITHDRAWN,
            lambda s: frames.stop_frame(s.session_id, _ended_by(s)),
        ),
        (Status.PENDING, Command.INVITE_EXPIRED): Rule(
            Status.STOPPED,
            Role.SYSTEM,
            EndReason.NO_RESPONSE,
            lambda s: frames.no_response_frame(s.session_id),
        ),
        (Status.ACTIVE, Command.STOP): Rule(
            Status.STOPPED,
            Role.EITHER,
            EndReason.STOP,
            lambda s: frames.stop_frame(s.session_id, _ended_by(s)),
        ),
        (Status.ACTIVE, Command.DUEL_ENDED): Rule(
            Status.STOPPED,
            Role.SYSTEM,
            EndReason.TIMEOUT,
            lambda s: frames.timeout_frame(s.session_id),
        ),
    }
)

# The system command that ends a state once its deadline has passed.
_DEADLINE_COMMAND: Mapping[Status, Command] = MappingProxyType(
    {Status.PENDING: Command.INVITE_EXPIRED, Status.ACTIVE: Command.DUEL_ENDED}
)
_TIMER_EXPECTS: Mapping[TimerKind, Status] = MappingProxyType(
    {TimerKind.INVITE_EXPIRY: Status.PENDING, TimerKind.DUEL_END: Status.ACTIVE}
)
_TIMER_ENDS_WITH: Mapping[TimerKind, EndReason] = MappingProxyType(
    {TimerKind.INVITE_EXPIRY: EndReason.NO_RESPONSE, TimerKind.DUEL_END: EndReason.TIMEOUT}
)
# The system endings and the command that writes each.
_SYSTEM_ENDING: Mapping[EndReason, Command] = MappingProxyType(
    {EndReason.NO_RESPONSE: Command.INVITE_EXPIRED, EndReason.TIMEOUT: Command.DUEL_ENDED}
)
# Every ending and the rule of the table that writes it.
_ENDED_BY: Mapping[EndReason, tuple[Status, Command]] = MappingProxyType(
    {
        EndReason.REJECTED: (Status.PENDING, Command.REJECT),
        EndReason.WITHDRAWN: (Status.PENDING, Command.WITHDRAW),
        EndReason.NO_RESPONSE: (Status.PENDING, Command.INVITE_EXPIRED),
        EndReason.STOP: (Status.ACTIVE, Command.STOP),
        EndReason.TIMEOUT: (Status.ACTIVE, Command.DUEL_ENDED),
    }
)


class IllegalTransition(ValueError):
    """A caller asked for a transition the table does not allow: a bug, not a client error."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A frame for every live connection of one user."""

    user_id: str
    frame: Frame


@dataclass(frozen=True, slots=True)
class Party:
    user_id: str
    username: str


@dataclass(frozen=True, slots=True)
class Transition:
    command: Command
    before: Session | None  # None: the session is new
    after: Session
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one decision asks for: a transition to persist, an error for the sender, a timer,
    or notices of an ending already stored that a redelivered message must make sure of.

    All may be empty (a late timer is dropped silently) and both a transition and an
    error may be set (a late accept gets invalid_state while the invite expires).
    `resend` holds a system ending (no_response, timeout) found already stored: a
    retried timer or stream record delivers what its first try did not (docs/protocol.md:
    a redelivered message sends what an interrupted delivery did not).
    """

    transition: Transition | None = None
    error: DuelError | None = None
    reschedule: Timer | None = None
    resend: Ending | None = None


@dataclass(frozen=True, slots=True)
class Ending:
    """A stored system ending and the notices it owes both users."""

    session_id: str
    notices: tuple[Notice, ...]


# The commands a timer or the TTL backstop issues: retried deliveries, so their notices
# are delivered with receipts (adapters/delivery.py) and resent when a try was cut short.
SYSTEM_COMMANDS = frozenset({Command.INVITE_EXPIRED, Command.DUEL_ENDED})


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a write of `command` decided without reading the session assumes it finds.

    A conditional write of `changes` on exactly these facts (status, who may issue the
    command, which side of the state's deadline `now_ms` is) succeeds only where `apply`
    on the stored session yields the same transition, so a handler can write first and
    decide on the item the write returns (DynamoDB ReturnValues), saving the read.
    """

    command: Command
    status: Status  # the source status
    role: Role
    by: str | None
    now_ms: int
    changes: Mapping[str, Any]  # Session field -> new value

    @property
    def before_deadline(self) -> bool:
        """User commands act strictly before the deadline, system ones from it on."""
        return self.role is not Role.SYSTEM


def deadline_ms(session: Session) -> int | None:
    """When the current state ends by itself: `expiresAt` (pending), `endsAt` (active)."""
    if session.status is Status.PENDING:
        return session.expires_at_ms
    if session.status is Status.ACTIVE:
        return session.ends_at_ms
    return None


def is_engaged(session: Session | None, now_ms: int) -> bool:
    """Whether the session still binds its users: pending or active, deadline not passed."""
    if session is None:
        return False
    deadline = deadline_ms(session)
    return deadline is not None and now_ms < deadline


def user_status(session: Session | None, now_ms: int) -> str:
    """`/online` status of a user whose current session is `session` (docs/protocol.md, HTTP)."""
    if session is None or not is_engaged(session, now_ms):
        return "idle"
    return "invited" if session.status is Status.PENDING else "in_duel"


def lock_expire_at(session: Session, timing: Timing) -> int:
    """TTL for a user lock held by `session`: past the latest moment the session can end.

    An invite accepted at its last millisecond ends at expiresAt + lead + duel, so the
    lock outlives every pending or active moment of the session without being refreshed.
    """
    latest_end = session.expires_at_ms + (timing.start_lead_s + timing.duel_s) * 1000
    return ceil_seconds(latest_end) + LIVE_TTL_MARGIN_S


def open_invite(
    session_id: str,
    inviter: Party,
    invitee: Party,
    now_ms: int,
    timing: Timing,
    request_id: str | None,
) -> Transition:
    """The new pending session, `invite_sent` for the inviter and `invite` for the invitee."""
    rule = TRANSITIONS[(None, Command.INVITE)]
    expires_ms = now_ms + timing.invite_timeout_s * 1000
    session = Session(
        session_id=session_id,
        user_a=inviter.user_id,
        user_b=invitee.user_id,
        status=rule.target,
        created_at=iso(now_ms),
        expires_at=iso(expires_ms),
        expire_at=ceil_seconds(expires_ms) + LIVE_TTL_MARGIN_S,
    )
    notices = (
        Notice(inviter.user_id, frames.invite_sent_frame(session, invitee.username, request_id)),
        Notice(invitee.user_id, frames.invite_frame(session, inviter.username)),
    )
    return Transition(Command.INVITE, None, session, notices)


def check_invite(inviter: str, invitee: str) -> DuelError | None:
    """self_invite, the one invite error decided without a lookup."""
    if inviter == invitee:
        return DuelError(ErrorCode.SELF_INVITE, "you cannot invite yourself")
    return None


def _changes(rule: Rule, now_ms: int, timing: Timing, by: str | None) -> dict[str, Any]:
    """The Session fields a transition by `rule` sets, decided by time and actor alone."""
    if rule.target is Status.ACTIVE:
        start_ms = now_ms + timing.start_lead_s * 1000
        ends_ms = start_ms + timing.duel_s * 1000
        return {
            "status": Status.ACTIVE,
            "start_at": iso(start_ms),
            "ends_at": iso(ends_ms),
            "expire_at": ceil_seconds(ends_ms) + LIVE_TTL_MARGIN_S,
        }
    return {
        "status": rule.target,
        "end_reason": rule.end_reason,
        "ended_by": by,
        "expire_at": ceil_seconds(now_ms) + STOPPED_TTL_S,
    }


def _transition(
    session: Session, command: Command, rule: Rule, changes: Mapping[str, Any]
) -> Transition:
    after = dataclasses.replace(session, **changes)
    assert rule.frame is not None
    frame = rule.frame(after)
    notices = (Notice(after.user_a, frame), Notice(after.user_b, frame))
    return Transition(command, session, after, notices)


def apply(
    session: Session, command: Command, now_ms: int, timing: Timing, by: str | None = None
) -> Transition:
    """Run one transition of the table; IllegalTransition if the table forbids it.

    `by` is the user issuing a user command (None for system commands).
    """
    rule = TRANSITIONS.get((session.status, command))
    if rule is None or rule.frame is None:
        raise IllegalTransition(f"{command} not allowed from {session.status}")
    allowed = {
        Role.INVITER: by == session.user_a,
        Role.INVITEE: by == session.user_b,
        Role.EITHER: by is not None and session.involves(by),
        Role.SYSTEM: by is None,
    }[rule.role]
    if not allowed:
        raise IllegalTransition(f"{command} not allowed for {by!r} on {session.session_id}")
    deadline = deadline_ms(session)
    overdue = deadline is not None and now_ms >= deadline
    if overdue != (rule.role is Role.SYSTEM):
        raise IllegalTransition(f"{command} at {iso(now_ms)} is on the wrong side of {deadline}")
    return _transition(session, command, rule, _changes(rule, now_ms, timing, by))


def expect(
    command: Command, now_ms: int, timing: Timing, by: str | None = None, *, status: Status
) -> Expectation:
    """The Expectation for issuing `command` from `status` at `now_ms` (see Expectation)."""
    rule = TRANSITIONS.get((status, command))
    if rule is None or rule.frame is None:
        raise IllegalTransition(f"{command} not allowed from {status}")
    if (rule.role is Role.SYSTEM) != (by is None):
        raise IllegalTransition(f"{command} is not issued by {by!r}")
    changes = _changes(rule, now_ms, timing, by)
    return Expectation(command, status, rule.role, by, now_ms, MappingProxyType(changes))


def answer_expectation(user_id: str, accept: bool, now_ms: int, timing: Timing) -> Expectation:
    """What `answer` does in the common case: the invitee answers a pending invite in time."""
    command = Command.ACCEPT if accept else Command.REJECT
    return expect(command, now_ms, timing, user_id, status=Status.PENDING)


def stop_expectation(user_id: str, now_ms: int, timing: Timing) -> Expectation:
    """What `stop` does in the common case: a participant stops an active duel in time."""
    return expect(Command.STOP, now_ms, timing, user_id, status=Status.ACTIVE)


def timer_expectation(timer: Timer, now_ms: int, timing: Timing) -> Expectation | None:
    """What `on_timer` does in the common case: the session it waits on is due.

    None for a timer that decides no transition (an owed ending's, see `on_timer`).
    """
    status = _TIMER_EXPECTS.get(timer.kind)
    if status is None:
        return None
    return expect(_DEADLINE_COMMAND[status], now_ms, timing, status=status)


def settle(session: Session, now_ms: int, timing: Timing) -> Transition | None:
    """End a pending or active session whose deadline has passed; None if it has not."""
    command = _DEADLINE_COMMAND.get(session.status)
    if command is None or is_engaged(session, now_ms):
        return None
    return apply(session, command, now_ms, timing)


def _not_found() -> Outcome:
    # docs/protocol.md: existence is not revealed to users outside the session.
    return Outcome(error=DuelError(ErrorCode.NOT_FOUND, "no such session"))


def _invalid_state(message: str, transition: Transition | None = None) -> Outcome:
    return Outcome(transition=transition, error=DuelError(ErrorCode.INVALID_STATE, message))


def answer(
    session: Session | None, user_id: str, accept: bool, now_ms: int, timing: Timing
) -> Outcome:
    """A `response` from `user_id`: accept or reject, or the first error that applies."""
    if session is None or not session.involves(user_id):
        return _not_found()
    if user_id == session.user_a:
        return Outcome(error=DuelError(ErrorCode.FORBIDDEN, "only the invitee can answer"))
    expired = settle(session, now_ms, timing)
    if expired is not None:
        return _invalid_state("the invite is no longer pending", expired)
    if session.status is not Status.PENDING:
        return _invalid_state("the invite is no longer pending")
    command = Command.ACCEPT if accept else Command.REJECT
    return Outcome(transition=apply(session, command, now_ms, timing, by=user_id))


def stop(session: Session | None, user_id: str, now_ms: int, timing: Timing) -> Outcome:
    """A `stop` from `user_id`: withdraw a pending invite (inviter) or stop an active duel."""
    if session is None or not session.involves(user_id):
        return _not_found()
    if session.status is Status.PENDING and user_id == session.user_b:
        return Outcome(
            error=DuelError(ErrorCode.FORBIDDEN, "decline a pending invite with response")
        )
    ended = settle(session, now_ms, timing)
    if ended is not None:
        return _invalid_state("the session has already ended", ended)
    if session.status is Status.STOPPED:
        return _invalid_state("the session has already stopped")
    command = Command.WITHDRAW if session.status is Status.PENDING else Command.STOP
    return Outcome(transition=apply(session, command, now_ms, timing, by=user_id))


def on_timer(session: Session | None, timer: Timer, now_ms: int, timing: Timing) -> Outcome:
    """A timer message: end the session if it is still in the expected state and due.

    Early (chained past 900 s, or delivered ahead of time): re-enqueue for the session's
    own deadline. Already ended the way this timer ends it (a redelivery, a duplicate,
    or the backstop got there first): resend that ending's notices, which the adapter
    sends only where no receipt says they went out. Moved on otherwise (session gone,
    accepted, ended by a user): drop silently. An owed ending's timer decides nothing:
    its ending is already stored, and the adapters deliver what no receipt covers.
    """
    if session is None or timer.kind not in _TIMER_EXPECTS:
        return Outcome()
    if session.status is Status.STOPPED:
        return resend_ending(session, _TIMER_ENDS_WITH[timer.kind])
    if session.status is not _TIMER_EXPECTS[timer.kind]:
        return Outcome()
    ended = settle(session, now_ms, timing)
    if ended is not None:
        return Outcome(transition=ended)
    return Outcome(reschedule=timer_for(session))


def ending_notices(session: Session) -> tuple[Notice, ...]:
    """The notices of a stored system ending (no_response, timeout); () for any other state."""
    command = _SYSTEM_ENDING.get(session.end_reason) if session.end_reason else None
    if session.status is not Status.STOPPED or command is None:
        return ()
    source = Status.PENDING if command is Command.INVITE_EXPIRED else Status.ACTIVE
    rule = TRANSITIONS[(source, command)]
    assert rule.frame is not None
    frame = rule.frame(session)
    return (Notice(session.user_a, frame), Notice(session.user_b, frame))


def ending_of(session: Session) -> Ending | None:
    """The ending a stopped session owes both users, whatever ended it; None if not stopped."""
    source = _ENDED_BY.get(session.end_reason) if session.end_reason else None
    if session.status is not Status.STOPPED or source is None:
        return None
    rule = TRANSITIONS[source]
    assert rule.frame is not None
    frame = rule.frame(session)
    notices = (Notice(session.user_a, frame), Notice(session.user_b, frame))
    return Ending(session.session_id, notices)


def start_in_flight(session: Session, now_ms: int) -> bool:
    """Whether the invocation that accepted `session` may still be posting `start`.

    It recorded its own deadline (`start_lease`) with the accept and records `start_sent`
    once `start` is out; past the lease it has finished or died (Lambda ends an
    invocation at its timeout, docs/aws-behaviour.md §13).
    """
    return (
        not session.start_sent and session.start_lease is not None and now_ms < session.start_lease
    )


def ending_left_to_accepter(transition: Transition, now_ms: int) -> bool:
    """Whether the ending `transition` commits is for the accepting invocation to announce.

    True when it ends an active session whose `start` may still be on its way: announced
    now, the ending could reach a user before `start`. The accepter sees the ending when
    it records `start_sent` (the write returns the item) and announces it after `start`;
    should it die first, the ending is announced once its lease has passed
    (docs/protocol.md, "Delivery"). `transition.before` must be the item the committing
    write replaced, delivery state included.
    """
    before = transition.before
    return (
        before is not None
        and before.status is Status.ACTIVE
        and transition.after.status is Status.STOPPED
        and start_in_flight(before, now_ms)
    )


def resend_ending(current: Session | None, reason: EndReason) -> Outcome:
    """Outcome for a message whose ending (`reason`) may already be stored in `current`."""
    if current is None or current.status is not Status.STOPPED or current.end_reason is not reason:
        return Outcome()
    return Outcome(resend=Ending(current.session_id, ending_notices(current)))


def on_ttl_removed(session: Session | None, now_ms: int, timing: Timing) -> Transition | None:
    """The ending of a session DynamoDB TTL deleted while pending or active (the backstop).

    Still pending: the invite went unanswered (`no_response`); still active: the duel
    ran out (`timeout`); stopped (or not a session): None, nothing to say. No deadline
    check: the deletion itself says the deadline passed (expireAt = deadline + 300 s).
    """
    if session is None:
        return None
    command = _DEADLINE_COMMAND.get(session.status)
    if command is None:
        return None
    rule = TRANSITIONS[(session.status, command)]
    return _transition(session, command, rule, _changes(rule, now_ms, timing, None))
