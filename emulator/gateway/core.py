"""API Gateway WebSocket rules as plain functions: inputs in, decisions out.

This module is the sans-I/O core of the gateway (style §1): route selection, the
opening-handshake decisions (identity sources, authorizer verdict, `$connect` verdict),
frame and message limits, close causes, Lambda proxy event builders and the error
frames API Gateway sends. It never awaits, never touches a socket and never reads the
clock or the random source; `local.py` (socketless) and `server.py` (websockets) feed it
the current time and fresh ids and carry out what it returns, so both follow exactly
the same rules.

Facts come from docs/aws-behaviour.md (cited as "docs/aws-behaviour.md §N").
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from emulator.runner.base import Invocation
from emulator.template.model import Route, WebSocketApi

Event = dict[str, Any]

# ---------------------------------------------------------------------------- limits

# AWS: frame 32 KB, message (fragments reassembled) 128 KB, both closed with 1009;
# binary frames from the client are unsupported and closed with 1003 (docs/aws-behaviour.md §6).
MAX_FRAME_BYTES = 32 * 1024
MAX_MESSAGE_BYTES = 128 * 1024
# AWS: @connections PostToConnection Data > 131072 bytes -> 413 (docs/aws-behaviour.md §5).
MAX_POST_BYTES = 131072
# AWS: integration timeout 50 ms - 29 s (docs/aws-behaviour.md §6).
MAX_INTEGRATION_TIMEOUT_S = 29.0
# AWS: idle 10 min, connection duration 2 h (docs/aws-behaviour.md §6).
IDLE_TIMEOUT_S = 600.0
MAX_DURATION_S = 7200.0
# AWS: authorizer result <= 8 KB (docs/aws-behaviour.md §4).
MAX_AUTHORIZER_RESULT_BYTES = 8 * 1024

ID_RANDOM_BYTES = 11  # 11 bytes -> 16 URL-safe base64 chars ending "="


@dataclass(frozen=True, slots=True)
class CloseWith:
    """A close code and reason the gateway sends (or reports in `$disconnect`)."""

    code: int
    reason: str


# AWS: $disconnect after DeleteConnection carries 1000 "Connection Closed Normally";
# idle and shutdown closes carry 1001 "Going away"; a client close frame without a
# status gives 1005 "Client-side close frame status not set" (docs/aws-behaviour.md §1).
DELETED = CloseWith(1000, "Connection Closed Normally")
GOING_AWAY = CloseWith(1001, "Going away")
NO_STATUS_REASON = "Client-side close frame status not set"
# AWS sends 1009 / 1003 (docs/aws-behaviour.md §6); the reason texts are ours (unverified).
MESSAGE_TOO_BIG = CloseWith(1009, "Message too big")
UNSUPPORTED_DATA = CloseWith(1003, "Unsupported data: binary frames are not supported")
ABNORMAL = CloseWith(1006, "")  # no close frame at all: the TCP connection dropped


# ---------------------------------------------------------------------------- ids, time


def id_from_bytes(raw: bytes) -> str:
    """Format 11 random bytes as an API Gateway id: 16 URL-safe base64 chars ending "=".

    AWS: connectionId / requestId / messageId look like `BFaT_fALIAMCKug=`
    (docs/aws-behaviour.md §1).
    The caller supplies the randomness, so this module stays deterministic.
    """
    if len(raw) != ID_RANDOM_BYTES:
        raise ValueError(f"an id needs {ID_RANDOM_BYTES} random bytes, got {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode("ascii")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def request_time(epoch_ms: int) -> str:
    """Render epoch ms as API Gateway's `requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000`.

    Month names are fixed English abbreviations, never the process locale's.
    """
    t = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year:04d}:{t:%H:%M:%S} +0000"


# ---------------------------------------------------------------------------- deployment


@dataclass(frozen=True, slots=True)
class Deployment:
    """A WebSocket API deployed to one stage in one account and region."""

    api: WebSocketApi
    region: str
    account_id: str

    @property
    def domain_name(self) -> str:
        return self.api.domain_name(self.region)

    @property
    def method_arn(self) -> str:
        """The ARN a REQUEST authorizer's policy must cover (docs/aws-behaviour.md §4)."""
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:"
            f"{self.api.api_id}/{self.api.stage}/$connect"
        )


