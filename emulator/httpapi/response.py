"""Turn a Lambda result into the HTTP response an HTTP API (payload 2.0) would send.

Pure. AWS (API Gateway dev guide, "Lambda function response for format 2.0"; docs/aws-behaviour.md
§12): a result with `statusCode` is used as `{statusCode, headers, body, isBase64Encoded,
cookies}`; any other valid JSON value becomes 200 `application/json` with that JSON as the
body. A function error or a malformed result is 500 `{"message":"Internal Server Error"}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.runner.base import Invocation

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class HttpResult:
    """An HTTP response, socket-free: status, ordered headers (repeats allowed), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class BadLambdaResponse(ValueError):
    """The function returned something API Gateway cannot turn into a response."""


def gateway_message(status: int, message: str, **headers: str) -> HttpResult:
    """One of API Gateway's own JSON responses, `{"message": ...}` (compact, as AWS sends)."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    extra = tuple((name.replace("_", "-"), value) for name, value in headers.items())
    return HttpResult(status, (("content-type", JSON), *extra), body)


INTERNAL_SERVER_ERROR = gateway_message(500, "Internal Server Error")
NOT_FOUND = gateway_message(404, "Not Found")
# AWS: past the 30 s integration timeout (unverified status/message, docs/aws-behaviour.md §12).
SERVICE_UNAVAILABLE = gateway_message(503, "Service Unavailable")


def unauthorized(www_authenticate: str) -> HttpResult:
    """AWS: 401 `{"message":"Unauthorized"}` + `www-authenticate` (docs/aws-behaviour.md §12)."""
    return gateway_message(401, "Unauthorized", www_authenticate=www_authenticate)


def _header_value(name: str, value: Any) -> str:
    # Scalars are stringified; anything else is malformed (unverified either way).
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise BadLambdaResponse(f"header {name!r} is not a string")


def structured_response(result: Mapping[str, Any]) -> HttpResult:
    """Map a `{statusCode, ...}` result; raises BadLambdaResponse for malformed ones."""
    status = result.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise BadLambdaResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise BadLambdaResponse("headers is not an object")
    for name, value in raw_headers.items():
        headers.append((str(name), _header_value(str(name), value)))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise BadLambdaResponse("cookies is not a list of strings")
    headers.extend(("set-cookie", cookie) for cookie in cookies)
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded") is True:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadLambdaResponse("body is not valid base64") from exc
        else:
            data = body.encode("utf-8")
    else:
        raise BadLambdaResponse("body is not a string")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", JSON))  # default type (unverified)
    return HttpResult(status, tuple(headers), data)


def result_response(result: Any) -> HttpResult:
    """Map any handler return value (payload 2.0 rules)."""
    if isinstance(result, Mapping) and "statusCode" in result:
        return structured_response(result)
    # AWS: valid JSON without statusCode -> 200, application/json, the JSON as body.
    return HttpResult(200, (("content-type", JSON),), json.dumps(result).encode())


def invocation_response(invocation: Invocation) -> HttpResult:
    """The response for a finished invocation.

    AWS: a function error is 500 Internal Server Error. A function timeout is a function
    error too (Lambda reports `Sandbox.Timedout`), so it is 500 as well; 503 is only for
    API Gateway's own 30 s integration timeout, which the caller enforces.
    """
    if not invocation.ok:
        return INTERNAL_SERVER_ERROR
    try:
        return result_response(invocation.result)
    except (BadLambdaResponse, TypeError, ValueError):
        return INTERNAL_SERVER_ERROR
