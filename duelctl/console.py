"""The two consoles every command writes to: data on stdout, everything else on stderr.

`--json` output must stay pipeable, so progress, logs, warnings and errors all go to
`err` (style.md §8). Commands never call print(); they use these.

`out` and `err` are made on first use: importing rich's Console costs tens of
milliseconds that `duelctl token` (one line via `data`) never needs.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from duelctl.errors import EXIT_USAGE, DuelctlError

if TYPE_CHECKING:
    from rich.console import Console

    out: Console
    err: Console


def _width() -> int | None:
    # rich wraps at 80 columns when it cannot see a terminal; CI logs read better wider.
    return None if os.environ.get("COLUMNS") else 120


def __getattr__(name: str) -> Any:
    """`console.out` / `console.err`, created on first use and then a plain attribute."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console(stderr=name == "err", highlight=False, width=_width())
    globals()[name] = made
    return made


def _stderr() -> Console:
    made: Console | None = globals().get("err")
    return made if made is not None else __getattr__("err")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def warn(message: str) -> None:
    """One warning line on stderr."""
    _stderr().print(f"[yellow]warning:[/] {_escape(message)}")


def info(message: str) -> None:
    """One progress line on stderr (dimmed, so data on stdout stands out)."""
    _stderr().print(f"[dim]{_escape(message)}[/]")


def fail(exc: DuelctlError) -> NoReturn:
    """Print `exc` as one `error:` line on stderr and exit with its code."""
    import typer

    _stderr().print(f"[red]error:[/] {_escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


def usage_error(message: str, command_path: str, code: int = EXIT_USAGE) -> NoReturn:
    """A command-line mistake click found (unknown option, missing argument): one line.

    The same shape as `fail`, plus where to read about the command's options.
    """
    hint = f" (see `{command_path} --help`)"
    _stderr().print(f"[red]error:[/] {_escape(message)}{_escape(hint)}", soft_wrap=True)
    sys.exit(code)


def data(text: str) -> None:
    """Write `text` to stdout exactly (JSON, a token): no markup, no wrapping."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