_BODY_PATH = re.compile(r"^\$request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)$")
_BODY_PATH_BRACED = re.compile(r"^\$\{request\.body\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\}$")
_IDENTITY_SOURCE = re.compile(
    r"^(route\.request\.header|route\.request\.querystring|stageVariables|context)\.(.+)$"
)


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


def validate(api: WebSocketApi) -> None:
    """Raise ValueError if the gateway cannot serve `api` as AWS would."""
    body_path(api.route_selection_expression)
    if api.authorizer is not None:
        for source in api.authorizer.identity_sources:
            if _IDENTITY_SOURCE.match(source) is None:
                raise ValueError(
                    f"authorizer {api.authorizer.logical_id}: unsupported identity source "
                    f"{source!r}"
                )


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """The opening-handshake request as the client sent it.

    `target` is the raw request target (path plus optional `?query`); `headers` keep the
    client's order and casing, repeats included.
    """

    target: str
    headers: tuple[tuple[str, str], ...]
    source_ip: str

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query_string(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), or None."""
        found = None
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                found = value
        return found


def _group(pairs: Sequence[tuple[str, str]], *, fold_case: bool) -> dict[str, list[str]]:
    """Group repeated names; the first spelling seen names the group."""
    groups: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if fold_case else name
        if key not in spelling:
            spelling[key] = name
            groups[name] = []
        groups[spelling[key]].append(value)
    return groups


def _proxy_headers(
    deployment: Deployment, request: ClientRequest
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """`headers` / `multiValueHeaders` of a `$connect` (or authorizer) event.

    AWS: the client's headers in the client's casing (docs/aws-behaviour.md §1); `Host` is the API's
    domain (the client connected to it) and the edge adds `X-Forwarded-*` (inferred).
    Single-value maps take the last value of a repeated header, as Lambda proxy events do.
    """
    # The edge sets X-Forwarded-Port/-Proto itself and appends the caller to -For.
    edge = ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto")
    pairs: list[tuple[str, str]] = [
        (name, deployment.domain_name if name.lower() == "host" else value)
        for name, value in request.headers
        if name.lower() not in edge
    ]
    if request.header("Host") is None:
        pairs.insert(0, ("Host", deployment.domain_name))
    forwarded_for = request.header("X-Forwarded-For")
    chain = f"{forwarded_for}, {request.source_ip}" if forwarded_for else request.source_ip
    pairs += [
        ("X-Forwarded-For", chain),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    multi = _group(pairs, fold_case=True)
    return {name: values[-1] for name, values in multi.items()}, multi


def _query_maps(request: ClientRequest) -> tuple[dict[str, str], dict[str, list[str]]] | None:
    """Query maps of a `$connect` event, or None when there is no query string.

    AWS: the maps are present only when a query string exists (docs/aws-behaviour.md §1).
    """
    if not request.query_string:
        return None
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    if not pairs:
        return None
    multi = _group(pairs, fold_case=False)
    return {name: values[-1] for name, values in multi.items()}, multi


# ---------------------------------------------------------------------------- connections


@dataclass(slots=True)
class Connection:
    """What the gateway remembers about one WebSocket connection."""

    id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    last_active_at_ms: int
    # requestContext.authorizer: principalId + context + integrationLatency (docs/aws-behaviour.md
    # §4)
    authorizer: Mapping[str, Any] | None = None

    def identity(self) -> dict[str, str]:
        # AWS: userAgent only if the client sent one (docs/aws-behaviour.md §1, observed).
        identity = {"sourceIp": self.source_ip}
        if self.user_agent is not None:
            identity["userAgent"] = self.user_agent
        return identity


def _request_context(
    deployment: Deployment,
    conn: Connection,
    *,
    route_key: str,
    event_type: Literal["CONNECT", "MESSAGE", "DISCONNECT"],
    request_id: str,
    now_ms: int,
    message_id: str | None = None,
    close: CloseWith | None = None,
    with_authorizer: bool = True,
) -> Event:
    """The requestContext every WebSocket event carries, in AWS's captured key order."""
    ctx: Event = {"routeKey": route_key}
    if message_id is not None:
        ctx["messageId"] = message_id
    if close is not None:
        ctx["disconnectStatusCode"] = close.code
    ctx["eventType"] = event_type
    ctx["extendedRequestId"] = request_id
    ctx["requestTime"] = request_time(now_ms)
    ctx["messageDirection"] = "IN"
    if close is not None:
        ctx["disconnectReason"] = close.reason
    ctx["stage"] = deployment.api.stage
    ctx["connectedAt"] = conn.connected_at_ms
    ctx["requestTimeEpoch"] = now_ms
    ctx["identity"] = conn.identity()
    ctx["requestId"] = request_id
    ctx["domainName"] = deployment.domain_name
    ctx["connectionId"] = conn.id
    ctx["apiId"] = deployment.api.api_id
    if with_authorizer and conn.authorizer is not None:
        ctx["authorizer"] = dict(conn.authorizer)
    return ctx


