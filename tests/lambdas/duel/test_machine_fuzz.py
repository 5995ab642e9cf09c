"""The duel machine under random command sequences (hypothesis stateful testing).

The model store plays the adapters' part the simplest way that is still faithful: one
dict of sessions written only with what a decision returns, an invite allowed only when
neither user's lock holder is engaged (adapters/locks.py asks `is_engaged` the same way),
timers and TTL deletions delivered late, early, twice or never, and the clock moving by
any amount. Whatever the order, the machine's rules keep the protocol's promises:

- at most one live (pending or active, deadline not passed) session per user;
- every session ends exactly once: no transition ever starts from `stopped`, and a TTL
  deletion says nothing about a session that has already ended;
- a user lock set at invite time outlives every live moment of its session;
- every decision is an Outcome (errors are values), never an IllegalTransition.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from duel.machine import (
    TRANSITIONS,
    Command,
    Outcome,
    Party,
    Role,
    Timing,
    answer,
    apply,
    check_invite,
    expect,
    is_engaged,
    lock_expire_at,
    on_timer,
    on_ttl_removed,
    open_invite,
    stop,
)
from duel.session import Session, Status
from duel.timers import Timer, TimerKind

T0 = 1_767_225_600_000
TIMING = Timing(invite_timeout_s=5, duel_s=10, start_lead_s=1)
USERS = ("u-a", "u-b", "u-c")
users = st.sampled_from(USERS)
parties = st.sampled_from([0, 1, 1, 2])  # the invitee's answer matters most
# Steps of the clock around the timers' lengths (where the rules change sides), and jumps
# to the TTL horizons (deadline + 300 s while live, end + 1 day once stopped).
steps = st.integers(0, 12_000) | st.sampled_from([1, 999, 1_000, 5_000])
horizons = st.sampled_from([305_000, 86_401_000])


class DuelWorld(RuleBasedStateMachine):
    """Sessions as a table would hold them, and the clock, under random commands."""

    session_ids = Bundle("session_ids")

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.sessions: dict[str, Session] = {}  # the table (TTL deletes remove items)
        self.locks: dict[str, str] = {}  # user -> holder session id
        self.lock_expiry_ms: dict[str, int] = {}  # session id -> its locks' expireAt (ms)
        self.endings: Counter[str] = Counter()
        self.count = 0

    def persist(self, outcome: Outcome) -> None:
        """Write a transition the way SessionsRepository does: on the status it was decided on."""
        transition = outcome.transition
        if transition is None:
            return
        assert transition.before is not None
        sid = transition.after.session_id
        assert self.sessions[sid] == transition.before  # decided on what the table holds
        assert transition.before.status is not Status.STOPPED, "a session ended twice"
        assert (transition.before.status, transition.command) in TRANSITIONS
        self.sessions[sid] = transition.after
        if transition.after.status is Status.STOPPED:
            self.endings[sid] += 1

    # -- commands --------------------------------------------------------------------------

    @rule(ms=steps)
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(ms=horizons)
    def ttl_horizon_passes(self, ms: int) -> None:
        self.now += ms

    @rule(target=session_ids, inviter=users, invitee=users)
    def invite(self, inviter: str, invitee: str) -> str:
        """An invite, refused like the handler refuses it: self-invites and busy users."""
        self.count += 1
        sid = f"s{self.count}"
        if check_invite(inviter, invitee) is not None:
            return sid  # no session: later commands on it meet an empty table
        holders = [self.sessions.get(self.locks.get(user, "")) for user in (inviter, invitee)]
        if any(is_engaged(held, self.now) for held in holders):
            return sid  # user_busy
        transition = open_invite(
            sid, Party(inviter, inviter), Party(invitee, invitee), self.now, TIMING, None
        )
        assert transition.before is None and transition.after.status is Status.PENDING
        self.sessions[sid] = transition.after
        self.locks[inviter] = self.locks[invitee] = sid
        self.lock_expiry_ms[sid] = lock_expire_at(transition.after, TIMING) * 1000
        return sid

    def user(self, sid: str, party: int) -> str:
        """The session's inviter (0), invitee (1), or someone else (2)."""
        session = self.sessions.get(sid)
        if session is None:
            return USERS[party]
        return (session.user_a, session.user_b, session.other(session.user_a) + "-x")[party]

    @rule(sid=session_ids, party=parties, accept=st.booleans())
    def respond(self, sid: str, party: int, accept: bool) -> None:
        user = self.user(sid, party)
        self.persist(answer(self.sessions.get(sid), user, accept, self.now, TIMING))

    @rule(sid=session_ids, party=parties)
    def stop_it(self, sid: str, party: int) -> None:
        user = self.user(sid, party)
        self.persist(stop(self.sessions.get(sid), user, self.now, TIMING))

    @rule(sid=session_ids, kind=st.sampled_from(TimerKind))
    def timer_fires(self, sid: str, kind: TimerKind) -> None:
        """A timer message for any session, of either kind, early, late or again."""
        session = self.sessions.get(sid)
        due = "2026-01-01T00:00:00.000Z" if session is None else session.expires_at
        outcome = on_timer(session, Timer(kind, sid, due), self.now, TIMING)
        self.persist(outcome)
        if outcome.resend is not None:  # a redelivery resends a stored ending, never re-ends
            assert session is not None and session.status is Status.STOPPED

    @rule(sid=consumes(session_ids))
    def ttl_deletes(self, sid: str) -> None:
        """DynamoDB TTL removes an item once its expireAt has passed (and only then)."""
        session = self.sessions.get(sid)
        if session is None or self.now < session.expire_at * 1000:
            return
        del self.sessions[sid]
        ending = on_ttl_removed(session, self.now, TIMING)
        if session.status is Status.STOPPED:
            assert ending is None, "a TTL deletion re-ended a stopped session"
        else:
            assert ending is not None and ending.after.status is Status.STOPPED
            self.endings[sid] += 1

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def one_live_session_per_user(self) -> None:
        for user in USERS:
            live = [
                sid
                for sid, session in self.sessions.items()
                if session.involves(user) and is_engaged(session, self.now)
            ]
            assert len(live) <= 1, (user, live)

    @invariant()
    def every_session_ends_once(self) -> None:
        assert all(count == 1 for count in self.endings.values()), self.endings
        for sid, session in self.sessions.items():
            assert (session.status is Status.STOPPED) == (self.endings[sid] == 1)

    @invariant()
    def locks_outlive_live_sessions(self) -> None:
        for sid, session in self.sessions.items():
            if is_engaged(session, self.now):
                assert self.now < self.lock_expiry_ms[sid], sid


