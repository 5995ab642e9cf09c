"""The `duelctl` Typer app and what every command shares: the error boundary and help.

Every command module (duelctl/commands/) imports from here and adds its command with
`register(app)`; duelctl/cli.py only assembles them, in the order `--help` lists them,
and runs the result. So nothing here imports a command, and no command imports the CLI:
the import graph has no cycle (tests/test_layering.py).

Every command body runs inside `guard`, the one place that turns exceptions into exit
codes (style.md §8): a `DuelctlError` becomes one stderr line and its code, anything
else is a bug (one line, exit 70; the traceback with --debug). Typer never shows
locals: they hold JWTs.
"""

from __future__ import annotations

import functools
import inspect
import os
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from duelctl import console
from duelctl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, DuelctlError
from duelctl.options import HELP_OPTION_NAMES

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="duelctl",
    help=(
        "Developer CLI for the duel backend: run the whole stack locally, get tokens, "
        "simulate duels and run scenario files against a local stack or a deployed stage."
    ),
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # locals hold JWTs (style.md §8)
    epilog=(
        "Exit codes: 0 ok, 1 expectation failed, 2 bad input, 3 no stack running or target "
        "unreachable, 4 auth rejected, 5 stack cannot start, 70 internal error, 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": list(HELP_OPTION_NAMES)},
)


class _State:
    debug = os.environ.get("DUELCTL_DEBUG", "") not in ("", "0")


STATE = _State()


def guard(fn: F) -> F:
    """Run a command body; map DuelctlError to its exit code and bugs to exit 70."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DuelctlError as exc:
            if STATE.debug:
                console.err.print(traceback.format_exc(), markup=False, highlight=False)
            console.fail(exc)
        except KeyboardInterrupt:
            console.err.print("[yellow]interrupted[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            # typer.Exit/Abort and click's own exceptions carry their exit codes already.
            if STATE.debug or type(exc).__module__.split(".")[0] in ("typer", "click"):
                raise
            console.err.print(
                f"[red]internal error:[/] {type(exc).__name__}: {exc} "
                "[dim](a bug, not your input; rerun with --debug for the traceback)[/]",
                soft_wrap=True,
                markup=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def examples(*lines: str) -> str:
    """An epilog listing example invocations, shown at the end of --help."""
    body = "\n\n".join(f"  [cyan]{line}[/]" for line in lines)
    return f"[bold]Examples[/]\n\n{body}"


def help_text(doc: str | None) -> str:
    """A docstring as --help text: paragraphs kept, their lines joined so rich can wrap them."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def spread_overrides(args: list[str]) -> list[str]:
    """Let one --parameter-overrides flag take several KEY=VALUE words, as SAM CLI does.

    `--parameter-overrides A=1 B=2` becomes `--parameter-overrides A=1
    --parameter-overrides B=2` before click parses it.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        out.append(arg)
        i += 1
        joined = arg.startswith("--parameter-overrides=")
        if (arg == "--parameter-overrides" and i < len(args)) or joined:
            if not joined:
                out.append(args[i])
                i += 1
            while i < len(args) and not args[i].startswith("-") and "=" in args[i]:
                out += ["--parameter-overrides", args[i]]
                i += 1
    return out


class SpreadOverrides(TyperCommand):
    """A command whose --parameter-overrides takes SAM CLI's forms (spread_overrides)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_overrides(args))


def _show_version(value: bool) -> None:
    if value:
        import duelctl

        console.data(f"duelctl {duelctl.version()}")
        raise typer.Exit(0)


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for internal errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_show_version,
            is_eager=True,
            expose_value=True,
        ),
    ] = False,
) -> None:
    """Developer CLI for the duel backend.

    Exit codes: 0 ok, 1 expectation failed, 2 bad input, 3 no stack / target
    unreachable, 4 auth rejected, 5 stack cannot start, 70 internal error, 130 interrupted.
    """
    if debug:
        STATE.debug = True


__all__ = [
    "STATE",
    "SpreadOverrides",
    "app",
    "examples",
    "guard",
    "help_text",
    "spread_overrides",
]
