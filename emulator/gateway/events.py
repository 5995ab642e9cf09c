"""The Lambda proxy events of a WebSocket API, in AWS's captured key order
(docs/aws-behaviour.md §1, §4): `$connect`, the REQUEST authorizer's input, MESSAGE and
`$disconnect`. Pure builders: the caller passes ids and the time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl

from emulator.gateway.closes import CloseWith
from emulator.gateway.connection import ClientRequest, Connection, Deployment
from emulator.gateway.ids import request_time

Event = dict[str, Any]


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


def proxy_headers(
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


def query_maps(request: ClientRequest) -> tuple[dict[str, str], dict[str, list[str]]] | None:
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


def request_context(
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


def connect_event(
    deployment: Deployment,
    request: ClientRequest,
    conn: Connection,
    *,
    request_id: str,
    now_ms: int,
) -> Event:
    """Build the `$connect` event (docs/aws-behaviour.md §1): headers, query maps, no body."""
    headers, multi_headers = proxy_headers(deployment, request)
    event: Event = {"headers": headers, "multiValueHeaders": multi_headers}
    query = query_maps(request)
    if query is not None:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query
    event["requestContext"] = request_context(
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
    headers, multi_headers = proxy_headers(deployment, request)
    event: Event = {
        "type": "REQUEST",
        "methodArn": deployment.method_arn,
        "headers": headers,
        "multiValueHeaders": multi_headers,
    }
    query = query_maps(request)
    if query is not None:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = query
    event["stageVariables"] = {}
    event["requestContext"] = request_context(
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
        "requestContext": request_context(
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
        "requestContext": request_context(
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
