"""AWS calls per handler invocation (DynamoDB and SQS; @connections posts not counted).

Each call is a round trip on the request path and a billed request on AWS (issue 12).
The numbers are the contract: a change that adds a call must change this table.
Before issue 12/14 (for the record): invite 7 (8 with a previous session), accept 5,
stop 4, reject 4, timer due 4, timer duplicate 1, TTL backstop 2. An accept was 4
before `start` had to come before any ending (the startSent write makes it 5).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


def ops(world, act: Callable[[], object]) -> list[str]:
    """The AWS operations the handlers made while `act` ran."""
    start = len(world.calls.operations)
    act()
    return [op for _, op in world.calls.operations[start:]]


def test_calls_per_handler(world, event) -> None:
    """The happy paths make exactly these calls, in this order."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    carol = world.connect("u-carol", "carol")
    ids: list[str] = []

    def invite() -> None:
        ids.append(world.invite(alice, "u-bob"))

    def respond(accept: bool) -> Callable[[], None]:
        body = {"action": "response", "sessionId": "", "accept": accept}
        return lambda: world.send(bob, {**body, "sessionId": ids[-1]})

    def stop(conn: str) -> Callable[[], None]:
        return lambda: world.send(conn, {"action": "stop", "sessionId": ids[-1]})

    assert ops(world, lambda: world.connect("u-dave")) == ["PutItem"]
    assert ops(world, lambda: world.send(alice, {"action": "ping"})) == ["UpdateItem"]
    assert ops(world, lambda: world.send(alice, {"action": "state"})) == ["Query", "Query"]
    assert ops(world, lambda: world.send(alice, {"action": "dance"})) == []
    # Invitee's connections, both locks, the transaction, the inviter's tabs, the timer.
    invite_calls = ["Query", "BatchGetItem", "TransactWriteItems", "Query", "SendMessage"]
    assert ops(world, invite) == invite_calls
    # The write returns the item it replaced: no read before it. Then `start` to both
    # users' tabs, and startSent, whose answer says no ending came meanwhile.
    accept_calls = ["UpdateItem", "Query", "Query", "UpdateItem", "SendMessage"]
    assert ops(world, respond(True)) == accept_calls
    assert ops(world, stop(bob)) == ["UpdateItem", "Query", "Query"]
    # Locks held by a stopped session cost nothing more: the transaction checks them.
    assert ops(world, invite) == invite_calls
    # A withdraw is not the guessed common case (a running duel): one write more.
    assert ops(world, stop(alice)) == ["UpdateItem", "UpdateItem", "Query", "Query"]
    ids.append(world.invite(alice, "u-bob"))
    assert ops(world, respond(False)) == ["UpdateItem", "Query", "Query"]
    world.invite(alice, "u-bob")
    timer = world.last_timer()
    world.clock.advance(30)
    assert ops(world, lambda: world.deliver(timer)) == ["UpdateItem", "SendMessage"]
    world.clock.advance(30)
    # The ending, both users' tabs, and the receipts that make a redelivery exact.
    due = ["UpdateItem", "Query", "Query", "UpdateItem"]
    assert ops(world, lambda: world.deliver(timer)) == due
    assert ops(world, lambda: world.deliver(timer)) == ["UpdateItem", "UpdateItem"]
    backstop = ["PutItem", "Query", "Query", "UpdateItem"]
    removal = event("dynamodb_ttl_remove")
    assert ops(world, lambda: world.invoke("sessions_stream", removal)) == backstop
    online = ["Scan", "BatchGetItem", "BatchGetItem"]
    assert ops(world, lambda: world.invoke("online", event("http_online"))) == online
    assert ops(world, lambda: world.disconnect(carol)) == ["DeleteItem"]


def ops_by_handler(world, act: Callable[[], object]) -> dict[str, list[str]]:
    """The AWS operations each handler made while `act` ran (nested invocations too)."""
    start = len(world.calls.operations)
    act()
    found: dict[str, list[str]] = defaultdict(list)
    for handler, op in world.calls.operations[start:]:
        found[handler].append(op)
    return dict(found)


def test_calls_when_a_stop_lands_while_start_goes_out(world) -> None:
    """The race of the fault hunt costs its two handlers one write each, and a stream
    record and a timer message that make sure of the ending; the happy paths pay only
    the accept's startSent write."""
    bob, carol = world.connect("u-bob", "bob"), world.connect("u-carol", "carol")
    session_id = world.invite(bob, "u-carol")

    def stop_now(frame: dict) -> None:  # the accept's first `start` is out, no more
        world.poster.after_post = None
        world.send(bob, {"action": "stop", "sessionId": session_id})

    world.poster.after_post = stop_now
    accept = {"action": "response", "sessionId": session_id, "accept": True}
    assert ops_by_handler(world, lambda: world.send(carol, accept)) == {
        # The transition, and the owed-ending timer on the item for the stream to queue.
        "stop": ["UpdateItem", "UpdateItem"],
        # startSent finds the session stopped: the accept announces `stop` (fresh reads
        # of both users' tabs, receipts) and queues no duel-end timer.
        "response": ["UpdateItem", "Query", "Query", "UpdateItem", "Query", "Query", "UpdateItem"],
    }
    assert ops(world, world.stream) == ["SendMessage", "UpdateItem"]
    owed, delay = world.timers.sent[-1]
    world.clock.advance(delay)
    # The lease taken with the item read, and given back: every receipt is in.
    assert ops(world, lambda: world.deliver(owed)) == ["UpdateItem", "UpdateItem"]
