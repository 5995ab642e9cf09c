"""Shared fixtures: one real local stack per test run (style.md §10).

The stack is the real thing: moto server, the WebSocket gateway on a real socket,
handler subprocesses, pollers. Timers are compressed through template parameters, the
way `duelctl up --parameter-overrides` does it.
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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One emulator for the whole run, with compressed timers."""
    from emulator.template.load import load_template

    from emulator.runtime import EmulatorOptions, run_in_thread

    options = EmulatorOptions(
        state_dir=tmp_path_factory.mktemp("state"), ttl_interval_s=0.2, prewarm=True
    )
    with run_in_thread(load_template(TEMPLATE, FAST_PARAMS), options=options) as endpoints:
        yield endpoints
