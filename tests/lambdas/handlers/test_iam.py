"""Each function's policy in template.yaml grants exactly what its handler uses.

A full session lifecycle (410s on every kind of post, SQS failing, the TTL backstop and
its retry included) runs through the handlers while botocore records each call as the
IAM action and resource it needs. A grant no call needs fails the test as a missing
one does: least privilege, kept.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from adapters.sessions import session_to_item

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
Grants = dict[str, set[tuple[str, str]]]


def _resource(value: Any) -> str:
    """A policy Resource as the logical id it names (`X/index` for X's indexes)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = str(value["Fn::Sub"])
        if ":execute-api:" in text:
            return "WebSocketApi"
        if text.endswith("/index/*"):
            return text.split(".")[0].removeprefix("${") + "/index"
    raise AssertionError(f"a policy resource this test cannot name: {value!r}")


def template_grants(template_path: str) -> tuple[Grants, Grants]:
    """Handler module -> (action, resource) its inline policies allow; and -> what its
    event source mappings use in its name (on-failure destinations)."""
    template, errors = decode(template_path)
    assert not errors
    allowed: Grants = defaultdict(set)
    by_lambda: Grants = defaultdict(set)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        module = props["Handler"].split(".")[1]
        for policy in props.get("Policies", []):
            for statement in policy["Statement"]:
                assert statement["Effect"] == "Allow"
                targets = statement["Resource"]
                for target in targets if isinstance(targets, list) else [targets]:
                    allowed[module].update((a, _resource(target)) for a in statement["Action"])
        for event in props.get("Events", {}).values():
            failure = event["Properties"].get("DestinationConfig", {}).get("OnFailure", {})
            if "Destination" in failure:
                # AWS: Lambda sends to the destination with the function's execution role.
                by_lambda[module].add(("sqs:SendMessage", _resource(failure["Destination"])))
    return allowed, by_lambda


def ttl_removal(event: Any, image: dict[str, Any]) -> dict[str, Any]:
    record = copy.deepcopy(event("dynamodb_ttl_remove")["Records"][0])
    record["dynamodb"]["OldImage"] = image
    record["dynamodb"]["Keys"] = {"sessionId": image["sessionId"]}
    return {"Records": [record]}


def lifecycle(world, event: Any) -> None:
    """Touch every handler and every path that calls AWS."""
    alice, bob = world.connect("u-alice", "alice"), world.connect("u-bob", "bob")
    world.connect("u-carol", "carol")
    # Tabs that will answer 410, old enough (past the $connect window) to be deleted.
    doomed = [world.connect("u-alice", "alice") for _ in range(5)]
    world.clock.advance(31)

    def doom() -> None:
        world.poster.gone.add(doomed.pop())

    world.send(alice, {"action": "ping"})
    world.send(alice, {"action": "state"})
    world.send(alice, {"action": "dance"})
    doom()
    first = world.invite(alice, "u-bob")
    doom()
    world.send(bob, {"action": "response", "sessionId": first, "accept": True})
    doom()
    world.send(alice, {"action": "stop", "sessionId": first})
    world.invite(alice, "u-bob")  # locks held by a stopped session: checked in the write
    expiry = world.last_timer()
    world.clock.advance(30)
    world.deliver(expiry)  # early: chained
    world.clock.advance(30)
    doom()
    world.deliver(expiry)  # due: no_response, with receipts
    world.clock.advance(1)
    third = world.invite(bob, "u-alice")
    pending_image = session_to_item(world.deps.sessions.get(third))
    world.clock.advance(61)  # third is overdue when carol invites alice
    world.invite(world.connect("u-carol"), "u-alice")
    # SQS refuses the timer of an accept; the stream consumer schedules it.
    queue = world.timers._url
    world.timers._url = queue + "-gone"
    dave, erin = world.connect("u-dave", "dave"), world.connect("u-erin", "erin")
    fourth = world.invite(dave, "u-erin")
    world.send(erin, {"action": "response", "sessionId": fourth, "accept": True})
    world.timers._url = queue
    assert world.stream() == {"batchItemFailures": []}
    # A stop landing while the accept's `start` goes out: the accept announces it, and
    # the stream queues the owed-ending timer that would have, had the accept died.
    grace, heidi = world.connect("u-grace", "grace"), world.connect("u-heidi", "heidi")
    fifth = world.invite(grace, "u-heidi")

    def stop_now(frame: dict[str, Any]) -> None:
        world.poster.after_post = None
        world.send(grace, {"action": "stop", "sessionId": fifth})

    world.poster.after_post = stop_now
    world.send(heidi, {"action": "response", "sessionId": fifth, "accept": True})
    assert world.stream() == {"batchItemFailures": []}
    owed = world.last_timer()
    assert owed.kind.value == "owed_ending"
    world.clock.advance(10)
    assert world.deliver(owed) == {"batchItemFailures": []}
    # The TTL backstop for a session whose timer never came, then its retry.
    world.aws.dynamodb.delete_item(
        TableName="duelctl-sessions", Key={"sessionId": pending_image["sessionId"]}
    )
    removal = ttl_removal(event, pending_image)
    doom()
    world.invoke("sessions_stream", removal)
    world.invoke("sessions_stream", removal)
    world.invoke("online", event("http_online"))
    for route in ("ping", "state", "$default"):
        gone = world.connect("u-frank")
        world.poster.gone.add(gone)
        world.send(gone, {"action": route.strip("$")})
    world.disconnect(bob)


def test_every_call_is_allowed_and_every_grant_used(world, event) -> None:
    """No handler needs a grant its policy lacks, and no policy grants what none uses."""
    lifecycle(world, event)
    allowed, by_lambda = template_grants(str(TEMPLATE))
    used: Grants = defaultdict(set)
    for module, action, resource in world.calls.grants:
        used[module].add((action, resource))
    for module, grants in by_lambda.items():
        used[module] |= grants
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
    missing = {m: sorted(g - allowed[m]) for m, g in used.items() if g - allowed[m]}
    assert missing == {}
    unused = {m: sorted(g - used[m]) for m, g in allowed.items() if g - used[m]}
    assert unused == {}
