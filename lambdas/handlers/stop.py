"""stop: either participant ends an active duel; the inviter may withdraw a pending invite.

Errors in protocol order: bad_request, not_found, forbidden, invalid_state.
"""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.effects import reply
from adapters.events import ws_request
from duel.errors import DuelError
from duel.frames import error_frame
from duel.machine import stop, stop_expectation
from duel.messages import parse_stop, request_id_of


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    d = deps.get()
    request = ws_request(event)
    notifier = d.notifier(request.endpoint, context)
    try:
        message = parse_stop(request.body)
    except DuelError as err:
        reply(notifier, request, error_frame(err, request_id_of(request.body)))
        return {"statusCode": 200}
    now_ms, timing, user = d.now_ms(), d.config.timing, request.user_id
    effects = d.effects(notifier, now_ms, context)
    outcome = d.sessions.run(
        message.session_id,
        lambda session: stop(session, user, now_ms, timing),
        expect=stop_expectation(user, now_ms, timing),  # the common case: a running duel
        lease_until=effects.lease_until,
    )
    if outcome.error is not None:
        reply(notifier, request, error_frame(outcome.error, message.request_id))
    effects.carry_out(outcome)
    return {"statusCode": 200}
