"""Notifier fan-out and GoneException clean-up; the boto3 poster's error translation."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from adapters.connections import Connection, ConnectionsRepository
from adapters.notifier import ConnectionGone, ManagementApiPoster, Notifier
from duel.machine import Notice

NOW_MS = 1_767_225_600_000
NOW_S = NOW_MS // 1000
ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"


class FlakyPoster:
    """Records posts; some ids are gone (410), some fail otherwise (403)."""

    def __init__(self, gone: set[str], broken: frozenset[str] = frozenset()) -> None:
        self.gone, self.broken = gone, broken
        self.posted: list[tuple[str, dict]] = []

    def post(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        if connection_id in self.broken:
            raise ClientError(
                {"Error": {"Code": "ForbiddenException", "Message": "Forbidden"}},
                "PostToConnection",
            )
        self.posted.append((connection_id, json.loads(data)))


@pytest.fixture
def connections(aws) -> ConnectionsRepository:
    repo = ConnectionsRepository(aws.dynamodb, "duelctl-connections")
    for user, cid, expire in [
        ("u1", "tab-1", NOW_S + 60),
        ("u1", "tab-2", NOW_S + 60),
        ("u1", "expired", NOW_S - 1),
        ("u2", "other", NOW_S + 60),
    ]:
        repo.put(Connection(user, cid, user, "2026-01-01T00:00:00.000Z", expire))
    return repo


def ids(repo: ConnectionsRepository, user: str) -> set[str]:
    return {c.connection_id for c in repo.live(user, NOW_MS)}


def test_to_user_reaches_every_live_tab(connections) -> None:
    """A user frame goes to each live connection of that user, not expired ones, not others."""
    poster = FlakyPoster(set())
    delivered = Notifier(poster, connections, lambda: NOW_MS).to_user("u1", {"type": "x"})
    assert delivered == 2
    assert sorted(cid for cid, _ in poster.posted) == ["tab-1", "tab-2"]


def test_gone_connection_is_deleted_and_others_still_get_it(connections) -> None:
    """410 on one tab deletes its item; the user's other tab still gets the frame."""
    poster = FlakyPoster({"tab-1"})
    notifier = Notifier(poster, connections, lambda: NOW_MS)
    assert notifier.to_user("u1", {"type": "x"}) == 1
    assert [cid for cid, _ in poster.posted] == ["tab-2"]
    assert ids(connections, "u1") == {"tab-2"}
    assert ids(connections, "u2") == {"other"}


def test_sender_frame_to_gone_connection_deletes_it(connections) -> None:
    """A reply to a connection that has gone away cleans it up too."""
    notifier = Notifier(FlakyPoster({"tab-2"}), connections, lambda: NOW_MS)
    assert notifier.to_connection("u1", "tab-2", {"type": "pong"}) is False
    assert ids(connections, "u1") == {"tab-1"}


def test_other_post_errors_do_not_stop_delivery(connections) -> None:
    """A non-410 failure is logged, keeps the item, and the rest still go out."""
    poster = FlakyPoster(set(), frozenset({"tab-1"}))
    notifier = Notifier(poster, connections, lambda: NOW_MS)
    notifier.send([Notice("u1", {"type": "a"}), Notice("u2", {"type": "b"})])
    assert [cid for cid, _ in poster.posted] == ["tab-2", "other"]
    assert ids(connections, "u1") == {"tab-1", "tab-2"}


@pytest.fixture
def stubbed(aws_env) -> tuple[ManagementApiPoster, Stubber]:
    client = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT, region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    return ManagementApiPoster(client), stubber


def test_poster_sends_raw_data(stubbed) -> None:
    """PostToConnection gets the connection id and the frame bytes."""
    poster, stubber = stubbed
    stubber.add_response("post_to_connection", {}, {"ConnectionId": "c1=", "Data": b"{}"})
    poster.post("c1=", b"{}")
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["GoneException", "410"])
def test_poster_maps_410_to_connection_gone(stubbed, code: str) -> None:
    """GoneException, or a bare 410 without x-amzn-ErrorType (aws-fidelity §5), is Gone."""
    poster, stubber = stubbed
    stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=410)
    with pytest.raises(ConnectionGone):
        poster.post("c1=", b"{}")


def test_poster_keeps_other_errors(stubbed) -> None:
    """403 ForbiddenException is not Gone and surfaces as ClientError."""
    poster, stubber = stubbed
    stubber.add_client_error(
        "post_to_connection", service_error_code="ForbiddenException", http_status_code=403
    )
    with pytest.raises(ClientError):
        poster.post("c1=", b"{}")
