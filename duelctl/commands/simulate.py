"""`duelctl simulate ALICE BOB`: a built-in duel between two real users (duelctl/scenario/)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from duelctl.app import examples, guard
from duelctl.errors import UsageError
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
)

# The built-in scenarios (duelctl/scenario/builtin.py), named here so that `--help` does
# not parse them; a test keeps the two lists equal.
SCENARIO_NAMES = ("accept-stop", "reject", "no-response", "timeout", "disconnect", "withdraw")

ScenarioName = Enum(  # type: ignore[misc]
    "ScenarioName", {n.replace("-", "_"): n for n in (*SCENARIO_NAMES, "all")}, type=str
)
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More output.")]


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
    from duelctl.scenario.play import PlayOptions
    from duelctl.scenario.runs import run_simulation

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


def register(app: typer.Typer) -> None:
    """Add `duelctl simulate` to `app`."""
    app.command(
        epilog=examples(
            "duelctl simulate alice bob",
            "duelctl simulate alice bob --scenario all",
            "duelctl simulate alice bob --scenario timeout --json | jq .passed",
            "DUELCTL_PASSWORD=... duelctl simulate alice bob --target staging",
        )
    )(guard(simulate))
