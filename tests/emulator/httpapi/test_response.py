"""Lambda results to HTTP responses under payload format 2.0 rules."""

from __future__ import annotations

import base64
import json
from typing import Any

from emulator.httpapi.response import (
    INTERNAL_SERVER_ERROR,
    invocation_response,
    result_response,
    unauthorized,
)
from emulator.runner.base import Invocation, Outcome


def invocation(result: Any, outcome: Outcome = "ok") -> Invocation:
    return Invocation("Fn", "req-1", outcome, result, 1.0)


def test_structured_response_is_used_as_given() -> None:
    """statusCode, headers, body and cookies map onto the HTTP response."""
    result = invocation_response(
        invocation(
            {
                "statusCode": 201,
                "headers": {"Content-Type": "text/plain", "X-Count": 3},
                "body": "made",
                "cookies": ["a=1; Path=/", "b=2"],
            }
        )
    )
    assert result.status == 201
    assert result.body == b"made"
    assert result.headers == (
        ("Content-Type", "text/plain"),
        ("X-Count", "3"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2"),
    )


def test_base64_body_is_decoded() -> None:
    """isBase64Encoded bodies are sent as the decoded bytes."""
    payload = bytes(range(256))
    result = result_response(
        {"statusCode": 200, "body": base64.b64encode(payload).decode(), "isBase64Encoded": True}
    )
    assert result.body == payload


def test_bare_json_value_becomes_200_json() -> None:
    """A dict without statusCode is the JSON body of a 200 application/json response."""
    result = result_response({"users": []})
    assert result.status == 200
    assert result.header("content-type") == "application/json"
    assert json.loads(result.body) == {"users": []}
    assert json.loads(result_response("hi").body) == "hi"


def test_function_error_and_timeout_are_internal_server_error() -> None:
    """A handler error, or a function timeout (a function error too), is 500."""
    assert invocation_response(invocation({"errorMessage": "x"}, "error")) == INTERNAL_SERVER_ERROR
    assert (
        invocation_response(invocation({"errorMessage": "t"}, "timeout")) == INTERNAL_SERVER_ERROR
    )
    assert INTERNAL_SERVER_ERROR.status == 500
    assert INTERNAL_SERVER_ERROR.body == b'{"message":"Internal Server Error"}'


def test_malformed_results_are_internal_server_error() -> None:
    """Bad statusCode, body or headers types, or bad base64, give 500."""
    for bad in (
        {"statusCode": "200"},
        {"statusCode": True},
        {"statusCode": 200, "body": {"a": 1}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"x": {"y": 1}}},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
    ):
        assert invocation_response(invocation(bad)) == INTERNAL_SERVER_ERROR, bad


def test_unauthorized_carries_the_challenge() -> None:
    """401 has AWS's body and the www-authenticate header."""
    result = unauthorized('Bearer error="invalid_token"')
    assert (result.status, result.body) == (401, b'{"message":"Unauthorized"}')
    assert result.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
