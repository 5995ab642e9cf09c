"""Route selection for client messages, and what a message and its integration's result
cause: an invoke, or a frame back (docs/aws-behaviour.md §2)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from emulator.gateway.connection import Connection, Deployment
from emulator.gateway.error_frames import forbidden_frame, internal_error_frame
from emulator.gateway.events import Event, message_event
from emulator.runner.base import Invocation
from emulator.template.model import Route, WebSocketApi

_BODY_PATH = re.compile(r"^\$request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)$")
_BODY_PATH_BRACED = re.compile(r"^\$\{request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\}$")


def body_path(expression: str) -> tuple[str, ...]:
    """Parse a route selection expression into the JSON path it reads.

    AWS: WebSocket APIs select routes with `$request.body.<path>` (docs/aws-behaviour.md §2).
    Raises ValueError for anything else, so a bad template fails at start-up, not on
    the first message.
    """
    match = _BODY_PATH.match(expression) or _BODY_PATH_BRACED.match(expression)
    if match is None:
        raise ValueError(
            f"unsupported RouteSelectionExpression {expression!r}: expected $request.body.<path>"
        )
    return tuple(match.group(1).split("."))


def _stringify(value: Any) -> str:
    # AWS: the selected value is stringified (docs/aws-behaviour.md §2); null reads as missing and
    # objects/arrays as compact JSON (inferred).
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def route_key_of(api: WebSocketApi, text: str) -> str | None:
    """Evaluate the route selection expression on a message; None if the body is not a
    JSON object.

    AWS: the body must be JSON; a missing path gives "" (docs/aws-behaviour.md §2).
    """
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # Nested too deeply for Python's decoder: a body AWS cannot select a route from
        # goes to $default like non-JSON (docs/aws-behaviour.md §2), never crashing the task.
        return None
    if not isinstance(body, dict):
        return None
    value: Any = body
    for part in body_path(api.route_selection_expression):
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    return _stringify(value)


def select_route(api: WebSocketApi, text: str) -> Route | None:
    """The route a message goes to: exact, case-sensitive key match, else `$default`,
    else None (the caller answers with the Forbidden frame).

    `$connect`/`$disconnect` are never message routes.
    """
    key = route_key_of(api, text)
    if key and key not in ("$connect", "$disconnect"):
        route = api.routes.get(key)
        if route is not None:
            return route
    return api.routes.get("$default")


@dataclass(frozen=True, slots=True)
class Reply:
    """Send `frame` to the sender; nothing is invoked."""

    frame: str


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Invoke `function` with `event`; `request_id` names the error frame if it fails."""

    route: Route
    function: str
    event: Event
    request_id: str


def on_message(
    deployment: Deployment,
    conn: Connection,
    text: str,
    *,
    request_id: str,
    message_id: str,
    now_ms: int,
) -> Dispatch | Reply:
    """Decide what one complete text message from the client causes."""
    route = select_route(deployment.api, text)
    if route is None:
        # AWS: no matching route and no $default -> Forbidden frame, socket stays open.
        return Reply(forbidden_frame(conn.id, request_id))
    if route.function is None:
        # A route without an integration cannot answer (inferred).
        return Reply(internal_error_frame(conn.id, request_id))
    event = message_event(
        deployment,
        conn,
        text,
        route_key=route.key,
        request_id=request_id,
        message_id=message_id,
        now_ms=now_ms,
    )
    return Dispatch(route, route.function, event, request_id)


def on_message_result(dispatch: Dispatch, conn_id: str, invocation: Invocation) -> list[str]:
    """Frames to send back once a message's integration finished.

    AWS: an error or timeout -> Internal server error frame, socket stays open; the
    return value is discarded unless the route has a route response, then its `body`
    goes back as a text frame; a non-2xx statusCode closes nothing (docs/aws-behaviour.md §2).
    """
    if not invocation.ok:
        return [internal_error_frame(conn_id, dispatch.request_id)]
    if not dispatch.route.returns_response:
        return []
    result = invocation.result
    if not isinstance(result, dict):
        return []
    body = result.get("body")
    if body is None:
        return []
    if not isinstance(body, str):
        body = json.dumps(body, separators=(",", ":"))
    return [body]
