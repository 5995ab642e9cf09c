"""Run parsed scenarios against the right stack: running, or embedded per parameter set.

Shared by `duelctl run` and `duelctl simulate`. Scenarios run one after another; with
an embedded stack, scenarios that want the same parameters share one stack.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from duelctl import console
from duelctl.client.auth import CognitoTokens
from duelctl.scenario.engine import Result, ScenarioRunner, parameter_notes
from duelctl.scenario.model import Scenario
from duelctl.stack import FAST_PARAMETERS, embedded_stack, running_target, wants_embedded
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


def embedded_parameters(scenario: Scenario) -> dict[str, str]:
    """What an embedded stack for `scenario` runs with: fast timers, then its own."""
    return {**FAST_PARAMETERS, **scenario.parameters}


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
    results = []
    for scenario in scenarios:
        runner = ScenarioRunner(
            scenario,
            target.endpoints,
            tokens,
            usernames=users(scenario),
            stack_parameters=target.parameters,
            max_wait_s=options.max_wait_s,
        )
        result = await runner.run()
        on_result(result)
        results.append(result)
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
        groups: dict[tuple[tuple[str, str], ...], list[Scenario]] = {}
        for scenario in scenarios:
            key = tuple(sorted(embedded_parameters(scenario).items()))
            groups.setdefault(key, []).append(scenario)
        by_scenario: dict[int, Result] = {}
        for key, group in groups.items():
            with embedded_stack(dict(key), options.template, verbose=options.verbose) as target:
                for result in asyncio.run(
                    play(group, target, users=users, options=options, on_result=on_result)
                ):
                    by_scenario[id(result.scenario)] = result
        return [by_scenario[id(s)] for s in scenarios]
    target = running_target(options.target, options.endpoints_file)
    warned: set[str] = set()
    for scenario in scenarios:
        for note in parameter_notes(scenario, target.parameters):
            if note not in warned:
                warned.add(note)
                console.warn(f"{note} ({scenario.name}); timings may not match")
    return asyncio.run(play(scenarios, target, users=users, options=options, on_result=on_result))
