"""A stack in a child process that says it is ready by writing a file.

`duelctl up` writes `.duelctl/local.json` once it accepts connections, and the bench's
child stack (duelctl/bench/stack.py) writes its ready file the same way: atomically,
last. So starting one is the same three steps whoever does it (tests, the bench, the
bench scripts, users' own test suites through duelctl.testing): spawn it so it can
import duelctl, wait until the file exists (or the child dies, or time runs out), and
stop it without leaving it behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import site
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

POLL_S = 0.005  # how often a waiting parent looks for the file (start-up is timed by it)


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this environment) with PYTHONPATH set so the child imports this
    duelctl.

    From a checkout run without an install (`python bench/...`) duelctl is importable only
    through this process's sys.path, so the child gets the checkout on PYTHONPATH. An
    installed duelctl lives in site-packages, which the child finds anyway; putting
    site-packages on PYTHONPATH would place it before the standard library, so it is
    left alone.
    """
    env = dict(os.environ if base is None else base)
    root = Path(__file__).resolve().parents[1]
    installed = [*site.getsitepackages(), site.getusersitepackages()]
    if not any(Path(d).resolve() == root for d in installed if d):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return env


def wait_for_file(
    proc: subprocess.Popen[bytes], path: Path, *, timeout_s: float, poll_s: float = POLL_S
) -> bool:
    """Block until `path` exists: True; False once the child has exited or `timeout_s`
    passed without it (the caller says why, from the child's log)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            return path.exists()
        time.sleep(poll_s)
    return True


def stop(
    proc: subprocess.Popen[bytes],
    *,
    signal_number: int | None = signal.SIGTERM,
    timeout_s: float = 30.0,
) -> int:
    """Ask the child to end (a signal, or closing its stdin when `signal_number` is None),
    wait `timeout_s`, then kill it; its exit status."""
    if proc.poll() is None:
        if signal_number is None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        else:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal_number)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


__all__ = ["POLL_S", "child_env", "stop", "wait_for_file"]
