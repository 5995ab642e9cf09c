"""Pure tests of the gateway core: routing, handshake decisions, event shapes, frames, limits."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from emulator.gateway import core
from emulator.runner.base import Invocation
from emulator.template.model import RequestAuthorizer, Route

# pytest registers conftest modules under their package path before collecting tests.
from tests.emulator.gateway.conftest import (
    ACCOUNT,
    API_ID,
    DOMAIN,
    METHOD_ARN,
    REGION,
    ROUTES,
    make_api,
    policy,
)

DEPLOYMENT = core.Deployment(make_api(), REGION, ACCOUNT)


def ok(result: Any, duration_ms: float = 0.0) -> Invocation:
    return Invocation("Fn", "r1", "ok", result, duration_ms)


def error(message: str) -> Invocation:
    return Invocation("Fn", "r1", "error", {"errorMessage": message, "errorType": "Exception"}, 1.0)


TIMEOUT = Invocation("Fn", "r1", "timeout", {"errorMessage": "Task timed out"}, 3000.0)


def conn(**overrides: Any) -> core.Connection:
    fields: dict[str, Any] = {
        "id": "BFaT_fALIAMCKug=",
        "connected_at_ms": 1731332735513,
        "source_ip": "203.0.113.7",
        "user_agent": None,
        "last_active_at_ms": 1731332735513,
    }
    fields.update(overrides)
    return core.Connection(**fields)


def request(target: str = "/prod?token=good-alice", **headers: str) -> core.ClientRequest:
    pairs = [("Host", "127.0.0.1:9000"), ("Sec-WebSocket-Version", "13"), *headers.items()]
    return core.ClientRequest(target, tuple(pairs), "203.0.113.7")


# ------------------------------------------------------------------ ids and time


def test_ids_are_16_url_safe_chars_ending_with_padding() -> None:
    """An id is 11 bytes in URL-safe base64: 16 chars, the last one '='."""
    assert core.id_from_bytes(bytes(range(11))) == "AAECAwQFBgcICQo="
    assert core.id_from_bytes(b"\xff" * 11) == "______________8="
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", core.id_from_bytes(b"\xfb" * 11))
    with pytest.raises(ValueError):
        core.id_from_bytes(b"short")


def test_request_time_uses_the_api_gateway_format() -> None:
    """requestTime renders epoch ms as dd/MMM/yyyy:HH:mm:ss +0000."""
    assert core.request_time(1731332746514) == "11/Nov/2024:13:45:46 +0000"
    assert core.request_time(1767225600000) == "01/Jan/2026:00:00:00 +0000"


# ------------------------------------------------------------------ route selection


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "chat"}', "chat"),
        ('{"action":"echo","x":1}', "echo"),
        ('{"action": "Chat"}', "$default"),  # case-sensitive
        ('{"action": "chat "}', "$default"),  # exact
        ('{"action": "nope"}', "$default"),
        ('{"message": "hi"}', "$default"),  # missing -> ""
        ('{"action": null}', "$default"),
        ('{"action": "$connect"}', "$default"),
        ('{"action": "$disconnect"}', "$default"),
        ("not json", "$default"),
        ('["chat"]', "$default"),  # not an object
        ('"chat"', "$default"),
        ("", "$default"),
        ('{"action": NaN}', "$default"),
    ],
)
def test_route_selection_table(body: str, route: str) -> None:
    """Messages route on the exact, case-sensitive action value, else $default."""
    selected = core.select_route(DEPLOYMENT.api, body)
    assert selected is not None
    assert selected.key == route


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"action": "chat"}', "chat"),
        ('{"action": 42}', "42"),
        ('{"action": 1.5}', "1.5"),
        ('{"action": true}', "true"),
        ('{"action": null}', ""),
        ('{"action": {"a": 1}}', '{"a":1}'),
        ("{}", ""),
        ("[1]", None),
        ("nope", None),
    ],
)
def test_selected_value_is_stringified(body: str, key: str | None) -> None:
    """The expression's value is stringified; a non-object body yields no key."""
    assert core.route_key_of(DEPLOYMENT.api, body) == key


def test_nested_body_paths_are_followed() -> None:
    """$request.body.a.b reads a nested member."""
    nested = dataclasses.replace(make_api(), route_selection_expression="$request.body.meta.kind")
    assert core.route_key_of(nested, '{"meta": {"kind": "chat"}}') == "chat"
    assert core.route_key_of(nested, '{"meta": "chat"}') == ""


