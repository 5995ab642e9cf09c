"""invite: every outcome and error code, in protocol order."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from adapters.notifier import POST_RESERVE_MS
from duel.timers import TimerKind


def error_code(world, conn: str) -> str:
    (frame,) = world.frames(conn)
    assert frame["type"] == "error"
    return str(frame["code"])


def test_invite_reaches_every_tab_of_both_users(world) -> None:
    """invite_sent to all inviter tabs (with requestId), invite to all invitee tabs (without)."""
    alice1, alice2 = world.connect("u-alice", "alice"), world.connect("u-alice", "alice")
    bob1, bob2 = world.connect("u-bob", "bob"), world.connect("u-bob", "bob")
    world.send(alice1, {"action": "invite", "to": "u-bob", "requestId": "r-1"})
    sent = world.frames(alice1)
    assert sent == world.frames(alice2)
    (invite_sent,) = sent
    session_id = invite_sent["sessionId"]
    assert invite_sent == {
        "type": "invite_sent",
        "sessionId": session_id,
        "to": "u-bob",
        "toUsername": "bob",
        "expiresAt": "2026-01-01T00:01:00.000Z",
        "requestId": "r-1",
    }
    for bob in (bob1, bob2):
        assert world.frames(bob) == [
            {
                "type": "invite",
                "sessionId": session_id,
                "from": "u-alice",
                "fromUsername": "alice",
                "expiresAt": "2026-01-01T00:01:00.000Z",
            }
        ]
    # The two expiresAt strings are the same bytes.
    to_alice = world.poster.raw(alice1)[0].decode()
    to_bob = world.poster.raw(bob1)[0].decode()
    assert '"expiresAt":"2026-01-01T00:01:00.000Z"' in to_alice
    assert '"expiresAt":"2026-01-01T00:01:00.000Z"' in to_bob


def test_invite_stores_pending_session_and_enqueues_expiry(world) -> None:
    """The session is pending and an invite_expiry timer waits INVITE_TIMEOUT_SECONDS."""
    alice, _ = world.connect("u-alice"), world.connect("u-bob")
    session_id = world.invite(alice, "u-bob")
    session = world.deps.sessions.get(session_id)
    assert session is not None and session.status.value == "pending"
    ((timer, delay),) = world.timers.sent
    assert (timer.kind, timer.session_id, timer.due, delay) == (
        TimerKind.INVITE_EXPIRY,
        session_id,
        session.expires_at,
        60,
    )


def test_bad_request_beats_everything(world) -> None:
    """A missing or mistyped `to` is bad_request, requestId echoed."""
    alice = world.connect("u-alice")
    for body in ({"action": "invite", "requestId": "r"}, {"action": "invite", "to": ["u-bob"]}):
        world.send(alice, {**body, "requestId": "r"})
        (frame,) = world.frames(alice)
        assert (frame["code"], frame["requestId"]) == ("bad_request", "r")


def test_self_invite(world) -> None:
    """Inviting yourself is self_invite."""
    alice = world.connect("u-alice")
    world.send(alice, {"action": "invite", "to": "u-alice"})
    assert error_code(world, alice) == "self_invite"


def test_user_offline(world) -> None:
    """Nobody connected, only expired connections, or no such user: user_offline."""
    alice = world.connect("u-alice")
    world.send(alice, {"action": "invite", "to": "u-nobody"})
    assert error_code(world, alice) == "user_offline"
    world.connect("u-bob")
    world.clock.advance(3600)
    world.send(alice, {"action": "ping"})
    world.frames(alice)
    world.send(alice, {"action": "invite", "to": "u-bob"})
    assert error_code(world, alice) == "user_offline"
    world.send(alice, {"action": "invite", "to": "x" * 3000})
    assert error_code(world, alice) == "user_offline"
    assert world.timers.sent == []


def test_user_offline_beats_user_busy(world) -> None:
    """A busy user who went offline is reported offline."""
    alice, bob = world.connect("u-alice"), world.connect("u-bob")
    world.connect("u-carol")
    world.invite(bob, "u-carol")
    world.disconnect(bob)
    world.send(alice, {"action": "invite", "to": "u-bob"})
    assert error_code(world, alice) == "user_offline"


def test_user_busy_on_either_side(world) -> None:
    """An invitee or inviter with a pending or active session makes the invite user_busy."""
    alice, bob, carol = world.connect("u-alice"), world.connect("u-bob"), world.connect("u-carol")
    session_id = world.invite(alice, "u-bob")
    world.frames(bob)
    world.send(carol, {"action": "invite", "to": "u-bob", "requestId": "c1"})
    (frame,) = world.frames(carol)
    assert (frame["code"], frame["requestId"]) == ("user_busy", "c1")
    world.send(alice, {"action": "invite", "to": "u-carol"})
    assert error_code(world, alice) == "user_busy"
    world.send(bob, {"action": "response", "sessionId": session_id, "accept": True})
    world.send(carol, {"action": "invite", "to": "u-alice"})
    assert error_code(world, carol) == "user_busy"
    assert len(world.aws.items("duelctl-sessions")) == 1 + 2  # the session and two locks


def test_errors_go_to_the_sending_tab_only(world) -> None:
    """An invite error is a sender frame: the inviter's other tab hears nothing."""
    tab1, tab2 = world.connect("u-alice"), world.connect("u-alice")
    world.send(tab1, {"action": "invite", "to": "u-alice"})
    assert error_code(world, tab1) == "self_invite"
    assert world.frames(tab2) == []


