"""$connect: record the connection so frames can find it."""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.connections import Connection, expire_at_from
from adapters.events import ws_request
from duel.times import iso


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Put the Connections item; a 2xx lets the handshake complete (docs/aws-behaviour.md §3)."""
    d = deps.get()
    request = ws_request(event)
    now_ms = d.now_ms()
    d.connections.put(
        Connection(
            user_id=request.user_id,
            connection_id=request.connection_id,
            username=request.username,
            connected_at=iso(request.connected_at_ms or now_ms),
            expire_at=expire_at_from(now_ms, d.config.connection_ttl_s),
        )
    )
    return {"statusCode": 200}
