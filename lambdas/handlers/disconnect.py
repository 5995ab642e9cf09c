"""$disconnect: forget the connection; a pending invite or a running duel is left alone.

AWS: $disconnect is best effort (docs/aws-behaviour.md §3); a connection it misses stops being
live when its expireAt passes.
"""

from __future__ import annotations

from typing import Any

from adapters import deps
from adapters.events import ws_request


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = ws_request(event)
    deps.get().connections.delete(request.user_id, request.connection_id)
    return {"statusCode": 200}
