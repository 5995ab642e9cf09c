"""What the bench scripts share: start `duelctl up`, run `duelctl bench`, describe the machine.

Every script measures the stack the way a developer runs it: `duelctl up` as its own
process in a scratch directory (so it never touches a `.duelctl/` of yours), loaded by
`duelctl bench` as another process, both on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the scripts import duelctl from this checkout
    sys.path.insert(0, str(ROOT))

from duelctl.testing import LocalStack, local_stack  # noqa: E402

CLI = [sys.executable, str(ROOT / "bench" / "duelctl_cli.py")]
RESULTS = ROOT / "bench" / "results"
# Short timers so timer kinds fit in a bench run (the template's MinValues are 1, 1, 0).
FAST = {"InviteTimeoutSeconds": "2", "DuelSeconds": "5", "StartLeadSeconds": "1"}


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory and Python: what the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_gb = round(int(first.split()[1]) / 1024 / 1024, 1)
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


@contextlib.contextmanager
def duelctl_up(
    params: Mapping[str, str] = FAST, extra: Sequence[str] = (), timeout_s: float = 60.0
) -> Iterator[LocalStack]:
    """`duelctl up` in a scratch directory; yields once `.duelctl/local.json` exists."""
    env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "200")}
    args = ["--no-reload", *extra]
    with local_stack(parameters=params, args=args, env=env, timeout_s=timeout_s) as up:
        yield up


def run_bench(workdir: Path, args: Sequence[str], timeout_s: float = 900.0) -> dict[str, Any]:
    """`duelctl bench ARGS --json` against the stack whose endpoints are in `workdir`."""
    done = subprocess.run(
        [*CLI, "bench", *args, "--json"],
        cwd=workdir,
        capture_output=True,
        timeout=timeout_s,
        env={**os.environ, "COLUMNS": "160"},
    )
    sys.stderr.write(done.stderr.decode(errors="replace"))
    if not done.stdout.strip():
        raise RuntimeError(f"duelctl bench printed no JSON (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout)
    result["exit_code"] = done.returncode
    return result


def save(name: str, data: Mapping[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with the machine and a timestamp."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
    }
    payload.update(data)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
