"""`duelctl clock`: show a local stack's time; `advance 90s` / `set ISO` move a virtual one.

A stack started with `duelctl up --clock virtual` serves its clock control API at the
endpoints file's `clock_url` (emulator/virtual/control.py; README, "Virtual time"). By
hand, time moves only forward, and through everything due on the way: `advance 1h`
with an invite expiring in a minute fires that expiry at its minute, then goes on.
`register(app)` adds the command group to a Typer app.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from duelctl import console
from duelctl.app import guard
from duelctl.errors import DuelctlError, StackNotRunning, UsageError
from duelctl.options import EndpointsOpt, JsonOpt

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """`90s`, `10m`, `1h30m`, `500ms`, `2d`, or a bare number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, pos = 0.0, 0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise UsageError(f"bad duration {text!r} (use e.g. 90s, 10m, 1h30m, 500ms)")
    return total


def clock_url(endpoints_file: Path | None) -> str:
    """The running local stack's clock API, from its endpoints file."""
    from duelctl.targets import LOCAL, endpoints_path, read_endpoints

    path = endpoints_file or endpoints_path(LOCAL)
    try:
        endpoints = read_endpoints(path)
    except FileNotFoundError:
        raise StackNotRunning(
            f"no local stack running (no {path}); start one with `duelctl up --clock virtual`"
        ) from None
    if not endpoints.clock_url:
        raise UsageError(f"{endpoints.target} has no clock to show or move (local stacks only)")
    return endpoints.clock_url


def _run(action: Callable[[Any], Any], url: str) -> dict[str, Any]:
    from duelctl.scenario.clock import ClockClient, ClockError

    async def go() -> dict[str, Any]:
        client = ClockClient(url, timeout_s=120)
        try:
            result: dict[str, Any] = await action(client)
            return result
        except ClockError as exc:
            if exc.status in (400, 409):
                raise UsageError(exc.message) from None
            raise DuelctlError(exc.message) from None
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    except DuelctlError:
        raise
    except Exception as exc:  # TargetUnreachable is a DuelctlError; this is the rest
        raise StackNotRunning(f"the local stack's clock does not answer ({exc})") from None


def describe(state: dict[str, Any]) -> str:
    """One line: the stack's time, its mode and how far ahead of real time it is."""
    mode = state.get("mode", "?")
    line = f"{state.get('now')}  ({mode} clock"
    offset = float(state.get("offset_s") or 0.0)
    if mode == "virtual":
        line += f", {format_offset(offset)} ahead of real time"
    return line + ")"


def format_offset(seconds: float) -> str:
    """`1h 30m 5.0s`-style, for people."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(hours)}h"] if hours >= 1 else []
    if minutes >= 1 or parts:
        parts.append(f"{int(minutes)}m")
    parts.append(f"{secs:.1f}s")
    return " ".join(parts)


def show(endpoints: EndpointsOpt = None, json_out: JsonOpt = False) -> None:
    """Print the local stack's time and whether it runs a real or a virtual clock."""
    state = _run(lambda c: c.state(), clock_url(endpoints))
    if json_out:
        console.data(json.dumps(state, indent=2))
    else:
        console.data(describe(state))


def advance(
    duration: Annotated[
        str, typer.Argument(metavar="DURATION", help="How far: 90s, 10m, 1h30m, 500ms.")
    ],
    endpoints: EndpointsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move a virtual stack's clock forward by DURATION, firing whatever comes due on the way."""
    seconds = parse_duration(duration)
    state = _run(lambda c: c.advance(seconds), clock_url(endpoints))
    if json_out:
        console.data(json.dumps(state, indent=2))
    else:
        console.data(describe(state))


def set_time(
    time: Annotated[
        str, typer.Argument(metavar="TIME", help="ISO 8601, e.g. 2026-01-01T12:00:00Z (UTC).")
    ],
    endpoints: EndpointsOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move a virtual stack's clock forward to TIME (never backwards)."""
    state = _run(lambda c: c.set(time), clock_url(endpoints))
    if json_out:
        console.data(json.dumps(state, indent=2))
    else:
        console.data(describe(state))


def register(app: typer.Typer) -> None:
    """Add the `clock` group (show, `advance`, `set`) to `app` ."""
    group = typer.Typer(
        name="clock",
        help="Show a local stack's time; move a `duelctl up --clock virtual` stack's clock.",
        add_completion=False,
        invoke_without_command=True,
    )

    @group.callback(invoke_without_command=True)
    def root(ctx: typer.Context, endpoints: EndpointsOpt = None, json_out: JsonOpt = False) -> None:
        """Show the local stack's time and clock mode (`advance`/`set` move a virtual one)."""
        if ctx.invoked_subcommand is None:
            guard(show)(endpoints=endpoints, json_out=json_out)

    group.command(
        "advance",
        epilog="Examples: duelctl clock advance 90s   duelctl clock advance 1h30m",
    )(guard(advance))
    group.command("set", epilog="Example: duelctl clock set 2026-01-01T12:00:00Z")(guard(set_time))
    app.add_typer(group)


__all__ = ["describe", "parse_duration", "register"]
