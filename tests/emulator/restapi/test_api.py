"""A REST API (v1) served by RestApiHandler.respond: routing, event, authorizers, responses."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from emulator.clock import FakeClock
from emulator.restapi.api import RestApiHandler
from tests.emulator.restapi.conftest import (
    ACCOUNT,
    API_ID,
    KEYS,
    NOW,
    REGION,
    FakeRunner,
    id_token,
    make_api,
    request,
)

DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/dev"


def allow(resource: str, principal: str = "u-1", effect: str = "Allow") -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"team": "red", "level": 3, "admin": False},
    }


def authorize(event: dict[str, Any]) -> Any:
    """TOKEN: `t-ok`, `t-get-only`, `t-deny`, `t-crash`, `t-nope`; REQUEST by X-Key."""
    token = event.get("authorizationToken") or (event.get("headers") or {}).get("X-Key")
    if token in ("t-ok", "k-ok"):
        return allow(f"{ARN}/*")
    if token == "t-get-only":
        return allow(f"{ARN}/GET/items")
    if token == "t-deny":
        return allow(f"{ARN}/*", effect="Deny")
    if token == "t-crash":
        raise ValueError("bug")
    if token == "t-bad":
        return {"principalId": "x"}
    raise Exception("Unauthorized")


async def slow(event: dict[str, Any]) -> Any:
    await asyncio.sleep(5)
    return {"statusCode": 200}


def items(event: dict[str, Any]) -> Any:
    query = event["queryStringParameters"] or {}
    if "answer" in query:
        return json.loads(query["answer"])
    return {"statusCode": 200, "body": json.dumps({"resource": event["resource"]})}


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner({"AuthFn": authorize, "ItemsFn": items, "SlowFn": slow})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def api(runner: FakeRunner, clock: FakeClock) -> RestApiHandler:
    return RestApiHandler(make_api(), runner, KEYS, region=REGION, account_id=ACCOUNT, clock=clock)


def body(result: Any) -> Any:
    return json.loads(result.body)


async def test_event_shape_for_a_path_parameter_route(
    api: RestApiHandler, runner: FakeRunner
) -> None:
    """Payload format 1.0: resource, stage-less path, multi-value maps, context, null body."""
    result = await api.respond(
        request(
            "DELETE",
            "/dev/items/a%2Fb",
            query="x=1&x=2&y=",
            headers=(("X-Key", "k-ok"), ("X-Multi", "1"), ("x-multi", "2")),
        )
    )
    assert result.status == 200, result.body
    event = runner.events("ItemsFn")[0]
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/a%2Fb"
    assert event["httpMethod"] == "DELETE"
    assert event["pathParameters"] == {"id": "a%2Fb"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["headers"]["Host"] == DOMAIN
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["10.0.0.7"]
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    context = event["requestContext"]
    assert context["path"] == "/dev/items/a%2Fb"
    assert (context["resourceId"], context["resourcePath"], context["stage"]) == (
        "bbb222",
        "/items/{id}",
        "dev",
    )
    assert (context["apiId"], context["domainName"], context["domainPrefix"]) == (
        API_ID,
        DOMAIN,
        API_ID,
    )
    assert context["requestTimeEpoch"] == int(NOW * 1000)
    assert context["requestTime"] == "01/Jan/2026:00:00:00 +0000"
    assert context["identity"]["sourceIp"] == "10.0.0.7"
    assert context["identity"]["userAgent"] == "test/1"
    assert context["identity"]["user"] is None
    assert context["authorizer"] == {
        "principalId": "u-1",
        "team": "red",
        "level": "3",
        "admin": "false",
        "integrationLatency": 2,
    }
    assert result.header("x-amzn-RequestId") == context["requestId"]


async def test_root_greedy_and_empty_maps(api: RestApiHandler, runner: FakeRunner) -> None:
    """GET /dev -> `/`; {proxy+} takes the rest; absent maps are null, not missing."""
    assert (await api.respond(request("GET", "/dev"))).status == 200
    root = runner.events("ItemsFn")[-1]
    assert (root["resource"], root["path"], root["requestContext"]["path"]) == ("/", "/", "/dev/")
    assert root["queryStringParameters"] is None
    assert root["multiValueQueryStringParameters"] is None
    assert root["pathParameters"] is None
    await api.respond(request("PUT", "/dev/files/a/b/c.txt", body=b"text"))
    files = runner.events("ItemsFn")[-1]
    assert files["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert (files["body"], files["isBase64Encoded"]) == ("text", False)
    await api.respond(
        request("POST", "/dev/files/x", headers=(("Content-Type", "image/png"),), body=b"\x89P")
    )
    binary = runner.events("ItemsFn")[-1]
    assert (binary["body"], binary["isBase64Encoded"]) == (
        base64.b64encode(b"\x89P").decode(),
        True,
    )


async def test_unknown_routes_and_methods(api: RestApiHandler) -> None:
    """No such resource or method: 403 Missing Authentication Token; another stage: 403."""
    for method, path in (("GET", "/dev/nope"), ("PATCH", "/dev/items"), ("GET", "/dev/files")):
        result = await api.respond(request(method, path))
        assert (result.status, body(result)) == (403, {"message": "Missing Authentication Token"})
        assert result.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    other = await api.respond(request("GET", "/prod/items"))
    assert (other.status, body(other)) == (403, {"message": "Forbidden"})


@pytest.mark.parametrize(
    ("answer", "status", "expected_body"),
    [
        ({"statusCode": 204}, 204, b""),
        ({"statusCode": "201", "body": "made"}, 201, b"made"),
        ({"statusCode": 200, "body": {"a": 1}}, 502, b'{"message":"Internal server error"}'),
        ({"body": "no status"}, 502, b'{"message":"Internal server error"}'),
        ({"statusCode": 200, "cookies": ["a=1"]}, 502, b'{"message":"Internal server error"}'),
        ("just a string", 502, b'{"message":"Internal server error"}'),
        (
            {
                "statusCode": 200,
                "body": base64.b64encode(b"\x00\x01").decode(),
                "isBase64Encoded": True,
                "headers": {"Content-Type": "image/png"},
            },
            200,
            b"\x00\x01",
        ),
        (
            {"statusCode": 200, "body": "AAE=", "isBase64Encoded": True},
            200,
            b"AAE=",  # not a binary media type: the client gets the base64 text
        ),
    ],
)
async def test_proxy_responses(
    api: RestApiHandler, answer: Any, status: int, expected_body: bytes
) -> None:
    """Lambda proxy output rules: statusCode required, body a string, no extra keys."""
    query = "answer=" + json.dumps(answer).replace("&", "%26").replace("+", "%2B")
    result = await api.respond(request("POST", "/dev/items", query=query))
    assert (result.status, result.body) == (status, expected_body)


async def test_headers_and_multi_value_headers_merge(api: RestApiHandler) -> None:
    answer = {
        "statusCode": 200,
        "headers": {"X-One": "1", "Set-Cookie": "lost=1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
    }
    result = await api.respond(request("POST", "/dev/items", query="answer=" + json.dumps(answer)))
    assert [v for n, v in result.headers if n == "Set-Cookie"] == ["a=1", "b=2"]
    assert result.header("X-One") == "1"
    assert result.header("Content-Type") == "application/json"


async def test_function_error_and_integration_timeout(api: RestApiHandler) -> None:
    """A raise is 502; past the method's integration timeout, 504."""
    failing = await api.respond(request("POST", "/dev/items", query="answer=not-json"))
    assert (failing.status, body(failing)) == (502, {"message": "Internal server error"})
    late = await api.respond(request("GET", "/dev/slow"))
    assert (late.status, body(late)) == (504, {"message": "Endpoint request timed out"})
    await api.aclose()


