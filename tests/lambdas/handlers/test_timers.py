"""timers: the SQS consumer ends sessions on time, chains long delays, drops stale timers."""

from __future__ import annotations

import os

import pytest

from adapters import deps as deps_module
from adapters.config import Config
from adapters.deps import Deps
from duel.timers import Timer, TimerKind

ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"


@pytest.fixture
def pair(world) -> tuple[str, str, str]:
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    session_id = world.invite(alice, "u-bob")
    world.frames(bob)
    return alice, bob, session_id


def test_invite_expiry_sends_no_response_once(world, pair) -> None:
    """At the deadline both users hear no_response; a duplicate delivery is silent."""
    alice, bob, session_id = pair
    timer = world.last_timer()
    world.clock.advance(60)
    assert world.deliver(timer) == {"batchItemFailures": []}
    expected = [{"type": "no_response", "sessionId": session_id}]
    assert world.frames(alice) == world.frames(bob) == expected
    assert world.deliver(timer, timer) == {"batchItemFailures": []}
    assert world.frames(alice) == world.frames(bob) == []
    session = world.deps.sessions.get(session_id)
    assert session is not None and session.end_reason.value == "no_response"


def test_timers_post_through_the_configured_management_url(world, pair) -> None:
    """Without a WebSocket event, frames go to WEBSOCKET_MANAGEMENT_URL."""
    world.poster.posts.clear()
    world.clock.advance(60)
    world.deliver(world.last_timer())
    assert {endpoint for endpoint, _, _ in world.poster.posts} == {
        os.environ["WEBSOCKET_MANAGEMENT_URL"]
    }


def test_early_timer_is_chained_not_acted_on(world, pair) -> None:
    """A timer that arrives before the deadline re-enqueues the remainder and says nothing."""
    alice, _, _ = pair
    timer = world.last_timer()
    world.clock.advance(59.5)
    world.deliver(timer)
    assert world.frames(alice) == []
    assert world.timers.sent[-1] == (timer, 1)


def test_expiry_of_an_accepted_invite_is_dropped(world, pair) -> None:
    """After an accept the invite timer finds an active session and leaves it alone."""
    alice, bob, session_id = pair
    expiry = world.last_timer()
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    world.frames(alice), world.frames(bob)
    world.clock.advance(60)
    world.deliver(expiry)
    assert world.frames(alice) == world.frames(bob) == []


def test_long_duel_is_timed_out_through_a_chain(world, aws, clock, poster, monkeypatch) -> None:
    """A 2000 s duel is ended by 900 + 900 + 203 s links, with timeout once at the end."""
    monkeypatch.setenv("DUEL_SECONDS", "2000")
    deps_module.install(
        Deps(
            Config.from_env(os.environ),
            clock=clock,
            poster_factory=poster.for_endpoint,
            timers=world.timers,
        )
    )
    alice, bob = world.connect("u-alice"), world.connect("u-bob")
    session_id = world.invite(alice, "u-bob")
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    world.frames(alice), world.frames(bob)
    delays: list[int] = []
    while not (frames := world.frames(bob)):
        timer, delay = world.timers.sent[-1]
        delays.append(delay)
        world.clock.advance(delay)
        world.deliver(timer)
        assert len(delays) < 10
    assert delays == [900, 900, 203]
    assert frames == world.frames(alice) == [{"type": "timeout", "sessionId": session_id}]


def test_failed_records_are_reported_by_message_id(world, pair, event) -> None:
    """A malformed body fails only its record; the rest of the batch is processed."""
    alice, _, session_id = pair
    good = world.sqs_event(world.last_timer())["Records"][0]
    bad = event("sqs_timer")["Records"][0]
    bad["messageId"], bad["body"] = "bad-one", "not json"
    world.clock.advance(60)
    result = world.handler("timers").handle({"Records": [bad, good]}, world.context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-one"}]}
    assert world.frames(alice) == [{"type": "no_response", "sessionId": session_id}]


def test_timer_event_from_aws_for_unknown_session_is_dropped(world, event) -> None:
    """The captured SQS shape for a session that does not exist: no error, no frame."""
    assert world.handler("timers").handle(event("sqs_timer"), world.context) == {
        "batchItemFailures": []
    }
    assert world.poster.posts == []


def test_duel_end_timer_for_pending_session_is_dropped(world, pair) -> None:
    """A duel_end timer for a session that never started does nothing."""
    alice, _, session_id = pair
    world.clock.advance(700)
    world.deliver(Timer(TimerKind.DUEL_END, session_id, "2026-01-01T00:10:00.000Z"))
    assert world.frames(alice) == []
