"""$default: every frame no route matched gets an `error` frame (unknown_action or bad_request)."""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.effects import reply
from adapters.events import ws_request
from duel.frames import error_frame
from duel.messages import request_id_of, unroutable


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = ws_request(event)
    notifier = deps.get().notifier(request.endpoint, context)
    reply(notifier, request, error_frame(unroutable(request.body), request_id_of(request.body)))
    return {"statusCode": 200}
