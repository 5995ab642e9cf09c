"""GET /online (HTTP API, payload 2.0): who is online and whether they are free to duel."""

from __future__ import annotations

import json
from typing import Any

from adapters import deps
from adapters.events import jwt_claims
from duel.frames import online_body
from duel.machine import user_status


def _json(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Every user with a live connection once, minus the caller, with their status."""
    caller = jwt_claims(event).get("sub")
    if not caller:
        # The JWT authorizer answers this itself; reaching here means it was bypassed.
        return _json(401, {"message": "Unauthorized"})
    d = deps.get()
    now_ms = d.now_ms()
    connections = sorted(d.connections.all_live(now_ms), key=lambda c: c.connected_at)
    # The newest connection's username wins if a user's connections disagree.
    usernames = {c.user_id: c.username for c in connections if c.user_id != caller}
    current = d.locks.current_sessions(usernames)
    statuses = {user: user_status(current.get(user), now_ms) for user in usernames}
    return _json(200, online_body(usernames, statuses))
