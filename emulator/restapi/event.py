"""The payload format 1.0 event a REST API (v1) hands to a Lambda proxy integration.

Pure: the request, the matched method, the authorizer's block and the time come in, the
event dict goes out. Shape (API Gateway dev guide, "Input format of a Lambda function
for proxy integration"; docs/aws-behaviour.md §12 for the 2.0 contrast):

- `resource` is the method's resource path (`/items/{id}`), `path` the request path
  without the stage, `requestContext.path` with it (`/Prod/items/42`);
- `headers` / `multiValueHeaders` keep the client's header names as sent; the
  single-value maps take the last of repeated values; API Gateway's edge sets `Host`
  to the API's domain and adds `X-Forwarded-*` and `X-Amzn-Trace-Id`;
- `queryStringParameters`, `multiValueQueryStringParameters`, `pathParameters`,
  `stageVariables` and `body` are `null` when empty, never absent;
- path parameters keep the request's percent-encoding (reported by users; the HTTP
  API decodes them);
- `requestContext.requestId` is a UUID, `extendedRequestId` API Gateway's 16-character
  id; `identity` lists every caller field, null unless known.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from emulator.gateway.ids import request_time
from emulator.httpapi.event import HttpRequest
from emulator.template.model import RestApi, RestRoute

# AWS: the caller fields of requestContext.identity, in the order captured events show.
_IDENTITY_FIELDS = (
    "cognitoIdentityPoolId",
    "accountId",
    "cognitoIdentityId",
    "caller",
    "sourceIp",
    "principalOrgId",
    "accessKey",
    "cognitoAuthenticationType",
    "cognitoAuthenticationProvider",
    "userArn",
    "userAgent",
    "user",
)


def new_request_id() -> str:
    """`requestContext.requestId` of a REST API: a UUID (unlike the HTTP API's short id)."""
    return str(uuid.uuid4())


def new_extended_id() -> str:
    """API Gateway's 16-character id, e.g. `LV7fzho-PHcEJPw=` (also `x-amz-apigw-id`)."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def trace_id(now_ms: int) -> str:
    """An X-Ray trace header value (`Root=1-<8 hex epoch s>-<24 hex>`)."""
    return f"Root=1-{now_ms // 1000:08x}-{os.urandom(12).hex()}"


def method_arn(api: RestApi, region: str, account_id: str, method: str, path: str) -> str:
    """What an authorizer's policy must cover: `.../{apiId}/{stage}/{METHOD}/{path}`.

    AWS: the path is the request's (parameters filled in), without its leading slash.
    """
    return (
        f"arn:aws:execute-api:{region}:{account_id}:{api.api_id}/{api.stage}/"
        f"{method.upper()}/{path.lstrip('/')}"
    )


def _group(pairs: Sequence[tuple[str, str]], *, fold_case: bool) -> dict[str, list[str]]:
    """Repeated names grouped; the first spelling seen names the group."""
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
    api: RestApi, request: HttpRequest, region: str, now_ms: int
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(`headers`, `multiValueHeaders`) as API Gateway forwards them."""
    edge = ("host", "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id")
    sent = list(request.headers)
    pairs = [(name, value) for name, value in sent if name.lower() not in edge]
    forwarded = next((v for n, v in reversed(sent) if n.lower() == "x-forwarded-for"), None)
    trace = next((v for n, v in reversed(sent) if n.lower() == "x-amzn-trace-id"), None)
    pairs = [
        ("Host", api.domain_name(region)),
        *pairs,
        ("X-Amzn-Trace-Id", trace or trace_id(now_ms)),
        (
            "X-Forwarded-For",
            f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip,
        ),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    multi = _group(pairs, fold_case=True)
    return {name: values[-1] for name, values in multi.items()}, multi


def query_maps(raw_query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """(`queryStringParameters`, `multiValueQueryStringParameters`); both null when empty.

    AWS: the single-value map holds the last value of a repeated parameter.
    """
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    if not pairs:
        return None, None
    multi = _group(pairs, fold_case=False)
    return {name: values[-1] for name, values in multi.items()}, multi


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The last value of header `name` (case-insensitive), or None."""
    found = None
    for key, value in headers:
        if key.lower() == name.lower():
            found = value
    return found


def is_binary(content_type: str | None, binary_media_types: Sequence[str]) -> bool:
    """Whether a media type matches the API's binaryMediaTypes (`image/*`, `*/*`, ...)."""
    if not content_type or not binary_media_types:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media, pattern.lower()) for pattern in binary_media_types)


def encode_body(api: RestApi, request: HttpRequest) -> tuple[str | None, bool]:
    """(`body`, `isBase64Encoded`): base64 only when the Content-Type is a binary media type.

    AWS: without binaryMediaTypes a REST API passes the payload as text (API Gateway
    dev guide, "Working with binary media types for REST APIs").
    """
    if not request.body:
        return None, False
    if is_binary(header_value(request.headers, "Content-Type"), api.binary_media_types):
        return base64.b64encode(request.body).decode("ascii"), True
    return request.body.decode("utf-8", errors="replace"), False


def request_context(
    api: RestApi,
    route: RestRoute,
    request: HttpRequest,
    *,
    stage_path: str,
    region: str,
    account_id: str,
    request_id: str,
    extended_id: str,
    now_ms: int,
) -> dict[str, Any]:
    """The REST `requestContext`, without `authorizer` (the caller adds it when there is one)."""
    identity: dict[str, Any] = dict.fromkeys(_IDENTITY_FIELDS)
    identity["sourceIp"] = request.source_ip
    identity["userAgent"] = header_value(request.headers, "User-Agent")
    return {
        "resourceId": route.resource_id,
        "resourcePath": route.path,
        "httpMethod": request.method.upper(),
        "extendedRequestId": extended_id,
        "requestTime": request_time(now_ms),
        "path": f"/{api.stage}{stage_path}",
        "accountId": account_id,
        "protocol": request.protocol,
        "stage": api.stage,
        "domainPrefix": api.api_id,
        "requestTimeEpoch": now_ms,
        "requestId": request_id,
        "identity": identity,
        "domainName": api.domain_name(region),
        "apiId": api.api_id,
    }


def proxy_event(
    api: RestApi,
    route: RestRoute,
    path_parameters: Mapping[str, str],
    request: HttpRequest,
    *,
    stage_path: str,
    context: Mapping[str, Any],
    region: str,
    now_ms: int,
) -> dict[str, Any]:
    """The Lambda proxy event for `request` on `route` (the context from `request_context`)."""
    headers, multi_headers = proxy_headers(api, request, region, now_ms)
    query, multi_query = query_maps(request.raw_query)
    body, is_b64 = encode_body(api, request)
    return {
        "resource": route.path,
        "path": stage_path,
        "httpMethod": request.method.upper(),
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": dict(api.stage_variables) or None,
        "requestContext": dict(context),
        "body": body,
        "isBase64Encoded": is_b64,
    }


def request_authorizer_event(event: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """A REQUEST authorizer's input: the proxy event's request fields plus type and methodArn.

    AWS (API Gateway dev guide, "Input to an API Gateway Lambda authorizer"): no body.
    """
    out: dict[str, Any] = {"type": "REQUEST", "methodArn": arn}
    for key in (
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    ):
        out[key] = event[key]
    return out
