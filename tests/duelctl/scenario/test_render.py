"""The human timeline: names instead of ids, short times, failures with file:line."""

from __future__ import annotations

import io

from rich.console import Console

from duelctl.scenario.engine import Event, Failure, Result
from duelctl.scenario.model import Where
from duelctl.scenario.parse import parse_scenarios
from duelctl.scenario.render import render_result, short_value

UID = "8f23cf1a-3e53-414c-8b8f-00035bb95687"


def test_values_read_as_a_conversation() -> None:
    """User ids become @names, times lose their date, UUIDs are shortened."""
    names = {"u-1": "alice"}
    assert short_value("u-1", names) == "@alice"
    assert short_value("2026-11-25T12:00:03.000Z", names) == "12:00:03.000"
    assert short_value(UID, names) == "8f23cf1a…"
    assert short_value([{"userA": "u-1"}], names) == "[{userA=@alice}]"
    assert short_value(True, names) == "True" and short_value(5, names) == "5"


def rendered(result: Result, **kwargs: bool) -> str:
    buffer = io.StringIO()
    render_result(Console(file=buffer, width=200, color_system=None), result, **kwargs)
    return "\n".join(" ".join(line.split()) for line in buffer.getvalue().splitlines())


def test_a_failed_result_shows_timeline_verdict_and_reason() -> None:
    """A failure prints the timeline, FAIL with the step number, file:line and expected/received."""
    (scenario,) = parse_scenarios(
        "name: s\nusers: [alice, bob]\nsteps: [wait 1s, wait 2s]\n", "f.yaml"
    )
    events = [
        Event(
            0.4,
            "alice",
            "send",
            '{"action":"invite","to":"u-2"}',
            {"action": "invite", "to": "u-2"},
        ),
        Event(12.0, "bob#2", "recv", "{}", {"type": "invite", "from": "u-1"}),
    ]
    failure = Failure(Where("f.yaml", 4), "wait 2s", "it broke", "calm", ["bob ← {}"])
    result = Result(
        scenario,
        failure,
        events,
        1.5,
        {"alice": "ann", "bob": "ben"},
        {"alice": "u-1", "bob": "u-2"},
        1,
    )
    text = rendered(result, timeline=True)
    assert "alice → invite to=@bob" in text
    assert "bob#2 ← invite from=@alice" in text
    assert "FAIL s step 2 of 2, 1.50s (alice=ann, bob=ben)" in text
    assert "f.yaml:4: wait 2s" in text and "expected: calm" in text and "received: bob ← {}" in text
    real = rendered(result, timeline=True, real_names=True)
    assert "ann → invite to=@ben" in real and "ben#2 ← invite from=@ann" in real


def test_a_passing_result_is_one_line_without_timeline() -> None:
    """Passing scenarios print one PASS line unless a timeline is asked for."""
    (scenario,) = parse_scenarios("name: ok\nusers: [a]\nsteps: [wait 1s]\n", "f.yaml")
    result = Result(
        scenario, None, [Event(1, "a", "connect", "connected as a")], 0.1, {"a": "a"}, {}, 1
    )
    assert rendered(result, timeline=False).strip() == "PASS ok 1 steps, 0.10s"
