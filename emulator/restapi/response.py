"""REST API (v1) responses: a Lambda proxy result mapped, and API Gateway's own errors.

Pure. AWS (API Gateway dev guide, "Output format of a Lambda function for proxy
integration"): the result must be a JSON object with `statusCode` and only the keys
`statusCode`, `headers`, `multiValueHeaders`, `body` (a string) and `isBase64Encoded`;
anything else is a "malformed Lambda proxy response", answered 502
`{"message": "Internal server error"}`, as is a function error. `headers` and
`multiValueHeaders` merge, the multi-value entry winning for a name in both. A
base64 body is decoded only for a binary media type; otherwise the client receives
the base64 text.

Gateway responses (API Gateway dev guide, "Gateway response types"): a route nobody
declared is 403 MISSING_AUTHENTICATION_TOKEN, a missing or rejected token 401
UNAUTHORIZED, a policy that does not allow 403 ACCESS_DENIED, a failing authorizer 500
AUTHORIZER_CONFIGURATION_ERROR, the 29 s integration timeout 504 INTEGRATION_TIMEOUT.
Bodies and `x-amzn-ErrorType` values as clients report them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from emulator.httpapi.response import BadLambdaResponse, HttpResult
from emulator.restapi.event import header_value, is_binary

JSON = "application/json"
_RESULT_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


def gateway_response(status: int, body: Mapping[str, Any], error_type: str) -> HttpResult:
    """One of API Gateway's own responses, compact JSON with its `x-amzn-ErrorType`."""
    data = json.dumps(body, separators=(",", ":")).encode()
    return HttpResult(status, (("Content-Type", JSON), ("x-amzn-ErrorType", error_type)), data)


MISSING_TOKEN = gateway_response(
    403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException"
)
FORBIDDEN = gateway_response(403, {"message": "Forbidden"}, "ForbiddenException")
UNAUTHORIZED = gateway_response(401, {"message": "Unauthorized"}, "UnauthorizedException")
EXPLICIT_DENY = gateway_response(
    403,
    {"Message": "User is not authorized to access this resource with an explicit deny"},
    "AccessDeniedException",
)
NOT_ALLOWED = gateway_response(
    403, {"Message": "User is not authorized to access this resource"}, "AccessDeniedException"
)
AUTHORIZER_ERROR = gateway_response(500, {"message": None}, "AuthorizerConfigurationException")
BAD_GATEWAY = gateway_response(
    502, {"message": "Internal server error"}, "InternalServerErrorException"
)
TIMED_OUT = gateway_response(
    504, {"message": "Endpoint request timed out"}, "InternalServerErrorException"
)


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadLambdaResponse(f"header {name!r} is not a string")


def proxy_response(
    result: Any, *, binary_media_types: Sequence[str], request_headers: Sequence[tuple[str, str]]
) -> HttpResult:
    """Map a handler's return value; raises BadLambdaResponse for a malformed one."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        raise BadLambdaResponse("the result is not an object with statusCode")
    extra = set(result) - _RESULT_KEYS
    if extra:
        raise BadLambdaResponse(f"unexpected keys {sorted(extra)}")
    raw = result["statusCode"]
    try:
        status = int(raw) if not isinstance(raw, bool) else -1
    except (TypeError, ValueError):
        status = -1
    if not 100 <= status <= 599:
        raise BadLambdaResponse(f"statusCode {raw!r} is not an HTTP status")
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise BadLambdaResponse("headers / multiValueHeaders is not an object")
    headers: list[tuple[str, str]] = []
    multi_names = {str(name).lower() for name in multi}
    for name, value in single.items():
        if str(name).lower() not in multi_names:
            headers.append((str(name), _text(str(name), value)))
    for name, values in multi.items():
        if not isinstance(values, list):
            raise BadLambdaResponse(f"multiValueHeaders[{name!r}] is not a list")
        headers += [(str(name), _text(str(name), value)) for value in values]
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise BadLambdaResponse("body is not a string")
    data = (body or "").encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", JSON))
    if result.get("isBase64Encoded") is True and body:
        content_type = next(v for n, v in headers if n.lower() == "content-type")
        accept = header_value(request_headers, "Accept")
        if is_binary(content_type, binary_media_types) or is_binary(accept, binary_media_types):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadLambdaResponse("body is not valid base64") from exc
    return HttpResult(status, tuple(headers), data)
