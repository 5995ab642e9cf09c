"""An embedded stack for `duelctl bench`, run in a child process.

`simulate` and `run` start their embedded stack in a thread of their own process. The
bench cannot: the stack would share the client's interpreter lock and its CPU time, so
latencies would measure the two fighting and `client_cpu` would count the stack. Here
the stack is `python -m duelctl.bench.stack ...`, which runs the same `Emulator`, writes
its endpoints to a file once it accepts connections, and ends when its stdin closes
(the parent exited or finished), so it can never outlive the bench.

Logging in the child stays at WARNING (one line per invocation would cost the stack
CPU during the run); warnings and errors go to its stderr, which the parent keeps in a
file and shows when the stack fails to start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duelctl.child import child_env, stop, wait_for_file
from duelctl.errors import StackStartError
from duelctl_endpoints import Endpoints

STARTUP_TIMEOUT_S = 60.0
ERROR_PREFIX = "error: "  # the child's last line when it knows why it could not start


@dataclass(frozen=True, slots=True)
class ChildStack:
    """A running embedded stack: its endpoints, parameters, pid and start-up time."""

    endpoints: Endpoints
    parameters: dict[str, str]
    pid: int
    spawned_at: float  # time.perf_counter() just before the process was started
    endpoints_after_s: float  # spawn -> endpoints file written (the stack accepts)


@contextlib.contextmanager
def child_stack(
    parameters: Mapping[str, str], template: Path, *, timeout_s: float = STARTUP_TIMEOUT_S
) -> Iterator[ChildStack]:
    """Start the stack in a child process; yield once it accepts; stop it afterwards."""
    with tempfile.TemporaryDirectory(prefix="duelctl-bench-") as tmp:
        ready = Path(tmp) / "endpoints.json"
        log_path = Path(tmp) / "stack.log"
        args = [sys.executable, "-m", "duelctl.bench.stack", "--template", str(template)]
        args += ["--ready-file", str(ready)]
        for key, value in parameters.items():
            args += ["--parameter", f"{key}={value}"]
        with log_path.open("wb") as log:
            spawned = time.perf_counter()
            proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=log, stderr=log, env=child_env(), cwd=tmp
            )
        try:
            info = _wait_ready(proc, ready, log_path, timeout_s)
            yield ChildStack(
                endpoints=Endpoints.from_json(info["endpoints"]),
                parameters={str(k): str(v) for k, v in info["parameters"].items()},
                pid=proc.pid,
                spawned_at=spawned,
                endpoints_after_s=time.perf_counter() - spawned,
            )
        finally:
            stop(proc, signal_number=None, timeout_s=20)  # stdin closed: the child's signal


def _wait_ready(
    proc: subprocess.Popen[bytes], ready: Path, log_path: Path, timeout_s: float
) -> dict[str, Any]:
    if wait_for_file(proc, ready, timeout_s=timeout_s):
        data: dict[str, Any] = json.loads(ready.read_text())
        return data
    lines = log_path.read_text(errors="replace").strip().splitlines()
    why = "exited" if proc.poll() is not None else "did not start in time"
    if lines and lines[-1].startswith(ERROR_PREFIX):  # the child's own diagnosis
        raise StackStartError(f"the embedded stack {why}: {lines[-1][len(ERROR_PREFIX) :]}")
    tail = lines[-15:]
    raise StackStartError(f"the embedded stack {why}" + (":\n" + "\n".join(tail) if tail else ""))


# ---------------------------------------------------------------------- the child side


async def _serve(template_path: Path, overrides: dict[str, str], ready_file: Path) -> None:
    from emulator.runtime import Emulator, EmulatorOptions
    from emulator.template.load import load_template

    template = load_template(template_path, overrides)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def stdin_readable() -> None:
        try:
            data = os.read(sys.stdin.fileno(), 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(sys.stdin.fileno())
            stop.set()

    options = EmulatorOptions(port=0, http_port=0, reload=False)
    async with Emulator(template, options=options) as emu:
        info = {
            "endpoints": emu.endpoints.to_json(),
            "parameters": {str(k): str(v) for k, v in template.parameters.items()},
            "pid": os.getpid(),
            "ready_after_s": emu.ready_after_s,
        }
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(ready_file)  # the parent never reads half a file
        loop.add_reader(sys.stdin.fileno(), stdin_readable)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m duelctl.bench.stack")
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--parameter", action="append", default=[])
    args = parser.parse_args(argv)
    overrides = dict(p.split("=", 1) for p in args.parameter)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("emulator")
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    root.propagate = False
    from emulator.template.errors import TemplateError

    try:
        asyncio.run(_serve(args.template, overrides, args.ready_file))
    except (TemplateError, OSError) as exc:
        # A known failure (unreadable template, a port or file problem): one line for
        # the parent to show, not a traceback.
        sys.stderr.write(f"{ERROR_PREFIX}{exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
