"""examples/ and the built-in simulations: valid, and together covering the whole protocol."""

from __future__ import annotations

from pathlib import Path

from duelctl.scenario.builtin import NAMES, builtin_scenarios
from duelctl.scenario.model import (
    ERROR_CODES,
    FRAME_TYPES,
    Check,
    Connect,
    Disconnect,
    Expect,
    Send,
)
from duelctl.scenario.parse import collect_files, load_scenarios
from duelctl.scenario.play import embedded_parameters

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def all_examples():
    return [s for path in collect_files([EXAMPLES]) for s in load_scenarios(path)]


def test_every_example_parses_and_shares_one_embedded_stack() -> None:
    """All examples validate and want the same parameters, so CI starts a single stack."""
    scenarios = all_examples()
    assert len(scenarios) >= 19
    assert len({tuple(sorted(embedded_parameters(s).items())) for s in scenarios}) == 1


def test_examples_cover_every_error_code_and_frame_type() -> None:
    """Each protocol error code and server frame type is expected by some example."""
    codes: set[str] = set()
    types: set[str] = set()
    for scenario in all_examples():
        for step in scenario.steps:
            if isinstance(step, Expect):
                types.add(step.frame_type)
                codes |= {str(c.value) for c in step.checks if c.path == ("code",) and c.op == "eq"}
    assert codes == set(ERROR_CODES)
    assert set(FRAME_TYPES) <= types


def test_examples_cover_tabs_reconnects_request_ids_and_refusals() -> None:
    """Multi-tab delivery, reconnect, requestId echo and refused handshakes all appear."""
    steps = [step for s in all_examples() for step in s.steps]
    assert any(isinstance(s, Expect) and any("#" in c for c in s.conns) for s in steps)
    assert any(isinstance(s, Disconnect) for s in steps)
    assert {s.token for s in steps if isinstance(s, Connect)} >= {
        "valid",
        "none",
        "garbage",
        "forged",
    }
    assert any(isinstance(s, Send) and s.request_id for s in steps)
    assert any(
        isinstance(s, Expect) and Check(("requestId",), "absent", None, "!requestId") in s.checks
        for s in steps
    )
    assert {s.action for s in steps if isinstance(s, Send)} >= {
        "invite",
        "accept",
        "reject",
        "stop",
        "ping",
        "state",
        "send",
    }


def test_builtin_simulations_parse() -> None:
    """Every built-in scenario is valid and `all` plays each once."""
    assert [s.name for s in builtin_scenarios("all")] == list(NAMES)
    for name in NAMES:
        (scenario,) = builtin_scenarios(name)
        assert scenario.users == ("alice", "bob")
        assert scenario.path == f"<builtin:{name}>"
