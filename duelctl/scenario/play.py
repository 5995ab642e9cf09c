"""Run parsed scenarios against the right stack: running, or embedded per parameter set.

Shared by `duelctl run` and `duelctl simulate`. Scenarios run one after another; with
an embedded stack, scenarios that want the same parameters and clock share one stack.

The clock (README, "Virtual time"): an embedded stack runs virtual time when `--clock
virtual` is given or the scenario says `clock: virtual`; it then keeps the template's
own timers (60 s invites, 10 min duels) unless the scenario names others, because a
wait costs nothing there. A real-clock embedded stack gets compressed timers. A running
stack's clock is the one `duelctl up --clock` chose; `--clock` must agree with it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from duelctl import console
from duelctl.client.auth import CognitoTokens
from duelctl.errors import UsageError
from duelctl.scenario.clock import RealTime, StackTime, VirtualTime
from duelctl.scenario.engine import Result, ScenarioRunner, parameter_notes
from duelctl.scenario.model import Scenario
from duelctl.stack import (
    FAST_PARAMETERS,
    check_scenario_parameters,
    embedded_stack,
    running_target,
    wants_embedded,
)
from duelctl.targets import Target

UserMap = Callable[[Scenario], Mapping[str, str]]


def isolated_users(scenario: Scenario) -> dict[str, str]:
    """Fresh real usernames per run (`alice` -> `alice-3f9a2c`), so runs never collide."""
    suffix = secrets.token_hex(3)
    return {u: f"{u}-{suffix}" for u in scenario.all_users}


@dataclass(frozen=True, slots=True)
class PlayOptions:
    target: str = "local"
    endpoints_file: Path | None = None
    embedded: bool = False
    template: Path | None = None
    password: str | None = None
    max_wait_s: float = 60.0
    verbose: bool = False
    clock: str | None = None  # "real" | "virtual"; None: the scenario's, else real
    faults: str | None = None  # fault mode SPEC (canonical); None: the scenario's `faults:`
    faults_seed: int | None = None  # None: a random seed per embedded stack, printed


def embedded_clock(scenario: Scenario, options: PlayOptions) -> str:
    """The clock of an embedded stack for `scenario`: --clock, else its `clock:`, else real."""
    return options.clock or scenario.clock or "real"


def embedded_faults(scenario: Scenario, options: PlayOptions) -> str | None:
    """The fault mode of an embedded stack for `scenario`: --faults, else its `faults:`."""
    return options.faults or scenario.faults


def embedded_parameters(scenario: Scenario, clock: str = "real") -> dict[str, str]:
    """What an embedded stack for `scenario` runs with: its own parameters over fast
    timers on a real clock, over the template's defaults on a virtual one."""
    if clock == "virtual":
        return dict(scenario.parameters)
    return {**FAST_PARAMETERS, **scenario.parameters}


def fired_faults(target: Target) -> str:
    """`faults fired: ...` for a stack in fault mode, from its counts route."""
    import json
    import urllib.request

    faults = target.endpoints.faults or {}
    try:
        with urllib.request.urlopen(str(faults.get("url")), timeout=10) as response:
            counts = json.loads(response.read()).get("counts", {})
    except (OSError, ValueError) as exc:
        return f"fault counts unavailable: {exc}"
    fired = ", ".join(f"{name} {n}" for name, n in counts.items()) or "nothing (spec none)"
    return f"faults fired: {fired} ({faults.get('spec')}, seed {faults.get('seed')})"


def running_faults(target: Target) -> str | None:
    """The fault SPEC a running stack was started with (its endpoints file), else None."""
    faults = target.endpoints.faults
    spec = faults.get("spec") if isinstance(faults, dict) else None
    return spec if isinstance(spec, str) else None


