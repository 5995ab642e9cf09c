"""The deploy screen: live events on a terminal, one line per event in a log, the failure panel."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from duelctl.deploy.view import LIVE_ROWS, DeployView, status_style


def events(n: int) -> list[dict[str, object]]:
    return [
        {
            "EventId": str(i),
            "LogicalResourceId": f"Resource{i:02d}",
            "ResourceType": "AWS::SQS::Queue",
            "ResourceStatus": "CREATE_COMPLETE" if i % 2 else "CREATE_IN_PROGRESS",
            "ResourceStatusReason": "Resource creation Initiated" if i == 0 else "",
            "Timestamp": datetime(2026, 11, 25, 12, 0, i % 60, tzinfo=UTC),
        }
        for i in range(n)
    ]


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=140, color_system=None), buffer


def test_a_terminal_gets_a_live_table_of_the_latest_events() -> None:
    """On a terminal the last LIVE_ROWS events stay on screen, older ones are counted."""
    out, buffer = console(terminal=True)
    with DeployView(out).follow("create duelctl-dev") as on_event:
        for event in events(LIVE_ROWS + 5):
            on_event(event)
    final = buffer.getvalue().split("create duelctl-dev")[-1]
    assert f"Resource{LIVE_ROWS + 4:02d}" in final
    assert "Resource00 " not in final
    assert "5 earlier events not shown" in final


def test_a_log_gets_one_line_per_event() -> None:
    """Without a terminal each event is printed once, as it arrives, with its reason."""
    out, buffer = console(terminal=False)
    with DeployView(out).follow("create duelctl-dev") as on_event:
        for event in events(3):
            on_event(event)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "> create duelctl-dev"
    assert lines[1].split() == [
        "12:00:00",
        "Resource00",
        "AWS::SQS::Queue",
        "CREATE_IN_PROGRESS",
        "Resource",
        "creation",
        "Initiated",
    ]
    assert len(lines) == 4


def test_the_failure_panel_names_the_first_failure_and_what_next() -> None:
    """The panel shows status, resource, type, reason and the next step in one screen."""
    out, buffer = console(terminal=False)
    event = {
        "LogicalResourceId": "ConnectFunction",
        "ResourceType": "AWS::Lambda::Function",
        "ResourceStatus": "CREATE_FAILED",
        "ResourceStatusReason": "Resource handler returned message: [boom]",
    }
    DeployView(out).failure("duelctl-dev", "ROLLBACK_COMPLETE", event, "destroy, then deploy")
    text = buffer.getvalue()
    for part in (
        "deploy failed",
        "ROLLBACK_COMPLETE",
        "ConnectFunction",
        "AWS::Lambda::Function",
        "CREATE_FAILED",
        "Resource handler returned message: [boom]",
        "destroy, then deploy",
    ):
        assert part in text
    assert len(text.splitlines()) < 15


def test_status_colours() -> None:
    """Failures and finished rollbacks are red, rollbacks under way yellow, completion green."""
    assert status_style("CREATE_FAILED") == "red"
    assert status_style("UPDATE_ROLLBACK_COMPLETE") == "red"
    assert status_style("ROLLBACK_IN_PROGRESS") == "yellow"
    assert status_style("UPDATE_COMPLETE") == "green"
    assert status_style("CREATE_IN_PROGRESS") == "cyan"
