"""stop: either participant ends an active duel; the inviter may withdraw a pending invite.

Errors in protocol order: bad_request, not_found, forbidden, invalid_state.
"""

from __future__ import annotations

from typing import Any

from adapters.routes import ws_route
from duel.machine import stop, stop_expectation
from duel.messages import parse_stop


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    route = ws_route(event, context, parse_stop)
    if route is None:
        return {"statusCode": 200}
    message, user = route.message, route.request.user_id
    now_ms, timing = route.deps.now_ms(), route.deps.config.timing
    route.decide(
        message.session_id,
        lambda session: stop(session, user, now_ms, timing),
        expect=stop_expectation(user, now_ms, timing),  # the common case: a running duel
        now_ms=now_ms,
        context=context,
        request_id=message.request_id,
    )
    return {"statusCode": 200}
