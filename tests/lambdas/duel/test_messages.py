"""Client frame parsing: bad_request for anything malformed, requestId extraction."""

from __future__ import annotations

import json

import pytest

from duel.errors import DuelError, ErrorCode
from duel.messages import (
    MAX_REQUEST_ID,
    parse_bare,
    parse_invite,
    parse_response,
    parse_stop,
    request_id_of,
    unroutable,
)


def bad(call: object, body: str | None) -> DuelError:
    assert callable(call)
    with pytest.raises(DuelError) as caught:
        call(body)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    return caught.value


def test_parse_invite_reads_to_and_request_id() -> None:
    """A well-formed invite yields its target and requestId."""
    message = parse_invite('{"action":"invite","to":"u2","requestId":"r1"}')
    assert (message.to, message.request_id) == ("u2", "r1")
    assert parse_invite('{"action":"invite","to":"u2"}').request_id is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        '"invite"',
        '{"action":"invite"}',
        '{"action":"invite","to":7}',
        '{"action":"invite","to":""}',
        '{"action":"invite","to":null}',
        '{"action":"invite","to":"u2","requestId":5}',
    ],
)
def test_parse_invite_rejects_malformed(body: str | None) -> None:
    """Not JSON, not an object, or a missing/wrongly typed field is bad_request."""
    bad(parse_invite, body)


def test_parse_response_requires_boolean_accept() -> None:
    """accept must be a JSON boolean; 1, "true" and a missing value are bad_request."""
    assert parse_response('{"sessionId":"s","accept":false}').accept is False
    assert parse_response('{"sessionId":"s","accept":true}').accept is True
    for accept in ("1", '"true"', "null"):
        bad(parse_response, f'{{"sessionId":"s","accept":{accept}}}')
    bad(parse_response, '{"sessionId":"s"}')
    bad(parse_response, '{"accept":true}')
    bad(parse_response, '{"sessionId":["s"],"accept":true}')


def test_parse_stop_and_bare() -> None:
    """stop needs a sessionId; ping/state need nothing but a string requestId if any."""
    assert parse_stop('{"action":"stop","sessionId":"s","requestId":"r"}').session_id == "s"
    bad(parse_stop, '{"action":"stop"}')
    assert parse_bare('{"action":"ping","requestId":"r"}').request_id == "r"
    assert parse_bare('{"action":"ping"}').request_id is None
    bad(parse_bare, '{"action":"ping","requestId":{"a":1}}')
    bad(parse_bare, "[]")


def test_request_id_of_is_best_effort() -> None:
    """A string requestId is found even in an otherwise bad message; anything else is None."""
    assert request_id_of('{"requestId":"r9","to":5}') == "r9"
    assert request_id_of('{"requestId":9}') is None
    assert request_id_of("nope") is None
    assert request_id_of(None) is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"action":"dance"}', ErrorCode.UNKNOWN_ACTION),
        ('{"action":""}', ErrorCode.UNKNOWN_ACTION),
        ('{"action":"Invite"}', ErrorCode.UNKNOWN_ACTION),
        ('{"action":5}', ErrorCode.BAD_REQUEST),
        ('{"to":"u2"}', ErrorCode.BAD_REQUEST),
        ("[]", ErrorCode.BAD_REQUEST),
        ("hello", ErrorCode.BAD_REQUEST),
        (None, ErrorCode.BAD_REQUEST),
        ('{"action":"invite"}', ErrorCode.BAD_REQUEST),
    ],
)
def test_unroutable(body: str | None, code: ErrorCode) -> None:
    """$default: an unknown string action is unknown_action; anything else bad_request."""
    assert unroutable(body).code is code


def test_unknown_action_names_the_action() -> None:
    """The message says which action was unknown."""
    assert "dance" in unroutable(json.dumps({"action": "dance"})).message


def test_input_limits() -> None:
    """Lone surrogates, deep nesting and over-long requestIds are bad_request; the id is
    echoed only when it is itself valid."""
    bad(parse_bare, r'{"requestId":"\ud800"}')
    bad(parse_bare, '{"x":' + "[" * 5000 + "]" * 5000 + "}")
    bad(parse_bare, json.dumps({"requestId": "r" * (MAX_REQUEST_ID + 1)}))
    assert parse_bare(json.dumps({"requestId": "r" * MAX_REQUEST_ID})).request_id
    assert request_id_of(r'{"requestId":"\ud800"}') is None
    assert request_id_of(json.dumps({"requestId": "r" * (MAX_REQUEST_ID + 1)})) is None
    assert request_id_of(r'{"requestId":"ok","to":"\udfff"}') == "ok"
    assert unroutable(json.dumps({"action": "x", "requestId": "r" * 300})).code is (
        ErrorCode.BAD_REQUEST
    )
    assert len(unroutable(json.dumps({"action": "\\" * 100_000})).message) < 200
