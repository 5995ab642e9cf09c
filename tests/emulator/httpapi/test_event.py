"""The payload format 2.0 event, field by field as docs/aws-behaviour.md §12 describes it."""

from __future__ import annotations

import base64
import re
from types import MappingProxyType

from emulator.httpapi.event import (
    HttpRequest,
    claim_string,
    http_event,
    jwt_authorizer_context,
    new_request_id,
    request_time,
)
from emulator.httpapi.routing import RouteMatch
from emulator.template.model import HttpApi, HttpRoute, JwtAuthorizer

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
AUTH = JwtAuthorizer("CognitoJwt", "$request.header.Authorization", ISSUER, ("client",))
ONLINE = HttpRoute("GET", "/online", "OnlineFunction", AUTH)
API = HttpApi("HttpApi", "h7x9k2m4p1", "$default", (ONLINE,))
NOW_MS = 1_776_784_101_067
CLAIMS = {
    "sub": "8f23cf1a-3e53-414c-8b8f-00035bb95687",
    "token_use": "access",
    "client_id": "client",
    "username": "alice",
    "iss": ISSUER,
    "exp": 1_767_229_200,
    "iat": 1_767_225_600,
    "auth_time": 1_767_225_600,
    "scope": "aws.cognito.signin.user.admin",
    "cognito:groups": ["admin", "players"],
}


def request(**changes: object) -> HttpRequest:
    fields: dict[str, object] = {
        "method": "GET",
        "raw_path": "/online",
        "raw_query": "",
        "headers": (
            ("Authorization", "Bearer eyJ"),
            ("Host", "h7x9k2m4p1.execute-api.us-east-1.amazonaws.com"),
            ("User-Agent", "curl/8.5.0"),
        ),
        "body": b"",
        "source_ip": "203.0.113.7",
    }
    fields.update(changes)
    return HttpRequest(**fields)  # type: ignore[arg-type]


def build(req: HttpRequest, match: RouteMatch | None = None, claims: object = CLAIMS) -> dict:
    return http_event(
        API,
        match or RouteMatch(ONLINE, "GET /online"),
        req,
        region="us-east-1",
        account_id="123456789012",
        request_id="LV7fzho-PHcEJPw=",
        now_ms=NOW_MS,
        claims=claims,  # type: ignore[arg-type]
    )


def test_get_online_event_matches_the_reference_shape() -> None:
    """GET /online behind a JWT authorizer builds exactly the docs/aws-behaviour.md §12 event."""
    event = build(request())
    trace = event["headers"].pop("x-amzn-trace-id")
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", trace)
    assert event == {
        "version": "2.0",
        "routeKey": "GET /online",
        "rawPath": "/online",
        "rawQueryString": "",
        "headers": {
            "authorization": "Bearer eyJ",
            "host": "h7x9k2m4p1.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-forwarded-for": "203.0.113.7",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "h7x9k2m4p1",
            "authorizer": {
                "jwt": {
                    "claims": {
                        "sub": "8f23cf1a-3e53-414c-8b8f-00035bb95687",
                        "token_use": "access",
                        "client_id": "client",
                        "username": "alice",
                        "iss": ISSUER,
                        "exp": "1767229200",
                        "iat": "1767225600",
                        "auth_time": "1767225600",
                        "scope": "aws.cognito.signin.user.admin",
                        "cognito:groups": "[admin players]",
                    },
                    "scopes": ["aws.cognito.signin.user.admin"],
                }
            },
            "domainName": "h7x9k2m4p1.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "h7x9k2m4p1",
            "http": {
                "method": "GET",
                "path": "/online",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "LV7fzho-PHcEJPw=",
            "routeKey": "GET /online",
            "stage": "$default",
            "time": "21/Apr/2026:15:08:21 +0000",
            "timeEpoch": NOW_MS,
        },
        "isBase64Encoded": False,
    }


def test_repeats_are_comma_joined_and_cookies_move_out() -> None:
    """Repeated headers and query names join with commas; Cookie becomes `cookies`."""
    event = build(
        request(
            raw_query="tag=a&tag=b&q=x%20y",
            headers=(("X-Tag", "1"), ("x-tag", "2"), ("Cookie", "a=1; b=2"), ("Cookie", "c=3")),
        )
    )
    assert event["headers"]["x-tag"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert event["rawQueryString"] == "tag=a&tag=b&q=x%20y"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "x y"}
    assert "multiValueHeaders" not in event
    assert "multiValueQueryStringParameters" not in event


def test_empty_fields_are_absent() -> None:
    """No body, query, path parameters, stage variables, cookies or authorizer: no keys."""
    event = build(request(), claims=None)
    for absent in ("body", "queryStringParameters", "pathParameters", "stageVariables", "cookies"):
        assert absent not in event
    assert "authorizer" not in event["requestContext"]
    assert event["rawQueryString"] == ""


def test_body_text_or_base64_and_path_parameters() -> None:
    """JSON bodies stay text, binary ones are base64; path parameters are included."""
    route = HttpRoute("POST", "/files/{proxy+}", "Fn", None)
    match = RouteMatch(route, "POST /files/{proxy+}", MappingProxyType({"proxy": "a/b"}))
    text = build(
        request(method="POST", body=b'{"x":1}', headers=(("Content-Type", "application/json"),)),
        match,
    )
    assert (text["body"], text["isBase64Encoded"]) == ('{"x":1}', False)
    assert text["pathParameters"] == {"proxy": "a/b"}
    assert text["routeKey"] == "POST /files/{proxy+}"
    binary = build(
        request(method="POST", body=b"\x00\xff", headers=(("Content-Type", "image/png"),)), match
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x00\xff"


def test_claims_are_strings() -> None:
    """Numbers, booleans and arrays become strings the way HTTP API passes them."""
    assert claim_string(1767229200) == "1767229200"
    assert claim_string(1767229200.0) == "1767229200"
    assert claim_string(True) == "true"
    assert claim_string(["admin", "players"]) == "[admin players]"
    assert jwt_authorizer_context({"sub": "u"})["jwt"]["scopes"] is None


def test_request_id_and_time_formats() -> None:
    """Request ids look like API Gateway's; time is `dd/Mon/yyyy:HH:MM:SS +0000`."""
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", new_request_id())
    assert request_time(0) == "01/Jan/1970:00:00:00 +0000"