# ---------------------------------------------------------------------------- events


def connect_event(
    deployment: Deployment,
    request: ClientRequest,
    conn: Connection,
    *,
    request_id: str,
    now_ms: int,
) -> Event:
    """Build the `$connect` event (docs/aws-behaviour.md §1): headers, query maps, no body."""
    headers, multi_headers = _proxy_headers(deployment, request)
    event: Event = {"headers": headers, "multiValueHeaders": multi_headers}
    query = _query_maps(request)
    if query is not None:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query
    event["requestContext"] = _request_context(
        deployment,
        conn,
        route_key="$connect",
        event_type="CONNECT",
        request_id=request_id,
        now_ms=now_ms,
    )
    event["isBase64Encoded"] = False
    return event


def authorizer_event(
    deployment: Deployment,
    request: ClientRequest,
    conn: Connection,
    *,
    request_id: str,
    now_ms: int,
) -> Event:
    """Build the REQUEST authorizer's input event (docs/aws-behaviour.md §4).

    Same headers, query maps and requestContext as `$connect` (no authorizer block yet),
    plus `type`, `methodArn` and `stageVariables`.
    """
    headers, multi_headers = _proxy_headers(deployment, request)
    event: Event = {
        "type": "REQUEST",
        "methodArn": deployment.method_arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
    }
    query = _query_maps(request)
    if query is not None:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query
    event["stageVariables"] = {}
    event["requestContext"] = _request_context(
        deployment,
        conn,
        route_key="$connect",
        event_type="CONNECT",
        request_id=request_id,
        now_ms=now_ms,
        with_authorizer=False,
    )
    return event


def message_event(
    deployment: Deployment,
    conn: Connection,
    text: str,
    *,
    route_key: str,
    request_id: str,
    message_id: str,
    now_ms: int,
) -> Event:
    """A MESSAGE event: `body` + `isBase64Encoded: false`, no headers (docs/aws-behaviour.md §1)."""
    return {
        "requestContext": _request_context(
            deployment,
            conn,
            route_key=route_key,
            event_type="MESSAGE",
            request_id=request_id,
            now_ms=now_ms,
            message_id=message_id,
        ),
        "body": text,
        "isBase64Encoded": False,
    }


