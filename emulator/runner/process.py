"""`ProcessRunner`: Lambda functions in subprocess workers, one per concurrent invocation.

Each worker is one execution environment (docs/aws-behaviour.md §13): `bootstrap.py`
with the function's own environment (`function_environment`), working directory and
sys.path, which imports the handler module once and then serves one invocation at a
time, so module state stays warm between invokes. A timeout or a crash ends the worker,
so the next invoke initialises the module again, as AWS resets the environment.

The parts, one job each:

- `pool.py`: which environment serves which invoke; environments started ahead of need
  (a spare per used function, more under a burst, up to the caps in `limits.py`);
- `worker.py` drives one environment's `lifecycle.py` state machine (sans-I/O) with the
  event loop's readers, one timer and an awaited process exit;
- `spawn.py` / `forkserver.py` start the processes; `environment.py` builds their
  environment; `wire.py` frames requests and cuts output into lines; `calls.py` turns
  an ended invocation into an `Invocation` and its log line; `outcomes.py` words AWS's
  errors; `faults.py` is the hook for injected crashes and timeouts.

Log records (emulator.logs), all on the INVOKE channel:
- each line the handler writes to stdout/stderr: message = the line, fields `function`,
  `request_id` (None while no invocation runs, e.g. module init of a prewarmed worker) and
  `output` (the line again, so renderers can tell output from summaries);
- one summary per invocation: fields `function`, `route`, `request_id`, `duration_ms`,
  `outcome`, `cold_start`, plus `init_ms` on a cold start, `user` when the event's
  `requestContext.authorizer` names the caller (`emulator.logs.caller_name`), `fault` when one
  was injected.
SERVICE gets one note per function whose runtime differs from the local Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.runner import limits
from emulator.runner.base import Invocation
from emulator.runner.calls import Call
from emulator.runner.environment import function_environment
from emulator.runner.faults import InvokeFaults
from emulator.runner.forkserver import ForkServer
from emulator.runner.outcomes import user_of
from emulator.runner.pool import Fleet, Settings
from emulator.runner.spawn import Launcher
from emulator.runner.wire import request_frame
from emulator.template.model import Function
from emulator.timesync import ENV as CLOCK_FILE_ENV

__all__ = ["ProcessRunner", "function_environment"]


class ProcessRunner:
    """Runs functions in warm subprocess workers, like Lambda execution environments.

    Implements `FunctionRunner`. `functions` is the template's model by logical id;
    `extra_env` is added last to every worker's environment (the emulator's endpoints);
    `python` is the interpreter the workers run on; `clock` stamps timestamps (timeouts
    and deadlines run on real time, because the handler does). `max_concurrency`
    (environments per function), `max_workers` (across functions) and `init_timeout_s`
    default to `limits.py`. `faults` injects crashes and timeouts (faults.py);
    `clock_file` is the virtual clock's shared file (emulator/timesync.py), named to every
    worker as `DUELCTL_CLOCK_FILE`.

    `Invocation.duration_ms` is the handler's time as AWS's REPORT Duration counts it:
    from sending the request to the response, without a cold start's init (that is the
    summary log's `init_ms`) or time queued for a worker.

    `in_flight` counts invocations accepted and not finished (queued or running);
    `idle_event` is set whenever it is 0, and callbacks added with `add_idle_callback` run
    each time it drops to 0, so a waiter learns that the stack is quiet without polling.
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
        init_timeout_s: float = limits.INIT_TIMEOUT_S,
        faults: InvokeFaults | None = None,
        clock_file: Path | None = None,
    ) -> None:
        env = dict(extra_env)
        if clock_file is not None:
            env[CLOCK_FILE_ENV] = str(clock_file)
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.faults = faults
        self.closed = False
        self.in_flight = 0
        self.idle_event = asyncio.Event()
        self.idle_event.set()
        self._idle_callbacks: list[Callable[[], None]] = []
        self._functions = dict(functions)
        self._noted: set[str] = set()
        self._launcher = Launcher(
            python=python,
            region=region,
            account_id=account_id,
            extra_env=env,
            clock=clock,
            fork_server=fork_server,
        )
        settings = Settings(
            max_concurrency=max(1, max_concurrency or limits.DEFAULT_MAX_CONCURRENCY),
            max_workers=max(1, max_workers or limits.default_max_workers(len(functions))),
            init_timeout_s=init_timeout_s,
            exit_grace_s=limits.EXIT_GRACE_S,
        )
        self._fleet = Fleet(self._launcher, settings, self._note_python)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop yet: the fork server starts on first use
        else:
            # Its imports (~0.3 s) then overlap with whatever the caller does next
            # (the emulator provisions moto), instead of delaying the first cold start.
            self._launcher.start_fork_server()

    @property
    def max_concurrency(self) -> int:
        return self._fleet.settings.max_concurrency

    @property
    def max_workers(self) -> int:
        return self._fleet.settings.max_workers

    @property
    def fork_server(self) -> ForkServer | None:
        """The fork server, once started (None with `fork_server=False`)."""
        return self._launcher.fork_server

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        """Run `function` with `event`; KeyError for an unknown function (Invoke API: 404).

        If the caller gives up, an invocation already sent runs to its end (as in AWS)
        and its worker returns to the pool; one still queued is dropped.
        """
        fn = self._functions[function]
        if self.closed:
            raise RuntimeError("ProcessRunner is closed")
        request_id = str(uuid.uuid4())
        call = Call(
            function=function,
            request_id=request_id,
            frame=request_frame(request_id, fn.timeout_s * 1000, event),
            timeout_s=fn.timeout_s,
            route=route,
            user=user_of(event),
            fault=None if self.faults is None else self.faults.fault_for(function, request_id),
            future=asyncio.get_running_loop().create_future(),
            on_done=self._call_done,
        )
        self.in_flight += 1
        self.idle_event.clear()
        pool = self._fleet.pool(fn)
        if not pool.workers:
            self._launcher.start_fork_server()
        pool.submit(call)
        return await call.future

    async def prewarm(self, functions: Iterable[str] | None = None) -> None:
        """Start one worker (and its module init) for each function that has none.

        Returns when those workers are ready or have failed; at most one init per CPU
        runs at once, so a background prewarm leaves room for real invokes.
        """
        names = list(self._functions) if functions is None else list(functions)
        unknown = [name for name in names if name not in self._functions]
        if unknown:
            raise KeyError(unknown[0])
        server = self._launcher.start_fork_server()
        if server is not None:
            # Workers forked from it start in milliseconds; wait for it (bounded by its
            # own start-up timeout) rather than start slow fresh ones meanwhile.
            await asyncio.shield(server.start())
        slots = asyncio.Semaphore(limits.PREWARM_PARALLEL)

        async def warm(name: str) -> None:
            async with slots:
                fn = self._functions.get(name)
                if fn is None or self.closed:
                    return
                worker = self._fleet.pool(fn).prewarm()
                if worker is not None:
                    await asyncio.shield(worker.settled)

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
        touched = set(self._fleet.pools) if changed is None else set(changed)
        retired = []
        for name, pool in self._fleet.pools.items():
            fn = new.get(name)
            if fn is None:
                if not pool.removed:
                    pool.replace(None)
                    retired.append(name)
            elif pool.removed or name in touched or fn != pool.fn:
                pool.replace(fn)  # a removed function may come back
                retired.append(name)
        self._functions = new
        self._launcher.forget_code_roots()
        if retired:
            emit(
                SERVICE,
                f"reloaded: new workers for {', '.join(sorted(retired))}",
                functions=sorted(retired),
            )

    async def aclose(self) -> None:
        """Kill every worker and wait until the processes are gone; safe to call twice."""
        self.closed = True
        self._fleet.closed = True
        for pool in self._fleet.pools.values():
            pool.close()
        ended = [w.ended for w in self._fleet.workers()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limits.CLOSE_TIMEOUT_S):
                await asyncio.gather(*ended)
                await self._launcher.aclose()

    def add_idle_callback(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` each time `in_flight` drops to 0; returns its remover.

        It runs synchronously as the last invocation finishes: it must not block.
        """
        self._idle_callbacks.append(callback)
        return lambda: self._idle_callbacks.remove(callback)

    async def wait_idle(self) -> None:
        """Return once no invocation is in flight."""
        await self.idle_event.wait()

    # ------------------------------------------------------------------ internals

    def _call_done(self, call: Call) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.idle_event.set()
            for callback in list(self._idle_callbacks):
                callback()

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
