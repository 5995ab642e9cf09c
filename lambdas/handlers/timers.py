"""SQS consumer for timer messages: invite expiry and duel end, chained past 900 s.

AWS: standard queues deliver at least once, possibly early relative to the deadline
after a chain, possibly twice (docs/aws-behaviour.md §9); the session item decides, and a timer
that finds its session moved on is dropped. Records that raise, or whose ending could
not reach every user, are reported in `batchItemFailures` so only they are retried
(ReportBatchItemFailures); a retry sends only what no receipt covers (delivery.py).
A record is not started when the invocation is short of time: it is reported and
retried untouched rather than cut off half way by the timeout. An `owed_ending` timer
decides nothing: it delivers what an ending left to an accepting invocation still owes
(adapters/effects.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.batch import consume_batch, message_id
from adapters.deps import Deps
from adapters.notifier import Notifier
from duel.machine import on_timer, timer_expectation
from duel.timers import TimerKind, decode_timer


def _process(d: Deps, notifier: Notifier, context: object, record: Mapping[str, Any]) -> bool:
    """Handle one timer message; False when its ending still owes someone a frame."""
    timer = decode_timer(record["body"])
    now_ms, timing = d.now_ms(), d.config.timing
    effects = d.effects(notifier, now_ms, context)
    if timer.kind is TimerKind.OWED_ENDING:
        return effects.deliver_owed(timer.session_id)
    outcome = d.sessions.run(
        timer.session_id,
        lambda session: on_timer(session, timer, now_ms, timing),
        expect=timer_expectation(timer, now_ms, timing),  # the common case: it is due
        lease_until=effects.lease_until,
    )
    return effects.carry_out(outcome)


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    return consume_batch(event, context, message_id, _process, what="timer message")
