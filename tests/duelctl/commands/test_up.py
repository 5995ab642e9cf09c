"""What `duelctl up` shows once the stack is ready."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from duelctl.serve import endpoints_panel
from duelctl_endpoints import Endpoints


def test_the_panel_lists_every_endpoint_and_next_steps() -> None:
    """The panel shows the URLs clients need, the parameters and commands to try."""
    endpoints = Endpoints(
        target="local",
        region="us-east-1",
        stage="local",
        websocket_url="ws://127.0.0.1:4100/local",
        management_url="http://127.0.0.1:4101/local",
        http_url="http://127.0.0.1:4101",
        aws_endpoint_url="http://127.0.0.1:4102",
        user_pool_id="us-east-1_AbCdEf123",
        user_pool_client_id="c" * 26,
        connections_table="duel-connections",
        sessions_table="duel-sessions",
    )
    buffer = io.StringIO()
    Console(file=buffer, width=160, color_system=None).print(
        endpoints_panel(
            endpoints, {"DuelSeconds": "5"}, Path("/t/template.yaml"), Path(".duelctl/local.json")
        )
    )
    text = buffer.getvalue()
    for expected in (
        "ws://127.0.0.1:4100/local?token=<JWT>",
        "http://127.0.0.1:4101/online",
        "http://127.0.0.1:4101/local",
        "http://127.0.0.1:4102",
        "us-east-1_AbCdEf123",
        "duel-connections, duel-sessions",
        "DuelSeconds=5",
        "/t/template.yaml",
        ".duelctl/local.json",
        "duelctl token alice",
        "duelctl simulate alice bob",
    ):
        assert expected in text, expected


DEFAULTS = {"InviteTimeoutSeconds": "60", "DuelSeconds": "600", "StartLeadSeconds": "3"}
SHORT = {"InviteTimeoutSeconds": "2", "DuelSeconds": "5", "StartLeadSeconds": "1"}


def test_with_ten_minute_duels_the_panel_does_not_suggest_every_scenario_here() -> None:
    """`--scenario all` would wait out a 10-minute duel: suggest it on its own stack."""
    from duelctl.serve import try_lines

    lines = try_lines(DEFAULTS)
    assert "duelctl simulate alice bob" in lines
    assert not any("--scenario all" in line and "--embedded" not in line for line in lines)
    assert any("--scenario all --embedded" in line for line in lines)


def test_with_short_timers_or_a_virtual_clock_every_scenario_fits() -> None:
    from duelctl.serve import try_lines

    assert "duelctl simulate alice bob --scenario all" in try_lines(SHORT)
    assert "duelctl simulate alice bob --scenario all" in try_lines(DEFAULTS, virtual_clock=True)


def test_what_the_panel_suggests_fits_in_max_wait() -> None:
    """The rule behind the suggestion: the longest built-in wait against --max-wait."""
    from duelctl.serve import DEFAULT_MAX_WAIT_S, longest_wait_s

    assert longest_wait_s(DEFAULTS) == 603 > DEFAULT_MAX_WAIT_S
    assert longest_wait_s(SHORT) == 6 <= DEFAULT_MAX_WAIT_S
    assert longest_wait_s({}) is None


def test_the_panel_and_the_cli_agree_on_max_wait() -> None:
    import inspect

    from duelctl.commands import run, simulate
    from duelctl.serve import DEFAULT_MAX_WAIT_S

    for command in (simulate.simulate, run.run):
        assert inspect.signature(command).parameters["max_wait"].default == DEFAULT_MAX_WAIT_S
