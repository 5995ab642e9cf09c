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
exit (`{"exit": pid, "code"}`) and `ForkedProcess.wait()` returns it. Should the fork
server die first, its workers' ends are awaited through pidfds (exits.py), reported as
killed. Nothing here polls: replies, exits and the server's own end all arrive as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emulator.logs import SERVICE, emit
from emulator.runner.environment import RUNTIME_DIR, base_environment
from emulator.runner.exits import wait_child, wait_ended

BOOTSTRAP = str(Path(RUNTIME_DIR) / "bootstrap.py")
ZYGOTE_FLAG = "--zygote"
# What a worker of a typical handler imports before its handler module: boto3 pulls in
# botocore, urllib3, ssl, http, email, json, datetime ...; client creation adds idna.
# jwt is what token-verifying authorizers import. A missing one is skipped.
PRELOAD = ("boto3", "encodings.idna", "jwt")
# Environment variables an interpreter reads once while starting (the locale; PYTHON*
# never reach workers): a function setting them differently gets a fresh process.
STARTUP_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH")  # PYTHONPATH: layers
START_TIMEOUT_S = 10.0  # the same budget as a worker's init (AWS: 10 s Init phase)
SPAWN_TIMEOUT_S = 5.0


class ForkedProcess:
    """A worker forked by the fork server: its pid, its exit status once reported, kill."""

    def __init__(self, pid: int, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = exited
        exited.add_done_callback(self._on_exit)

    def _on_exit(self, future: asyncio.Future[int]) -> None:
        if not future.cancelled():
            self.returncode = future.result()

    async def wait(self) -> int:
        """The exit status (as subprocess reports it: negative for a signal) once it ended."""
        return await asyncio.shield(self._exited)

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

    `start()` once on the event loop; `await spawn(...)` returns the forked worker, or
    None whenever the caller should start a fresh process. The event loop never blocks on
    the fork server: a fork request is a message, its answer another one.
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
        # request id -> (pid, its exit status future), resolved by the zygote's answer
        self._replies: dict[int, asyncio.Future[tuple[int, asyncio.Future[int]]]] = {}
        self._children: dict[int, asyncio.Future[int]] = {}  # pid -> exit status, unreported
        self._tasks: set[asyncio.Task[Any]] = set()
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

    async def spawn(
        self, env: Mapping[str, str], cwd: Path, args: Sequence[str], fds: Sequence[int]
    ) -> ForkedProcess | None:
        """Fork a worker running bootstrap `main` with `args`; None if that failed.

        `fds` (the worker's channel and output pipe) travel with the request; the caller
        may close its copies as soon as this returns.
        """
        if not self.ready or self._ctl is None or self._loop is None:
            return None
        self._next_id += 1
        request_id = self._next_id
        body = json.dumps({"id": request_id, "env": dict(env), "cwd": str(cwd), "args": list(args)})
        reply = self._replies[request_id] = self._loop.create_future()
        try:
            socket.send_fds(self._ctl, [body.encode()], list(fds))
        except OSError as exc:
            self._replies.pop(request_id, None)
            self._fail(f"request failed: {exc}")
            return None
        try:
            pid, exited = await asyncio.wait_for(reply, SPAWN_TIMEOUT_S)
        except TimeoutError:
            self._fail("did not answer a fork request")
            return None
        except ConnectionError:  # the server failed meanwhile
            return None
        finally:
            self._replies.pop(request_id, None)
        return ForkedProcess(pid, exited)

    def close(self) -> None:
        """Stop the zygote; workers it forked keep running until the runner ends them."""
        if self.dead:
            return
        self._stop("closed")

    async def wait_closed(self) -> None:
        """Return once the zygote process has ended and been reaped (after `close`)."""
        if self.proc is not None:
            await wait_child(self.proc)

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
            exited = self._children.pop(int(message["exit"]), None)
            if exited is not None and not exited.done():
                exited.set_result(int(message["code"]))
        elif "pid" in message:
            # The exit future exists from here on, so an exit reported in the same read
            # (a worker that died at once) is not lost before `spawn` resumes.
            pid = int(message["pid"])
            assert self._loop is not None
            exited = self._children[pid] = self._loop.create_future()
            reply = self._replies.get(int(message["id"]))
            if reply is not None and not reply.done():
                reply.set_result((pid, exited))
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
            if loop is not None:
                self._track(loop.create_task(wait_child(self.proc)))  # reap it: no zombie
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(False)
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(ConnectionError("fork server stopped"))
        # Nobody reports these workers' exits any more: learn of each end from the kernel.
        for pid, exited in self._children.items():
            if loop is not None and not exited.done():
                self._track(loop.create_task(_report_end(pid, exited)))
        self._children.clear()

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _report_end(pid: int, exited: asyncio.Future[int]) -> None:
    """Resolve `exited` once `pid` has ended; its status is unknown, so "killed"."""
    if await wait_ended(pid) and not exited.done():
        exited.set_result(-signal.SIGKILL)