def test_unsupported_expressions_fail_at_validation() -> None:
    """Only $request.body.<path> expressions are accepted."""
    api = dataclasses.replace(make_api(), route_selection_expression="$request.header.x")
    with pytest.raises(ValueError, match="RouteSelectionExpression"):
        core.validate(api)


def test_no_default_route_answers_with_the_forbidden_frame() -> None:
    """Without $default an unmatched message gets AWS's Forbidden frame."""
    api = make_api(routes={k: v for k, v in ROUTES.items() if k != "$default"})
    deployment = core.Deployment(api, REGION, ACCOUNT)
    step = core.on_message(
        deployment, conn(), '{"action": "dance"}', request_id="REQ", message_id="MSG", now_ms=1
    )
    assert step == core.Reply(core.forbidden_frame("BFaT_fALIAMCKug=", "REQ"))


def test_route_without_integration_answers_internal_server_error() -> None:
    """A route with no integration cannot answer; the client gets the error frame."""
    routes = {**ROUTES, "chat": Route("chat", None)}
    deployment = core.Deployment(make_api(routes=routes), REGION, ACCOUNT)
    step = core.on_message(
        deployment, conn(), '{"action": "chat"}', request_id="REQ", message_id="MSG", now_ms=1
    )
    assert step == core.Reply(core.internal_error_frame("BFaT_fALIAMCKug=", "REQ"))


def test_dispatch_carries_the_route_and_event() -> None:
    """A matched message becomes an invoke of the route's function with a MESSAGE event."""
    step = core.on_message(
        DEPLOYMENT, conn(), '{"action": "chat"}', request_id="REQ", message_id="MSG", now_ms=5
    )
    assert isinstance(step, core.Dispatch)
    assert (step.function, step.route.key, step.request_id) == ("ChatFn", "chat", "REQ")
    assert step.event["requestContext"]["routeKey"] == "chat"


# ------------------------------------------------------------------ frames


def test_error_frames_are_byte_exact() -> None:
    """Forbidden and Internal server error frames keep AWS's exact spacing."""
    assert (
        core.forbidden_frame("BFaT_fALIAMCKug=", "BFaVtH2HoAMFZEQ=")
        == '{"message": "Forbidden", "connectionId":"BFaT_fALIAMCKug=", '
        '"requestId":"BFaVtH2HoAMFZEQ="}'
    )
    assert (
        core.internal_error_frame("BFaT_fALIAMCKug=", "BFaVtH2HoAMFZEQ=")
        == '{"message": "Internal server error", "connectionId":"BFaT_fALIAMCKug=", '
        '"requestId":"BFaVtH2HoAMFZEQ="}'
    )


def _dispatch(route_key: str) -> core.Dispatch:
    step = core.on_message(
        DEPLOYMENT,
        conn(),
        json.dumps({"action": route_key}),
        request_id="REQ",
        message_id="MSG",
        now_ms=1,
    )
    assert isinstance(step, core.Dispatch)
    return step


def test_results_are_discarded_without_a_route_response() -> None:
    """A route without a route response sends nothing back, whatever the statusCode."""
    assert (
        core.on_message_result(_dispatch("chat"), "C", ok({"statusCode": 200, "body": "x"})) == []
    )
    assert core.on_message_result(_dispatch("chat"), "C", ok({"statusCode": 500})) == []


def test_route_responses_send_the_body_back() -> None:
    """A route with a $default route response returns the integration's body."""
    dispatch = _dispatch("echo")
    assert core.on_message_result(dispatch, "C", ok({"statusCode": 200, "body": "hi"})) == ["hi"]
    assert core.on_message_result(dispatch, "C", ok({"body": {"a": 1}})) == ['{"a":1}']
    assert core.on_message_result(dispatch, "C", ok({"statusCode": 200})) == []
    assert core.on_message_result(dispatch, "C", ok(None)) == []


@pytest.mark.parametrize("invocation", [error("bug"), TIMEOUT])
def test_failed_integrations_answer_internal_server_error(invocation: Invocation) -> None:
    """A handler error or timeout gives the Internal server error frame."""
    for route in ("chat", "echo"):
        frames = core.on_message_result(_dispatch(route), "CID", invocation)
        assert frames == [core.internal_error_frame("CID", "REQ")]


