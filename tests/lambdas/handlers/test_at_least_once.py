"""Issue 14, defects 4 and 5: committed transitions are announced whatever SQS and
@connections do, and retried messages send what a cut-short try did not, once.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from adapters.sessions import session_to_item
from duel.timers import TimerKind

QUEUE_GONE = "https://sqs.us-east-1.amazonaws.com/123456789012/duelctl-timers-gone"


def item(world, session_id: str) -> dict[str, Any]:
    return world.aws.dynamodb.get_item(
        TableName="duelctl-sessions", Key={"sessionId": {"S": session_id}}
    )["Item"]


@pytest.fixture
def pair(world) -> tuple[str, str, str]:
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    session_id = world.invite(alice, "u-bob")
    world.frames(bob)
    return alice, bob, session_id


def break_sqs(world) -> str:
    """Point the timer queue at a queue that does not exist: SendMessage fails."""
    url = world.timers._url
    world.timers._url = QUEUE_GONE
    return url


# ------------------------------------------------------------------ defect 4


def test_accept_when_sqs_fails_still_starts_both(world, pair) -> None:
    """SendMessage failing after the accept is committed: both users get `start`, the
    accepter no error; the timer is recorded on the item and the stream schedules it."""
    alice, bob, session_id = pair
    sent_before = len(world.timers.sent)
    queue = break_sqs(world)
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    assert [f["type"] for f in world.frames(alice)] == ["start"]
    assert [f["type"] for f in world.frames(bob)] == ["start"]
    assert len(world.timers.sent) == sent_before
    assert "lostTimer" in item(world, session_id)

    world.timers._url = queue  # SQS is back; the stream consumer retries as AWS would
    assert world.stream() == {"batchItemFailures": []}
    timer, delay = world.timers.sent[-1]
    assert (timer.kind, timer.session_id, delay) == (TimerKind.DUEL_END, session_id, 603)
    assert "lostTimer" not in item(world, session_id)
    assert world.stream() is None  # clearing the marker passes no filter


def test_invite_when_sqs_fails_still_reaches_both(world) -> None:
    """SendMessage failing after the invite is committed: invite_sent and invite go out."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    break_sqs(world)
    world.send(alice, {"action": "invite", "to": "u-bob", "requestId": "r1"})
    (sent,) = world.frames(alice)
    assert (sent["type"], sent["requestId"]) == ("invite_sent", "r1")
    assert [f["type"] for f in world.frames(bob)] == ["invite"]
    assert "lostTimer" in item(world, sent["sessionId"])


def test_stream_failing_to_schedule_is_retried(world, pair) -> None:
    """While SQS is still down, the stream record fails (Lambda retries it)."""
    _, bob, session_id = pair
    break_sqs(world)
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    result = world.stream()
    assert result is not None and len(result["batchItemFailures"]) == 1
    assert "lostTimer" in item(world, session_id)


# ------------------------------------------------------------------ defect 5


def frame_types(world, *conns: str) -> list[list[str]]:
    return [[f["type"] for f in world.frames(c)] for c in conns]


def test_timer_cut_short_by_time_sends_the_rest_on_redelivery(world, pair) -> None:
    """The expiry commits, one tab gets no_response, then the invocation runs short of
    time: the record fails, and its redelivery sends only what was not sent."""
    alice, bob, session_id = pair
    alice2 = world.connect("u-alice", "alice")
    timer = world.last_timer()
    world.clock.advance(60)
    # Time for one post, then too little for another.
    posts = len(world.poster.posts)
    world.context.remaining = lambda: 10_000 if len(world.poster.posts) == posts else 10
    result = world.deliver(timer)
    assert len(result["batchItemFailures"]) == 1
    first = frame_types(world, alice, alice2, bob)
    assert sum(len(f) for f in first) == 1
    assert world.deps.sessions.get(session_id).end_reason.value == "no_response"

    world.context.remaining = lambda: 10_000
    assert world.deliver(timer) == {"batchItemFailures": []}
    second = frame_types(world, alice, alice2, bob)
    assert [a + b for a, b in zip(first, second, strict=True)] == [["no_response"]] * 3
    assert world.deliver(timer) == {"batchItemFailures": []}  # a late duplicate: nothing
    assert frame_types(world, alice, alice2, bob) == [[], [], []]


