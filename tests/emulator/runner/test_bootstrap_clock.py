"""A worker follows a virtual stack's clock file before each invoke (bootstrap.py).

Run in a fresh interpreter, as a worker is: bootstrap.py loaded by path, the clock file
named in DUELCTL_CLOCK_FILE, the offset moved by the writer between two syncs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BOOTSTRAP = ROOT / "emulator" / "runner" / "bootstrap.py"

SCRIPT = """
import datetime, importlib.util, json, os, sys, time
from pathlib import Path
from emulator.timesync import ClockFile

clock = ClockFile(Path(sys.argv[2]))
clock.set_offset(3600.0)
os.environ["DUELCTL_CLOCK_FILE"] = sys.argv[2]
spec = importlib.util.spec_from_file_location("bootstrap_under_test", sys.argv[1])
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)

real0, mono0 = time.time(), time.monotonic()
def ahead():
    return time.time() - (real0 + time.monotonic() - mono0)

follow = bootstrap._clock_follower()
follow()
first = ahead()
clock.set_offset(7200.0)
follow()
second = ahead()
now = datetime.datetime.now(datetime.UTC).timestamp()
print(json.dumps({
    "first": first,
    "second": second,
    "datetime_ahead": now - (real0 + time.monotonic() - mono0),
    "env_left": "DUELCTL_CLOCK_FILE" in os.environ,
    "pytest_loaded": "pytest" in sys.modules,
}))
"""


def run(tmp_path: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(BOOTSTRAP), str(tmp_path / "offset")],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_a_worker_adopts_each_new_offset_and_hides_the_variable(tmp_path: Path) -> None:
    out = run(tmp_path)
    assert abs(float(out["first"]) - 3600) < 0.05  # type: ignore[arg-type]
    assert abs(float(out["second"]) - 7200) < 0.05  # type: ignore[arg-type]
    assert abs(float(out["datetime_ahead"]) - 7200) < 0.05  # type: ignore[arg-type]
    assert out["env_left"] is False  # the handler never sees which clock runs
    assert out["pytest_loaded"] is False  # time_machine's pytest import is skipped


def test_a_real_clock_worker_does_nothing(tmp_path: Path) -> None:
    """Without the variable no file is read and time_machine is never imported."""
    code = (
        "import importlib.util, sys; "
        "spec = importlib.util.spec_from_file_location('b', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
        "m._clock_follower()(); print('time_machine' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(BOOTSTRAP)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "False"