def test_outbound_messages_are_split_into_32kb_frames() -> None:
    """Long outgoing messages become <= 32 KB fragments on character boundaries."""
    assert core.outbound_fragments("short") == ["short"]
    assert core.outbound_fragments("a" * core.MAX_FRAME_BYTES) == ["a" * core.MAX_FRAME_BYTES]
    text = "é" * 40_000  # 2 bytes per char, 80 000 bytes
    parts = core.outbound_fragments(text)
    assert "".join(parts) == text
    assert len(parts) == 3
    assert all(len(p.encode()) <= core.MAX_FRAME_BYTES for p in parts)


# ------------------------------------------------------------------ limits


def test_frame_limits() -> None:
    """32 KB frames pass, one byte more closes 1009, binary closes 1003."""
    assert core.on_frame(core.FrameTracker(), "text", core.MAX_FRAME_BYTES, fin=True) is None
    assert core.on_frame(
        core.FrameTracker(), "text", core.MAX_FRAME_BYTES + 1, fin=True
    ) == core.CloseWith(1009, core.MESSAGE_TOO_BIG.reason)
    assert core.on_frame(core.FrameTracker(), "binary", 1, fin=True) == core.UNSUPPORTED_DATA
    assert core.UNSUPPORTED_DATA.code == 1003


def test_message_limit_counts_reassembled_fragments() -> None:
    """Fragments may add up to 128 KB; one byte more closes 1009."""
    tracker = core.FrameTracker()
    assert core.on_frame(tracker, "text", core.MAX_FRAME_BYTES, fin=False) is None
    for _ in range(3):
        assert core.on_frame(tracker, "continuation", core.MAX_FRAME_BYTES, fin=False) is None
    assert tracker.message_bytes == core.MAX_MESSAGE_BYTES
    assert core.on_frame(tracker, "continuation", 1, fin=True) == core.MESSAGE_TOO_BIG

    tracker = core.FrameTracker()
    assert core.on_frame(tracker, "text", 10, fin=False) is None
    assert core.on_frame(tracker, "continuation", 0, fin=True) is None
    assert tracker.message_bytes is None  # the next message starts from zero
    assert core.on_frame(tracker, "text", core.MAX_FRAME_BYTES, fin=True) is None


@pytest.mark.parametrize(
    ("sent", "received", "received_first", "expected"),
    [
        (None, core.CloseWith(1005, ""), True, core.CloseWith(1005, core.NO_STATUS_REASON)),
        (None, core.CloseWith(1000, "bye"), True, core.CloseWith(1000, "bye")),
        (
            core.CloseWith(1000, "bye"),
            core.CloseWith(1000, "bye"),
            True,
            core.CloseWith(1000, "bye"),
        ),
        (core.CloseWith(1001, ""), core.CloseWith(1001, ""), True, core.CloseWith(1001, "")),
        (core.DELETED, core.CloseWith(1000, "x"), False, core.DELETED),
        (core.MESSAGE_TOO_BIG, None, False, core.MESSAGE_TOO_BIG),
        (None, None, False, core.CloseWith(1006, "")),
    ],
)
def test_observed_close(
    sent: core.CloseWith | None,
    received: core.CloseWith | None,
    received_first: bool,
    expected: core.CloseWith,
) -> None:
    """The side that closed first decides the $disconnect code; no close frame is 1006."""
    got = core.observed_close(sent=sent, received=received, received_first=received_first)
    assert got == expected


def test_time_limit_tracks_idle_and_duration_limits() -> None:
    """A connection idles out 600 s after its last message and ends after 2 h at most."""
    c = conn(connected_at_ms=1_000_000, last_active_at_ms=1_000_000)
    limits = {"idle_timeout_s": 600.0, "max_duration_s": 7200.0}
    assert core.time_limit(c, 1_000_000, **limits) == core.OpenUntil(1_000 + 600)
    assert core.time_limit(c, 1_600_000, **limits) == core.Expired(core.GOING_AWAY)
    c.last_active_at_ms = 7_000_000
    assert core.time_limit(c, 7_000_000, **limits) == core.OpenUntil(7_000 + 600)
    c.last_active_at_ms = 8_000_000
    assert core.time_limit(c, 8_000_000, **limits) == core.OpenUntil(1_000 + 7200)
    assert core.time_limit(c, 8_200_000, **limits) == core.Expired(core.GOING_AWAY)


