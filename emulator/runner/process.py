"""`ProcessRunner`: Lambda functions in subprocess workers, one per concurrent invocation.

Each worker is one execution environment (aws-fidelity §13): `python -u bootstrap.py`
with the function's own environment (`function_environment`), working directory and
sys.path, which imports the handler module once and then serves one invocation at a time,
so module state stays warm between invokes. No idle worker means a new one (a cold start),
up to `max_concurrency` per function; past that, invokes queue for the next free worker.
A timeout or a crash ends the worker, so the next invoke initialises the module again, as
AWS resets the environment.

The parent side is callbacks on the event loop: the worker's socket and its output pipe
are registered with `loop.add_reader`, so an invoke costs one JSON dump, one `send`, one
`recv`, one JSON load and a timer; handlers never block the caller's loop.

Log records (emulator.logs), all on the INVOKE channel:
- each line the handler writes to stdout/stderr: message = the line, fields `function`,
  `request_id` (None while no invocation runs, e.g. module init of a prewarmed worker) and
  `output` (the line again, so renderers can tell output from summaries);
- one summary per invocation: fields `function`, `route`, `request_id`, `duration_ms`,
  `outcome`, `cold_start`, plus `init_ms` on a cold start and `user` when the event's
  `requestContext.authorizer` carries `userId` (or JWT claim `sub`).
SERVICE gets one note per function whose runtime differs from the local Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import emulator
from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import INVOKE, SERVICE, emit
from emulator.runner.base import Invocation, Outcome
from emulator.runner.environment import function_environment
from emulator.runner.forkserver import ForkedProcess, ForkServer
from emulator.template.model import Function

__all__ = ["ProcessRunner", "function_environment"]

BOOTSTRAP = str(Path(__file__).resolve().with_name("bootstrap.py"))
# AWS: the Init phase of an execution environment is limited to 10 seconds.
INIT_TIMEOUT_S = 10.0
_READ_SIZE = 256 * 1024
_MAX_LINE = 64 * 1024  # a longer line without a newline is logged in pieces
_MAX_INIT_LINES = 1000  # output kept for the first invocation of a worker

_CPUS = os.cpu_count() or 1
# Environments per function. AWS would start one per concurrent request (up to 1000);
# locally every one is a process on the same few cores. A handler spends most of its time
# waiting for its AWS calls, but those queue in moto (one process): measured with 50
# connections pinging, 4 environments gave more pongs per second than 10 (more only
# lengthened moto's queue, and cost memory). Past this, invokes queue for the next free
# environment of their function; the runner-wide budget (`default_max_workers`) bounds the
# total, a busy function taking the environments other functions left idle longest.
DEFAULT_MAX_CONCURRENCY = max(4, 2 * _CPUS)


def default_max_workers(functions: int) -> int:
    """Live environments across all functions: one per function plus room to scale."""
    return max(1, functions) + 4 * _CPUS


_INVOKE_LOG = logging.getLogger(INVOKE)
_STARTING, _IDLE, _BUSY, _DYING, _DEAD = "starting", "idle", "busy", "dying", "dead"


def _hidden_paths() -> list[str]:
    """The emulator's source root, unless it is a site-packages dir the handlers need too."""
    root = Path(emulator.__file__).resolve().parent.parent
    sites = {Path(p).resolve() for p in getattr(site, "getsitepackages", list)()}
    sites |= {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    return [] if root in sites else [str(root)]


HIDDEN_PATHS = _hidden_paths()


def _iso(ts: float) -> str:
    millis = int(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{millis:03d}Z"


def _exit_reason(returncode: int) -> str:
    """Describe an exit the way Lambda's Runtime.ExitError message does (Go's wording)."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name.lower()}"


def _exit_error(request_id: str, reason: str) -> dict[str, Any]:
    if reason == "exit status 0":
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    return {"errorMessage": message, "errorType": "Runtime.ExitError"}


def _user_of(event: Mapping[str, Any]) -> str | None:
    """The caller's user id from the authorizer context, for the invocation's log line."""
    ctx = event.get("requestContext")
    auth = ctx.get("authorizer") if isinstance(ctx, Mapping) else None
    if not isinstance(auth, Mapping):
        return None
    user = auth.get("userId")
    if user is None:
        jwt = auth.get("jwt")
        claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
        user = claims.get("sub") if isinstance(claims, Mapping) else None
    return None if user is None else str(user)


@dataclass(slots=True, eq=False)
class _Call:
    """One invocation in flight on a worker."""

    request_id: str
    route: str | None
    user: str | None
    cold: bool
    future: asyncio.Future[Invocation]
    started: float  # perf_counter
    logs: list[str]


class _Worker:
    """One execution environment: a child process, its socket and its output pipe."""

    def __init__(self, pool: _Pool, claimant: asyncio.Future[tuple[_Worker, bool]] | None):
        self.pool = pool
        self.runner = pool.runner
        self.fn = pool.fn
        self.generation = pool.generation
        self.loop = asyncio.get_running_loop()
        self.state = _STARTING
        self.claimant = claimant  # the invoke waiting for this worker's init, if any
        self.settled: asyncio.Future[None] = self.loop.create_future()  # ready or dead
        self.proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        self.idle_since = 0.0  # loop time it was last parked idle (LRU eviction)
        self.sock: socket.socket | None = None
        self.out_fd = -1
        self.rbuf = bytearray()
        self.obuf = bytearray()
        self.current: _Call | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.init_ms: float | None = None
        self.init_failed = False
        self.init_logs: list[str] | None = []  # output before the first invoke
        self.timed_out_in_init = False
        self.exit_reason = ""
        self.tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    def launch(self) -> None:
        """Start the child; a failure to start leaves a dead worker, never an exception."""
        fn, runner = self.fn, self.runner
        env = function_environment(
            fn,
            region=runner.region,
            account_id=runner.account_id,
            extra_env=runner.extra_env,
            now=runner.clock.now(),
        )
        parent, child = socket.socketpair()
        out_r, out_w = os.pipe()
        try:
            args = [fn.handler, str(fn.code_root), fn.arn, *HIDDEN_PATHS]
            server = runner._fork_server_for(fn, env)
            forked = None
            if server is not None:
                forked = server.spawn(env, fn.code_root, args, (child.fileno(), out_w))
            if forked is not None:
                self.proc = forked
            else:
                self.proc = subprocess.Popen(
                    [runner.python, "-u", BOOTSTRAP, str(child.fileno()), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out_w,
                    stderr=out_w,
                    pass_fds=(child.fileno(),),
                    cwd=fn.code_root,
                    env=env,
                    # Own process group: Ctrl-C in the terminal is the emulator's to
                    # handle, and a kill reaches whatever the handler started too.
                    start_new_session=True,
                )
        except OSError as exc:
            parent.close()
            os.close(out_r)
            emit(
                SERVICE,
                f"{fn.logical_id}: cannot start a worker: {exc}",
                level=logging.ERROR,
                function=fn.logical_id,
            )
            self.state = _DYING
            self.loop.call_soon(self._bury, f"could not start the runtime: {exc}")
            return
        finally:
            child.close()
            os.close(out_w)
        parent.setblocking(False)
        os.set_blocking(out_r, False)
        self.sock, self.out_fd = parent, out_r
        self.loop.add_reader(parent.fileno(), self._on_channel)
        self.loop.add_reader(out_r, self._on_output)
        self.timer = self.loop.call_later(INIT_TIMEOUT_S, self._on_init_timeout)

    def kill(self, reason: str = "signal: killed") -> None:
        """End the process group now (SIGKILL) and forget the worker."""
        if self.state == _DEAD:
            return
        self._signal_group()
        self._bury(reason)

    def _signal_group(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def _bury(self, reason: str) -> None:
        """Mark dead, close the channel, tell the pool; an invoke in flight gets ExitError."""
        if self.state == _DEAD:
            return
        self.state = _DEAD
        self.exit_reason = reason
        if self.timer is not None:
            self.timer.cancel()
        self._drain_output()
        self._flush_partial_line()
        if self.sock is not None:
            with contextlib.suppress(ValueError, OSError):
                self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
        if self.out_fd >= 0:
            self.loop.remove_reader(self.out_fd)
            os.close(self.out_fd)
            self.out_fd = -1
        if self.proc is not None:
            self.runner._reap(self.proc, self.loop)
        if not self.settled.done():
            self.settled.set_result(None)
        self.pool.on_dead(self)
        call, self.current = self.current, None
        if call is not None:
            self._complete(call, "error", _exit_error(call.request_id, reason))

    def _on_init_timeout(self) -> None:
        emit(
            SERVICE,
            f"{self.fn.logical_id}: init took over {INIT_TIMEOUT_S:.0f} s, worker killed",
            level=logging.WARNING,
            function=self.fn.logical_id,
        )
        self.timed_out_in_init = True
        self.kill()

    def _on_channel_closed(self) -> None:
        """The child closed its end: it is exiting. Report once the exit status is known."""
        if self.state in (_DYING, _DEAD):
            return
        self.state = _DYING
        self.pool.forget(self)
        if self.timer is not None:
            self.timer.cancel()
        assert self.sock is not None
        self.loop.remove_reader(self.sock.fileno())
        task = self.loop.create_task(self._wait_exit())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _wait_exit(self) -> None:
        assert self.proc is not None
        for _ in range(400):  # the socket closes as the process exits; wait <= 2 s
            returncode = self.proc.poll()
            if returncode is not None:
                self._signal_group()  # whatever the handler left running goes too
                self._bury(_exit_reason(returncode))
                return
            await asyncio.sleep(0.005)
        self.kill()

    # ------------------------------------------------------------------ channel

    def _on_channel(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._on_channel_closed()
            return
        buf = self.rbuf
        buf += data
        while len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big")
            if len(buf) < 4 + size:
                break
            frame = bytes(buf[4 : 4 + size])
            del buf[: 4 + size]
            self._on_frame(frame)
            if self.state in (_DYING, _DEAD):
                return

    def _on_frame(self, frame: bytes) -> None:
        tag, body = frame[:1], frame[1:]
        if tag == b"r":
            self._on_ready(json.loads(body))
        elif tag in (b"o", b"e"):
            self._on_response(tag == b"o", body)

    def _on_ready(self, info: Mapping[str, Any]) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.init_ms = float(info["init_ms"])
        self.init_failed = bool(info.get("failed"))
        self._drain_output()
        self.runner._note_python(self.fn, str(info.get("python", "")))
        if not self.settled.done():
            self.settled.set_result(None)
        self.pool.on_ready(self)

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return  # the child is gone; the closed channel reports it
        if sent < len(data):  # a big event: let the loop finish the write
            task = self.loop.create_task(self._send_rest(data[sent:]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send_rest(self, data: bytes) -> None:
        assert self.sock is not None
        with contextlib.suppress(OSError):
            await self.loop.sock_sendall(self.sock, data)

    # ------------------------------------------------------------------ invocations

    def start(
        self,
        request_id: str,
        payload: bytes,
        timeout_s: float,
        route: str | None,
        user: str | None,
        cold: bool,
    ) -> asyncio.Future[Invocation]:
        """Send one request; the future resolves whatever happens to the worker."""
        future: asyncio.Future[Invocation] = self.loop.create_future()
        logs: list[str] = []
        if self.init_logs is not None:  # init output belongs to the first invocation
            logs, self.init_logs = self.init_logs, None
        call = _Call(request_id, route, user, cold, future, time.perf_counter(), logs)
        if self.state == _DEAD:  # died during init (crash, init timeout, no interpreter)
            if self.timed_out_in_init:
                line = (
                    f"{_iso(self.runner.clock.now())} {request_id} "
                    f"Task timed out after {INIT_TIMEOUT_S:.2f} seconds"
                )
                result = {"errorMessage": line, "errorType": "Sandbox.Timedout"}
                self._complete(call, "timeout", result)
            else:
                self._complete(call, "error", _exit_error(request_id, self.exit_reason))
            return future
        self.state = _BUSY
        self.current = call
        self._send(len(payload).to_bytes(4, "big") + payload)
        self.timer = self.loop.call_later(timeout_s, self._on_timeout)
        return future

    def _on_response(self, ok: bool, body: bytes) -> None:
        call, self.current = self.current, None
        if call is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._drain_output()
        self._flush_partial_line(call)
        self._complete(call, "ok" if ok else "error", json.loads(body))
        if self.init_failed:
            # AWS: after a failed init the environment is reset; the next invoke imports
            # the module again (and picks up a fix).
            self.kill("exit status 0")
        else:
            self.pool.release(self)

    def _on_timeout(self) -> None:
        call, self.current = self.current, None
        if call is None:
            return
        elapsed = time.perf_counter() - call.started
        self._drain_output()
        self._flush_partial_line(call)
        # AWS: "<ISO time> <request id> Task timed out after 3.01 seconds" (aws-fidelity §13)
        line = (
            f"{_iso(self.runner.clock.now())} {call.request_id} "
            f"Task timed out after {elapsed:.2f} seconds"
        )
        call.logs.append(line)
        emit(INVOKE, line, function=self.fn.logical_id, request_id=call.request_id, output=line)
        self.kill()  # AWS resets the environment after a timeout
        self._complete(call, "timeout", {"errorMessage": line, "errorType": "Sandbox.Timedout"})

    def _complete(self, call: _Call, outcome: Outcome, result: Any) -> None:
        duration_ms = round((time.perf_counter() - call.started) * 1000, 3)
        fn = self.fn.logical_id
        invocation = Invocation(
            function=fn,
            request_id=call.request_id,
            outcome=outcome,
            result=result,
            duration_ms=duration_ms,
            cold_start=call.cold,
            logs="".join(line + "\n" for line in call.logs),
        )
        level = logging.INFO if outcome == "ok" else logging.WARNING
        if _INVOKE_LOG.isEnabledFor(level):  # skip building the record when nobody listens
            fields: dict[str, Any] = {
                "function": fn,
                "route": call.route,
                "request_id": call.request_id,
                "duration_ms": duration_ms,
                "outcome": outcome,
                "cold_start": call.cold,
            }
            if call.cold and self.init_ms is not None:
                fields["init_ms"] = round(self.init_ms, 3)
            if call.user is not None:
                fields["user"] = call.user
            cold = " (cold start)" if call.cold else ""
            message = f"{fn} {call.route or '-'} {outcome} {duration_ms:.1f} ms{cold}"
            emit(INVOKE, message, level=level, **fields)
        if not call.future.done():
            call.future.set_result(invocation)

    # ------------------------------------------------------------------ output

    def _on_output(self) -> None:
        try:
            data = os.read(self.out_fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # every writer closed the pipe
            self.loop.remove_reader(self.out_fd)
            return
        self._take_output(data)

    def _drain_output(self) -> None:
        """Read what is already in the pipe: everything the handler wrote before replying."""
        for _ in range(64):
            if self.out_fd < 0:
                return
            try:
                data = os.read(self.out_fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError, OSError):
                return
            if not data:
                return
            self._take_output(data)

    def _take_output(self, data: bytes) -> None:
        buf = self.obuf
        buf += data
        while (end := buf.find(b"\n")) >= 0:
            line = bytes(buf[:end])
            del buf[: end + 1]
            self._line(line)
        if len(buf) > _MAX_LINE:
            self._line(bytes(buf))
            buf.clear()

    def _flush_partial_line(self, call: _Call | None = None) -> None:
        if self.obuf:
            self._line(bytes(self.obuf), call)
            self.obuf.clear()

    def _line(self, raw: bytes, call: _Call | None = None) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        call = call or self.current
        if call is not None:
            call.logs.append(text)
        elif self.init_logs is not None and len(self.init_logs) < _MAX_INIT_LINES:
            self.init_logs.append(text)
        request_id = call.request_id if call is not None else None
        emit(INVOKE, text, function=self.fn.logical_id, request_id=request_id, output=text)


class _Pool:
    """The workers of one function: idle ones, starting ones and queued invokes."""

    def __init__(self, runner: ProcessRunner, fn: Function) -> None:
        self.runner = runner
        self.fn = fn
        self.removed = False
        self.generation = 0
        self.workers: set[_Worker] = set()  # alive, in any state
        self.idle: list[_Worker] = []  # last in, first out: the warmest goes first
        self.starting: list[_Worker] = []  # prewarming, not yet claimed by an invoke
        self.waiters: deque[asyncio.Future[tuple[_Worker, bool]]] = deque()

    async def acquire(self) -> tuple[_Worker, bool]:
        """A worker reserved for one invoke, and whether the invoke waited for its init."""
        future: asyncio.Future[tuple[_Worker, bool]] = asyncio.get_running_loop().create_future()
        if self.starting:
            worker = self.starting.pop(0)
            worker.claimant = future
        elif len(self.workers) < self.runner.max_concurrency and self.runner._make_room(self):
            self.spawn(claimant=future)
        else:
            self.waiters.append(future)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result()[0])
            raise

    def spawn(self, claimant: asyncio.Future[tuple[_Worker, bool]] | None = None) -> _Worker:
        worker = _Worker(self, claimant)
        self.workers.add(worker)
        if claimant is None:
            self.starting.append(worker)
        worker.launch()
        return worker

    def on_ready(self, worker: _Worker) -> None:
        with contextlib.suppress(ValueError):
            self.starting.remove(worker)
        claimant, worker.claimant = worker.claimant, None
        if claimant is not None and not claimant.done():
            worker.state = _BUSY
            claimant.set_result((worker, True))
            return
        self.release(worker)

    def release(self, worker: _Worker) -> None:
        """Give a worker that finished an invoke (or its init) to the next one, or park it."""
        if worker.state in (_DYING, _DEAD):
            return
        if worker.generation != self.generation or self.runner.closed:
            worker.kill("exit status 0")  # retired by a reload
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                worker.state = _BUSY
                waiter.set_result((worker, False))
                return
        if self.runner._starved(self):
            # Another function waits for room in the worker budget: this environment
            # goes (as Lambda reclaims idle ones) so that one can start.
            worker.kill("exit status 0")
            return
        worker.state = _IDLE
        worker.idle_since = worker.loop.time()
        self.idle.append(worker)

    def forget(self, worker: _Worker) -> None:
        """Stop handing out a worker that is going away."""
        with contextlib.suppress(ValueError):
            self.idle.remove(worker)
        with contextlib.suppress(ValueError):
            self.starting.remove(worker)

    def on_dead(self, worker: _Worker) -> None:
        self.forget(worker)
        self.workers.discard(worker)
        claimant, worker.claimant = worker.claimant, None
        if claimant is not None and not claimant.done():
            claimant.set_result((worker, True))  # its invoke reports how init ended
        if not self.runner.closed:
            self.runner._pump()

    def pump(self) -> None:
        """Start workers for queued invokes while the function and the budget have room."""
        runner = self.runner
        while self.waiters and len(self.workers) < runner.max_concurrency and runner._has_room():
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.spawn(claimant=waiter)

    def oldest_idle(self) -> _Worker | None:
        return min(self.idle, key=lambda w: w.idle_since) if self.idle else None

    def replace(self, fn: Function | None) -> None:
        """New code or configuration: idle and prewarming workers go now, busy ones later."""
        self.generation += 1
        self.removed = fn is None
        if fn is not None:
            self.fn = fn
        for worker in [*self.idle, *self.starting]:
            worker.kill("exit status 0")
        if self.removed:
            while self.waiters:
                waiter = self.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(KeyError(self.fn.logical_id))

    def close(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("ProcessRunner is closed"))
        for worker in list(self.workers):
            worker.kill()


class ProcessRunner:
    """Runs functions in warm subprocess workers, like Lambda execution environments.

    Implements `FunctionRunner`. `functions` is the template's model by logical id;
    `extra_env` is added last to every worker's environment (the emulator's endpoints);
    `python` is the interpreter the workers run on; `clock` stamps timestamps (timeouts
    and deadlines run on real time, because the handler does).

    `Invocation.duration_ms` is the handler's time as AWS's REPORT Duration counts it:
    from sending the request to the response, without a cold start's init (that is the
    summary log's `init_ms`) or time queued for a worker.
    """

    def __init__(
        self,
        functions: Mapping[str, Function],
        *,
        region: str,
        account_id: str,
        extra_env: Mapping[str, str] = {},
        python: str = sys.executable,
        max_concurrency: int | None = None,
        max_workers: int | None = None,
        fork_server: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.extra_env = dict(extra_env)
        self.python = python
        self.max_concurrency = max(1, max_concurrency or DEFAULT_MAX_CONCURRENCY)
        self.max_workers = max(1, max_workers or default_max_workers(len(functions)))
        self.clock = clock
        self.closed = False
        self._functions = dict(functions)
        self._pools: dict[str, _Pool] = {}
        self._noted: set[str] = set()
        self._reaping: set[subprocess.Popen[bytes] | ForkedProcess] = set()
        self._reap_timer: asyncio.TimerHandle | None = None
        self._use_fork_server = fork_server
        self._fork_server: ForkServer | None = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop yet: the fork server starts on first use
        else:
            # Its imports (~0.3 s) then overlap with whatever the caller does next
            # (the emulator provisions moto), instead of delaying the first cold start.
            self._start_fork_server()

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        """Run `function` with `event`; KeyError for an unknown function (Invoke API: 404)."""
        fn = self._functions[function]
        if self.closed:
            raise RuntimeError("ProcessRunner is closed")
        pool = self._pools.get(function)
        if pool is None:
            pool = self._pools[function] = _Pool(self, fn)
            self._start_fork_server()
        request_id = str(uuid.uuid4())
        payload = json.dumps(
            {"id": request_id, "ms": fn.timeout_s * 1000, "event": event}, separators=(",", ":")
        ).encode()
        if pool.idle:
            worker, cold = pool.idle.pop(), False
        else:
            worker, cold = await pool.acquire()
        user = _user_of(event) if isinstance(event, Mapping) else None
        future = worker.start(request_id, payload, fn.timeout_s, route, user, cold)
        # If the caller gives up, the invocation still runs to its end (as in AWS) and the
        # worker returns to the pool from the callbacks, not from here.
        return await future

    async def prewarm(self, functions: Iterable[str] | None = None) -> None:
        """Start one worker (and its module init) for each function that has none.

        Returns when those workers are ready or have failed; at most one init per CPU runs
        at once, so a background prewarm leaves room for real invokes.
        """
        names = list(self._functions) if functions is None else list(functions)
        unknown = [name for name in names if name not in self._functions]
        if unknown:
            raise KeyError(unknown[0])
        slots = asyncio.Semaphore(_CPUS)
        server = self._start_fork_server()
        if server is not None:
            # Workers forked from it start in milliseconds; wait for it (bounded by its
            # own start-up timeout) rather than start slow fresh ones meanwhile.
            await asyncio.shield(server.start())

        async def warm(name: str) -> None:
            async with slots:
                fn = self._functions.get(name)
                if fn is None or self.closed:
                    return
                pool = self._pools.get(name)
                if pool is None:
                    pool = self._pools[name] = _Pool(self, fn)
                if pool.workers or not self._has_room():
                    return
                await asyncio.shield(pool.spawn().settled)

        await asyncio.gather(*(warm(name) for name in names))

    def update(
        self, functions: Mapping[str, Function], changed: Iterable[str] | None = None
    ) -> None:
        """Swap in a new model (hot reload).

        Workers of `changed` functions (all if None), of functions whose model changed and
        of removed functions are retired: idle ones now, busy ones after their invoke, so
        the next invoke imports the new code in a fresh worker. Call it on the loop's thread
        (watch_code's callback runs there).
        """
        new = dict(functions)
        touched = set(self._pools) if changed is None else set(changed)
        retired = []
        for name, pool in self._pools.items():
            fn = new.get(name)
            if fn is None or name in touched or fn != pool.fn:
                pool.replace(fn)
                retired.append(name)
        self._functions = new
        if self._fork_server is not None:
            self._fork_server.forget_code_roots()
        if retired:
            emit(
                SERVICE,
                f"reloaded: new workers for {', '.join(sorted(retired))}",
                functions=sorted(retired),
            )

    async def aclose(self) -> None:
        """Kill every worker and wait until the processes are gone; safe to call twice."""
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        server = self._fork_server
        if server is not None:
            server.close()
            if server.proc is not None:
                self._reaping.add(server.proc)
        for _ in range(200):
            for proc in list(self._reaping):
                if proc.poll() is not None:
                    self._reaping.discard(proc)
            if not self._reaping:
                return
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ internals

    def _start_fork_server(self) -> ForkServer | None:
        """The fork server, started on first use (needs the running loop)."""
        if not self._use_fork_server or self.closed:
            return None
        if self._fork_server is None:
            self._fork_server = ForkServer(self.python)
            self._fork_server.start()
        return self._fork_server

    def _fork_server_for(self, fn: Function, env: Mapping[str, str]) -> ForkServer | None:
        """The fork server if it may start `fn`'s next worker, else None (fresh process)."""
        server = self._start_fork_server()
        if server is None or not server.usable_for(fn.code_root, env):
            return None
        return server

    def _live_workers(self) -> int:
        return sum(len(pool.workers) for pool in self._pools.values())

    def _has_room(self) -> bool:
        return self._live_workers() < self.max_workers

    def _make_room(self, pool: _Pool) -> bool:
        """Room for one more worker of `pool`: free, or made by ending the environment
        that has been idle longest (another function's; Lambda reclaims idle ones too)."""
        if self._has_room():
            return True
        candidates = [w for p in self._pools.values() if p is not pool and (w := p.oldest_idle())]
        if not candidates:
            return False
        min(candidates, key=lambda w: w.idle_since).kill("exit status 0")
        return self._has_room()

    def _starved(self, pool: _Pool) -> bool:
        """Whether another function has invokes queued only for lack of budget."""
        return not self._has_room() and any(
            p is not pool and p.waiters and len(p.workers) < self.max_concurrency
            for p in self._pools.values()
        )

    def _pump(self) -> None:
        for pool in list(self._pools.values()):
            if pool.waiters:
                pool.pump()

    def _note_python(self, fn: Function, version: str) -> None:
        """Say once per function that its runtime is emulated by the local interpreter."""
        if fn.logical_id in self._noted:
            return
        self._noted.add(fn.logical_id)
        local = ".".join(version.split(".")[:2])
        if fn.runtime == f"python{local}":
            return
        emit(
            SERVICE,
            f"{fn.logical_id}: {fn.runtime} runs on local Python {version}",
            function=fn.logical_id,
            runtime=fn.runtime,
            python=version,
        )

    def _reap(
        self, proc: subprocess.Popen[bytes] | ForkedProcess, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Collect the exit status of a killed child in the background (no zombies)."""
        if proc.poll() is not None:
            return
        self._reaping.add(proc)
        if self._reap_timer is None:
            self._reap_timer = loop.call_later(0.02, self._reap_tick, loop)

    def _reap_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._reap_timer = None
        for proc in list(self._reaping):
            if proc.poll() is not None:
                self._reaping.discard(proc)
        if self._reaping:
            self._reap_timer = loop.call_later(0.05, self._reap_tick, loop)
