"""Property tests of the sans-I/O gateway core: whatever a client sends and whatever a
handler returns, the rules answer with a decision and never raise.

A raise in the core would be an exception in a connection's task (server.py, local.py):
the client would see a dropped socket where AWS answers with a status, a frame or a
close code. Inputs are as wild as the wire allows: any text, any header and query, any
JSON value (NaN, infinities, lone surrogates: Python's json reads them all) as a
handler's result.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from hypothesis import example, given
from hypothesis import strategies as st

from emulator.gateway import core
from emulator.runner.base import Invocation, Outcome
from tests.emulator.gateway.conftest import ACCOUNT, REGION, ROUTES, make_api

WITH_AUTHORIZER = core.Deployment(make_api(), REGION, ACCOUNT)
WITHOUT_AUTHORIZER = core.Deployment(make_api(authorizer=None), REGION, ACCOUNT)

texts = st.text() | st.sampled_from(["\ud800", "x\udfff", "\x00", "{", "[]", "null"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
# Results shaped like what handlers return, so the deep branches are reached too.
statement = st.fixed_dictionaries(
    {},
    optional={
        "Effect": st.sampled_from(["Allow", "Deny"]) | json_values,
        "Action": st.sampled_from(["execute-api:Invoke", "*", "execute-api:*"]) | json_values,
        "Resource": st.sampled_from(["*", WITH_AUTHORIZER.method_arn]) | json_values,
    },
)
authorizer_results = json_values | st.fixed_dictionaries(
    {},
    optional={
        "principalId": texts | json_values,
        "policyDocument": json_values
        | st.fixed_dictionaries({"Statement": st.lists(statement, max_size=3) | statement}),
        "context": json_values | st.dictionaries(texts, json_values, max_size=4),
    },
)
connect_results = json_values | st.fixed_dictionaries(
    {},
    optional={
        "statusCode": json_values | st.integers(100, 700) | texts,
        "body": json_values,
        "headers": json_values | st.dictionaries(st.just("Sec-WebSocket-Protocol"), json_values),
        "multiValueHeaders": json_values,
    },
)
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)  # what json.dumps writes by the standard: no NaN, no Infinity
outcomes = st.sampled_from(["ok", "error", "timeout"])
headers = st.lists(st.tuples(texts, texts), max_size=6)
targets = texts | st.sampled_from(["/prod?token=t", "/prod/?token=a&token=", "/prod", "/x?token=t"])


def invocation(outcome: str, result: Any) -> Invocation:
    return Invocation("Fn", "r1", cast(Outcome, outcome), result, 1.5)


def connection() -> core.Connection:
    return core.Connection("BFaT_fALIAMCKug=", 1_731_332_735_513, "203.0.113.7", None, 0)


@given(text=texts | json_values.map(json.dumps))
def test_any_message_gets_a_route_or_a_reply(text: str) -> None:
    """A message goes to a message route, or is answered with a frame; nothing raises."""
    route = core.select_route(WITH_AUTHORIZER.api, text)
    assert route is None or (route in ROUTES.values() and not route.key.startswith("$connect"))
    assert route is None or route.key != "$disconnect"
    decision = core.on_message(
        WITH_AUTHORIZER, connection(), text, request_id="r", message_id="m", now_ms=1
    )
    if isinstance(decision, core.Dispatch):
        assert decision.event["body"] == text and decision.route == route
    else:
        assert isinstance(decision, core.Reply) and json.loads(decision.frame)["message"]


@given(
    action=st.sampled_from(sorted(ROUTES)),
    extra=st.dictionaries(st.text(max_size=8), plain_json, max_size=3),
)
def test_an_action_names_its_route(action: str, extra: dict[str, Any]) -> None:
    """`$request.body.action` picks the route of that name; `$`-routes fall to $default."""
    text = json.dumps({**extra, "action": action})
    route = core.select_route(WITH_AUTHORIZER.api, text)
    expected = "$default" if action in ("$connect", "$disconnect") else action
    assert route is not None and route.key == expected


@given(
    target=targets,
    pairs=headers,
    auth=st.tuples(outcomes, authorizer_results),
    connect=st.tuples(outcomes, connect_results),
    authorized=st.booleans(),
)
def test_any_handshake_ends_in_a_status_or_a_connection(
    target: str,
    pairs: list[tuple[str, str]],
    auth: tuple[str, Any],
    connect: tuple[str, Any],
    authorized: bool,
) -> None:
    """Any request and any authorizer / `$connect` result: a Refuse with an HTTP error
    status, or an Accept, after at most the two invokes AWS makes."""
    deployment = WITH_AUTHORIZER if authorized else WITHOUT_AUTHORIZER
    request = core.ClientRequest(target, tuple(pairs), "203.0.113.7")
    shake = core.Handshake.begin(
        deployment, request, connection_id="BFaT_fALIAMCKug=", request_id="r", now_ms=1
    )
    step = shake.start()
    answers = iter([auth, connect] if authorized else [connect])
    labels: list[str] = []
    while isinstance(step, core.Invoke):
        labels.append(step.label)
        step = shake.on_result(invocation(*next(answers)))
    assert labels in ([], ["$connect"], ["authorizer"], ["authorizer", "$connect"])
    assert "authorizer" not in labels or authorized
    if isinstance(step, core.Refuse):
        assert 300 <= step.status <= 599 and isinstance(step.body, str)
    else:
        assert isinstance(step, core.Accept) and step.connection.id == "BFaT_fALIAMCKug="
        assert authorized == ("authorizer" in labels)


@given(outcome=outcomes, result=authorizer_results)
def test_an_authorizer_result_is_a_refusal_or_a_block(outcome: str, result: Any) -> None:
    """The verdict is a Refuse (401/403/500) or an authorizer block of strings."""
    verdict = core.authorizer_verdict(WITH_AUTHORIZER, invocation(outcome, result))
    if isinstance(verdict, core.Refuse):
        assert verdict.status in (401, 403, 500)
    else:
        assert outcome == "ok" and isinstance(verdict["principalId"], str)
        assert verdict["integrationLatency"] == 2
        context = {
            k: v for k, v in verdict.items() if k not in ("principalId", "integrationLatency")
        }
        assert all(isinstance(value, str) for value in context.values())


@given(
    outcome=outcomes,
    result=connect_results | st.builds(dict, statusCode=st.floats() | st.integers()),
)
@example(outcome="ok", result={"statusCode": math.inf})  # json.loads reads `Infinity`
@example(outcome="ok", result={"statusCode": math.nan})
def test_a_connect_result_is_accepted_or_refused_with_a_status(outcome: str, result: Any) -> None:
    """`$connect` accepts (None) or refuses with an HTTP status; a bad statusCode is a 502."""
    verdict = core.connect_verdict(invocation(outcome, result))
    assert verdict is None or 300 <= verdict.status <= 599
    assert verdict is None or outcome == "ok" or verdict.status == 502


FRAME = st.tuples(
    st.sampled_from(["text", "binary", "continuation"]),
    st.integers(0, 3 * core.MAX_FRAME_BYTES),
    st.booleans(),
)


@given(frames=st.lists(FRAME, max_size=30))
def test_frame_limits_close_exactly_when_aws_would(frames: list[tuple[str, int, bool]]) -> None:
    """Binary -> 1003; a frame over 32 KB or a message over 128 KB -> 1009; else nothing.

    Checked against a plain count of the message in progress; the first close ends the
    connection, so nothing after it is looked at.
    """
    tracker = core.FrameTracker()
    in_progress: int | None = None
    for kind, size, fin in frames:
        close = core.on_frame(tracker, cast(core.FrameKind, kind), size, fin=fin)
        total = size if kind == "text" else (in_progress or 0) + size
        if kind == "binary":
            assert close == core.UNSUPPORTED_DATA
            return
        if size > core.MAX_FRAME_BYTES or total > core.MAX_MESSAGE_BYTES:
            assert close == core.MESSAGE_TOO_BIG
            return
        assert close is None
        in_progress = None if fin else total


@given(unit=st.text(min_size=1), repeat=st.integers(1, 3 * core.MAX_FRAME_BYTES))
def test_outbound_fragments_rebuild_the_message_within_the_frame_limit(
    unit: str, repeat: int
) -> None:
    """Fragments join back to the message; each is at most 32 KB of UTF-8."""
    text = unit * (repeat // len(unit) + 1)
    parts = core.outbound_fragments(text)
    assert "".join(parts) == text
    assert all(0 < len(part.encode("utf-8")) <= core.MAX_FRAME_BYTES for part in parts)


# 1006 is never in a close frame (RFC 6455 §7.4.1): it stands for "no frame at all".
codes = st.integers(1000, 4999).filter(lambda code: code != 1006)
closes = st.none() | st.builds(core.CloseWith, codes, texts)


@given(sent=closes, received=closes, received_first=st.none() | st.booleans())
def test_every_ending_has_a_disconnect_code(
    sent: core.CloseWith | None, received: core.CloseWith | None, received_first: bool | None
) -> None:
    """Some close code always reaches `$disconnect`, 1006 only when no frame was seen."""
    close = core.observed_close(sent=sent, received=received, received_first=received_first)
    assert close in (sent, received, core.ABNORMAL) or close.code == 1005
    assert (close == core.ABNORMAL) == (sent is None and received is None)


@given(
    connected=st.integers(0, 10**13),
    idle_for=st.integers(0, 10**8),
    now_after=st.integers(0, 10**8),
    idle_s=st.floats(1, 10**5),
    max_s=st.floats(1, 10**6),
)
def test_a_connection_is_open_until_its_deadline_then_expired(
    connected: int, idle_for: int, now_after: int, idle_s: float, max_s: float
) -> None:
    """`time_limit` answers OpenUntil a deadline still ahead, or Expired at or past it."""
    c = core.Connection("BFaT_fALIAMCKug=", connected, "203.0.113.7", None, connected + idle_for)
    now_ms = connected + idle_for + now_after
    limit = core.time_limit(c, now_ms, idle_timeout_s=idle_s, max_duration_s=max_s)
    deadline = min((connected + idle_for) / 1000 + idle_s, connected / 1000 + max_s)
    if isinstance(limit, core.OpenUntil):
        assert limit.deadline == deadline > now_ms / 1000
    else:
        assert limit == core.Expired(core.GOING_AWAY) and now_ms / 1000 >= deadline
