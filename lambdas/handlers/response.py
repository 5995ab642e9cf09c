"""response: the invitee accepts or rejects a pending invite.

Errors in protocol order: bad_request, not_found, forbidden, invalid_state. An accept
after the deadline is invalid_state, and the invite ends as no_response (once).
"""

from __future__ import annotations

from typing import Any

from adapters.routes import ws_route
from duel.machine import answer, answer_expectation
from duel.messages import parse_response


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    route = ws_route(event, context, parse_response)
    if route is None:
        return {"statusCode": 200}
    message, user = route.message, route.request.user_id
    now_ms, timing = route.deps.now_ms(), route.deps.config.timing
    route.decide(
        message.session_id,
        lambda session: answer(session, user, message.accept, now_ms, timing),
        expect=answer_expectation(user, message.accept, now_ms, timing),
        now_ms=now_ms,
        context=context,
        request_id=message.request_id,
    )
    return {"statusCode": 200}
