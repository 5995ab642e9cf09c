"""Timer messages on the SQS queue: what fires when, and how long to delay it.

AWS: SQS `DelaySeconds` is 0..900 (docs/aws-behaviour.md §9), so a deadline further away is
reached by a chain of messages, each re-enqueued by the consumer with what remains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from duel.session import Session, Status
from duel.times import iso, parse_iso

MAX_DELAY_SECONDS = 900


class TimerKind(StrEnum):
    INVITE_EXPIRY = "invite_expiry"
    DUEL_END = "duel_end"
    # An ending left to the accepting invocation (duel.machine.ending_left_to_accepter):
    # due when that invocation's lease has passed, it delivers whatever it did not.
    OWED_ENDING = "owed_ending"


@dataclass(frozen=True, slots=True)
class Timer:
    """One timer message body: `{"kind", "sessionId", "due"}` (`due` is a wire time)."""

    kind: TimerKind
    session_id: str
    due: str

    @property
    def due_ms(self) -> int:
        return parse_iso(self.due)


def timer_for(session: Session) -> Timer | None:
    """The timer a session in this state waits on: its invite deadline or its duel end."""
    if session.status is Status.PENDING:
        return Timer(TimerKind.INVITE_EXPIRY, session.session_id, session.expires_at)
    if session.status is Status.ACTIVE and session.ends_at is not None:
        return Timer(TimerKind.DUEL_END, session.session_id, session.ends_at)
    return None


def owed_ending_timer(session_id: str, due_ms: int) -> Timer:
    """The timer that makes sure of an ending left to an accepter that may die first."""
    return Timer(TimerKind.OWED_ENDING, session_id, iso(due_ms))


def wanted(session: Session | None, timer: Timer) -> bool:
    """Whether a timer recorded on `session` (not yet queued) is still worth queuing."""
    if session is None:
        return False
    if timer.kind is TimerKind.OWED_ENDING:
        return session.status is Status.STOPPED
    return timer_for(session) == timer


def delay_seconds(due_ms: int, now_ms: int) -> int:
    """Whole seconds to delay a message due at `due_ms`: rounded up, capped at 900.

    Rounding up means a timer never fires before its deadline; a capped delay makes the
    consumer see the timer early and re-enqueue it with the remainder.
    """
    remaining = -(-(due_ms - now_ms) // 1000)
    return max(0, min(MAX_DELAY_SECONDS, remaining))


def encode_timer(timer: Timer) -> str:
    return json.dumps({"kind": timer.kind.value, "sessionId": timer.session_id, "due": timer.due})


def decode_timer(body: str) -> Timer:
    """Parse a message body; ValueError for anything but a well-formed timer."""
    fields = json.loads(body)
    if not isinstance(fields, dict):
        raise ValueError("timer body is not a JSON object")
    kind, session_id, due = fields.get("kind"), fields.get("sessionId"), fields.get("due")
    if not isinstance(kind, str) or not isinstance(session_id, str) or not session_id:
        raise ValueError(f"malformed timer body: {body!r}")
    if not isinstance(due, str):
        raise ValueError(f"malformed timer body: {body!r}")
    parse_iso(due)
    return Timer(TimerKind(kind), session_id, due)
