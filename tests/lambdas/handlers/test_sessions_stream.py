"""sessions_stream: the TTL backstop tells both users about sessions that expired unseen."""

from __future__ import annotations

import copy
from typing import Any

from adapters.locks import lock_key
from adapters.sessions import session_to_item

USER_A = "8f23cf1a-3e53-414c-8b8f-00035bb95687"
USER_B = "3c1d9a2e-77b0-4f5e-9a51-6f0e2d1c8b4a"
SESSION = "6d9f1b7e-3a52-4c0e-9b1d-2f7a8c4e5d10"


def with_image(event, image: dict[str, Any], sequence: str = "1", name: str = "REMOVE") -> Any:
    record = copy.deepcopy(event("dynamodb_ttl_remove")["Records"][0])
    record["eventName"] = name
    record["dynamodb"]["OldImage"] = image
    record["dynamodb"]["Keys"] = {"sessionId": image["sessionId"]}
    record["dynamodb"]["SequenceNumber"] = sequence
    return record


def test_pending_session_removed_by_ttl_is_no_response(world, event) -> None:
    """The captured TTL REMOVE of a pending session: both users' tabs get no_response."""
    a, b = world.connect(USER_A), world.connect(USER_B)
    handler = world.handler("sessions_stream")
    assert handler.handle(event("dynamodb_ttl_remove"), world.context) == {"batchItemFailures": []}
    expected = [{"type": "no_response", "sessionId": SESSION}]
    assert world.frames(a) == world.frames(b) == expected


def test_active_session_removed_by_ttl_is_timeout(world, event) -> None:
    """A session removed while active ran out: timeout to both."""
    alice, bob = world.connect("u-alice"), world.connect("u-bob")
    session_id = world.invite(alice, "u-bob")
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    world.frames(alice), world.frames(bob)
    active = world.deps.sessions.get(session_id)
    world.aws.dynamodb.delete_item(
        TableName="duelctl-sessions", Key={"sessionId": {"S": session_id}}
    )
    record = with_image(event, session_to_item(active))
    world.handler("sessions_stream").handle({"Records": [record]}, world.context)
    assert (
        world.frames(alice) == world.frames(bob) == [{"type": "timeout", "sessionId": session_id}]
    )


def test_stopped_sessions_locks_and_other_events_are_silent(world, event) -> None:
    """Stopped sessions, lock items and non-REMOVE records notify nobody."""
    alice, bob = world.connect("u-alice"), world.connect("u-bob")
    session_id = world.invite(alice, "u-bob")
    pending_image = session_to_item(world.deps.sessions.get(session_id))
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": False})
    world.frames(alice), world.frames(bob)
    stopped_image = session_to_item(world.deps.sessions.get(session_id))
    lock_image = {**lock_key("u-alice"), "holder": {"S": session_id}, "expireAt": {"N": "1"}}
    records = [
        with_image(event, stopped_image, "1"),
        with_image(event, lock_image, "2"),
        with_image(event, pending_image, "3", name="MODIFY"),
    ]
    result = world.handler("sessions_stream").handle({"Records": records}, world.context)
    assert result == {"batchItemFailures": []}
    assert world.frames(alice) == world.frames(bob) == []


def test_bad_record_is_reported_by_sequence_number(world, event) -> None:
    """A record that cannot be read fails alone, identified by its SequenceNumber."""
    a = world.connect(USER_A)
    good = event("dynamodb_ttl_remove")["Records"][0]
    bad = with_image(event, {"sessionId": {"S": "x"}, "userA": {"S": "a"}, "userB": {"S": "b"}})
    bad["dynamodb"]["SequenceNumber"] = "4421584500000000017450439000"
    result = world.handler("sessions_stream").handle({"Records": [bad, good]}, world.context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "4421584500000000017450439000"}]}
    assert world.frames(a) == [{"type": "no_response", "sessionId": SESSION}]
