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
from duel.machine import SYSTEM_COMMANDS, Ending, Outcome
from duel.timers import Timer, encode_timer, timer_for

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
        """Notify, then schedule; True when every notice owed was delivered.

        A chained timer (`outcome.reschedule`) that SQS refuses raises: its message is
        retried by SQS. The timer of a new state never raises (see the module docstring).
        """
        complete = True
        transition = outcome.transition
        if transition is not None:
            if transition.command in SYSTEM_COMMANDS:
                ending = Ending(transition.after.session_id, transition.notices)
                complete = deliver(self.receipts, self.notifier, ending, known=self.known)
            else:
                self.notifier.send(transition.notices, self.known)
        if outcome.resend is not None:
            complete = self.resend(outcome.resend) and complete
        if outcome.reschedule is not None:
            self.timers.schedule(outcome.reschedule, self.now_ms)
        if transition is not None:
            timer = timer_for(transition.after)
            if timer is not None:
                self.schedule_or_keep(timer)
        return complete

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