# ------------------------------------------------------------------ event shapes

CAPTURED_MESSAGE = {
    "requestContext": {
        "routeKey": "chat",
        "messageId": "BFaVtfGSIAMCKug=",
        "eventType": "MESSAGE",
        "extendedRequestId": "BFaVtH2HoAMFZEQ=",
        "requestTime": "11/Nov/2024:13:45:46 +0000",
        "messageDirection": "IN",
        "stage": "prod",
        "connectedAt": 1731332735513,
        "requestTimeEpoch": 1731332746514,
        "identity": {"sourceIp": "203.0.113.7"},
        "requestId": "BFaVtH2HoAMFZEQ=",
        "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "connectionId": "BFaT_fALIAMCKug=",
        "apiId": "a1b2c3d4e5",
        "authorizer": {"principalId": "user-123", "userId": "user-123", "integrationLatency": 0},
    },
    "body": '{"action": "chat", "message": "hi"}',
    "isBase64Encoded": False,
}

CAPTURED_DISCONNECT = {
    "headers": {
        "Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    },
    "multiValueHeaders": {
        "Host": ["a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"],
        "x-api-key": [""],
        "X-Forwarded-For": [""],
        "x-restapi": [""],
    },
    "requestContext": {
        "routeKey": "$disconnect",
        "disconnectStatusCode": 1005,
        "eventType": "DISCONNECT",
        "extendedRequestId": "BFbOeE87IAMF31w=",
        "requestTime": "11/Nov/2024:13:51:49 +0000",
        "messageDirection": "IN",
        "disconnectReason": "Client-side close frame status not set",
        "stage": "prod",
        "connectedAt": 1731332735513,
        "requestTimeEpoch": 1731333109875,
        "identity": {"sourceIp": "203.0.113.7"},
        "requestId": "BFbOeE87IAMF31w=",
        "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "connectionId": "BFaT_fALIAMCKug=",
        "apiId": "a1b2c3d4e5",
    },
    "isBase64Encoded": False,
}

CAPTURED_CONNECT_CONTEXT = {
    "routeKey": "$connect",
    "eventType": "CONNECT",
    "extendedRequestId": "BFHPhFe3IAMF95g=",
    "requestTime": "11/Nov/2024:11:35:24 +0000",
    "messageDirection": "IN",
    "stage": "prod",
    "connectedAt": 1731324924553,
    "requestTimeEpoch": 1731324924561,
    "identity": {"sourceIp": "203.0.113.7"},
    "requestId": "BFHPhFe3IAMF95g=",
    "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "connectionId": "BFHPhfCWIAMCKlQ=",
    "apiId": "a1b2c3d4e5",
}


def _assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Compare field by field (clearer failures than one big ==), then key order."""
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            _assert_same(actual[key], value)
        else:
            assert actual[key] == value, key
    assert list(actual) == list(expected)


def test_message_event_matches_the_captured_shape() -> None:
    """A MESSAGE event equals AWS's captured one, authorizer block included."""
    c = conn(authorizer={"principalId": "user-123", "userId": "user-123", "integrationLatency": 0})
    event = core.message_event(
        DEPLOYMENT,
        c,
        '{"action": "chat", "message": "hi"}',
        route_key="chat",
        request_id="BFaVtH2HoAMFZEQ=",
        message_id="BFaVtfGSIAMCKug=",
        now_ms=1731332746514,
    )
    _assert_same(event, CAPTURED_MESSAGE)


def test_disconnect_event_matches_the_captured_shape() -> None:
    """A $disconnect event equals AWS's captured one, fixed headers included."""
    event = core.disconnect_event(
        DEPLOYMENT,
        conn(),
        core.CloseWith(1005, core.NO_STATUS_REASON),
        request_id="BFbOeE87IAMF31w=",
        now_ms=1731333109875,
    )
    _assert_same(event, CAPTURED_DISCONNECT)


def test_disconnect_event_carries_the_authorizer_block() -> None:
    """Every event after the authorizer carries its context, $disconnect too."""
    block = {"principalId": "u1", "userId": "u1", "integrationLatency": 4}
    event = core.disconnect_event(
        DEPLOYMENT, conn(authorizer=block), core.DELETED, request_id="R", now_ms=1
    )
    assert event["requestContext"]["authorizer"] == block
    assert event["requestContext"]["disconnectStatusCode"] == 1000
    assert event["requestContext"]["disconnectReason"] == "Connection Closed Normally"


def test_connect_event_matches_the_captured_shape() -> None:
    """A $connect event has the client's headers, query maps and AWS's requestContext."""
    c = conn(id="BFHPhfCWIAMCKlQ=", connected_at_ms=1731324924553)
    req = request("/prod?token=eyJraWQi...")
    event = core.connect_event(
        DEPLOYMENT, req, c, request_id="BFHPhFe3IAMF95g=", now_ms=1731324924561
    )
    assert list(event) == [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "requestContext",
        "isBase64Encoded",
    ]
    assert event["headers"] == {
        "Host": DOMAIN,
        "Sec-WebSocket-Version": "13",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}
    assert event["queryStringParameters"] == {"token": "eyJraWQi..."}
    assert event["multiValueQueryStringParameters"] == {"token": ["eyJraWQi..."]}
    _assert_same(event["requestContext"], CAPTURED_CONNECT_CONTEXT)
    assert event["isBase64Encoded"] is False
    assert "body" not in event


def test_connect_event_keeps_client_casing_repeats_and_user_agent() -> None:
    """Header names keep the client's casing, repeats go to multiValueHeaders."""
    req = core.ClientRequest(
        "/prod",
        (
            ("host", "localhost"),
            ("x-custom", "a"),
            ("X-Custom", "b"),
            ("User-Agent", "wscat/6"),
            ("X-Forwarded-For", "10.0.0.1"),
        ),
        "203.0.113.7",
    )
    event = core.connect_event(
        DEPLOYMENT, req, conn(user_agent="wscat/6"), request_id="R", now_ms=1
    )
    assert event["headers"]["host"] == DOMAIN
    assert event["headers"]["x-custom"] == "b"
    assert event["multiValueHeaders"]["x-custom"] == ["a", "b"]
    assert event["headers"]["X-Forwarded-For"] == "10.0.0.1, 203.0.113.7"
    assert event["requestContext"]["identity"] == {
        "sourceIp": "203.0.113.7",
        "userAgent": "wscat/6",
    }
    # AWS: query maps only when a query string exists.
    assert "queryStringParameters" not in event
    assert "multiValueQueryStringParameters" not in event


def test_repeated_query_parameters() -> None:
    """Repeated query names: last value in the single map, all in the multi map."""
    event = core.connect_event(
        DEPLOYMENT, request("/prod?a=1&a=2&b=x%20y"), conn(), request_id="R", now_ms=1
    )
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}


