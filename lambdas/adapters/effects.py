"""Carry out what the duel machine decided: timers first, then frames.

Timers go first because they are what ends a session on time; posting never raises
(Notifier), so a frame problem cannot cost a session its timer.
"""

from __future__ import annotations

from adapters.events import WsRequest
from adapters.notifier import Notifier
from adapters.timer_queue import TimerQueue
from duel.frames import Frame
from duel.machine import Outcome
from duel.timers import timer_for


def carry_out(outcome: Outcome, timers: TimerQueue, notifier: Notifier, now_ms: int) -> None:
    """Schedule the new state's timer (invite expiry, duel end) or a chained one, then notify."""
    transition = outcome.transition
    timer = timer_for(transition.after) if transition is not None else None
    for pending in (timer, outcome.reschedule):
        if pending is not None:
            timers.schedule(pending, now_ms)
    if transition is not None:
        notifier.send(transition.notices)


def reply(notifier: Notifier, request: WsRequest, frame: Frame) -> None:
    """A "sender" frame: only the connection whose message caused it (protocol.md)."""
    notifier.to_connection(request.user_id, request.connection_id, frame)
