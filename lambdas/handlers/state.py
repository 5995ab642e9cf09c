"""state: the sender's pending and active sessions, to resume after a reconnect."""

from __future__ import annotations

from typing import Any

from adapters.routes import ws_route
from duel.frames import state_frame
from duel.machine import is_engaged
from duel.messages import parse_bare


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    route = ws_route(event, context, parse_bare)
    if route is None:
        return {"statusCode": 200}
    now_ms, user = route.deps.now_ms(), route.request.user_id
    # Past-deadline sessions are over even before their timer says so.
    sessions = [s for s in route.deps.sessions.for_user(user) if is_engaged(s, now_ms)]
    sessions.sort(key=lambda s: (s.created_at, s.session_id))
    route.reply(state_frame(sessions, route.message.request_id))
    return {"statusCode": 200}
