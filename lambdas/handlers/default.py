"""$default: every frame no route matched gets an `error` frame (unknown_action or bad_request)."""

from __future__ import annotations

from typing import Any

from adapters.routes import ws_route
from duel.messages import unroutable


def _refuse(body: str | None) -> None:
    raise unroutable(body)  # no body that reaches $default is a message of the protocol


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    ws_route(event, context, _refuse)  # answers the sender with the error frame
    return {"statusCode": 200}