def disconnect_event(
    deployment: Deployment,
    conn: Connection,
    close: CloseWith,
    *,
    request_id: str,
    now_ms: int,
) -> Event:
    """Build the `$disconnect` event for a connection that has already closed.

    AWS: fixed headers `Host`, `x-api-key`, `X-Forwarded-For`, `x-restapi`, plus
    `disconnectStatusCode`/`disconnectReason` (docs/aws-behaviour.md §1). `$disconnect` is best
    effort (docs/aws-behaviour.md §3), so handlers must not rely on it.
    """
    headers = {
        "Host": deployment.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": _request_context(
            deployment,
            conn,
            route_key="$disconnect",
            event_type="DISCONNECT",
            request_id=request_id,
            now_ms=now_ms,
            close=close,
        ),
        "isBase64Encoded": False,
    }


# ---------------------------------------------------------------------------- frames


def _error_frame(message: str, connection_id: str, request_id: str) -> str:
    # AWS's exact spacing: a space after the first colon only (docs/aws-behaviour.md §2, observed).
    return (
        f'{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}'
    )


def forbidden_frame(connection_id: str, request_id: str) -> str:
    """The frame AWS sends when no route (and no `$default`) matches (docs/aws-behaviour.md §2)."""
    return _error_frame("Forbidden", connection_id, request_id)


def internal_error_frame(connection_id: str, request_id: str) -> str:
    """The frame AWS sends when the integration fails (docs/aws-behaviour.md §2)."""
    return _error_frame("Internal server error", connection_id, request_id)


def outbound_fragments(text: str) -> list[str]:
    """Split an outgoing message into fragments of at most MAX_FRAME_BYTES UTF-8 bytes.

    AWS: posted data is delivered in <= 32 KB frames (docs/aws-behaviour.md §6, inferred), so a
    client that enforces its own frame limit keeps working. Splits fall on character
    boundaries so each fragment is a valid `str`.
    """
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_FRAME_BYTES:
        return [text]
    parts: list[str] = []
    start = 0
    while start < len(encoded):
        end = min(start + MAX_FRAME_BYTES, len(encoded))
        # Back off to a UTF-8 character boundary (continuation bytes are 0b10xxxxxx).
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(encoded[start:end].decode("utf-8"))
        start = end
    return parts


# ---------------------------------------------------------------------------- frame limits

FrameKind = Literal["text", "binary", "continuation"]


@dataclass(slots=True)
class FrameTracker:
    """Per-connection reassembly state: bytes of the data message in progress."""

    message_bytes: int | None = None  # None = no fragmented message in progress


def on_frame(tracker: FrameTracker, kind: FrameKind, size: int, *, fin: bool) -> CloseWith | None:
    """Check one incoming data frame against AWS's limits; a CloseWith means close now.

    AWS: binary -> 1003; a frame > 32 KB -> 1009; a message whose fragments add up to
    > 128 KB -> 1009 (docs/aws-behaviour.md §6). Called once per frame, before reassembly.
    """
    if kind == "binary":
        return UNSUPPORTED_DATA
    if size > MAX_FRAME_BYTES:
        return MESSAGE_TOO_BIG
    total = size if kind == "text" else (tracker.message_bytes or 0) + size
    if total > MAX_MESSAGE_BYTES:
        return MESSAGE_TOO_BIG
    tracker.message_bytes = None if fin else total
    return None


def observed_close(
    *,
    sent: CloseWith | None,
    received: CloseWith | None,
    received_first: bool | None,
) -> CloseWith:
    """The `$disconnect` code and reason for a connection that has closed.

    The side that closed first decides: the client's code (1005 with AWS's text when its
    close frame had no status), the gateway's own code, or 1006 when the TCP connection
    ended without any close frame (docs/aws-behaviour.md §1).
    """
    if received is not None and (sent is None or received_first):
        if received.code == 1005:
            return CloseWith(1005, NO_STATUS_REASON)
        return received
    if sent is not None:
        return sent
    return ABNORMAL


