"""`duelctl run examples/ --clock virtual`: every example on the template's own timers.

One embedded virtual stack (60 s invites, 10-minute duels, 3 s lead) plays the whole
examples directory as CI runs it; the duels and invites that run out take stack time,
not real time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_every_example_passes_on_a_virtual_clock_with_default_timers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUELCTL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(":")
    args = ["run", str(ROOT / "examples"), "--clock", "virtual", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "duelctl.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    failed = [line for line in proc.stderr.splitlines() if "FAIL" in line or "clock" in line]
    assert proc.returncode == 0, "\n".join([*failed, proc.stderr[-6000:]])
    payload = json.loads(proc.stdout)
    scenarios = payload["scenarios"]
    assert len(scenarios) >= 19 and payload["passed"]
    assert {s["clock"] for s in scenarios} == {"virtual"}
    assert "template defaults" in proc.stderr  # one embedded stack, no parameters named
    timeout = next(s for s in scenarios if s["name"] == "duel runs its full time")
    starts = [
        e["frame"]
        for e in timeout["timeline"]
        if isinstance(e.get("frame"), dict) and e["frame"].get("type") == "start"
    ]
    assert starts and all(f["durationSeconds"] == 600 for f in starts)
    assert timeout["duration_ms"] >= 600_000
