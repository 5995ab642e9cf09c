"""The payload format 2.0 event an HTTP API hands to Lambda (docs/aws-behaviour.md §12).

Pure: the request, the matched route, the claims and the time come in, the event dict
goes out. Shape rules (docs/aws-behaviour.md §12, API Gateway dev guide "Working with AWS Lambda
proxy integrations for HTTP APIs"):

- header names lower-cased, repeated headers joined with commas, no `multiValue*` maps;
  Cookie headers move to `cookies` (one entry per cookie);
- `body`, `queryStringParameters`, `pathParameters`, `stageVariables`, `cookies` are
  absent when empty; `rawQueryString` is always present;
- JWT claims are strings, array claims `"[a b]"`.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from emulator.httpapi.routing import RouteMatch
from emulator.template.model import HttpApi


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What the event needs from one HTTP request, already read off the socket."""

    method: str
    raw_path: str  # as sent, percent-encoding kept, without the query string
    raw_query: str  # as sent, without "?"
    headers: Sequence[tuple[str, str]]  # in order, names as sent, repeats kept
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def new_request_id() -> str:
    """A 16-char API Gateway style request id, e.g. `LV7fzho-PHcEJPw=`."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def trace_id(now_ms: int) -> str:
    """An X-Ray trace header value (`Root=1-<8 hex epoch s>-<24 hex>`)."""
    return f"Root=1-{now_ms // 1000:08x}-{os.urandom(12).hex()}"


def request_time(now_ms: int) -> str:
    """`21/Apr/2026:15:08:21 +0000`, the `requestContext.time` format."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000))


def joined_headers(headers: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(headers lower-cased with repeats comma-joined, cookies) as payload 2.0 carries them.

    AWS: cookie headers are combined into `cookies`; the `cookie` header itself is not in
    `headers` (inferred from captured 2.0 events).
    """
    out: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        out[key] = f"{out[key]},{value}" if key in out else value
    return out, cookies


def query_parameters(raw_query: str) -> dict[str, str]:
    """Decoded query parameters; repeated names comma-joined (payload 2.0)."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql")


def is_text(content_type: str | None) -> bool:
    """Whether a body of this type is passed as text rather than base64."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or any(kind in media for kind in _TEXT_TYPES)


def encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """(body, isBase64Encoded): text bodies as UTF-8 text, anything else base64."""
    if is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def claim_string(value: Any) -> str:
    """A claim as HTTP API passes it: strings as-is, numbers in decimal, arrays `"[a b]"`.

    AWS: claims reach the function as strings, array claims like `cognito:groups` as
    `"[admin players]"` (docs/aws-behaviour.md §12, reported by users).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(claim_string(item) for item in value) + "]"
    if isinstance(value, Mapping):
        inner = " ".join(f"{k}:{claim_string(v)}" for k, v in value.items())
        return f"map[{inner}]"  # shape (unverified)
    return str(value)


def jwt_authorizer_context(claims: Mapping[str, Any]) -> dict[str, Any]:
    """`requestContext.authorizer` for a JWT authorizer.

    `scopes`: the token's space-separated `scope` claim, None without one (unverified).
    """
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) and scope.strip() else None
    return {
        "jwt": {
            "claims": {name: claim_string(value) for name, value in claims.items()},
            "scopes": scopes,
        }
    }


def http_event(
    api: HttpApi,
    match: RouteMatch,
    request: HttpRequest,
    *,
    region: str,
    account_id: str,
    request_id: str,
    now_ms: int,
    claims: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the payload format 2.0 event for `request` routed to `match`."""
    headers, cookies = joined_headers(request.headers)
    domain = f"{api.api_id}.execute-api.{region}.amazonaws.com"
    # AWS adds these on every request it forwards (captured 2.0 events).
    headers.setdefault("x-amzn-trace-id", trace_id(now_ms))
    headers.setdefault("x-forwarded-for", request.source_ip)
    http = {
        "method": request.method.upper(),
        "path": request.raw_path,
        "protocol": request.protocol,
        "sourceIp": request.source_ip,
        "userAgent": headers.get("user-agent", ""),
    }
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api.api_id,
    }
    if claims is not None:
        context["authorizer"] = jwt_authorizer_context(claims)
    context.update(
        {
            "domainName": domain,
            "domainPrefix": api.api_id,
            "http": http,
            "requestId": request_id,
            "routeKey": match.route_key,
            "stage": api.stage,
            "time": request_time(now_ms),
            "timeEpoch": now_ms,
        }
    )
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = query_parameters(request.raw_query)
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if request.body:
        body, is_b64 = encode_body(request.body, headers.get("content-type"))
        event["body"] = body
        event["isBase64Encoded"] = is_b64
    else:
        event["isBase64Encoded"] = False
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    return event
