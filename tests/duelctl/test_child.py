"""duelctl.child: wait for a child's ready file, and stop it whichever way it listens."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from duelctl.child import child_env, stop, wait_for_file

WRITES_THEN_WAITS = """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
pathlib.Path(sys.argv[1]).write_text("{}")
if sys.argv[2] == "stdin":
    sys.stdin.read()  # ends when the parent closes its end
    sys.exit(4)
time.sleep(60)
"""


def spawn(ready: Path, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITES_THEN_WAITS, str(ready), mode], stdin=subprocess.PIPE
    )


def test_the_file_means_ready_and_a_signal_stops_the_child(tmp_path: Path) -> None:
    proc = spawn(tmp_path / "ready.json", "signal")
    assert wait_for_file(proc, tmp_path / "ready.json", timeout_s=30)
    assert stop(proc, signal_number=signal.SIGTERM, timeout_s=30) == 3


def test_a_child_told_by_stdin_is_stopped_by_closing_it(tmp_path: Path) -> None:
    proc = spawn(tmp_path / "ready.json", "stdin")
    assert wait_for_file(proc, tmp_path / "ready.json", timeout_s=30)
    assert stop(proc, signal_number=None, timeout_s=30) == 4


def test_a_child_that_dies_first_is_not_waited_for(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    assert not wait_for_file(proc, tmp_path / "never.json", timeout_s=30)
    assert proc.returncode == 2


def test_the_child_can_import_this_duelctl() -> None:
    env = child_env({"PATH": "/usr/bin:/bin"})
    probe = subprocess.run(
        [sys.executable, "-c", "import duelctl, duelctl_endpoints; print(duelctl.__file__)"],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).parent == Path(__file__).resolve().parents[2] / "duelctl"