def test_invite_after_an_unfired_expiry_frees_the_user(world) -> None:
    """An old invite past its deadline but not yet timed out ends now; the new one opens."""
    alice, bob, carol = world.connect("u-alice"), world.connect("u-bob"), world.connect("u-carol")
    old = world.invite(alice, "u-bob")
    world.frames(bob)
    world.clock.advance(61)
    new = world.invite(carol, "u-bob")
    assert world.frames(alice) == [{"type": "no_response", "sessionId": old}]
    assert [f["type"] for f in world.frames(bob)] == ["no_response", "invite"]
    # The old timer, when it finally comes, says nothing more.
    assert world.deliver(world.timers.sent[0][0]) == {"batchItemFailures": []}
    assert world.frames(alice) == world.frames(bob) == []
    assert new != old


def test_gone_invitee_tab_is_cleaned_and_other_tab_invited(world) -> None:
    """GoneException on one (long connected) invitee tab deletes it; the live tab still
    gets the invite."""
    alice = world.connect("u-alice")
    stale, fresh = world.connect("u-bob"), world.connect("u-bob")
    world.clock.advance(31)  # both tabs are past the $connect window
    world.poster.gone.add(stale)
    world.invite(alice, "u-bob")
    assert [f["type"] for f in world.frames(fresh)] == ["invite"]
    live = world.deps.connections.live("u-bob", world.clock.now)
    assert [c.connection_id for c in live] == [fresh]


def test_invite_message_event_from_aws(world, event) -> None:
    """The captured MESSAGE shape works end to end."""
    raw = event("websocket_message")
    body = json.loads(raw["body"])
    world.connect(body["to"], "bob")
    connect = event("websocket_connect")
    connect["requestContext"]["connectionId"] = raw["requestContext"]["connectionId"]
    world.handler("connect").handle(connect, world.context)
    assert world.handler("invite").handle(raw, world.context) == {"statusCode": 200}
    (frame,) = world.poster.frames(raw["requestContext"]["connectionId"])
    assert frame["type"] == "invite_sent" and frame["requestId"] == "r-1"


