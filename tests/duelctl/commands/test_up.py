"""What `duelctl up` shows once the stack is ready."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from duelctl.commands.up import endpoints_panel
from emulator.endpoints import Endpoints


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