async def test_token_authorizer(api: RestApiHandler, runner: FakeRunner) -> None:
    """Missing or non-matching token: 401 unasked; raise Unauthorized: 401; others."""
    cases = [
        ((), 401, {"message": "Unauthorized"}),
        ((("Authorization", "x-ok"),), 401, {"message": "Unauthorized"}),  # ValidationExpression
        ((("Authorization", "t-nope"),), 401, {"message": "Unauthorized"}),
        (
            (("Authorization", "t-deny"),),
            403,
            {"Message": "User is not authorized to access this resource with an explicit deny"},
        ),
        ((("Authorization", "t-crash"),), 500, {"message": None}),
        ((("Authorization", "t-bad"),), 500, {"message": None}),
        ((("Authorization", "t-ok"),), 200, {"resource": "/items"}),
    ]
    for headers, status, expected in cases:
        result = await api.respond(request("GET", "/dev/items", headers=headers))
        assert (result.status, body(result)) == (status, expected), headers
    calls = runner.events("AuthFn")
    assert [c["authorizationToken"] for c in calls] == [
        "t-nope",
        "t-deny",
        "t-crash",
        "t-bad",
        "t-ok",
    ]
    assert calls[-1] == {
        "type": "TOKEN",
        "authorizationToken": "t-ok",
        "methodArn": f"{ARN}/GET/items",
    }


