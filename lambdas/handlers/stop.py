"""stop: either participant ends an active duel; the inviter may withdraw a pending invite.

Errors in protocol order: bad_request, not_found, forbidden, invalid_state.
"""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.effects import carry_out, reply
from adapters.events import ws_request
from duel.errors import DuelError
from duel.frames import error_frame
from duel.machine import stop
from duel.messages import parse_stop, request_id_of


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    d = deps.get()
    request = ws_request(event)
    notifier = d.notifier(request.endpoint)
    try:
        message = parse_stop(request.body)
    except DuelError as err:
        reply(notifier, request, error_frame(err, request_id_of(request.body)))
        return {"statusCode": 200}
    now_ms = d.now_ms()
    outcome = d.sessions.run(
        message.session_id,
        lambda session: stop(session, request.user_id, now_ms, d.config.timing),
    )
    if outcome.error is not None:
        reply(notifier, request, error_frame(outcome.error, message.request_id))
    carry_out(outcome, d.timers, notifier, now_ms)
    return {"statusCode": 200}
