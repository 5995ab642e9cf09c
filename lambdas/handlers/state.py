"""state: the sender's pending and active sessions, to resume after a reconnect."""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.effects import reply
from adapters.events import ws_request
from duel.errors import DuelError
from duel.frames import error_frame, state_frame
from duel.machine import is_engaged
from duel.messages import parse_bare, request_id_of


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    d = deps.get()
    request = ws_request(event)
    notifier = d.notifier(request.endpoint, context)
    try:
        message = parse_bare(request.body)
    except DuelError as err:
        reply(notifier, request, error_frame(err, request_id_of(request.body)))
        return {"statusCode": 200}
    now_ms = d.now_ms()
    # Past-deadline sessions are over even before their timer says so.
    sessions = [s for s in d.sessions.for_user(request.user_id) if is_engaged(s, now_ms)]
    sessions.sort(key=lambda s: (s.created_at, s.session_id))
    reply(notifier, request, state_frame(sessions, message.request_id))
    return {"statusCode": 200}