async def test_token_results_are_cached_per_token_for_the_ttl(
    api: RestApiHandler, runner: FakeRunner, clock: FakeClock
) -> None:
    """A cached policy applies to the next request; after the TTL the function runs again."""
    ok = (("Authorization", "t-get-only"),)
    assert (await api.respond(request("GET", "/dev/items", headers=ok))).status == 200
    assert (await api.respond(request("GET", "/dev/items", headers=ok))).status == 200
    assert len(runner.events("AuthFn")) == 1
    latency = runner.events("ItemsFn")[-1]["requestContext"]["authorizer"]["integrationLatency"]
    assert latency == 0  # answered from the cache
    clock.advance(301)
    assert (await api.respond(request("GET", "/dev/items", headers=ok))).status == 200
    assert len(runner.events("AuthFn")) == 2


async def test_request_authorizer_gets_the_request(api: RestApiHandler, runner: FakeRunner) -> None:
    """REQUEST: headers, query, path parameters, stage variables, context; no body."""
    result = await api.respond(
        request("GET", "/dev/items/7", query="team=red", headers=(("X-Key", "nobody"),))
    )
    assert (result.status, body(result)) == (401, {"message": "Unauthorized"})
    (event,) = runner.events("AuthFn")
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == f"{ARN}/GET/items/7"
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"team": "red"}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["requestContext"]["resourcePath"] == "/items/{id}"
    assert "body" not in event


async def test_cognito_authorizer(
    api: RestApiHandler, runner: FakeRunner, clock: FakeClock
) -> None:
    """A pool's ID token passes (claims as strings, dates as Java prints them)."""
    good = id_token()
    result = await api.respond(request("GET", "/dev/me", headers=(("Authorization", good),)))
    assert result.status == 200, result.body
    claims = runner.events("ItemsFn")[-1]["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:username"] == "alice"
    assert claims["email_verified"] == "true"
    assert claims["exp"] == "Thu Jan 01 01:00:00 UTC 2026"
    assert claims["cognito:groups"] == "admins,editors"
    refused = [
        (),
        (("Authorization", f"Bearer {good}"),),
        (("Authorization", id_token(token_use="access")),),
        (("Authorization", id_token(iss="https://cognito-idp.us-east-1.amazonaws.com/other")),),
        (("Authorization", good[:-4] + "AAAA"),),
    ]
    for headers in refused:
        result = await api.respond(request("GET", "/dev/me", headers=headers))
        assert (result.status, body(result)) == (401, {"message": "Unauthorized"})
    clock.advance(3601)
    expired = await api.respond(request("GET", "/dev/me", headers=(("Authorization", good),)))
    assert expired.status == 401


async def test_cors_preflight(api: RestApiHandler, runner: FakeRunner) -> None:
    """SAM Cors adds OPTIONS to every path: the configured headers, methods of the path."""
    result = await api.respond(request("OPTIONS", "/dev/items"))
    assert result.status == 200
    assert result.header("Access-Control-Allow-Origin") == "*"
    assert result.header("Access-Control-Allow-Methods") == "GET,OPTIONS,POST"
    assert runner.calls == []
    none = await api.respond(request("OPTIONS", "/dev/nothing"))
    assert none.status == 403
