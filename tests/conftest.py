"""Shared fixtures: one real local stack per test run (style.md §10), and the test tiers.

The stack is the real thing, started the way users start it: `duelctl up` as its own
process (moto server, the WebSocket gateway on a real socket, handler subprocesses,
pollers), through duelctl.testing like any app's test suite would. Timers are compressed
with --parameter-overrides, as a user would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
FAST_PARAMS = {
    "InviteTimeoutSeconds": "2",
    "DuelSeconds": "4",
    "StartLeadSeconds": "1",
    "ConnectionTtlSeconds": "3600",
}

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from duelctl.testing import local_stack  # noqa: E402 (needs the checkout on sys.path)
from duelctl_endpoints import Endpoints  # noqa: E402

# Test tiers (pyproject's markers): every test that starts one of the slow parts carries
# its tier's marker and `slow`, so `pytest -m "not slow"` runs the pure tiers only (README,
# "Set up"). A tier is found from the fixture that starts the part, named with the file that
# defines it (several test dirs have a `stack` of their own), or from where the test lives;
# a file that mixes tiers marks its tests itself (`@pytest.mark.process_runner`, ...).
TESTS = Path(__file__).resolve().parent
TIERS = ("e2e", "browser", "bench", "process_runner", "moto_child")
TIER_FIXTURES = {
    ("conftest.py", "stack"): "e2e",  # `duelctl up` for the whole run
    ("web/conftest.py", "web_stack"): "browser",
    ("emulator/runner/conftest.py", "make_runner"): "process_runner",
    ("emulator/services/conftest.py", "moto"): "moto_child",  # MotoServer() forks children
}
TIER_PATHS = {
    "e2e/": "e2e",
    "web/": "browser",
    "emulator/services/test_moto_server.py": "moto_child",
    "emulator/services/test_moto_answers.py": "moto_child",
    "emulator/services/test_moto_clock.py": "moto_child",
}


def _tiers(item: pytest.Item) -> set[str]:
    """The tiers of one collected test: its own markers, its fixtures', its path's."""
    found = {tier for tier in TIERS if item.get_closest_marker(tier) is not None}
    where = item.path.resolve().relative_to(TESTS).as_posix()
    found |= {tier for prefix, tier in TIER_PATHS.items() if where.startswith(prefix)}
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs if info is not None else {}
    for name, defs in definitions.items():
        source = Path(defs[-1].func.__code__.co_filename).resolve()
        if source.is_relative_to(TESTS):
            tier = TIER_FIXTURES.get((source.relative_to(TESTS).as_posix(), name))
            found |= {tier} if tier else set()
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tiers, and every test of a tier `slow`."""
    for item in items:
        tiers = _tiers(item)
        for tier in sorted(tiers - {m.name for m in item.iter_markers()}):
            item.add_marker(tier)
        if tiers and item.get_closest_marker("slow") is None:
            item.add_marker("slow")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """One emulator for the whole run, with compressed timers: its endpoints."""
    workdir = tmp_path_factory.mktemp("stack")
    with local_stack(workdir, template=TEMPLATE, parameters=FAST_PARAMS) as running:
        yield running.endpoints
