"""Notifier fan-out and GoneException clean-up; the boto3 poster's error translation."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from adapters.connections import Connection, ConnectionsRepository
from adapters.notifier import (
    CONNECT_WINDOW_MS,
    POST_RESERVE_MS,
    ConnectionGone,
    ManagementApiPoster,
    Notifier,
)
from duel.machine import Notice
from duel.times import iso

NOW_MS = 1_767_225_600_000
NOW_S = NOW_MS // 1000
LONG_AGO = iso(NOW_MS - CONNECT_WINDOW_MS)  # connected long enough to have finished
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
        repo.put(Connection(user, cid, user, LONG_AGO, expire))
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


def test_410_while_connecting_keeps_the_item(connections) -> None:
    """A 410 for a connection younger than the $connect window is "not connected yet":
    its item stays (issue 14, defect 3); an older one is deleted."""
    young = Connection("u3", "new", "u3", iso(NOW_MS - CONNECT_WINDOW_MS + 1), NOW_S + 60)
    old = Connection("u3", "old", "u3", LONG_AGO, NOW_S + 60)
    connections.put(young)
    connections.put(old)
    notifier = Notifier(FlakyPoster({"new", "old"}), connections, lambda: NOW_MS)
    assert notifier.to_user("u3", {"type": "invite"}) == 0
    assert ids(connections, "u3") == {"new"}


def test_request_posts_go_out_even_when_short_of_time(connections) -> None:
    """short_of_time is for deliveries a retry can finish; a request's frames are posted
    whatever the time left (nothing would retry them)."""
    poster = FlakyPoster(set())
    notifier = Notifier(poster, connections, lambda: NOW_MS, lambda: POST_RESERVE_MS - 1)
    assert notifier.short_of_time()
    assert notifier.to_user("u1", {"type": "x"}) == 2
    assert (
        Notifier(poster, connections, lambda: NOW_MS, lambda: POST_RESERVE_MS).short_of_time()
        is False
    )


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
    """GoneException, or a bare 410 without x-amzn-ErrorType (docs/aws-behaviour.md §5), is Gone."""
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
