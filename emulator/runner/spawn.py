"""Starting a worker process: forked from the fork server when it can be, else fresh.

Either way the process is `bootstrap.py FD HANDLER CODE_ROOT ARN [HIDDEN_PATH...]` with
the function's environment, working directory and own process group (forkserver.py says
why a fork is indistinguishable); the caller gets a `Child` whose end it can await.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import site
import subprocess
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import emulator
from emulator.clock import Clock
from emulator.logs import SERVICE, emit
from emulator.runner.environment import function_environment
from emulator.runner.exits import wait_child
from emulator.runner.forkserver import ForkServer
from emulator.template.model import Function

BOOTSTRAP = str(Path(__file__).resolve().with_name("bootstrap.py"))


def _hidden_paths() -> list[str]:
    """The emulator's source root, unless it is a site-packages dir the handlers need too."""
    root = Path(emulator.__file__).resolve().parent.parent
    sites = {Path(p).resolve() for p in getattr(site, "getsitepackages", list)()}
    sites |= {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    return [] if root in sites else [str(root)]


HIDDEN_PATHS = _hidden_paths()


class Child(Protocol):
    """A started worker process."""

    pid: int

    async def wait(self) -> int:
        """Its exit status once it has ended (negative: killed by that signal)."""
        ...


class FreshProcess:
    """A worker started as a new interpreter (our own child)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid

    async def wait(self) -> int:
        return await wait_child(self.proc)


def kill_group(pid: int) -> None:
    """SIGKILL the worker's process group: the handler's own children go with it."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class Launcher:
    """Builds each worker's environment and starts its process; owns the fork server."""

    def __init__(
        self,
        *,
        python: str,
        region: str,
        account_id: str,
        extra_env: Mapping[str, str],
        clock: Clock,
        fork_server: bool,
    ) -> None:
        self.python = python
        self.region = region
        self.account_id = account_id
        self.extra_env = dict(extra_env)
        self.clock = clock
        self._use_fork_server = fork_server
        self._closed = False
        self.fork_server: ForkServer | None = None

    def start_fork_server(self) -> ForkServer | None:
        """The fork server, started on first use (needs the running loop); None if off."""
        if not self._use_fork_server or self._closed:
            return None
        if self.fork_server is None:
            self.fork_server = ForkServer(self.python)
            self.fork_server.start()
        return self.fork_server

    def environment(self, fn: Function) -> dict[str, str]:
        return function_environment(
            fn,
            region=self.region,
            account_id=self.account_id,
            extra_env=self.extra_env,
            now=self.clock.now(),
        )

    async def launch(self, fn: Function, channel_fd: int, output_fd: int) -> Child:
        """Start a worker for `fn` on the given channel and output pipe; OSError if none."""
        env = self.environment(fn)
        args = [fn.handler, str(fn.code_root), fn.arn, *HIDDEN_PATHS]
        server = self.start_fork_server()
        if server is not None and server.state == "starting":
            # A fork starts in milliseconds, a fresh interpreter importing boto3 takes
            # ~0.3 s of CPU: wait for the server (bounded by its own start timeout).
            await asyncio.shield(server.start())
        if server is not None and server.usable_for(fn.code_root, env):
            forked = await server.spawn(env, fn.code_root, args, (channel_fd, output_fd))
            if forked is not None:
                return forked
        return self._start_fresh(fn, env, args, channel_fd, output_fd)

    def _start_fresh(
        self, fn: Function, env: Mapping[str, str], args: list[str], channel_fd: int, output_fd: int
    ) -> FreshProcess:
        """A new interpreter: fork+exec (vfork), milliseconds, so it may run on the loop."""
        proc = subprocess.Popen(
            [self.python, "-u", BOOTSTRAP, str(channel_fd), *args],
            stdin=subprocess.DEVNULL,
            stdout=output_fd,
            stderr=output_fd,
            pass_fds=(channel_fd,),
            cwd=fn.code_root,
            env=env,
            # Own process group: Ctrl-C in the terminal is the emulator's to handle, and a
            # kill reaches whatever the handler started too.
            start_new_session=True,
        )
        return FreshProcess(proc)

    def forget_code_roots(self) -> None:
        if self.fork_server is not None:
            self.fork_server.forget_code_roots()

    async def aclose(self) -> None:
        """Stop the fork server and wait (bounded by the caller) until it is reaped."""
        self._closed = True
        server = self.fork_server
        if server is not None:
            server.close()
            await server.wait_closed()


def launch_failed(fn: Function, exc: Exception) -> str:
    """Log a worker that could not start; the reason its invoke reports."""
    emit(
        SERVICE,
        f"{fn.logical_id}: cannot start a worker: {exc}",
        level=logging.ERROR,
        function=fn.logical_id,
    )
    return f"could not start the runtime: {exc}"
