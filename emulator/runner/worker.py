"""One execution environment on the event loop: the I/O around a `Lifecycle`.

`Worker` turns what happens to a worker process into lifecycle events (a frame on its
channel, the channel closing, its timer, its exit) and carries out the actions that come
back (send, arm, kill, finish, ...). It decides nothing itself: what a worker may do next
is lifecycle.py's table; which worker serves which invocation is pool.py's.

Nothing waits in a loop: the channel and the output pipe are `loop.add_reader`
callbacks, the one timer a `call_later` handle, and the process's end a task awaiting
its pidfd (or the fork server's report).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import socket
import time
from typing import Any, Protocol

from emulator.logs import INVOKE, SERVICE, emit, enabled
from emulator.runner import outcomes
from emulator.runner.calls import Call
from emulator.runner.lifecycle import (
    DEADLINE,
    HANGUP,
    KILL,
    REPLY,
    Action,
    Arm,
    Assign,
    Available,
    Disarm,
    Event,
    Exited,
    Finish,
    Gone,
    IllegalTransition,
    InitDone,
    InitFailed,
    KillProcess,
    Lifecycle,
    Send,
    State,
    Withdraw,
)
from emulator.runner.limits import MAX_INIT_LINES, MAX_LINE_BYTES, READ_SIZE
from emulator.runner.spawn import Child, Launcher, kill_group, launch_failed
from emulator.runner.wire import ERROR, OK, READY, FrameDecoder, LineSplitter
from emulator.template.model import Function


class Host(Protocol):
    """What a worker tells its pool (pool.py implements it)."""

    def on_available(self, worker: Worker, after_init: bool) -> None: ...

    def on_withdrawn(self, worker: Worker) -> None: ...

    def claim_for_init_failure(self, worker: Worker) -> Call | None: ...

    def on_gone(self, worker: Worker) -> None: ...

    def note_python(self, version: str) -> None: ...


class Worker:
    """A worker process, its channel (socket), its output pipe and its one timer."""

    def __init__(
        self,
        host: Host,
        fn: Function,
        generation: int,
        launcher: Launcher,
        *,
        init_timeout_s: float,
        exit_grace_s: float,
    ) -> None:
        self.host = host
        self.fn = fn
        self.generation = generation
        self.lifecycle = Lifecycle(exit_grace_s)
        self.init_timeout_s = init_timeout_s
        self.idle_since = 0.0  # loop time it was last parked idle (LRU eviction)
        self.spare = False  # started ahead of need, not for a queued invoke
        self.served = 0  # invocations started on it
        self._launcher = launcher
        self._loop = asyncio.get_running_loop()
        self.settled: asyncio.Future[None] = self._loop.create_future()  # ready or dead
        self.ended: asyncio.Future[None] = self._loop.create_future()  # dead
        self._child: Child | None = None
        self._sock: socket.socket | None = None
        self._out_fd = -1
        self._out_poll = select.poll()
        self._frames = FrameDecoder()
        self._lines = LineSplitter(MAX_LINE_BYTES)
        self._call: Call | None = None
        self._reply: tuple[bytes, bytes] = (b"", b"")
        self._timer: asyncio.TimerHandle | None = None
        self._init_ms: float | None = None
        self._init_logs: list[str] | None = []  # output before the first invocation
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def state(self) -> State:
        return self.lifecycle.state

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    # ------------------------------------------------------------------ commands

    def launch(self) -> None:
        """Open the channel and pipe and start the process (in the background).

        Never raises: a worker that cannot start ends as `Exited`, which its pool reports
        to a waiting invoke as Runtime.ExitError.
        """
        try:
            parent, child = socket.socketpair()
        except OSError as exc:
            self._loop.call_soon(self._feed, Exited(launch_failed(self.fn, exc)))
            return
        try:
            out_r, out_w = os.pipe()
        except OSError as exc:
            parent.close()
            child.close()
            self._loop.call_soon(self._feed, Exited(launch_failed(self.fn, exc)))
            return
        parent.setblocking(False)
        os.set_blocking(out_r, False)
        self._sock, self._out_fd = parent, out_r
        self._out_poll.register(out_r, select.POLLIN)
        self._loop.add_reader(parent.fileno(), self._on_channel)
        self._loop.add_reader(out_r, self._on_output)
        self._spawn_task(self._launch(child, out_w))

    def start(self, call: Call, *, cold: bool) -> None:
        """Send `call` to this idle worker; it finishes whatever happens to the process."""
        call.cold = cold
        self.served += 1
        if self._init_logs is not None:  # init output belongs to the first invocation
            call.logs[:0] = self._init_logs
            self._init_logs = None
        self._call = call
        self._feed(Assign(call.timeout_s, call.fault))

    def kill(self) -> None:
        """End this environment (SIGKILL); an invocation in flight gets Runtime.ExitError."""
        self._feed(KILL)

    # ------------------------------------------------------------------ events

    def _feed(self, event: Event) -> None:
        for action in self.lifecycle.handle(event):
            self._do(action)

    def _feed_from_worker(self, event: Event) -> None:
        """Feed an event the worker process caused; one it may not cause ends it."""
        try:
            self._feed(event)
        except IllegalTransition as exc:
            emit(
                SERVICE,
                f"{self.fn.logical_id}: worker broke the runtime protocol ({exc}); killed",
                level=logging.ERROR,
                function=self.fn.logical_id,
            )
            self._feed(KILL)

    async def _launch(self, child_sock: socket.socket, out_w: int) -> None:
        try:
            started = await self._launcher.launch(self.fn, child_sock.fileno(), out_w)
        except Exception as exc:  # OSError mostly; any failure to start ends the worker
            reason = launch_failed(self.fn, exc)
            if self.state is not State.DEAD:
                self._feed(Exited(reason))
            return
        finally:
            child_sock.close()
            os.close(out_w)
        self._child = started
        if self.state is State.STARTING:
            # AWS: the Init phase has its own limit; it runs from the process start (a
            # wait for the fork server is not part of it).
            self._arm(self.init_timeout_s)
        elif not self.lifecycle.alive:  # killed while it was being started
            kill_group(started.pid)
        self._spawn_task(self._watch_exit(started))

    async def _watch_exit(self, child: Child) -> None:
        code = await child.wait()
        kill_group(child.pid)  # whatever the handler left running goes too
        if self.state is not State.DEAD:
            self._feed(Exited(outcomes.exit_reason(code)))

    def _on_channel(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_channel()
            if self.lifecycle.alive:
                self._feed_from_worker(HANGUP)
            return
        for tag, body in self._frames.feed(data):
            if tag == READY:
                info = json.loads(body)
                self._init_ms = float(info["init_ms"])
                self.host.note_python(str(info.get("python", "")))
                self._drain_output()  # init output goes to the init logs
                self._feed_from_worker(InitDone(failed=bool(info.get("failed"))))
            elif tag in (OK, ERROR):
                self._reply = (tag, body)
                self._feed_from_worker(REPLY)
            if self._sock is None:  # the environment went away meanwhile
                return

    def _on_timer(self) -> None:
        self._timer = None
        self._feed(DEADLINE)

    # ------------------------------------------------------------------ actions

    def _do(self, action: Action) -> None:
        match action:
            case Disarm():
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            case Send():
                assert self._call is not None
                self._call.started = time.perf_counter()
                self._send(self._call.frame)
            case Arm(seconds):
                self._arm(seconds)
            case Finish(kind, reason, injected):
                self._finish(kind, reason, injected)
            case Available(after_init):
                if not self.settled.done():
                    self.settled.set_result(None)
                self.host.on_available(self, after_init)
            case KillProcess():
                if self._child is not None:
                    kill_group(self._child.pid)
                # else: `_launch` kills it as soon as it exists
            case Withdraw():
                self._close_channel()
                self.host.on_withdrawn(self)
            case InitFailed(timed_out, reason):
                self._fail_init(timed_out, reason)
            case Gone():
                self._release()
                self.host.on_gone(self)

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(seconds, self._on_timer)

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return  # the child is gone; the closed channel reports it
        if sent < len(data):  # a big event: let the loop finish the write
            self._spawn_task(self._send_rest(memoryview(data)[sent:]))

    async def _send_rest(self, data: memoryview) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                await self._loop.sock_sendall(sock, data)

    def _finish(self, kind: str, reason: str, injected: bool) -> None:
        call = self._call
        assert call is not None
        self._drain_output()  # still filed under the call: everything before its end
        self._take_lines(self._lines.flush(), call)
        self._call = None
        if kind == "reply":
            tag, body = self._reply
            self._reply = (b"", b"")
            call.finish("ok" if tag == OK else "error", json.loads(body), init_ms=self._init_ms)
        elif kind == "timeout":
            seconds = call.timeout_s if injected else time.perf_counter() - call.started
            line = outcomes.timeout_line(self._launcher.clock.now(), call.request_id, seconds)
            self._take_lines([line], call)
            call.finish("timeout", outcomes.timeout_error(line), init_ms=self._init_ms)
        else:
            error = outcomes.exit_error(call.request_id, reason)
            call.finish("error", error, init_ms=self._init_ms)

    def _fail_init(self, timed_out: bool, reason: str) -> None:
        """The init failed before any invocation: the oldest waiting invoke reports it."""
        if timed_out:
            emit(
                SERVICE,
                f"{self.fn.logical_id}: init took over {self.init_timeout_s:g} s, worker killed",
                level=logging.WARNING,
                function=self.fn.logical_id,
            )
        call = self.host.claim_for_init_failure(self)
        if call is None:
            return
        call.cold = True
        self._drain_output()
        self._take_lines(self._lines.flush(), None)
        if self._init_logs:
            call.logs[:0] = self._init_logs
            self._init_logs = None
        if timed_out:
            line = outcomes.timeout_line(
                self._launcher.clock.now(), call.request_id, self.init_timeout_s
            )
            call.finish("timeout", outcomes.timeout_error(line))
        else:
            call.finish("error", outcomes.exit_error(call.request_id, reason))

    def _release(self) -> None:
        """Dead: close what is left and stop every task (nothing outlives the worker)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close_channel()
        if self._out_fd >= 0:
            self._drain_output()
            self._take_lines(self._lines.flush(), None)
            self._loop.remove_reader(self._out_fd)
            self._out_poll.unregister(self._out_fd)
            os.close(self._out_fd)
            self._out_fd = -1
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        if not self.settled.done():
            self.settled.set_result(None)
        if not self.ended.done():
            self.ended.set_result(None)

    def _close_channel(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock.fileno())
            sock.close()

    def _spawn_task(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ output

    def _on_output(self) -> None:
        try:
            data = os.read(self._out_fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # every writer closed the pipe
            self._loop.remove_reader(self._out_fd)
            return
        self._take_lines(self._lines.feed(data), self._call)

    def _drain_output(self) -> None:
        """Read what is already in the pipe: everything written before a reply or exit.

        Asks poll(0) first: on every reply the pipe is usually empty, and a read that
        fails with EAGAIN costs ten times more than the question.
        """
        for _ in range(64):
            if self._out_fd < 0 or not self._out_poll.poll(0):
                return
            try:
                data = os.read(self._out_fd, READ_SIZE)
            except OSError:  # BlockingIOError: nothing more
                return
            if not data:
                return
            self._take_lines(self._lines.feed(data), self._call)

    def _take_lines(self, lines: list[str], call: Call | None) -> None:
        """File lines under the running invocation (or the init) and log them."""
        if not lines:
            return
        if call is not None:
            call.logs += lines
        elif self._init_logs is not None and len(self._init_logs) < MAX_INIT_LINES:
            self._init_logs += lines[: MAX_INIT_LINES - len(self._init_logs)]
        if not enabled(INVOKE):
            return  # nobody reads the lines: skip building a record per line
        request_id = call.request_id if call is not None else None
        fn = self.fn.logical_id
        for text in lines:
            emit(INVOKE, text, function=fn, request_id=request_id, output=text)
