"""`duelctl run FILE_OR_DIR...`: scenario files, checked step by step (duelctl/scenario/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duelctl.app import examples, guard
from duelctl.options import (
    ClockOpt,
    EmbeddedOpt,
    EndpointsOpt,
    FaultsOpt,
    FaultsSeedOpt,
    JsonOpt,
    MaxWaitOpt,
    PasswordOpt,
    TargetOpt,
    TemplateOpt,
    check_clock,
    check_faults,
    check_seconds,
    escape,
)

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
    from duelctl.scenario.play import PlayOptions
    from duelctl.scenario.runs import run_files

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


def register(app: typer.Typer) -> None:
    """Add `duelctl run` to `app`."""
    app.command(epilog=RUN_EPILOG)(guard(run))