def expiry(
    conn: Connection, now_ms: int, *, idle_timeout_s: float, max_duration_s: float
) -> CloseWith | float:
    """GOING_AWAY if the connection is past its idle or duration limit, else the next
    deadline (epoch seconds) at which to ask again.

    AWS: idle 10 min and 2 h limits; a `$disconnect` with 1001 "Going away" was seen
    after ~604 s idle (docs/aws-behaviour.md §6). Only client messages move `last_active_at_ms`.
    """
    idle_deadline = conn.last_active_at_ms / 1000 + idle_timeout_s
    hard_deadline = conn.connected_at_ms / 1000 + max_duration_s
    deadline = min(idle_deadline, hard_deadline)
    if now_ms / 1000 >= deadline:
        return GOING_AWAY
    return deadline


# ---------------------------------------------------------------------------- routing


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


# ---------------------------------------------------------------------------- handshake


def _json_message(message: str) -> str:
    return json.dumps({"message": message})


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer the upgrade request with `status` and `body`; the socket never opens."""

    status: int
    body: str
    why: str  # for the log line only

    @classmethod
    def unauthorized(cls, why: str) -> Refuse:
        return cls(401, _json_message("Unauthorized"), why)

    @classmethod
    def forbidden(cls, why: str) -> Refuse:
        return cls(403, _json_message("Forbidden"), why)

    @classmethod
    def internal(cls, status: int, why: str) -> Refuse:
        return cls(status, _json_message("Internal server error"), why)

    @classmethod
    def unavailable(cls, why: str) -> Refuse:
        """The gateway is shutting down (websockets itself answers 503 then)."""
        return cls(503, _json_message("Service Unavailable"), why)


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run `function` with `event` and feed the Invocation back to the handshake."""

    function: str
    event: Event
    label: str  # "authorizer" or "$connect", for logs


@dataclass(frozen=True, slots=True)
class Accept:
    """Complete the upgrade (101); the connection exists from now on.

    `subprotocol` is the `Sec-WebSocket-Protocol` the 101 carries: only what the
    `$connect` integration's response returned, never chosen by the gateway.
    """

    connection: Connection
    subprotocol: str | None = None


Step = Refuse | Invoke | Accept


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    # IAM-style matching: "*" any run of characters, "?" one character.
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class MalformedAuthorizerResult(ValueError):
    """The authorizer returned something API Gateway cannot use (-> 500)."""


