"""`duelctl up`: the command line of the local stack (its work is duelctl/serve.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from duelctl.app import SpreadOverrides, examples, guard
from duelctl.options import (
    FaultsOpt,
    FaultsSeedOpt,
    TemplateOpt,
    UpClockOpt,
    check_clock,
    check_faults,
    check_port,
)


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
    from duelctl.serve import run_up

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


def register(app: typer.Typer) -> None:
    """Add `duelctl up` to `app`."""
    app.command(
        cls=SpreadOverrides,
        epilog=examples(
            "duelctl up",
            "duelctl up --port 8787 --parameter-overrides DuelSeconds=30 InviteTimeoutSeconds=10",
            "duelctl up --parameter-overrides 'DuelSeconds=5 StartLeadSeconds=1' -v",
            "duelctl up --template ./my-template.yaml --no-reload",
        ),
    )(guard(up))