DuelWorld.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestDuelWorld = DuelWorld.TestCase


def pending(now_ms: int) -> Session:
    return open_invite("s", Party("u-a", "a"), Party("u-b", "b"), now_ms, TIMING, None).after


@given(
    accept_after_ms=st.integers(0, TIMING.invite_timeout_s * 1000 - 1),
    offset_ms=st.integers(-20_000, 30_000),
    command=st.sampled_from(sorted(Command)),
    by=st.sampled_from([None, "u-a", "u-b", "u-c"]),
    active=st.booleans(),
)
def test_a_write_decided_without_a_read_is_what_the_read_would_decide(
    accept_after_ms: int, offset_ms: int, command: Command, by: str | None, active: bool
) -> None:
    """Where the stored session meets an Expectation's facts (status, role, side of the
    deadline), `apply` on it yields exactly the Expectation's changes (machine.Expectation)."""
    stored = pending(T0)
    if active:
        stored = apply(stored, Command.ACCEPT, T0 + accept_after_ms, TIMING, by="u-b").after
    now = T0 + accept_after_ms + offset_ms
    rule = TRANSITIONS.get((stored.status, command))
    if rule is None or rule.frame is None or (rule.role is Role.SYSTEM) != (by is None):
        return
    expectation = expect(command, now, TIMING, by, status=stored.status)
    deadline = stored.ends_at_ms if active else stored.expires_at_ms
    assert deadline is not None
    role_ok = {
        Role.INVITER: by == stored.user_a,
        Role.INVITEE: by == stored.user_b,
        Role.EITHER: by is not None and stored.involves(by),
        Role.SYSTEM: by is None,
    }[expectation.role]
    if not role_ok or (now < deadline) != expectation.before_deadline:
        return  # the conditional write would fail: the handler reads and decides again
    after = apply(stored, command, now, TIMING, by=by).after
    assert after == dataclasses.replace(stored, **expectation.changes)
