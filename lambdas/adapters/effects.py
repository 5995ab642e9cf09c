"""Carry out what the duel machine decided: frames first, then the new state's timer.

The transition is already committed when this runs, so the users are told whatever
happens to the timer (issue 14, defect 4). A timer SQS refuses is not lost: it is
written on the session item (`lostTimer`), and the Sessions stream consumer, whose
retries and on-failure destination AWS manages (docs/aws-behaviour.md §8), schedules it. Should
that write fail too, the deadline still holds without any timer (late answers are
invalid_state and end the session; an invite that finds the session overdue settles
it) and the TTL backstop announces the ending.

System endings (a timer's or the backstop's no_response/timeout) are delivered with
receipts (adapters/delivery.py) so that a retried message sends only what was not
sent; frames of user transitions come from WebSocket routes, which AWS never retries.

`start` comes before any ending (docs/protocol.md, "Delivery"). An accept posts `start`
and then records `startSent`; an ending committed before that record, while the
accepter may still be posting, is not announced by its committer but by the accepter,
after `start` (the `startSent` write returns the session stopped). Should the accepter
die first, an `owed_ending` timer, due when its lease has passed, delivers what it did
not; it is handed to the Sessions stream as `lostTimer` because the function ending the
session may have no SQS access (StopFunction's policy in template.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from adapters.connections import Connection
from adapters.delivery import LeaseHeld, Receipts, deliver
from adapters.events import WsRequest
from adapters.notifier import Notifier
from adapters.sessions import SessionsRepository
from adapters.timer_queue import TimerQueue
from duel.frames import Frame
from duel.machine import (
    SYSTEM_COMMANDS,
    Command,
    Ending,
    Outcome,
    Transition,
    ending_left_to_accepter,
    ending_of,
)
from duel.session import Session
from duel.timers import Timer, encode_timer, owed_ending_timer, timer_for

log = logging.getLogger(__name__)


@dataclass
class Effects:
    """What one invocation needs to carry out outcomes."""

    timers: TimerQueue
    notifier: Notifier
    sessions: SessionsRepository
    receipts: Receipts
    now_ms: int
    lease_until: int  # epoch ms: this invocation cannot outlive it
    known: Mapping[str, Sequence[Connection]] = field(default_factory=dict)

    def carry_out(self, outcome: Outcome) -> bool:
        """Notify, then schedule; True when every notice owed was delivered (or handed on).

        A chained timer (`outcome.reschedule`) that SQS refuses raises: its message is
        retried by SQS. The timer of a new state never raises (see the module docstring).
        """
        complete = True
        transition = outcome.transition
        current = transition.after if transition is not None else None
        if transition is not None:
            if ending_left_to_accepter(transition, self.now_ms):
                self.leave_to_accepter(transition)
            elif transition.command in SYSTEM_COMMANDS:
                ending = Ending(transition.after.session_id, transition.notices)
                complete = deliver(self.receipts, self.notifier, ending, known=self.known)
            else:
                self.notifier.send(transition.notices, self.known)
            if transition.command is Command.ACCEPT:
                current = self.finish_start(transition.after)
        if outcome.resend is not None:
            complete = self.resend(outcome.resend) and complete
        if outcome.reschedule is not None:
            self.timers.schedule(outcome.reschedule, self.now_ms)
        timer = timer_for(current) if current is not None else None
        if timer is not None:
            self.schedule_or_keep(timer)
        return complete

    def finish_start(self, accepted: Session) -> Session:
        """Record that `start` is out; announce an ending committed meanwhile (after it).

        Returns the session as it now stands, whose timer is the one to queue (none once
        it has ended). Should the record fail, the session is taken as still active: an
        ending committed later finds no `startSent` and is delivered by its owed-ending
        timer instead, once this invocation's lease has passed.
        """
        try:
            stored = self.sessions.mark_start_sent(accepted.session_id)
        except (ClientError, BotoCoreError):
            log.exception("startSent of %s not recorded", accepted.session_id)
            return accepted
        ending = ending_of(stored) if stored is not None else None
        if stored is None or ending is None:
            return stored or accepted
        log.info("session %s ended while its start went out; announcing it", ending.session_id)
        # This invocation holds the start lease, so no other may be delivering the ending.
        deliver(self.receipts, self.notifier, ending, known=self.known)
        return stored

    def leave_to_accepter(self, transition: Transition) -> None:
        """Leave the ending `transition` committed to the accepting invocation, and make
        sure of it with an owed-ending timer due once that invocation's lease has passed
        (and this one's, whose write took the delivery lease of a system ending)."""
        before = transition.before
        assert before is not None and before.start_lease is not None
        due = before.start_lease
        if transition.command in SYSTEM_COMMANDS:
            due = max(due, self.lease_until)
        session_id = transition.after.session_id
        log.info("session %s ended while its start may be going out: left to it", session_id)
        timer = owed_ending_timer(session_id, due)
        try:
            self.sessions.mark_lost_timer(session_id, encode_timer(timer))
        except (ClientError, BotoCoreError):
            log.exception("owed-ending timer of %s not recorded", session_id)

    def deliver_owed(self, session_id: str) -> bool:
        """An owed-ending timer: deliver what no receipt covers of the session's ending.

        False (retry later) while another invocation may still be delivering it.
        """
        try:
            claimed = self.receipts.claim(session_id, self.now_ms, self.lease_until)
        except LeaseHeld:
            log.info("ending of %s is being delivered elsewhere; retry later", session_id)
            return False
        if claimed is None:
            return True
        session, done = claimed
        ending = ending_of(session)
        if ending is None:
            self.receipts.record(session_id, [], complete=True)
            return True
        return deliver(self.receipts, self.notifier, ending, done, self.known)

    def resend(self, ending: Ending) -> bool:
        """Deliver what no receipt covers, unless another live invocation is delivering it
        (then False: the message is retried, by when that one has finished or died)."""
        try:
            done = self.receipts.take_over(ending, self.now_ms, self.lease_until)
        except LeaseHeld:
            log.info("ending of %s is being delivered elsewhere; retry later", ending.session_id)
            return False
        if done is None:
            return True
        return deliver(self.receipts, self.notifier, ending, done, self.known)

    def schedule_or_keep(self, timer: Timer) -> None:
        """Enqueue the timer; if SQS refuses, leave it on the item for the stream consumer."""
        try:
            self.timers.schedule(timer, self.now_ms)
        except (ClientError, BotoCoreError):
            log.exception("timer for %s not enqueued; handing it to the stream", timer.session_id)
            try:
                self.sessions.mark_lost_timer(timer.session_id, encode_timer(timer))
            except (ClientError, BotoCoreError):
                log.exception("lost timer of %s not recorded either", timer.session_id)


def reply(notifier: Notifier, request: WsRequest, frame: Frame) -> None:
    """A "sender" frame: only the connection whose message caused it (docs/protocol.md)."""
    notifier.to_connection(request.user_id, request.connection_id, frame)
