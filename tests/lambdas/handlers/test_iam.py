"""Every AWS call a handler makes is allowed by its function's policy in template.yaml.

A full session lifecycle (including 410s on every kind of post) runs through the
handlers while botocore records each operation as the IAM action it needs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from adapters.sessions import session_to_item

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def template_actions(template_path: str) -> dict[str, set[str]]:
    """Handler module name -> the IAM actions its function's inline policies allow."""
    template, errors = decode(template_path)
    assert not errors
    allowed: dict[str, set[str]] = defaultdict(set)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module = resource["Properties"]["Handler"].split(".")[1]
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["Statement"]:
                assert statement["Effect"] == "Allow"
                allowed[module].update(statement["Action"])
    return allowed


def lifecycle(world, event: Any) -> None:
    """Touch every handler and every path that calls AWS, 410 clean-up included."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    stale_alice = world.connect("u-alice", "alice")
    world.connect("u-carol", "carol")
    world.send(alice, {"action": "ping"})
    world.send(alice, {"action": "state"})
    world.send(alice, {"action": "dance"})
    world.poster.gone.add(stale_alice)
    first = world.invite(alice, "u-bob")
    world.send(bob, {"action": "response", "sessionId": first, "accept": True})
    world.send(alice, {"action": "stop", "sessionId": first})
    world.invite(alice, "u-bob")
    expiry = world.last_timer()
    world.clock.advance(30)
    world.deliver(expiry)  # early: chained
    world.clock.advance(30)
    world.deliver(expiry)  # due: no_response
    world.clock.advance(1)
    third = world.invite(bob, "u-alice")
    pending_image = session_to_item(world.deps.sessions.get(third))
    world.clock.advance(61)  # third is overdue when carol invites alice
    world.invite(world.connect("u-carol"), "u-alice")
    stream = event("dynamodb_ttl_remove")
    stream["Records"][0]["dynamodb"]["OldImage"] = pending_image
    world.invoke("sessions_stream", stream)
    world.invoke("online", event("http_online"))
    for route in ("ping", "state", "$default"):
        doomed = world.connect("u-dave")
        world.poster.gone.add(doomed)
        world.send(doomed, {"action": route.strip("$")})
    world.disconnect(bob)


def test_every_call_is_allowed(world, event) -> None:
    """No handler needs an action its function's policy does not grant."""
    lifecycle(world, event)
    allowed = template_actions(str(TEMPLATE))
    used: dict[str, set[str]] = defaultdict(set)
    for module, action in world.calls.actions:
        used[module].add(action)
    assert set(used) == {
        "connect",
        "disconnect",
        "default",
        "invite",
        "response",
        "stop",
        "ping",
        "state",
        "timers",
        "sessions_stream",
        "online",
    }
    missing = {m: sorted(a - allowed[m]) for m, a in used.items() if a - allowed[m]}
    assert missing == {}
