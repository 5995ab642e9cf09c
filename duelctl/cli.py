"""The `duelctl` command line, assembled: every command of duelctl/commands/ on the one
Typer app (duelctl/app.py), in the order `--help` lists them, and the entry point.

A command module imports only what defining its options needs; its work is imported
when it runs, so `duelctl token` inside `$(...)` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer

from duelctl import console
from duelctl.app import app
from duelctl.commands import (
    bench,
    clock,
    connect,
    deploy,
    online,
    run,
    schedule,
    simulate,
    token,
    up,
)
from duelctl.errors import EXIT_INTERRUPTED
from duelctl.options import tidy_help

for command in (up, token, simulate, run, online, connect, deploy, bench, schedule, clock):
    command.register(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (`duelctl = "duelctl.cli:main"`, `python -m duelctl`).

    Usage mistakes (unknown option, missing argument, bad value) are one `error:` line
    and exit 2, like every other mistake (style.md §8), not click's framed box.
    """
    command = typer.main.get_command(app)
    tidy_help(command)
    try:
        code = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="duelctl",
            standalone_mode=False,
        )
    except _click_exceptions().ClickException as exc:
        message = exc.format_message().rstrip(".")
        console.usage_error(message[:1].lower() + message[1:], _command_path(exc), exc.exit_code)
    except typer.Abort:
        code = EXIT_INTERRUPTED
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions() -> Any:
    """The click exception classes typer raises (typer >= 0.2x vendors click)."""
    try:
        from typer._click import exceptions
    except ImportError:  # an older typer on plain click
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _command_path(exc: Exception) -> str:
    ctx = getattr(exc, "ctx", None)
    return str(getattr(ctx, "command_path", "") or "duelctl")


__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