def test_authorizer_event_shape() -> None:
    """The REQUEST authorizer gets type, methodArn, headers, query, stageVariables."""
    c = conn(id="FDmBIeapIAMCIQg=")
    event = core.authorizer_event(DEPLOYMENT, request(), c, request_id="R", now_ms=1)
    assert list(event) == [
        "type",
        "methodArn",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "stageVariables",
        "requestContext",
    ]
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == METHOD_ARN
    assert event["stageVariables"] == {}
    assert event["queryStringParameters"] == {"token": "good-alice"}
    assert event["requestContext"]["routeKey"] == "$connect"
    assert event["requestContext"]["connectionId"] == "FDmBIeapIAMCIQg="
    assert "authorizer" not in event["requestContext"]


def test_message_event_identity_includes_user_agent_only_if_sent() -> None:
    """identity.userAgent appears only when the client sent one."""
    with_ua = core.message_event(
        DEPLOYMENT,
        conn(user_agent="ua/1"),
        "x",
        route_key="$default",
        request_id="R",
        message_id="M",
        now_ms=1,
    )
    assert with_ua["requestContext"]["identity"] == {"sourceIp": "203.0.113.7", "userAgent": "ua/1"}
    assert "headers" not in with_ua
    assert "authorizer" not in with_ua["requestContext"]


# ------------------------------------------------------------------ handshake


