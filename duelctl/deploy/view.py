"""What deploy and destroy show: progress, the change set, live events, failures, endpoints.

Everything goes to stderr (console.err): stdout stays free for data. On a terminal the
stack events render in a rich Live table that keeps the latest rows on screen; in a
log (CI, a pipe) each event is one line as it arrives, since a Live display there
would only print its last frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from duelctl import console
from duelctl_endpoints import Endpoints

LIVE_ROWS = 18
_ACTION_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red", "Import": "cyan"}

Event = Mapping[str, Any]


def status_style(status: str) -> str:
    """Red for failures and rollbacks, green for completion, cyan while in progress."""
    if status.endswith("_FAILED") or "ROLLBACK" in status:
        return "red" if not status.endswith("_IN_PROGRESS") else "yellow"
    if status.endswith("_COMPLETE"):
        return "green"
    return "cyan"


def _time(event: Event) -> str:
    stamp = event.get("Timestamp")
    return stamp.strftime("%H:%M:%S") if isinstance(stamp, datetime) else ""


def _event_row(event: Event) -> tuple[str, str, str, Text, str]:
    status = str(event.get("ResourceStatus", ""))
    reason = " ".join(str(event.get("ResourceStatusReason") or "").split())
    return (
        _time(event),
        str(event.get("LogicalResourceId", "")),
        str(event.get("ResourceType", "")),
        Text(status, style=status_style(status)),
        reason,
    )


class DeployView:
    """The deploy/destroy screen, written to one console (stderr by default)."""

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console.err

    def step(self, message: str) -> None:
        self.out.print(f"[bold cyan]>[/] {escape(message)}", soft_wrap=True)

    def info(self, message: str) -> None:
        self.out.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    def change_set(self, rows: list[tuple[str, str, str, str]], kind: str) -> None:
        """The resource changes CloudFormation is about to make."""
        table = Table(title=f"Change set ({kind.lower()})", title_justify="left", expand=False)
        for column in ("Action", "Resource", "Type", "Replacement"):
            table.add_column(column)
        for action, logical_id, rtype, replacement in rows:
            table.add_row(
                Text(action, style=_ACTION_STYLE.get(action, "")), logical_id, rtype, replacement
            )
        if not rows:
            table.add_row("", "(no resource changes: outputs, parameters or tags only)", "", "")
        self.out.print(table)

    @contextlib.contextmanager
    def follow(self, title: str) -> Iterator[Callable[[Event], None]]:
        """Show stack events as they arrive; yields the callback that takes each one."""
        if not self.out.is_terminal:
            self.step(title)

            def line(event: Event) -> None:
                when, logical_id, rtype, status, reason = _event_row(event)
                self.out.print(
                    Text.assemble(
                        f"  {when}  {logical_id}  ",
                        (rtype, "dim"),
                        "  ",
                        status,
                        f"  {reason}" if reason else "",
                    ),
                    soft_wrap=True,
                )

            yield line
            return
        rows: list[Event] = []

        def render() -> Table:
            table = Table(title=title, title_justify="left", expand=True)
            table.add_column("Time", no_wrap=True)
            table.add_column("Resource", no_wrap=True)
            table.add_column("Type", style="dim", no_wrap=True)
            table.add_column("Status", no_wrap=True)
            table.add_column("Reason", overflow="fold")
            for event in rows[-LIVE_ROWS:]:
                table.add_row(*_event_row(event))
            if len(rows) > LIVE_ROWS:
                table.caption = f"{len(rows) - LIVE_ROWS} earlier events not shown"
            return table

        with Live(render(), console=self.out, refresh_per_second=4, transient=False) as live:

            def add(event: Event) -> None:
                rows.append(event)
                live.update(render())

            yield add

    def failure(self, stack: str, status: str, event: Event | None, hint: str) -> None:
        """One screen: the terminal status, the first failed resource and its reason."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        grid.add_row("Stack", f"{stack}  [{status_style(status)}]{status}[/]")
        if event is not None:
            grid.add_row(
                "First failure",
                f"{escape(str(event.get('LogicalResourceId')))} "
                f"[dim]({escape(str(event.get('ResourceType')))})[/] "
                f"[red]{escape(str(event.get('ResourceStatus')))}[/]",
            )
            grid.add_row("Reason", escape(str(event.get("ResourceStatusReason") or "none given")))
        else:
            grid.add_row("First failure", "CloudFormation reported no failed resource")
        grid.add_row("Next", escape(hint))
        self.out.print(Panel(grid, title="[red]deploy failed[/]", border_style="red", expand=False))

    def summary(self, endpoints: Endpoints, path: Path, stack: str) -> None:
        """The deployed stage's endpoints and the commands that now work against it."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        rows = [
            ("Stack", f"{stack} ({endpoints.region})"),
            ("WebSocket", f"{endpoints.websocket_url}?token=<JWT>"),
            ("HTTP API", f"{endpoints.http_url}/online"),
            ("@connections", endpoints.management_url),
            ("User pool", f"{endpoints.user_pool_id}  client {endpoints.user_pool_client_id}"),
            ("Tables", f"{endpoints.connections_table}, {endpoints.sessions_table}"),
            ("Endpoints file", str(path)),
        ]
        for key, value in rows:
            grid.add_row(key, escape(value))
        target = endpoints.target
        grid.add_row("", "")
        grid.add_row("Try", escape(f"DUELCTL_PASSWORD=... duelctl token alice --target {target}"))
        grid.add_row("", escape(f"duelctl simulate alice bob --target {target}"))
        grid.add_row("", escape(f"duelctl run examples/ --target {target}"))
        self.out.print(Panel(grid, title="[green]deployed[/]", border_style="green", expand=False))
