"""Test against a real local stack: `duelctl up` in its own process, and users signed in to it.

For this project's tests, its bench scripts, and your own app's test suite (README,
"Testing your app"):

    import pytest
    from duelctl.testing import local_stack, sign_in

    @pytest.fixture(scope="session")
    def stack(tmp_path_factory):
        with local_stack(tmp_path_factory.mktemp("stack"), template="template.yaml") as s:
            yield s

    def test_a_user_gets_a_token(stack):
        alice = sign_in(stack.endpoints, "alice")
        assert alice.user_id and alice.token

The stack runs the way a user runs it, as its own process: moto keeps its state per
process, so tests that use moto's in-process `mock_aws` cannot reset the stack's tables
under it, and the stack's CPU is not the test's. It is ready when `.duelctl/local.json`
exists (written atomically, last: docs/protocol.md).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duelctl.child import child_env, stop, wait_for_file
from duelctl.client.auth import CognitoTokens, Identity
from duelctl.errors import StackStartError
from duelctl_endpoints import Endpoints

STARTUP_TIMEOUT_S = 60.0
LOG_NAME = "up.log"  # in the working directory: everything `duelctl up` printed


@dataclass(frozen=True)
class LocalStack:
    """A running `duelctl up`: its process, working directory and endpoints."""

    proc: subprocess.Popen[bytes]
    workdir: Path
    endpoints: Endpoints
    data: dict[str, Any]  # the endpoints file as written (keys a reader may not model)
    spawned_at: float  # time.perf_counter() just before the process started
    endpoints_after_s: float  # spawn -> endpoints file written (the stack accepts)

    def log(self) -> str:
        """Everything `duelctl up` wrote so far (stdout and stderr)."""
        return (self.workdir / LOG_NAME).read_text(encoding="utf-8", errors="replace")

    def stop(self, signal_number: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Stop the stack (SIGTERM, or SIGINT as Ctrl-C would); its exit status."""
        return stop(self.proc, signal_number=signal_number, timeout_s=timeout_s)


def up_command(
    template: str | Path | None = None,
    parameters: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> list[str]:
    """`duelctl up` on free ports, as argv for this interpreter."""
    command = [sys.executable, "-m", "duelctl", "up", "--port", "0", "--http-port", "0"]
    if template is not None:
        command += ["--template", str(template)]
    command += list(args)
    if parameters:
        command += ["--parameter-overrides", *(f"{k}={v}" for k, v in parameters.items())]
    return command


def start_stack(
    workdir: str | Path,
    *,
    template: str | Path | None = None,
    parameters: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> LocalStack:
    """Run `duelctl up` in `workdir` (free ports; `args` are more of its options) and
    return once it accepts connections; StackStartError, with its log, if it does not.

    The stack keeps its CA certificates under `workdir`, never in your cache.
    """
    workdir = Path(workdir).resolve()
    environment = child_env(env)
    environment["XDG_CACHE_HOME"] = str(workdir / "cache")
    endpoints_file = workdir / ".duelctl" / "local.json"
    with (workdir / LOG_NAME).open("wb") as log:
        spawned = time.perf_counter()
        proc = subprocess.Popen(
            up_command(template, parameters, args),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    if not wait_for_file(proc, endpoints_file, timeout_s=timeout_s):
        why = f"exited with {proc.returncode}" if proc.poll() is not None else "timed out"
        stop(proc, timeout_s=10)
        log_text = (workdir / LOG_NAME).read_text(errors="replace")
        raise StackStartError(f"duelctl up {why} before writing {endpoints_file}:\n{log_text}")
    data = json.loads(endpoints_file.read_text())
    return LocalStack(
        proc=proc,
        workdir=workdir,
        endpoints=Endpoints.from_json(data),
        data=data,
        spawned_at=spawned,
        endpoints_after_s=time.perf_counter() - spawned,
    )


@contextlib.contextmanager
def local_stack(
    workdir: str | Path | None = None,
    *,
    stop_signal: int = signal.SIGTERM,
    **options: Any,
) -> Iterator[LocalStack]:
    """`start_stack` for a `with` block (in a scratch directory when `workdir` is None);
    the stack is stopped when the block ends. `options` are start_stack's."""
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="duelctl-up-"))
        stack = start_stack(workdir, **options)
        try:
            yield stack
        finally:
            stack.stop(stop_signal)


def sign_in(endpoints: Endpoints, username: str) -> Identity:
    """A fresh token for `username` on a local stack (created on first use, as the web
    client and `duelctl token` do): `.token`, `.user_id` (the `sub`), `.username`."""
    return CognitoTokens(endpoints).signed_in(username)


__all__ = ["LocalStack", "local_stack", "sign_in", "start_stack", "up_command"]
