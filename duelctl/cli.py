"""The `duelctl` command line: local stack, tokens, simulations, scenario runs, clients.

Every command body runs inside `guard`, the one place that turns exceptions into exit
codes (style.md §8): a `DuelctlError` becomes one stderr line and its code, anything
else is a bug (one line, exit 70; the traceback with --debug). Typer never shows
locals: they hold JWTs.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from duelctl import console
from duelctl.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, DuelctlError, UsageError
from duelctl.options import (
    HELP_OPTION_NAMES,
    ClockOpt,
    EndpointsOpt,
    FaultsOpt,
    FaultsSeedOpt,
    JsonOpt,
    PasswordOpt,
    TargetOpt,
    TemplateOpt,
    UpClockOpt,
    check_clock,
    check_faults,
    check_port,
    check_seconds,
    escape,
    tidy_help,
)

# The built-in scenarios (duelctl/scenario/builtin.py), named here so that `--help` does
# not parse them; a test keeps the two lists equal.
SCENARIO_NAMES = ("accept-stop", "reject", "no-response", "timeout", "disconnect", "withdraw")

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


# -- options shared by client commands (the common ones live in duelctl/options.py) ---------------

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
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More output.")]


# -- up ---------------------------------------------------------------------------------------


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


class _SpreadOverrides(TyperCommand):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_overrides(args))


@app.command(
    cls=_SpreadOverrides,
    epilog=examples(
        "duelctl up",
        "duelctl up --port 8787 --parameter-overrides DuelSeconds=30 InviteTimeoutSeconds=10",
        "duelctl up --parameter-overrides 'DuelSeconds=5 StartLeadSeconds=1' -v",
        "duelctl up --template ./my-template.yaml --no-reload",
    ),
)
@guard
def up(
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="WebSocket port (0 = any free port).")
    ] = 0,
    http_port: Annotated[
        int,
        typer.Option(
            "--http-port",
            metavar="PORT",
            help="HTTP port: web client, /online, @connections (0 = any free port).",
        ),
    ] = 0,
    parameter_overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter-overrides",
            help="Template parameters, SAM CLI style: KEY=VALUE words, one quoted string, "
            "or the flag repeated.",
        ),
    ] = None,
    template: TemplateOpt = None,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Reload handler code when it changes.")
    ] = True,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Also log every frame.")
    ] = 0,
    clock: UpClockOpt = "real",
    faults: FaultsOpt = None,
    faults_seed: FaultsSeedOpt = None,
) -> None:
    """Run the whole local stack (API Gateway, Lambda, DynamoDB, SQS, Cognito) in one process.

    Prints the endpoints, writes [bold].duelctl/local.json[/] once connections are accepted,
    and streams one log line per invocation (function, route, user, duration, outcome).
    Ctrl-C or SIGTERM shuts down cleanly and removes the endpoints file.
    """
    from duelctl.commands.up import run_up

    check_port(port, "--port")
    check_port(http_port, "--http-port")
    check_clock(clock)
    spec = check_faults(faults, faults_seed)
    code = run_up(
        port=port,
        http_port=http_port,
        overrides=list(parameter_overrides or []),
        template=template,
        reload=reload,
        verbose=verbose,
        clock=clock,
        faults=spec,
        faults_seed=faults_seed,
    )
    if code:
        raise typer.Exit(code)


# -- token ------------------------------------------------------------------------------------


@app.command(
    epilog=examples(
        "duelctl token alice",
        'npx wscat -c "$(jq -r .websocket_url .duelctl/local.json)?token=$(duelctl token alice)"',
        "DUELCTL_PASSWORD=... duelctl token alice --target prod",
    )
)
@guard
def token(
    user: Annotated[str, typer.Argument(metavar="USER", help="Username.")],
    target: TargetOpt = "local",
    password: PasswordOpt = None,
    endpoints: EndpointsOpt = None,
) -> None:
    """Print one line: a fresh JWT (ID token) for USER.

    On a local stack the user is created on first use. On a stage, USER signs in with
    --password (or DUELCTL_PASSWORD); a missing user is created when your AWS
    credentials allow it.
    """
    from duelctl.commands.token import run_token

    console.data(run_token(user, target=target, password=password, endpoints=endpoints))


# -- simulate -----------------------------------------------------------------------------------

ScenarioName = Enum(  # type: ignore[misc]
    "ScenarioName", {n.replace("-", "_"): n for n in (*SCENARIO_NAMES, "all")}, type=str
)


@app.command(
    epilog=examples(
        "duelctl simulate alice bob",
        "duelctl simulate alice bob --scenario all",
        "duelctl simulate alice bob --scenario timeout --json | jq .passed",
        "DUELCTL_PASSWORD=... duelctl simulate alice bob --target staging",
    )
)
@guard
def simulate(
    alice: Annotated[str, typer.Argument(metavar="ALICE", help="The inviting user.")],
    bob: Annotated[str, typer.Argument(metavar="BOB", help="The invited user.")],
    scenario: Annotated[
        ScenarioName,
        typer.Option("--scenario", "-s", help="Which flow to play."),
    ] = ScenarioName("accept-stop"),  # noqa: B008
    target: TargetOpt = "local",
    endpoints: EndpointsOpt = None,
    json_out: JsonOpt = False,
    embedded: EmbeddedOpt = False,
    template: TemplateOpt = None,
    password: PasswordOpt = None,
    max_wait: MaxWaitOpt = 60.0,
    verbose: VerboseOpt = 0,
    clock: ClockOpt = None,
    faults: FaultsOpt = None,
    faults_seed: FaultsSeedOpt = None,
) -> None:
    """Play a duel between two real users over real WebSockets and show the timeline.

    Each step shows relative time, who sent what and what each user received; the
    verdict says whether every expectation held (exit 0) or not (exit 1). Without a
    running local stack, an embedded one with compressed timers (InviteTimeoutSeconds=5,
    DuelSeconds=5, StartLeadSeconds=1) is started and stopped afterwards; with
    [bold]--clock virtual[/] it keeps the template's timers and skips over every wait.
    """
    from duelctl.commands.scenarios import run_simulation
    from duelctl.scenario.play import PlayOptions

    if alice.lower() == bob.lower():
        raise UsageError("ALICE and BOB must be two different users")
    check_seconds(max_wait, "--max-wait")
    check_clock(clock)
    options = PlayOptions(
        target=target,
        endpoints_file=endpoints,
        embedded=embedded,
        template=template,
        password=password,
        max_wait_s=max_wait,
        verbose=verbose > 0,
        clock=clock,
        faults=check_faults(faults, faults_seed),
        faults_seed=faults_seed,
    )
    code = run_simulation(alice, bob, scenario.value, options=options, as_json=json_out)
    raise typer.Exit(code)


# -- run ----------------------------------------------------------------------------------------

RUN_EPILOG = (
    examples(
        "duelctl run examples/",
        "duelctl run examples/accept_stop.yaml -v",
        "duelctl run examples/ --embedded --junit test-artifacts/scenarios.xml",
        "duelctl run smoke.yaml --target staging --json",
    )
    + "\n\n[bold]Scenario format[/] (README, 'Scenario files')\n\n"
    + "\n\n".join(
        "  " + escape(line)
        for line in (
            "users: [alice, bob]   offline: [carol]   parameters: {DuelSeconds: 5}   timeout: 3s",
            "steps:",
            "  - alice: invite bob        (also: accept, reject, stop, ping, state, send TEXT)",
            "  - expect bob: invite from=$alice as inv",
            "  - expect alice, bob: start same=startAt,endsAt within 2s",
            "  - expect alice: error self_invite",
            "  - expect nothing for bob within 1s",
            "  - wait until endsAt        (also: wait 1.5s)",
            "  - connect alice#2 / disconnect alice / connect alice#x token=garbage status=401",
        )
    )
)


@app.command(epilog=RUN_EPILOG)
@guard
def run(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="FILE_OR_DIR...", help="Scenario files, or directories of them."),
    ],
    target: TargetOpt = "local",
    endpoints: EndpointsOpt = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", help="Write a JUnit XML report (one testcase per scenario).", dir_okay=False
        ),
    ] = None,
    json_out: JsonOpt = False,
    embedded: EmbeddedOpt = False,
    template: TemplateOpt = None,
    password: PasswordOpt = None,
    max_wait: MaxWaitOpt = 60.0,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Show every timeline.")
    ] = 0,
    clock: ClockOpt = None,
    faults: FaultsOpt = None,
    faults_seed: FaultsSeedOpt = None,
) -> None:
    """Run scenario YAML files: users, actions and expectations, checked step by step.

    Every file is validated first (a bad one: one line with file:line, exit 2). A failed
    expectation prints its file:line with expected vs received, and the timeline.
    Without a running local stack, an embedded one is started per parameter set (the
    files' `parameters:` over compressed timers; with [bold]--clock virtual[/] over the
    template's own, and waits cost no time). Users get a fresh suffix per run
    (alice -> alice-3f9a2c), so runs never collide.
    """
    from duelctl.commands.scenarios import run_files
    from duelctl.scenario.play import PlayOptions

    check_seconds(max_wait, "--max-wait")
    check_clock(clock)
    options = PlayOptions(
        target=target,
        endpoints_file=endpoints,
        embedded=embedded,
        template=template,
        password=password,
        max_wait_s=max_wait,
        verbose=verbose > 0,
        clock=clock,
        faults=check_faults(faults, faults_seed),
        faults_seed=faults_seed,
    )
    raise typer.Exit(run_files(paths, options=options, as_json=json_out, junit=junit))


# -- online -------------------------------------------------------------------------------------


@app.command(
    epilog=examples(
        "duelctl online",
        "duelctl online --json | jq -r '.users[].username'",
        "DUELCTL_PASSWORD=... duelctl online --target prod --as alice",
    )
)
@guard
def online(
    target: TargetOpt = "local",
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Who asks (default: env DUELCTL_USER; locally 'duelctl')."),
    ] = None,
    json_out: JsonOpt = False,
    endpoints: EndpointsOpt = None,
    password: PasswordOpt = None,
) -> None:
    """List the users online (GET /online with a Bearer token), as a table or JSON."""
    import json

    from duelctl.commands.online import online_table, run_online

    users = run_online(target=target, as_user=as_user, password=password, endpoints=endpoints)
    if json_out:
        console.data(json.dumps({"users": users}, indent=2))
    elif not users:
        console.info("nobody else is online")
    else:
        console.out.print(online_table(users))


# -- connect ------------------------------------------------------------------------------------


@app.command(
    epilog=examples(
        "duelctl connect alice",
        "printf 'ping\\nstate\\n' | duelctl connect alice",
        "DUELCTL_PASSWORD=... duelctl connect alice --target prod",
    )
)
@guard
def connect(
    user: Annotated[str, typer.Argument(metavar="USER", help="Connect as this user.")],
    target: TargetOpt = "local",
    endpoints: EndpointsOpt = None,
    password: PasswordOpt = None,
) -> None:
    """Open an interactive WebSocket client as USER (like wscat, but it knows the actions).

    Type [bold]invite bob[/], [bold]accept[/], [bold]reject[/], [bold]stop[/],
    [bold]ping[/], [bold]state[/], [bold]online[/] or raw JSON; incoming frames print as
    they arrive, and a countdown runs during a duel. [bold]help[/] lists commands.
    """
    import asyncio

    from duelctl.client.auth import CognitoTokens
    from duelctl.commands.connect import Interactive
    from duelctl.targets import resolve_target

    resolved = resolve_target(target, endpoints)
    tokens = CognitoTokens(resolved.endpoints, password=password)
    raise typer.Exit(asyncio.run(Interactive(resolved.endpoints, tokens, user).run()))


def _register_extras() -> None:
    """deploy/destroy, bench and schedule live in their own modules; they import
    duelctl.cli lazily."""
    from duelctl.commands import bench, clock, deploy, schedule

    deploy.register(app)
    bench.register(app)
    schedule.register(app)
    clock.register(app)


_register_extras()


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


if __name__ == "__main__":
    main()
