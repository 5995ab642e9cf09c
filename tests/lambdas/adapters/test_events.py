"""Reading the real event shapes in tests/events."""

from __future__ import annotations

import pytest

from adapters.events import EventError, jwt_claims, query_token, records, ws_request


def test_ws_request_from_message_event(event) -> None:
    """A MESSAGE event yields the sender, connection, body and the @connections endpoint."""
    request = ws_request(event("websocket_message"))
    assert request.user_id == "8f23cf1a-3e53-414c-8b8f-00035bb95687"
    assert request.username == "alice"
    assert request.connection_id == "BFaT_fALIAMCKug="
    assert request.endpoint == "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"
    assert request.body is not None and '"invite"' in request.body
    assert request.connected_at_ms == 1731332735513


def test_ws_request_from_connect_and_disconnect(event) -> None:
    """$connect and $disconnect carry the authorizer context and no body."""
    assert ws_request(event("websocket_connect")).body is None
    assert ws_request(event("websocket_disconnect")).connection_id == "BFaT_fALIAMCKug="


def test_ws_request_without_authorizer_is_an_event_error(event) -> None:
    """An event without the authorizer's userId is a wiring bug."""
    raw = event("websocket_message")
    del raw["requestContext"]["authorizer"]
    with pytest.raises(EventError):
        ws_request(raw)


def test_query_token(event) -> None:
    """The token comes from queryStringParameters; absent or empty is None."""
    raw = event("websocket_authorizer")
    assert query_token(raw) == raw["queryStringParameters"]["token"]
    del raw["queryStringParameters"]
    assert query_token(raw) is None
    assert query_token({"queryStringParameters": None}) is None
    assert query_token({"queryStringParameters": {"token": ""}}) is None


def test_jwt_claims_and_records(event) -> None:
    """HTTP API claims are strings; SQS and Streams batches are Records lists."""
    assert jwt_claims(event("http_online"))["exp"] == "1767229200"
    assert jwt_claims({"requestContext": {}}) == {}
    assert len(records(event("sqs_timer"))) == 1
    assert len(records(event("dynamodb_ttl_remove"))) == 1
    with pytest.raises(EventError):
        records({})
