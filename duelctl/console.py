"""The two consoles every command writes to: data on stdout, everything else on stderr.

`--json` output must stay pipeable, so progress, logs, warnings and errors all go to
`err` (style.md §8). Commands never call print(); they use these.
"""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from duelctl.errors import DuelctlError


def _width() -> int | None:
    # rich wraps at 80 columns when it cannot see a terminal; CI logs read better wider.
    return None if os.environ.get("COLUMNS") else 120


out = Console(highlight=False, width=_width())
err = Console(stderr=True, highlight=False, width=_width())


def warn(message: str) -> None:
    """One warning line on stderr."""
    err.print(f"[yellow]warning:[/] {escape(message)}")


def info(message: str) -> None:
    """One progress line on stderr (dimmed, so data on stdout stands out)."""
    err.print(f"[dim]{escape(message)}[/]")


def fail(exc: DuelctlError) -> NoReturn:
    """Print `exc` as one `error:` line on stderr and exit with its code."""
    err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


def data(text: str) -> None:
    """Write `text` to stdout exactly (JSON, a token): no markup, no wrapping."""
    typer.echo(text)
