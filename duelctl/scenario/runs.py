"""What `duelctl run` and `duelctl simulate` do: play scenarios, show timelines, and answer
the exit code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from duelctl import console
from duelctl.scenario.builtin import builtin_scenarios
from duelctl.scenario.engine import Result
from duelctl.scenario.junit import write_junit
from duelctl.scenario.model import Scenario
from duelctl.scenario.parse import collect_files, load_scenarios
from duelctl.scenario.play import PlayOptions, UserMap, isolated_users, play_all
from duelctl.scenario.render import render_result, render_summary


def load_all(paths: Sequence[Path]) -> list[Scenario]:
    """Parse every file first: a bad file stops the run before any stack starts."""
    scenarios: list[Scenario] = []
    for path in collect_files(paths):
        scenarios.extend(load_scenarios(path))
    return scenarios


def _play_and_report(
    scenarios: list[Scenario],
    *,
    users: UserMap,
    options: PlayOptions,
    as_json: bool,
    always_timeline: bool,
    junit: Path | None,
    real_names: bool = False,
) -> int:
    human = console.err if as_json else console.out

    def on_result(result: Result) -> None:
        show = always_timeline or not result.passed
        render_result(human, result, timeline=show, real_names=real_names)

    results = play_all(scenarios, users=users, options=options, on_result=on_result)
    if len(results) > 1:
        render_summary(human, results)
    if junit is not None:
        write_junit(junit, results)
        console.info(f"JUnit report: {junit}")
    if as_json:
        payload = {
            "passed": all(r.passed for r in results),
            "scenarios": [r.to_json() for r in results],
        }
        console.data(json.dumps(payload, indent=2))
    return 0 if all(r.passed for r in results) else 1


def run_files(
    paths: Sequence[Path], *, options: PlayOptions, as_json: bool, junit: Path | None
) -> int:
    scenarios = load_all(paths)
    return _play_and_report(
        scenarios,
        users=isolated_users,
        options=options,
        as_json=as_json,
        always_timeline=options.verbose,
        junit=junit,
    )


def run_simulation(
    alice: str, bob: str, scenario: str, *, options: PlayOptions, as_json: bool
) -> int:
    scenarios = builtin_scenarios(scenario)

    def users(_: Scenario) -> dict[str, str]:
        return {"alice": alice, "bob": bob}

    return _play_and_report(
        scenarios,
        users=users,
        options=options,
        as_json=as_json,
        always_timeline=True,
        junit=None,
        real_names=True,
    )
