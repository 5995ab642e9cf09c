"""`duelctl up --clock virtual`: the panel names the clock and warns off the web client."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from rich.console import Console

from duelctl.serve import endpoints_panel
from duelctl_endpoints import Endpoints

DEFAULTS = {"InviteTimeoutSeconds": "60", "DuelSeconds": "600", "StartLeadSeconds": "3"}
ENDPOINTS = Endpoints(
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
    clock="real",
    clock_url="http://127.0.0.1:4101/_duelctl/clock",
)


def panel(endpoints: Endpoints) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(
        endpoints_panel(endpoints, DEFAULTS, Path("/t/template.yaml"), Path("local.json"))
    )
    return " ".join(buffer.getvalue().split())


def test_a_virtual_stack_says_so_and_warns_off_the_web_client() -> None:
    text = panel(dataclasses.replace(ENDPOINTS, clock="virtual"))
    assert "Clock virtual http://127.0.0.1:4101/_duelctl/clock" in text
    assert "not for virtual stacks" in text
    # Ten-minute duels run out at once here, so every built-in scenario is suggested.
    assert "duelctl simulate alice bob --scenario all " in text + " "


def test_a_real_stack_shows_neither() -> None:
    text = panel(ENDPOINTS)
    assert "virtual" not in text and "Clock" not in text
