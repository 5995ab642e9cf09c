"""Human output for scenario results: a timeline, a verdict, failures as file:line.

User ids are shown as `@alice` and session ids shortened, so a timeline reads as a
conversation; `--json` output keeps every frame byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from duelctl.scenario.engine import Event, Result

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)Z$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KIND_STYLE = {
    "send": ("→", "cyan"),
    "recv": ("←", "green"),
    "connect": ("+", "blue"),
    "refused": ("x", "magenta"),
    "disconnect": ("-", "blue"),
    "closed": ("-", "magenta"),
    "wait": ("…", "dim"),
    "ok": ("✓", "dim green"),
    "note": ("!", "yellow"),
}


def short_value(value: Any, names_by_id: dict[str, str]) -> str:
    """A field value as the timeline shows it."""
    if isinstance(value, str):
        if value in names_by_id:
            return "@" + names_by_id[value]
        m = _ISO.match(value)
        if m:
            return m.group(1)
        if _UUID.match(value):
            return value[:8] + "…"
        return value
    if isinstance(value, list):
        return "[" + ", ".join(short_value(v, names_by_id) for v in value) + "]"
    if isinstance(value, dict):
        inner = " ".join(f"{k}={short_value(v, names_by_id)}" for k, v in value.items())
        return "{" + inner + "}"
    return repr(value) if value is None or isinstance(value, bool) else str(value)


def summarize(event: Event, names_by_id: dict[str, str]) -> Text:
    """One event's text: `type key=value ...` for JSON frames, raw text otherwise."""
    data = event.data
    if event.kind in ("send", "recv") and data is not None:
        head = data.get("type") if event.kind == "recv" else data.get("action")
        text = Text()
        if isinstance(head, str):
            text.append(head, style="bold")
        rest = {
            k: v
            for k, v in data.items()
            if k not in ("type", "action") or not isinstance(head, str)
        }
        for key, value in rest.items():
            text.append(f" {key}=", style="dim")
            text.append(short_value(value, names_by_id))
        return text
    return Text(event.text)


def display_name(result: Result, who: str, real_names: bool) -> str:
    """A connection's name in the timeline: the scenario's role, or the real username."""
    if not real_names or not who:
        return who
    user, sep, tab = who.partition("#")
    return result.users.get(user, user) + sep + tab


def render_timeline(console: Console, result: Result, *, real_names: bool = False) -> None:
    names_by_id = {
        uid: display_name(result, name, real_names) for name, uid in result.user_ids.items()
    }
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column()
    for event in result.events:
        arrow, style = KIND_STYLE.get(event.kind, (" ", ""))
        who = Text(display_name(result, event.who, real_names), style="bold")
        text = summarize(event, names_by_id)
        if event.kind in ("ok", "wait", "note"):
            text.stylize(style)
        grid.add_row(f"+{event.t_ms:,.0f}ms", who, Text(arrow, style=style), text)
    console.print(grid)


def render_failure(console: Console, result: Result) -> None:
    failure = result.failure
    if failure is None:
        return
    where = f"{failure.where}: " if failure.where else ""
    console.print(f"  [bold red]{escape(where + failure.step)}[/]", soft_wrap=True)
    console.print(f"    {escape(failure.message)}", soft_wrap=True)
    if failure.expected:
        console.print(f"    [bold]expected:[/] {escape(failure.expected)}", soft_wrap=True)
    for i, line in enumerate(failure.received):
        label = "[bold]received:[/]" if i == 0 else "         "
        console.print(f"    {label} {escape(line)}", soft_wrap=True)


def verdict_line(result: Result) -> str:
    users = ", ".join(f"{k}={v}" for k, v in result.users.items() if k != v)
    suffix = f"  [dim]({escape(users)})[/]" if users else ""
    seconds = f"{result.duration_s:.2f}s"
    if result.clock == "virtual":
        seconds += f" virtual in {result.wall_s:.2f}s"
    if result.passed:
        steps = len(result.scenario.steps)
        return (
            f"[bold green]PASS[/] {escape(result.scenario.name)}  "
            f"[dim]{steps} steps, {seconds}[/]{suffix}"
        )
    return (
        f"[bold red]FAIL[/] {escape(result.scenario.name)}  [dim]step {result.steps_run + 1} of "
        f"{len(result.scenario.steps)}, {seconds}[/]{suffix}"
    )


def render_result(
    console: Console, result: Result, *, timeline: bool, real_names: bool = False
) -> None:
    """The verdict line, then the timeline (if asked) and the failure (if any)."""
    if timeline:
        title = f"[bold]{escape(result.scenario.name)}[/]  [dim]{escape(result.scenario.path)}[/]"
        console.print(title)
        if result.scenario.description:
            console.print(f"[dim]{escape(result.scenario.description)}[/]")
        render_timeline(console, result, real_names=real_names)
    console.print(verdict_line(result), soft_wrap=True)
    render_failure(console, result)
    if timeline:
        console.print()


def render_summary(console: Console, results: Sequence[Result]) -> None:
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    total = sum(r.duration_s for r in results)
    colour = "green" if failed == 0 else "red"
    took = f"in {total:.2f}s"
    if any(r.clock == "virtual" for r in results):
        took = f"in {total:.2f}s of stack time, {sum(r.wall_s for r in results):.2f}s real"
    console.print(f"[bold {colour}]{passed} passed, {failed} failed[/] [dim]{took}[/]")