def test_410_from_a_tab_still_connecting_keeps_it_registered(world, event) -> None:
    """Issue 14, defect 3: bob opens a tab while alice's invite is sent. Its item is
    written in $connect, but AWS answers 410 until $connect finishes: the item stays,
    bob stays online, and the tab can resync with `state`."""
    alice = world.connect("u-alice", "alice")
    world.clock.advance(40)
    new_tab = world.connect("u-bob", "bob")  # $connect has put the item, not yet returned
    world.poster.gone.add(new_tab)
    session_id = world.invite(alice, "u-bob")
    assert world.frames(new_tab) == []
    world.poster.gone.discard(new_tab)  # $connect has finished
    assert [c.connection_id for c in world.deps.connections.live("u-bob", world.clock.now)] == [
        new_tab
    ]
    online = json.loads(world.invoke("online", event("http_online"))["body"])["users"]
    assert "bob" in [u["username"] for u in online]
    world.send(new_tab, {"action": "state"})
    (state,) = world.frames(new_tab)
    assert [v["sessionId"] for v in state["sessions"]] == [session_id]


CONFLICT = "Transaction is ongoing for the item"


class ConflictingTransactions:
    """Answers the next `times` TransactWriteItems as DynamoDB does when another
    transaction holds one of its items: cancelled, one reason `TransactionConflict`
    (docs/aws-behaviour.md §10; what `duelctl up --faults ddb-throttle` injects)."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.refused = 0

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        if self.refused == self.times:
            return None
        self.refused += 1
        count = len(json.loads(params["body"])["TransactItems"])
        reasons: list[dict[str, str]] = [{"Code": "None"}] * count
        reasons[1] = {"Code": "TransactionConflict", "Message": CONFLICT}
        body = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
        }
        return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, {}, None), body


@pytest.fixture
def conflicts(world) -> Iterator[Callable[[int], ConflictingTransactions]]:
    """`conflicts(n)`: the next n invite transactions are cancelled for a conflict; the
    waits between tries are recorded in `world.sleeps` instead of slept."""
    installed: list[ConflictingTransactions] = []
    world.sleeps = []
    world.deps.locks._sleep = world.sleeps.append
    events = world.deps.dynamodb.meta.events

    def install(times: int) -> ConflictingTransactions:
        hook = ConflictingTransactions(times)
        events.register("before-call.dynamodb.TransactWriteItems", hook)
        installed.append(hook)
        return hook

    yield install
    for hook in installed:
        events.unregister("before-call.dynamodb.TransactWriteItems", hook)


def test_conflicting_transactions_are_retried_after_a_jittered_wait(world, conflicts) -> None:
    """Two cancelled tries, each followed by a short random wait that grows, then the
    invite goes through as if nothing happened."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    hook = conflicts(2)
    world.invite(alice, "u-bob")
    assert hook.refused == 2
    assert [f["type"] for f in world.frames(bob)] == ["invite"]
    assert len(world.sleeps) == 2
    assert 0 <= world.sleeps[0] <= 0.025 and 0 <= world.sleeps[1] <= 0.05


def test_transactions_that_keep_conflicting_answer_user_busy(world, conflicts) -> None:
    """Four cancelled tries: the sender gets user_busy (not API Gateway's Internal server
    error), nothing is written and nobody else hears anything."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    hook = conflicts(10)
    world.send(alice, {"action": "invite", "to": "u-bob", "requestId": "r-9"})
    (frame,) = world.frames(alice)
    assert (frame["type"], frame["code"], frame["requestId"]) == ("error", "user_busy", "r-9")
    assert frame["message"] == "another request is changing your or the invitee's duels; try again"
    assert hook.refused == 4 and len(world.sleeps) == 3
    assert world.frames(bob) == []
    assert world.aws.items("duelctl-sessions") == []


def test_no_wait_without_time_for_the_frames_after_it(world, conflicts) -> None:
    """An invocation with no more time left than its posts need gives up at once."""
    alice = world.connect("u-alice", "alice")
    world.connect("u-bob", "bob")
    hook = conflicts(10)
    world.context.remaining = lambda: POST_RESERVE_MS
    world.send(alice, {"action": "invite", "to": "u-bob"})
    assert error_code(world, alice) == "user_busy"
    assert hook.refused == 1 and world.sleeps == []