def begin(
    target: str = "/prod?token=good-alice", *, api: Any = None, **headers: str
) -> core.Handshake:
    deployment = DEPLOYMENT if api is None else core.Deployment(api, REGION, ACCOUNT)
    return core.Handshake.begin(
        deployment, request(target, **headers), connection_id="CID", request_id="RID", now_ms=1000
    )


def authorizer_step(hs: core.Handshake) -> core.Invoke:
    step = hs.start()
    assert isinstance(step, core.Invoke)
    assert (step.function, step.label) == ("AuthFn", "authorizer")
    return step


@pytest.mark.parametrize("target", ["/", "/dev", "/prod/extra", "/prodx?token=good-a"])
def test_wrong_paths_are_forbidden(target: str) -> None:
    """Only /{stage} reaches the API; other paths get 403."""
    step = begin(target).start()
    assert isinstance(step, core.Refuse)
    assert (step.status, step.body) == (403, '{"message": "Forbidden"}')


def test_trailing_slash_reaches_the_stage() -> None:
    """/{stage}/ is the same stage."""
    authorizer_step(begin("/prod/?token=good-a"))


@pytest.mark.parametrize("target", ["/prod", "/prod?token=", "/prod?other=1", "/prod?"])
def test_missing_identity_source_is_401_without_invoking(target: str) -> None:
    """A missing or empty identity source refuses 401 before the authorizer runs."""
    step = begin(target).start()
    assert isinstance(step, core.Refuse)
    assert (step.status, step.body) == (401, '{"message": "Unauthorized"}')


def test_header_identity_sources_are_case_insensitive() -> None:
    """route.request.header.<Name> matches the header in any casing."""
    api = make_api(authorizer=RequestAuthorizer("A", "AuthFn", ("route.request.header.X-Token",)))
    assert isinstance(begin("/prod", api=api).start(), core.Refuse)
    authorizer_step(begin("/prod", api=api, **{"x-token": "t"}))


def test_stage_variable_identity_source_is_always_missing() -> None:
    """Without stage variables such a source is missing -> 401."""
    api = make_api(authorizer=RequestAuthorizer("A", "AuthFn", ("stageVariables.key",)))
    step = begin(api=api).start()
    assert isinstance(step, core.Refuse)
    assert step.status == 401


