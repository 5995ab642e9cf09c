"""The runner's fork server: cold starts without re-importing boto3 in every worker.

A cold start used to be a new interpreter importing boto3 (~270 modules, 0.1-0.3 s of
CPU) before the handler's own module; under a burst on two cores, dozens of those in
parallel stalled everything, and each worker held its own copy of those modules
(~40 MB). `ForkServer` runs one interpreter (`bootstrap.py --zygote`) that imports the
handler-independent libraries once and forks a worker per request. What a handler sees
does not change (bootstrap.py, "fork server"): the fork gets the function's environment,
working directory, sys.path isolation, its own process group and output pipe, and then
imports the handler module itself, as a fresh worker would.

Where the fork server cannot give exactly that, the runner starts a fresh process as
before: while it is still starting, after it failed, and for a code root that ships its
own copy of a pre-imported package (a vendored boto3 must win, as on AWS).

Exit statuses: forked workers are the fork server's children, so it reports each one's
exit (`{"exit": pid, "code"}`) and `ForkedProcess.poll()` returns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emulator.logs import SERVICE, emit
from emulator.runner.environment import RUNTIME_DIR, base_environment

BOOTSTRAP = str(Path(RUNTIME_DIR) / "bootstrap.py")
ZYGOTE_FLAG = "--zygote"
# What a worker of a typical handler imports before its handler module: boto3 pulls in
# botocore, urllib3, ssl, http, email, json, datetime ...; client creation adds idna.
# jwt is what token-verifying authorizers import. A missing one is skipped.
PRELOAD = ("boto3", "encodings.idna", "jwt")
# Environment variables an interpreter reads once while starting (the locale; PYTHON*
# never reach workers): a function setting them differently gets a fresh process.
STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE")
START_TIMEOUT_S = 10.0  # the same budget as a worker's init (AWS: 10 s Init phase)
SPAWN_TIMEOUT_S = 5.0


class ForkedProcess:
    """A worker forked by the fork server: the part of `subprocess.Popen` the runner uses."""

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._server = server

    def poll(self) -> int | None:
        """The exit status the fork server reported; None while running."""
        if self.returncode is None and self._server.dead:
            # Nobody will report it any more: look whether the process still exists.
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -signal.SIGKILL
            except PermissionError:
                pass
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def shadows(code_root: Path, modules: frozenset[str]) -> bool:
    """Whether `code_root` holds a top-level module or package named like one of `modules`.

    A handler importing such a name must get the code root's copy (it comes first on
    sys.path), which an already imported module would hide.
    """
    try:
        entries = os.listdir(code_root)
    except OSError:
        return True
    return any(entry.partition(".")[0] in modules for entry in entries)


class ForkServer:
    """One pre-imported interpreter that forks workers (module docstring).

    `start()` once on the event loop; `spawn(...)` is synchronous (a fork takes a few
    milliseconds) and returns None whenever the caller should start a fresh process.
    """

    def __init__(self, python: str, preload: Sequence[str] = PRELOAD) -> None:
        self.python = python
        self.preload = tuple(preload)
        self.state = "new"  # new, starting, ready, failed, closed
        self.added: frozenset[str] = frozenset()
        self.proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._err_fd = -1
        self._err_buf = bytearray()
        self._ready: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 0
        self._replies: dict[int, int] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._shadowed: dict[Path, bool] = {}
        self._base = base_environment()

    @property
    def dead(self) -> bool:
        return self.state in ("failed", "closed")

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def start(self) -> asyncio.Future[bool]:
        """Start the zygote (once); the future says whether it came up."""
        if self._ready is not None:
            return self._ready
        loop = self._loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        err_r, err_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [self.python, "-u", BOOTSTRAP, ZYGOTE_FLAG, str(child.fileno()), *self.preload],
                stdin=subprocess.DEVNULL,
                stdout=err_w,
                stderr=err_w,
                pass_fds=(child.fileno(),),
                cwd=RUNTIME_DIR,
                env=self._base,
                start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            os.close(err_r)
            self._fail(f"cannot start: {exc}")
            return self._ready
        finally:
            child.close()
            os.close(err_w)
        parent.setblocking(False)
        os.set_blocking(err_r, False)
        self._ctl, self._err_fd = parent, err_r
        loop.add_reader(parent.fileno(), self._on_ctl)
        loop.add_reader(err_r, self._on_output)
        self.state = "starting"
        self._timer = loop.call_later(START_TIMEOUT_S, self._fail, "did not start in time")
        return self._ready

    def usable_for(self, code_root: Path, env: Mapping[str, str] | None = None) -> bool:
        """Whether a worker for `code_root` with `env` may be forked: the server is ready,
        the code root shadows nothing pre-imported, and `env` starts an interpreter the
        same way as the zygote's (locale variables, read once at interpreter start-up)."""
        if not self.ready:
            return False
        if env is not None and any(env.get(k) != self._base.get(k) for k in STARTUP_VARIABLES):
            return False
        shadowed = self._shadowed.get(code_root)
        if shadowed is None:
            shadowed = self._shadowed[code_root] = shadows(code_root, self.added)
            if shadowed:
                emit(
                    SERVICE,
                    f"{code_root} ships its own copy of a pre-imported package; its workers "
                    "start as fresh processes",
                    level=logging.DEBUG,
                )
        return not shadowed

    def forget_code_roots(self) -> None:
        """Look at code roots again (after a reload a vendored package may have appeared)."""
        self._shadowed.clear()

    def spawn(
        self, env: Mapping[str, str], cwd: Path, args: Sequence[str], fds: Sequence[int]
    ) -> ForkedProcess | None:
        """Fork a worker running bootstrap `main` with `args`; None if that failed."""
        if not self.ready or self._ctl is None:
            return None
        self._next_id += 1
        request_id = self._next_id
        body = json.dumps({"id": request_id, "env": dict(env), "cwd": str(cwd), "args": list(args)})
        try:
            socket.send_fds(self._ctl, [body.encode()], list(fds))
        except OSError as exc:
            self._fail(f"request failed: {exc}")
            return None
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while request_id not in self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("did not answer a fork request")
                return None
            readable, _, _ = select.select([self._ctl], [], [], remaining)
            if readable:
                self._on_ctl()
            if self.dead:
                return None
        child = ForkedProcess(self._replies.pop(request_id), self)
        self._children[child.pid] = child
        return child

    def close(self) -> None:
        """Stop the zygote; workers it forked keep running until the runner ends them."""
        if self.dead:
            return
        self._stop("closed")

    # ------------------------------------------------------------------ internals

    def _on_ctl(self) -> None:
        ctl = self._ctl
        while ctl is not None and not self.dead:
            try:
                data = ctl.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._fail("exited")
                return
            self._on_message(json.loads(data))

    def _on_message(self, message: dict[str, Any]) -> None:
        if "exit" in message:
            child = self._children.pop(int(message["exit"]), None)
            if child is not None:
                child.returncode = int(message["code"])
        elif "pid" in message:
            self._replies[int(message["id"])] = int(message["pid"])
        elif message.get("ready"):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.added = frozenset(message.get("added", ()))
            self.state = "ready"
            emit(
                SERVICE,
                f"fork server ready ({len(self.added)} packages pre-imported)",
                level=logging.DEBUG,
                failed=message.get("failed", []),
            )
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(True)

    def _on_output(self) -> None:
        try:
            data = os.read(self._err_fd, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if self._loop is not None:
                self._loop.remove_reader(self._err_fd)
            return
        self._err_buf += data
        while (end := self._err_buf.find(b"\n")) >= 0:
            line = self._err_buf[:end].decode("utf-8", "replace")
            del self._err_buf[: end + 1]
            emit(SERVICE, f"fork server: {line}", level=logging.WARNING)

    def _fail(self, reason: str) -> None:
        if self.dead:
            return
        emit(
            SERVICE,
            f"fork server {reason}; workers start as fresh processes",
            level=logging.WARNING,
        )
        self._stop("failed")

    def _stop(self, state: str) -> None:
        self.state = state
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self._loop
        if self._ctl is not None:
            if loop is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(self._ctl.fileno())
            self._ctl.close()  # the zygote sees EOF and exits
            self._ctl = None
        if self._err_fd >= 0:
            if loop is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(self._err_fd)
            os.close(self._err_fd)
            self._err_fd = -1
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(False)

    def wait_stopped(self) -> bool:
        """Collect the zygote's exit status if it has ended (no zombie); True when gone."""
        return self.proc is None or self.proc.poll() is not None
