"""$connect: record the connection so frames can find it."""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.connections import connection_of, expire_at_from
from adapters.events import ws_request


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Put the Connections item; a 2xx lets the handshake complete (docs/aws-behaviour.md §3)."""
    d = deps.get()
    request = ws_request(event)
    now_ms = d.now_ms()
    expire_at = expire_at_from(now_ms, d.config.connection_ttl_s)
    d.connections.put(connection_of(request, now_ms, expire_at))
    return {"statusCode": 200}
