"""Options shared by the commands (duelctl/commands/*.py), defined once.

Typer reads a command's annotations by name from its module's globals (postponed
annotations), so modules import these names rather than building their own copies.
Every option names its value (`--target NAME`, `--port PORT`) rather than a type
(`<str>`, `<int range> [0<=x<=65535]`); `tidy_help` does the same for flags and for
options declared elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from duelctl.errors import UsageError

HELP_OPTION_NAMES = ("-h", "--help")  # the Typer app's context_settings use these

TargetOpt = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        metavar="NAME",
        help="'local' (.duelctl/local.json) or a stage name (.duelctl/STAGE.json).",
    ),
]
EndpointsOpt = Annotated[
    Path | None,
    typer.Option(
        "--endpoints",
        metavar="FILE",
        help="Endpoints file to use instead of .duelctl/<target>.json.",
        dir_okay=False,
    ),
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        metavar="PASSWORD",
        help="Password for stage targets (default: env DUELCTL_PASSWORD); ignored locally.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write machine-readable JSON to stdout.")]
TemplateOpt = Annotated[
    Path | None,
    typer.Option(
        "--template",
        metavar="FILE",
        help="Template for a stack started here (default: ./template.yaml, else the bundled one).",
        dir_okay=False,
    ),
]
EmbeddedOpt = Annotated[
    bool,
    typer.Option(
        "--embedded",
        help="Always start an embedded stack, even when `duelctl up` runs here.",
    ),
]
MaxWaitOpt = Annotated[
    float,
    typer.Option(
        "--max-wait",
        metavar="SECONDS",
        help="Longest `wait until` allowed, in seconds (guards against slow timers).",
    ),
]
CLOCKS = ("real", "virtual")
ClockOpt = Annotated[
    str | None,
    typer.Option(
        "--clock",
        metavar="real|virtual",
        help="Time for an embedded stack: 'virtual' jumps over waits and keeps the template's "
        "own timers (README, 'Virtual time'). Default: the scenario's `clock:`, else real; "
        "a running stack's own clock must match.",
    ),
]
UpClockOpt = Annotated[
    str,
    typer.Option(
        "--clock",
        metavar="real|virtual",
        help="'virtual': time jumps ahead while the stack is quiet, to the next timer or "
        "what a client waits for; move it with `duelctl clock` (README, 'Virtual time').",
    ),
]


FaultsOpt = Annotated[
    str | None,
    typer.Option(
        "--faults",
        metavar="SPEC",
        help="Inject the faults AWS's delivery guarantees allow, e.g. "
        "'sqs-duplicate,gone-window=500,ddb-throttle=0.05'; 'none' injects nothing (README, "
        "'Fault mode').",
    ),
]
FaultsSeedOpt = Annotated[
    int | None,
    typer.Option(
        "--faults-seed",
        metavar="N",
        help="Seed of --faults' random choices, to repeat a run (default: random, printed).",
    ),
]


def check_faults(spec: str | None, seed: int | None = None, flag: str = "--faults") -> str | None:
    """The canonical SPEC (None stays None); a malformed one is a usage error naming `flag`."""
    from emulator.faults.spec import FaultSpecError, parse_spec

    if spec is None:
        if seed is not None:
            raise UsageError("--faults-seed needs --faults SPEC")
        return None
    try:
        return str(parse_spec(spec))
    except FaultSpecError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def check_clock(value: str | None, flag: str = "--clock") -> None:
    """None, "real" or "virtual"; anything else is a usage error naming `flag`."""
    if value is not None and value not in CLOCKS:
        raise UsageError(f"{flag} {value}: use 'real' or 'virtual'")


def check_port(port: int, flag: str) -> None:
    """A TCP port number or 0 (any free port); anything else is a usage error naming `flag`."""
    if not 0 <= port <= 65535:
        raise UsageError(f"{flag} {port}: a port is 1-65535, or 0 for any free port")


def check_seconds(value: float, flag: str) -> None:
    """A duration in seconds: zero or more; anything else is a usage error naming `flag`."""
    if not value >= 0:  # also refuses nan
        raise UsageError(f"{flag} {value}: give a number of seconds, 0 or more")


def escape(text: str) -> str:
    """Escape rich markup in help text (what rich.markup.escape does, without importing rich)."""
    return text.replace("[", "\\[")


def tidy_help(command: Any) -> None:
    """Name every option's value in --help: flags show none, others their name.

    Typer labels values by Python type (`<bool>`, `<str>`, `<float>`); a reader wants
    what to type. Choices keep their list; explicit metavars are kept. Walks groups.
    """
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":
            # The name (USER, FILE_OR_DIR...) says what to type; the type adds `<str>`.
            param.display_type_rich = _no_type
            continue
        if getattr(param, "param_type_name", "") != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif not getattr(getattr(param, "type_descriptor", None), "is_choice", False):
            name = max(param.opts, key=len).lstrip("-")
            param.metavar = _METAVARS.get(name, name.upper().replace("-", "_"))
    try:  # click makes -h/--help on first use and caches it; make it now, without a type
        names = SimpleNamespace(help_option_names=list(HELP_OPTION_NAMES))
        help_option = command.get_help_option(names)
    except (AttributeError, TypeError):
        help_option = None
    if help_option is not None and help_option.metavar is None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


def _no_type(ctx: Any = None) -> None:
    return None


_METAVARS = {"max-wait": "SECONDS", "as": "USER", "junit": "FILE", "stage": "NAME"}
