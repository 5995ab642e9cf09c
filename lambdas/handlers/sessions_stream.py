"""Consumer of the Sessions stream: the TTL backstop, and timers SQS refused.

The template's filters pass two kinds of record:

- TTL REMOVEs. TTL is never the timer (it deletes days late, docs/aws-behaviour.md §7); it only
  catches what the queue missed. A session removed while pending ends as no_response,
  one removed while active as timeout: the item is written back, ended, so the ending
  is stored once and delivered with receipts (a retried or duplicated record sends
  only what was not sent). Lock items and stopped sessions say nothing.
- Items carrying `lostTimer`: a handler committed a transition but SQS refused its
  timer, or left an ending to the accepting invocation and needs an owed-ending timer it
  may not queue itself (adapters/effects.py). The timer is scheduled here, where a
  failure is retried by the event source mapping and ends in its on-failure destination
  (template.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.batch import consume_batch, sequence_number
from adapters.deps import Deps
from adapters.notifier import Notifier
from adapters.sessions import LOST_TIMER, TransitionConflict, session_from_item
from duel.machine import Outcome, on_ttl_removed, resend_ending
from duel.timers import decode_timer, wanted


def _backstop(d: Deps, notifier: Notifier, context: object, image: Any) -> bool:
    now_ms = d.now_ms()
    transition = on_ttl_removed(session_from_item(image), now_ms, d.config.timing)
    if transition is None or transition.after.end_reason is None:
        return True
    effects = d.effects(notifier, now_ms, context)
    try:
        d.sessions.restore_ended(transition, effects.lease_until)
    except TransitionConflict as conflict:
        return effects.carry_out(resend_ending(conflict.current, transition.after.end_reason))
    return effects.carry_out(Outcome(transition))


def _lost_timer(d: Deps, image: Mapping[str, Any]) -> None:
    body = str(image[LOST_TIMER]["S"])
    timer = decode_timer(body)
    session = session_from_item(image)
    if wanted(session, timer):  # still what it waits on
        d.timers.schedule(timer, d.now_ms())
    d.sessions.clear_lost_timer(timer.session_id, body)


def _process(d: Deps, notifier: Notifier, context: object, record: Mapping[str, Any]) -> bool:
    """Handle one record; False when the backstop's ending still owes someone a frame."""
    images = record.get("dynamodb", {})
    if record.get("eventName") == "REMOVE":
        return _backstop(d, notifier, context, images.get("OldImage"))
    new_image = images.get("NewImage") or {}
    old_image = images.get("OldImage") or {}
    # Every later write to the item passes the filter while `lostTimer` is on it; only
    # the record that put it there queues it (its retries included).
    if LOST_TIMER in new_image and old_image.get(LOST_TIMER) != new_image[LOST_TIMER]:
        _lost_timer(d, new_image)
    return True


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    return consume_batch(event, context, sequence_number, _process, what="stream record")