def check_running_faults(target: Target, wanted: str | None) -> None:
    """--faults cannot change a running stack: it must match what `up --faults` chose."""
    if wanted is None or wanted == running_faults(target):
        return
    running = running_faults(target)
    raise UsageError(
        f"--faults {wanted}: the {target.name} stack runs "
        + (f"with faults {running}" if running else "without fault mode")
        + " (start it with `duelctl up --faults SPEC`, or use --embedded)"
    )


def target_clock(target: Target) -> str:
    """The clock a stack runs on, from its endpoints file (deployed stages: real)."""
    return target.endpoints.clock or "real"


def stack_time(target: Target) -> StackTime:
    """How a run against `target` waits: on its virtual clock's control API, or for real."""
    url = target.endpoints.clock_url
    if target_clock(target) == "virtual" and url:
        return VirtualTime(url)
    return RealTime()


async def play(
    scenarios: Sequence[Scenario],
    target: Target,
    *,
    users: UserMap,
    options: PlayOptions,
    on_result: Callable[[Result], None],
) -> list[Result]:
    """Play `scenarios` in order against `target`; call `on_result` after each."""
    tokens = CognitoTokens(target.endpoints, password=options.password)
    clock = stack_time(target)
    await clock.start()
    results = []
    try:
        for scenario in scenarios:
            runner = ScenarioRunner(
                scenario,
                target.endpoints,
                tokens,
                usernames=users(scenario),
                stack_parameters=target.parameters,
                max_wait_s=options.max_wait_s,
                stack_time=clock,
            )
            result = await runner.run()
            on_result(result)
            results.append(result)
    finally:
        await clock.close()
    return results


def play_all(
    scenarios: Sequence[Scenario],
    *,
    users: UserMap,
    options: PlayOptions,
    on_result: Callable[[Result], None],
) -> list[Result]:
    """Choose the stack(s) and play every scenario; results come back in input order."""
    if wants_embedded(options.target, options.endpoints_file, options.embedded):
        check_scenario_parameters(scenarios, options.template)  # blame the scenario's line
        groups: dict[tuple[str, tuple[tuple[str, str], ...], str | None], list[Scenario]] = {}
        for scenario in scenarios:
            clock = embedded_clock(scenario, options)
            params = tuple(sorted(embedded_parameters(scenario, clock).items()))
            groups.setdefault((clock, params, embedded_faults(scenario, options)), []).append(
                scenario
            )
        by_scenario: dict[int, Result] = {}
        for (clock, params, faults), group in groups.items():
            with embedded_stack(
                dict(params),
                options.template,
                verbose=options.verbose,
                clock=clock,
                faults=faults,
                faults_seed=options.faults_seed,
            ) as target:
                for result in asyncio.run(
                    play(group, target, users=users, options=options, on_result=on_result)
                ):
                    by_scenario[id(result.scenario)] = result
                if faults is not None:
                    console.info(fired_faults(target))
        return [by_scenario[id(s)] for s in scenarios]
    target = running_target(options.target, options.endpoints_file)
    check_running_faults(target, options.faults)
    running = target_clock(target)
    if options.clock is not None and options.clock != running:
        raise UsageError(
            f"--clock {options.clock}: the {target.name} stack runs on the {running} clock "
            + (
                "(start it with `duelctl up --clock virtual`, or use --embedded)"
                if options.clock == "virtual"
                else "(use --embedded for a real-clock stack)"
            )
        )
    warned: set[str] = set()
    for scenario in scenarios:
        notes = parameter_notes(scenario, target.parameters)
        if scenario.clock is not None and scenario.clock != running:
            notes.append(
                f"the stack runs on the {running} clock, this scenario wants {scenario.clock}"
            )
        if scenario.faults is not None and scenario.faults != running_faults(target):
            notes.append(
                f"the stack runs with faults {running_faults(target) or '(none)'}, this "
                f"scenario wants {scenario.faults}"
            )
        for note in notes:
            if note not in warned:
                warned.add(note)
                console.warn(f"{note} ({scenario.name}); timings may not match")
    return asyncio.run(play(scenarios, target, users=users, options=options, on_result=on_result))