@pytest.mark.parametrize(
    ("invocation", "status"),
    [
        (error("Unauthorized"), 401),
        (error("unauthorized"), 500),
        (error("Unauthorized "), 500),
        (error("boom"), 500),
        (TIMEOUT, 500),
        (ok(policy("Deny", METHOD_ARN)), 403),
        (ok(policy("Allow", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/*/*")), 403),
        (
            ok(policy("Allow", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:otherapi00/prod/$connect")),
            403,
        ),
        (ok({**policy("Allow", METHOD_ARN), "policyDocument": {"Statement": []}}), 403),
        (
            ok(
                {
                    **policy("Allow", "*"),
                    "policyDocument": {
                        "Statement": [
                            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
                            {"Action": "*", "Effect": "Deny", "Resource": METHOD_ARN},
                        ]
                    },
                }
            ),
            403,
        ),
        (ok("not a policy"), 500),
        (ok(None), 500),
        (ok({"principalId": "u1"}), 500),
        (ok({**policy("Allow", METHOD_ARN), "principalId": None}), 500),
        (ok({**policy("Allow", METHOD_ARN), "context": {"nested": {"a": 1}}}), 500),
        (ok({**policy("Allow", METHOD_ARN), "context": {"list": [1]}}), 500),
        (ok({**policy("Allow", METHOD_ARN), "context": {"big": "x" * 9000}}), 500),
        (
            ok(
                {
                    **policy("Allow", METHOD_ARN),
                    "policyDocument": {"Statement": [{"Effect": "Maybe"}]},
                }
            ),
            500,
        ),
    ],
)
def test_authorizer_refusals(invocation: Invocation, status: int) -> None:
    """Unauthorized -> 401, Deny/uncovered -> 403, anything else broken -> 500."""
    hs = begin()
    authorizer_step(hs)
    step = hs.on_result(invocation)
    assert isinstance(step, core.Refuse)
    assert step.status == status
    expected = {401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}[status]
    assert step.body == json.dumps({"message": expected})


@pytest.mark.parametrize(
    "resource",
    [
        METHOD_ARN,
        [f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/other/$connect", METHOD_ARN],
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/*",
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/*",
        "arn:aws:execute-api:*:*:*",
        "*",
    ],
)
def test_allow_covering_the_method_arn_proceeds_to_connect(resource: Any) -> None:
    """An Allow whose Resource (wildcards included) covers methodArn accepts."""
    hs = begin()
    authorizer_step(hs)
    step = hs.on_result(ok(policy("Allow", resource, user="alice"), duration_ms=12.4))
    assert isinstance(step, core.Invoke)
    assert (step.function, step.label) == ("ConnectFn", "$connect")
    block = {
        "principalId": "alice",
        "userId": "alice",
        "n": "1",
        "ok": "true",
        "integrationLatency": 12,
    }
    assert step.event["requestContext"]["authorizer"] == block
    assert list(step.event["requestContext"]["authorizer"]) == list(block)


@pytest.mark.parametrize(
    ("result", "status", "body"),
    [
        ({"statusCode": 401}, 401, ""),
        ({"statusCode": 301, "body": "moved"}, 301, "moved"),
        ({"statusCode": 501}, 501, ""),
        ({"statusCode": "403"}, 403, ""),
        ({"statusCode": "abc"}, 502, '{"message": "Internal server error"}'),
        ({"statusCode": 101}, 502, '{"message": "Internal server error"}'),
        ({"statusCode": 700}, 502, '{"message": "Internal server error"}'),
    ],
)
def test_connect_status_passthrough(result: dict[str, Any], status: int, body: str) -> None:
    """A non-2xx $connect statusCode becomes the handshake status."""
    hs = begin()
    authorizer_step(hs)
    assert isinstance(hs.on_result(ok(policy("Allow", METHOD_ARN))), core.Invoke)
    step = hs.on_result(ok(result))
    assert isinstance(step, core.Refuse)
    assert (step.status, step.body) == (status, body)


@pytest.mark.parametrize("invocation", [error("connect failed"), error("Unauthorized"), TIMEOUT])
def test_connect_failure_is_502(invocation: Invocation) -> None:
    """A raised (or timed out) $connect integration refuses with 502."""
    hs = begin()
    authorizer_step(hs)
    hs.on_result(ok(policy("Allow", METHOD_ARN)))
    step = hs.on_result(invocation)
    assert isinstance(step, core.Refuse)
    assert step.status == 502


@pytest.mark.parametrize(
    "result", [{"statusCode": 200}, {"statusCode": 204}, {"statusCode": "200"}, None, {}]
)
def test_connect_success_accepts_with_the_authorizer_context(result: Any) -> None:
    """2xx (or no statusCode at all) completes the upgrade."""
    hs = begin()
    authorizer_step(hs)
    hs.on_result(ok(policy("Allow", METHOD_ARN, user="bob")))
    step = hs.on_result(ok(result))
    assert isinstance(step, core.Accept)
    assert step.connection.id == "CID"
    assert step.connection.authorizer is not None
    assert step.connection.authorizer["userId"] == "bob"


def test_no_authorizer_and_no_connect_route_accepts_at_once() -> None:
    """Without an authorizer or $connect integration the upgrade completes directly."""
    api = make_api(routes={"$default": ROUTES["$default"]}, authorizer=None)
    step = begin("/prod", api=api).start()
    assert isinstance(step, core.Accept)
    assert step.connection.authorizer is None


def test_authorizer_without_connect_route_accepts_after_authorizing() -> None:
    """The authorizer guards the API even when $connect has no integration."""
    api = make_api(routes={"$default": ROUTES["$default"]})
    hs = begin(api=api)
    authorizer_step(hs)
    assert isinstance(hs.on_result(ok(policy("Allow", METHOD_ARN))), core.Accept)


def test_handshake_without_authorizer_invokes_connect_with_plain_event() -> None:
    """With no authorizer $connect runs first and its event has no authorizer block."""
    api = make_api(authorizer=None)
    step = begin("/prod", api=api, **{"User-Agent": "wscat"}).start()
    assert isinstance(step, core.Invoke)
    assert step.label == "$connect"
    ctx = step.event["requestContext"]
    assert "authorizer" not in ctx
    assert ctx["identity"] == {"sourceIp": "203.0.113.7", "userAgent": "wscat"}
    assert ctx["connectedAt"] == ctx["requestTimeEpoch"] == 1000