def test_failing_post_is_retried_for_that_connection_only(world, pair, monkeypatch) -> None:
    """A 5xx on one tab (after the client's own retry) fails the record; the redelivery
    posts to that tab and nobody else."""
    alice, bob, _ = pair
    timer = world.last_timer()
    world.clock.advance(60)
    post = type(world.poster.for_endpoint("")).post
    broken = {bob}

    def flaky(self, connection_id: str, data: bytes) -> None:
        if connection_id in broken:
            raise ClientError(
                {
                    "Error": {"Code": "InternalServerError"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "PostToConnection",
            )
        post(self, connection_id, data)

    monkeypatch.setattr(type(world.poster.for_endpoint("")), "post", flaky)
    assert len(world.deliver(timer)["batchItemFailures"]) == 1
    assert frame_types(world, alice, bob) == [["no_response"], []]
    broken.clear()
    assert world.deliver(timer) == {"batchItemFailures": []}
    assert frame_types(world, alice, bob) == [[], ["no_response"]]


def test_duplicate_while_the_first_is_delivering_defers(world, pair) -> None:
    """A duplicate that finds a live lease sends nothing and is retried; once the lease
    has passed (its holder died), the retry delivers."""
    alice, bob, session_id = pair
    timer = world.last_timer()
    world.clock.advance(60)
    # The first delivery commits, taking the lease, and dies before posting anything.
    monkey = pytest.MonkeyPatch()
    monkey.setattr("adapters.delivery.deliver", lambda *args, **kwargs: 1 / 0)
    monkey.setattr("adapters.effects.deliver", lambda *args, **kwargs: 1 / 0)
    assert len(world.deliver(timer)["batchItemFailures"]) == 1
    monkey.undo()
    assert int(item(world, session_id)["lease"]["N"]) == world.clock.now + 10_000
    assert len(world.deliver(timer)["batchItemFailures"]) == 1
    assert frame_types(world, alice, bob) == [[], []]
    world.clock.advance(11)
    assert world.deliver(timer) == {"batchItemFailures": []}
    assert frame_types(world, alice, bob) == [["no_response"], ["no_response"]]


def ttl_remove(event, image: dict[str, Any]) -> dict[str, Any]:
    record = copy.deepcopy(event("dynamodb_ttl_remove")["Records"][0])
    record["dynamodb"]["OldImage"] = image
    record["dynamodb"]["Keys"] = {"sessionId": image["sessionId"]}
    return {"Records": [record]}


def test_retried_ttl_backstop_record_does_not_resend(world, pair, event) -> None:
    """The backstop's record retried (or duplicated) sends nothing already sent; the
    session is stored as ended, so its timer, arriving later still, is silent too."""
    alice, bob, session_id = pair
    timer = world.last_timer()
    pending = session_to_item(world.deps.sessions.get(session_id))
    world.aws.dynamodb.delete_item(  # DynamoDB TTL removes it; the timer was lost
        TableName="duelctl-sessions", Key={"sessionId": {"S": session_id}}
    )
    world.clock.advance(400)
    removal = ttl_remove(event, pending)
    assert world.invoke("sessions_stream", removal) == {"batchItemFailures": []}
    assert frame_types(world, alice, bob) == [["no_response"], ["no_response"]]
    assert world.invoke("sessions_stream", removal) == {"batchItemFailures": []}
    assert world.deliver(timer) == {"batchItemFailures": []}
    assert frame_types(world, alice, bob) == [[], []]
    stored = world.deps.sessions.get(session_id)
    assert stored.end_reason.value == "no_response" and stored.status.value == "stopped"


def test_request_path_endings_are_not_resent_by_the_timer(world, pair) -> None:
    """An ending announced by a request (a late accept settles the invite) is not sent
    again when the expiry timer arrives."""
    alice, bob, session_id = pair
    timer = world.last_timer()
    world.clock.advance(60)
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    assert frame_types(world, alice) == [["no_response"]]
    assert sorted(frame_types(world, bob)[0]) == ["error", "no_response"]
    assert world.deliver(timer) == {"batchItemFailures": []}
    assert frame_types(world, alice, bob) == [[], []]
