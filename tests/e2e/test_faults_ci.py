"""Every example scenario under each fault, and under all of them at once, with the duel's
invariants checked after every run (issue 14, "Done when").

One embedded stack per fault spec and seed, on a virtual clock with the template's own
timers: a 10-minute duel, a 60 s visibility timeout or the 300 s TTL backstop cost no
real time, so a run can wait until everything it started has ended. Scenarios may fail
under a fault (a crashed route answers `Internal server error`, as on AWS); the
invariants must hold whatever happened. More seeds: `DUELCTL_FAULT_SEEDS=1,2,3,4`.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from duelctl.scenario.audit import Audit, play_audited
from duelctl.scenario.parse import collect_files, load_scenarios
from duelctl.scenario.play import isolated_users
from duelctl.stack import embedded_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EACH = (
    "sqs-duplicate=0.5",
    "sqs-delay=5s",
    "sqs-reorder=2s",
    "stream-duplicate=0.5",
    "gone-window=100ms",
    "drop-disconnect=0.5",
    "ddb-throttle=0.05",
    "lambda-crash=0.1",
    "lambda-timeout=0.1",
)
ALL = ",".join(
    (
        "sqs-duplicate=0.3",
        "sqs-delay=3s",
        "sqs-reorder=1s",
        "stream-duplicate=0.3",
        "gone-window=100ms",
        "drop-disconnect=0.3",
        "ddb-throttle=0.03",
        "lambda-crash=0.05",
        "lambda-timeout=0.05",
    )
)
SEEDS = tuple(int(s) for s in os.environ.get("DUELCTL_FAULT_SEEDS", "1,2").split(","))
# Faults that every pass over the examples makes fire (the others need rarer paths:
# a post to a tab still connecting, a stream record that passes the backstop's filter).
MUST_FIRE = {
    "sqs-duplicate",
    "sqs-delay",
    "sqs-reorder",
    "drop-disconnect",
    "ddb-throttle",
    "lambda-crash",
    "lambda-timeout",
}

CASES = [pytest.param(spec, 1, id=spec.split("=")[0]) for spec in EACH] + [
    pytest.param(ALL, seed, id=f"all-seed{seed}") for seed in SEEDS
]


def examples() -> list[Any]:
    return [s for f in collect_files([ROOT / "examples"]) for s in load_scenarios(f)]


def counts(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, int] = json.loads(response.read())["counts"]
    return data


@pytest.mark.parametrize(("spec", "seed"), CASES)
def test_the_invariants_hold_under_faults(spec: str, seed: int) -> None:
    scenarios = examples()
    with embedded_stack({}, None, clock="virtual", faults=spec, faults_seed=seed) as target:
        audits: list[Audit] = asyncio.run(play_audited(scenarios, target, users=isolated_users))
        assert target.endpoints.faults is not None
        fired = counts(target.endpoints.faults["url"])
    assert len(audits) == len(scenarios)
    broken = [a for a in audits if not a.ok]
    report = "\n\n".join(a.render() for a in broken)
    assert not broken, f"faults {spec} (seed {seed}), fired {fired}:\n{report}"
    if "," not in spec:
        for name in set(fired) & MUST_FIRE:
            assert fired[name] > 0, f"{name} never fired over the examples: {fired}"
