"""moto for the emulator: started, located and stopped, in child processes or a thread.

Handlers reach moto through botocore's endpoint variables (`endpoint_env()`), so every
call goes through botocore's real request serialization and moto's real request
parsing. What runs inside moto's processes is in `emulator/services/moto/` (its
`__init__` lists the parts); this module only starts them and says where they are.

Two modes (`MotoServer(mode=...)`, default from `DUELCTL_MOTO`, else "process"):

- "process": moto runs in child processes (`python -m emulator.services.moto.child`),
  one per service group (`split=True`, the default: DynamoDB + Streams, SQS, and the
  front serving Cognito and the rest; `moto/groups.py` says why), each with its own
  interpreter lock, or all in one (`split=False`). This process binds every group's
  socket first and hands them down, so all URLs are known at once and `start(wait=False)`
  returns in milliseconds; requests wait in the listen backlog until moto serves
  (`wait_ready`). The children end when their stdin closes (this process stopped or
  died).
- "thread": every service in a daemon thread of this process, on an event loop of its
  own. moto keeps its state in process-wide singletons, so all thread-mode servers of
  one process share one AWS "account": the first one to start wipes moto's state, later
  ones started while it runs join it (resources need distinct names). moto's code is
  not patched in this mode, nor does it follow a virtual clock: it is the emulator's own
  process, whose clock is the emulator's.

`url` (and `port`) is the front, which answers every service; `urls` / `url_for` name
each group's own process, which is what handlers and the emulator's pollers use.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from emulator.logs import SERVICE, emit
from emulator.services.moto import groups
from emulator.services.moto.internal import internal_call

Mode = Literal["thread", "process"]
MODE_ENV = "DUELCTL_MOTO"
CHILD_START_TIMEOUT_S = 30.0
ALL = "all"

_REGISTRY_LOCK = threading.Lock()
_running = 0  # thread-mode servers running in this process


def default_mode() -> Mode:
    """`DUELCTL_MOTO` ("thread" or "process"), else "process" (module docstring)."""
    return "thread" if os.environ.get(MODE_ENV, "").strip().lower() == "thread" else "process"


def reset_moto_state() -> None:
    """Forget every resource moto holds in this process (all services, all accounts)."""
    from moto.core.base_backend import BackendDict
    from moto.core.model_instances import reset_model_data

    BackendDict.reset()
    reset_model_data()


class MotoServer:
    """moto on `host` (the front on `port`, 0 = a free port), in child processes or a thread.

    `start()` returns once every group serves (`start(wait=False)`: at once, with
    `wait_ready()` to follow); `stop()` ends it. `env` is added to the children's
    environment (e.g. `DUELCTL_CLOCK_FILE`). See the module docstring for the modes.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        mode: Mode | None = None,
        split: bool | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self.mode: Mode = mode or default_mode()
        self.split = (self.mode == "process") if split is None else split
        if self.split and self.mode == "thread":
            raise ValueError("thread mode serves every service from one server")
        self._env = dict(env or {})
        self._ports: dict[str, int] = {}
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: set[str] = set()  # groups not yet serving
        self._ready_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: Any = None
        self._app: Any = None
        self._thread_stop: Any = None
        self.started_in_s = 0.0

    # ------------------------------------------------------------------ where

    @property
    def ports(self) -> dict[str, int]:
        """Each group's port (every group maps to the same one unless split)."""
        if not self._ports:
            raise RuntimeError("MotoServer is not running")
        if ALL in self._ports:
            return dict.fromkeys(groups.GROUPS, self._ports[ALL])
        return dict(self._ports)

    @property
    def port(self) -> int:
        """The front's port: it answers every service."""
        return self.ports[groups.DEFAULT]

    @property
    def url(self) -> str:
        """The front's URL (the endpoints file's `aws_endpoint_url`)."""
        return f"http://{self._host}:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        """Each group's own URL."""
        return {group: f"http://{self._host}:{port}" for group, port in self.ports.items()}

    def url_for(self, service: str) -> str:
        """The URL serving boto3's client `service` ("dynamodb", "sqs", "cognito-idp", ...)."""
        return self.urls[groups.group_of_client(service)]

    def endpoint_env(self) -> dict[str, str]:
        """`AWS_ENDPOINT_URL` and the per-service variables for a handler's environment."""
        return groups.endpoint_variables(self.urls)

    @property
    def pid(self) -> int:
        """The process moto was started in (this one in thread mode)."""
        return self._child.pid if self._child is not None else os.getpid()

    @property
    def pids(self) -> list[int]:
        """Every process serving moto (a group's process reports its own pid)."""
        if self._child is None:
            return [os.getpid()]
        return sorted(
            {int(internal_call(url, "GET", "stats")["pid"]) for url in self._distinct_urls()}
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, wait: bool = True) -> None:
        """Bind and serve; with `wait`, return once every group serves."""
        if self._ports:
            raise RuntimeError("MotoServer already started")
        began = time.perf_counter()
        if self.mode == "process":
            self._start_children()
            if wait:
                self.wait_ready()
        else:
            self._start_thread()
        self.started_in_s = time.perf_counter() - began
        emit(
            SERVICE,
            f"moto ({self.mode}{', split' if self.split else ''}) on {self.url}",
            url=self.url,
            urls=self.urls,
            start_ms=self.started_in_s * 1000,
            mode=self.mode,
        )

    def _bind(self, port: int) -> socket.socket:
        sock = socket.create_server((self._host, port), backlog=1024)
        sock.set_inheritable(True)
        return sock

    def _start_children(self) -> None:
        import emulator

        layout = groups.GROUPS if self.split else (ALL,)
        front = groups.DEFAULT if self.split else ALL
        sockets = {g: self._bind(self._requested_port if g == front else 0) for g in layout}
        root = str(Path(emulator.__file__).resolve().parent.parent)
        env = {**os.environ, **self._env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        args = [sys.executable, "-m", "emulator.services.moto.child"]
        for group, sock in sockets.items():
            args += ["--serve", f"{group}={sock.fileno()}"]
        try:
            self._child = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                pass_fds=[s.fileno() for s in sockets.values()],
                start_new_session=True,
                # `-m` looks in the working directory first: a project of the user's with
                # an `emulator/` of its own must not stand in for this one.
                cwd=root,
            )
            self._ports = {g: s.getsockname()[1] for g, s in sockets.items()}
            self._pending = set(layout)
        finally:
            for sock in sockets.values():
                sock.close()  # the child has them now

    def wait_ready(self, timeout_s: float = CHILD_START_TIMEOUT_S) -> None:
        """Block until every group's process serves; OSError if one cannot start.

        Thread-safe: provisioning calls it from one thread per service.
        """
        with self._ready_lock:
            self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        child = self._child
        if child is None or not self._pending:
            return
        assert child.stdout is not None
        deadline = time.monotonic() + timeout_s
        buffered = b""
        while self._pending:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([child.stdout], [], [], max(0.0, left))
            chunk = os.read(child.stdout.fileno(), 256) if readable else b""
            if not chunk:
                self.stop()
                raise OSError(f"moto did not start (exit {child.poll()}): {buffered!r}")
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                words = line.decode(errors="replace").split()
                if len(words) == 2 and words[0] == "serving":
                    self._pending.discard(words[1])
        child.stdout.close()

    def _start_thread(self) -> None:
        global _running
        from emulator.services.moto import patches

        # Correctness fixes only (a cancelled transaction must not detach stream readers);
        # the speed-ups stay in the child, so thread mode is moto's own code otherwise.
        patches.apply_fixes()
        with _REGISTRY_LOCK:
            if _running == 0:
                reset_moto_state()
            _running += 1
        try:
            sock = self._bind(self._requested_port)
            self._ports = {ALL: sock.getsockname()[1]}
            ready = threading.Event()
            failure: list[BaseException] = []
            self._thread = threading.Thread(
                target=self._thread_main,
                args=(sock, ready, failure),
                name=f"moto-{self._ports[ALL]}",
                daemon=True,
            )
            self._thread.start()
            ready.wait()
            if failure:
                raise failure[0]
        except BaseException:
            self._ports = {}
            with _REGISTRY_LOCK:
                _running -= 1
            raise

    def _thread_main(
        self, sock: socket.socket, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        import asyncio

        from emulator.services.moto import httpd
        from emulator.services.moto.app import MotoApp

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # Thread mode: the children's environment (fault mode's DUELCTL_FAULTS) as an argument.
        app = MotoApp(ALL, (self._host, sock.getsockname()[1]), faults=self._env)

        async def main() -> None:
            app.attach(loop)
            server = await httpd.serve(sock, app.handle)
            stop = self._thread_stop = asyncio.Event()
            self._loop, self._app = loop, app
            ready.set()
            await stop.wait()
            server.close()
            await app.aclose()
            await asyncio.sleep(0.02)  # answered long polls reach their sockets

        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    def warm(self) -> None:
        """Thread mode: load moto's models now rather than on their first requests."""
        if self._app is not None:
            self._app.warm()

    def stop(self) -> None:
        """Stop serving and close the sockets; idempotent. In thread mode moto's state stays
        until the next first start; the child processes take their state with them."""
        global _running
        if self._child is not None:
            child, self._child = self._child, None
            self._ports, self._pending = {}, set()
            _end_child(child)
            emit(SERVICE, "moto stopped")
            return
        thread, loop, stop = self._thread, self._loop, self._thread_stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        self._thread = self._loop = self._app = self._thread_stop = None
        self._ports = {}
        with _REGISTRY_LOCK:
            _running -= 1
        emit(SERVICE, "moto stopped")

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ asking moto

    def _distinct_urls(self) -> list[str]:
        return sorted(set(self.urls.values()))

    @property
    def long_polls_waiting(self) -> int:
        """ReceiveMessage calls currently parked (for tests and logs)."""
        if self._app is not None:
            return int(self._app.polls.waiting)
        stats = internal_call(self.urls[groups.SQS], "GET", "stats")
        return int(stats["long_polls_waiting"]) if stats else 0

    def clock_sync(self) -> None:
        """Make every moto process adopt the current virtual time now (`timesync`) and
        look again at its parked long polls: after the emulator moved the clock."""
        for url in self._distinct_urls():
            internal_call(url, "POST", "clock/sync", {})

    def next_due(self) -> float | None:
        """The earliest epoch second at which moto holds something coming due by itself
        (a delayed or in-flight SQS message, a DynamoDB TTL), None if nothing will."""
        dues = []
        for url in sorted({self.urls[groups.SQS], self.urls[groups.DYNAMODB]}):
            reply = internal_call(url, "GET", "next-due")
            if reply and reply.get("due") is not None:
                dues.append(float(reply["due"]))
        return min(dues) if dues else None


def _end_child(child: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin (its signal to stop), wait briefly, then kill it."""
    if child.stdin is not None:
        with contextlib.suppress(OSError):
            child.stdin.close()
    if child.stdout is not None and not child.stdout.closed:
        child.stdout.close()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


__all__ = ["MODE_ENV", "MotoServer", "default_mode", "internal_call", "reset_moto_state"]