def policy_allows(result: Mapping[str, Any], method_arn: str) -> bool:
    """Whether an authorizer's policy document allows invoking `method_arn`.

    IAM evaluation: an explicit Deny covering the ARN wins, else an Allow covering it
    is needed. Resource wildcards are allowed, but a REST-style `.../{stage}/*/*` does
    not cover `.../{stage}/$connect` (docs/aws-behaviour.md §4). Raises MalformedAuthorizerResult.
    """
    policy = result.get("policyDocument")
    if not isinstance(policy, dict):
        raise MalformedAuthorizerResult("policyDocument missing or not an object")
    statements = policy.get("Statement")
    if not isinstance(statements, list | dict):
        raise MalformedAuthorizerResult("policyDocument.Statement missing")
    allowed = False
    for statement in _as_list(statements):
        if not isinstance(statement, dict):
            raise MalformedAuthorizerResult("a Statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise MalformedAuthorizerResult(f"Statement Effect {effect!r}")
        actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
        resources = [r for r in _as_list(statement.get("Resource")) if isinstance(r, str)]
        action_ok = any(_wildcard(a, ignore_case=True).match("execute-api:Invoke") for a in actions)
        resource_ok = any(_wildcard(r).match(method_arn) for r in resources)
        if action_ok and resource_ok:
            if effect == "Deny":
                return False
            allowed = True
    return allowed


def _context_value(key: str, value: Any) -> str:
    # AWS: context values are string/number/boolean only (docs/aws-behaviour.md §4); they reach
    # later events stringified, as in REST proxy events (unverified).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    raise MalformedAuthorizerResult(f"context[{key!r}] is {type(value).__name__}")


def authorizer_block(result: Mapping[str, Any], latency_ms: int) -> dict[str, Any]:
    """requestContext.authorizer from an authorizer result: principalId, then the context
    values, then integrationLatency (docs/aws-behaviour.md §1 MESSAGE example)."""
    principal = result.get("principalId")
    if not isinstance(principal, str):
        raise MalformedAuthorizerResult("principalId missing or not a string")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedAuthorizerResult("context is not an object")
    block: dict[str, Any] = {"principalId": principal}
    for key, value in context.items():
        if key not in ("principalId", "integrationLatency"):
            block[key] = _context_value(key, value)
    block["integrationLatency"] = latency_ms
    return block


def authorizer_verdict(
    deployment: Deployment, invocation: Invocation
) -> Refuse | Mapping[str, Any]:
    """Interpret a REQUEST authorizer's invocation: a Refuse, or the authorizer block.

    AWS (docs/aws-behaviour.md §4): raised "Unauthorized" -> 401; Deny or an Allow that does not
    cover methodArn -> 403; any other error, a timeout or malformed output -> 500.
    """
    if invocation.outcome == "error":
        result = invocation.result
        message = result.get("errorMessage") if isinstance(result, dict) else None
        if message == "Unauthorized":
            return Refuse.unauthorized("authorizer raised Unauthorized")
        return Refuse.internal(500, f"authorizer failed: {message}")
    if invocation.outcome == "timeout":
        return Refuse.internal(500, "authorizer timed out")
    result = invocation.result
    try:
        if not isinstance(result, dict):
            raise MalformedAuthorizerResult(f"result is {type(result).__name__}")
        if len(json.dumps(result).encode()) > MAX_AUTHORIZER_RESULT_BYTES:
            raise MalformedAuthorizerResult("result over 8 KB")
        block = authorizer_block(result, round(invocation.duration_ms))
        allowed = policy_allows(result, deployment.method_arn)
    except (MalformedAuthorizerResult, TypeError, ValueError) as exc:
        return Refuse.internal(500, f"malformed authorizer result: {exc}")
    if not allowed:
        return Refuse.forbidden("authorizer policy does not allow " + deployment.method_arn)
    return block


def connect_verdict(invocation: Invocation) -> Refuse | None:
    """Interpret the `$connect` integration: None to accept, else a Refuse.

    AWS: 2xx -> 101; any other statusCode -> that status; an exception -> 502 (timeout
    presumably the same) (docs/aws-behaviour.md §3). A result without statusCode is accepted
    (inferred: WebSocket integrations need no proxy response shape). The refusal body is
    the integration's `body` if it has one (unverified).
    """
    if not invocation.ok:
        return Refuse.internal(502, f"$connect {invocation.outcome}")
    result = invocation.result
    if not isinstance(result, dict) or "statusCode" not in result:
        return None
    raw = result["statusCode"]
    try:
        status = int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: json.loads reads Infinity
        return Refuse.internal(502, f"$connect returned statusCode {raw!r}")
    if isinstance(raw, bool) or not 200 <= status <= 599:
        return Refuse.internal(502, f"$connect returned statusCode {raw!r}")
    if status < 300:
        return None
    body = result.get("body")
    return Refuse(status, body if isinstance(body, str) else "", f"$connect returned {status}")


def connect_subprotocol(invocation: Invocation) -> str | None:
    """The `Sec-WebSocket-Protocol` a successful `$connect` response returns, else None.

    AWS: API Gateway answers the upgrade with a subprotocol only when the `$connect`
    integration's response carries the header (API Gateway dev guide, "Set up a $connect
    route that requires a WebSocket subprotocol"); a client that asked for one and gets
    none back (browsers) drops the connection. Header names are case-insensitive; a
    `multiValueHeaders` entry counts too (inferred).
    """
    result = invocation.result
    if not invocation.ok or not isinstance(result, dict):
        return None
    found: str | None = None
    for key in ("multiValueHeaders", "headers"):
        headers = result.get(key)
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            if not isinstance(name, str) or name.lower() != "sec-websocket-protocol":
                continue
            values = value if isinstance(value, list) else [value]
            text = ", ".join(str(v) for v in values if isinstance(v, str | int) and str(v))
            found = found or text or None
    return found


@dataclass(slots=True)
class Handshake:
    """One opening handshake as a step machine: path, identity sources, authorizer,
    `$connect`, in AWS's order.

    Drive it with `start()`, then `on_result(invocation)` for every Invoke step, until
    it returns Refuse or Accept. AWS keeps the upgrade pending until the authorizer and
    `$connect` have finished (docs/aws-behaviour.md §3).
    """

    deployment: Deployment
    request: ClientRequest
    connection: Connection
    request_id: str
    now_ms: int
    phase: Literal["new", "authorizer", "connect", "done"] = field(default="new")

    @classmethod
    def begin(
        cls,
        deployment: Deployment,
        request: ClientRequest,
        *,
        connection_id: str,
        request_id: str,
        now_ms: int,
    ) -> Handshake:
        conn = Connection(
            id=connection_id,
            connected_at_ms=now_ms,
            source_ip=request.source_ip,
            user_agent=request.header("User-Agent"),
            last_active_at_ms=now_ms,
        )
        return cls(deployment, request, conn, request_id, now_ms)

    def start(self) -> Step:
        if self.phase != "new":
            raise RuntimeError("handshake already started")
        stage = self.deployment.api.stage
        if self.request.path not in (f"/{stage}", f"/{stage}/"):
            # Any other path is not this stage; API Gateway answers 403 (inferred).
            return self._finish(Refuse.forbidden(f"no stage at path {self.request.path!r}"))
        authorizer = self.deployment.api.authorizer
        if authorizer is not None:
            for source in authorizer.identity_sources:
                if not self._identity_value(source):
                    # AWS: a missing identity source -> 401, authorizer not invoked (§4).
                    return self._finish(Refuse.unauthorized(f"missing identity source {source}"))
            self.phase = "authorizer"
            event = authorizer_event(
                self.deployment,
                self.request,
                self.connection,
                request_id=self.request_id,
                now_ms=self.now_ms,
            )
            return Invoke(authorizer.function, event, "authorizer")
        return self._connect_step()

    def on_result(self, invocation: Invocation) -> Step:
        if self.phase == "authorizer":
            verdict = authorizer_verdict(self.deployment, invocation)
            if isinstance(verdict, Refuse):
                return self._finish(verdict)
            self.connection.authorizer = verdict
            return self._connect_step()
        if self.phase == "connect":
            refusal = connect_verdict(invocation)
            if refusal is not None:
                return self._finish(refusal)
            return self._finish(Accept(self.connection, connect_subprotocol(invocation)))
        raise RuntimeError(f"no invocation expected in phase {self.phase}")

    def _connect_step(self) -> Step:
        route = self.deployment.api.routes.get("$connect")
        if route is None or route.function is None:
            # AWS: a $connect integration is optional (docs/aws-behaviour.md §3).
            return self._finish(Accept(self.connection))
        self.phase = "connect"
        event = connect_event(
            self.deployment,
            self.request,
            self.connection,
            request_id=self.request_id,
            now_ms=self.now_ms,
        )
        return Invoke(route.function, event, "$connect")

    def _finish(self, step: Refuse | Accept) -> Step:
        self.phase = "done"
        return step

    def _identity_value(self, source: str) -> str | None:
        """The value of one identity source, or None if missing/empty (docs/aws-behaviour.md §4)."""
        match = _IDENTITY_SOURCE.match(source)
        if match is None:
            return None
        kind, name = match.groups()
        value: Any = None
        if kind == "route.request.header":
            value = self.request.header(name)
        elif kind == "route.request.querystring":
            query = _query_maps(self.request)
            value = query[0].get(name) if query is not None else None
        elif kind == "context":
            ctx = _request_context(
                self.deployment,
                self.connection,
                route_key="$connect",
                event_type="CONNECT",
                request_id=self.request_id,
                now_ms=self.now_ms,
                with_authorizer=False,
            )
            value = ctx.get(name)
        # stageVariables: the model has none, so such a source is always missing.
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        return text or None
