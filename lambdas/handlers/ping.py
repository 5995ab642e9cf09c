"""ping: push this connection's expireAt forward and answer `pong` with the new expiry.

A ping proves the socket is open, so a missing Connections item (TTL deleted it, or a
410 clean-up judged it gone) is written again from the authorizer's identity rather
than refused (docs/protocol.md: ping on a live socket whose item is gone).
"""

from __future__ import annotations

from typing import Any

from adapters.connections import connection_of, expire_at_from
from adapters.routes import ws_route
from duel.frames import pong_frame
from duel.messages import parse_bare
from duel.times import seconds_iso


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    route = ws_route(event, context, parse_bare)
    if route is None:
        return {"statusCode": 200}
    d, request = route.deps, route.request
    now_ms = d.now_ms()
    expire_at = expire_at_from(now_ms, d.config.connection_ttl_s)
    d.connections.refresh(connection_of(request, now_ms, expire_at))
    route.reply(pong_frame(seconds_iso(expire_at), route.message.request_id))
    return {"statusCode": 200}
