"""ping: push this connection's expireAt forward and answer `pong` with the new expiry."""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.connections import expire_at_from
from adapters.effects import reply
from adapters.events import ws_request
from duel.errors import DuelError, ErrorCode
from duel.frames import error_frame, pong_frame
from duel.messages import parse_bare, request_id_of
from duel.times import seconds_iso


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    d = deps.get()
    request = ws_request(event)
    notifier = d.notifier(request.endpoint)
    try:
        message = parse_bare(request.body)
        expire_at = expire_at_from(d.now_ms(), d.config.connection_ttl_s)
        if not d.connections.refresh(request.user_id, request.connection_id, expire_at):
            raise DuelError(
                ErrorCode.INVALID_STATE, "this connection is no longer registered; reconnect"
            )
    except DuelError as err:
        reply(notifier, request, error_frame(err, request_id_of(request.body)))
    else:
        reply(notifier, request, pong_frame(seconds_iso(expire_at), message.request_id))
    return {"statusCode": 200}
