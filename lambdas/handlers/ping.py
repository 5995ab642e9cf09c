"""ping: push this connection's expireAt forward and answer `pong` with the new expiry.

A ping proves the socket is open, so a missing Connections item (TTL deleted it, or a
410 clean-up judged it gone) is written again from the authorizer's identity rather
than refused (docs/protocol.md: ping on a live socket whose item is gone).
"""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.connections import Connection, expire_at_from
from adapters.effects import reply
from adapters.events import ws_request
from duel.errors import DuelError
from duel.frames import error_frame, pong_frame
from duel.messages import parse_bare, request_id_of
from duel.times import iso, seconds_iso


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
    expire_at = expire_at_from(now_ms, d.config.connection_ttl_s)
    d.connections.refresh(
        Connection(
            user_id=request.user_id,
            connection_id=request.connection_id,
            username=request.username,
            connected_at=iso(request.connected_at_ms or now_ms),
            expire_at=expire_at,
        )
    )
    reply(notifier, request, pong_frame(seconds_iso(expire_at), message.request_id))
    return {"statusCode": 200}
