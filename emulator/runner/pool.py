"""Which worker serves which invocation: one pool per function, one budget for all.

A `FunctionPool` holds a function's environments (idle, starting, busy) and the invokes
waiting for one. An invoke takes the warmest idle environment, or waits in the pool's
queue for the first one to free up, whichever that is: a busy one finishing, or a new
one finishing its init. New environments are forked in the background, never by the
invoke itself, so a burst is served by every warm environment while new ones start
beside it (AWS keeps environments warm and scales them out the same way):

- demand: one new environment per queued invoke not already covered by one starting, up
  to the function's concurrency cap; an idle environment elsewhere makes way when the
  runner-wide budget is full, one that never served first, else the one idle longest
  (Lambda reclaims idle environments too);
- spare: once a function has been invoked it keeps `SPARES_PER_FUNCTION` environment
  ready beyond its queue, so the next concurrent invoke finds one initialised; spares only
  use free room in the budget, never evict.

The invoke that waited for an environment's init is its cold start; one that finds an
idle environment (prewarmed, a spare, or one freed by a finished invoke) is warm. An init
started for the queue that fails reports to the oldest waiting invoke, as AWS reports a
failed init to the invoke that caused it; a spare's failed init reports to nobody (the
queue gets environments of its own), and a failed init is never kept warm, so the next
invoke imports the module again.

`Fleet` is what the pools share: the budget (`max_workers` environments alive) and the
settings every worker is started with.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from emulator.runner.calls import Call
from emulator.runner.limits import SPARES_PER_FUNCTION
from emulator.runner.spawn import Launcher
from emulator.runner.worker import Worker
from emulator.template.model import Function


@dataclass(frozen=True, slots=True)
class Settings:
    """How every worker is started and how far pools may grow."""

    max_concurrency: int  # environments per function
    max_workers: int  # environments across all functions
    init_timeout_s: float
    exit_grace_s: float
    spares: int = SPARES_PER_FUNCTION


class Fleet:
    """The pools of all functions and the budget they share."""

    def __init__(
        self,
        launcher: Launcher,
        settings: Settings,
        note_python: Callable[[Function, str], None],
    ) -> None:
        self.launcher = launcher
        self.settings = settings
        self.note_python = note_python
        self.pools: dict[str, FunctionPool] = {}
        self.closed = False
        self.alive = 0  # environments not going away, across all pools
        self._pump_scheduled = False

    def pool(self, fn: Function) -> FunctionPool:
        pool = self.pools.get(fn.logical_id)
        if pool is None:
            pool = self.pools[fn.logical_id] = FunctionPool(self, fn)
        return pool

    def has_room(self) -> bool:
        return self.alive < self.settings.max_workers

    def make_room(self, pool: FunctionPool) -> bool:
        """Room for one more environment of `pool`: free, or made by ending an idle one
        of another function (`_eviction_order`)."""
        if self.has_room():
            return True
        idle = [w for p in self.pools.values() if p is not pool and (w := p.oldest_idle())]
        if not idle:
            return False
        min(idle, key=_eviction_order).kill()
        return self.has_room()

    def starved(self, pool: FunctionPool) -> bool:
        """Whether another function has invokes queued only for lack of budget."""
        return not self.has_room() and any(
            p is not pool and p.uncovered and len(p.alive) < self.settings.max_concurrency
            for p in self.pools.values()
        )

    def request_pump(self) -> None:
        """Room may have freed: let queued pools grow, on the next loop turn (coalesced,
        so a pool is never re-entered while it is handing out work)."""
        if not self._pump_scheduled and not self.closed:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        for pool in list(self.pools.values()):
            if pool.uncovered:
                pool.provision()

    def workers(self) -> list[Worker]:
        return [w for pool in self.pools.values() for w in pool.workers]


class FunctionPool:
    """The environments of one function and the invokes waiting for one (module doc)."""

    def __init__(self, fleet: Fleet, fn: Function) -> None:
        self.fleet = fleet
        self.fn = fn
        self.generation = 0  # bumped by a reload: older workers retire
        self.removed = False
        self.used = False  # invoked since created or reloaded: keeps a spare
        self.init_failing = False  # the last init failed: no spares until one succeeds
        self.workers: set[Worker] = set()  # not dead yet (includes those going away)
        self.alive: set[Worker] = set()  # not going away: what the budget counts
        self.idle: list[Worker] = []  # ready, no invocation; the last is the warmest
        self.starting: set[Worker] = set()  # initialising, unclaimed, will serve the queue
        self.queue: deque[Call] = deque()  # invokes waiting for an environment

    @property
    def uncovered(self) -> bool:
        """Invokes are queued that no starting environment will serve."""
        return len(self.queue) > len(self.starting)

    # ------------------------------------------------------------------ the runner's side

    def submit(self, call: Call) -> None:
        """Run `call` on the warmest idle environment, or queue it for the first free one."""
        self.used = True
        if self.idle:
            self.idle.pop().start(call, cold=False)
        else:
            self.queue.append(call)
        self.provision()

    def provision(self) -> None:
        """Start environments in the background for the queue, then for the spare."""
        if self.fleet.closed or self.removed:
            return
        fleet, cap = self.fleet, self.fleet.settings.max_concurrency
        while self.uncovered and len(self.alive) < cap and fleet.make_room(self):
            self._spawn()
        spares = fleet.settings.spares if self.used and not self.init_failing else 0
        while (
            len(self.idle) + len(self.starting) < len(self.queue) + spares
            and len(self.alive) < cap
            and fleet.has_room()
        ):
            self._spawn().spare = True

    def prewarm(self) -> Worker | None:
        """Start one environment if the function has none and the budget has room."""
        if self.workers or self.fleet.closed or not self.fleet.has_room():
            return None
        return self._spawn()

    def oldest_idle(self) -> Worker | None:
        """The idle environment to reclaim first (see `_eviction_order`)."""
        return min(self.idle, key=_eviction_order) if self.idle else None

    def replace(self, fn: Function | None) -> None:
        """New code or configuration: idle and starting environments go now, busy ones
        after their invoke; `None` removes the function (queued invokes get KeyError)."""
        self.generation += 1
        self.removed = fn is None
        if fn is not None:
            self.fn = fn
        self.used = self.init_failing = False
        for worker in [*self.idle, *self.starting]:
            worker.kill()
        if self.removed:
            while self.queue:
                self.queue.popleft().fail(KeyError(self.fn.logical_id))
        else:
            self.provision()

    def close(self) -> None:
        while self.queue:
            self.queue.popleft().fail(RuntimeError("ProcessRunner is closed"))
        for worker in list(self.workers):
            worker.kill()

    def _spawn(self) -> Worker:
        settings = self.fleet.settings
        worker = Worker(
            self,
            self.fn,
            self.generation,
            self.fleet.launcher,
            init_timeout_s=settings.init_timeout_s,
            exit_grace_s=settings.exit_grace_s,
        )
        self.workers.add(worker)
        self.alive.add(worker)
        self.starting.add(worker)
        self.fleet.alive += 1
        worker.launch()
        return worker

    def _next_call(self) -> Call | None:
        while self.queue:
            call = self.queue.popleft()
            if not call.abandoned:
                return call
            call.drop()
        return None

    # ------------------------------------------------------------------ the workers' side

    def on_available(self, worker: Worker, after_init: bool) -> None:
        """A worker finished its init or an invocation: the next queued invoke, or park."""
        self.starting.discard(worker)
        failed = after_init and worker.lifecycle.reset
        if after_init:
            self.init_failing = failed
        if worker.generation != self.generation or self.removed or self.fleet.closed:
            worker.kill()  # retired by a reload
            return
        if failed and worker.spare:
            # A spare's failed init is nobody's: the queued invoke gets its own attempt
            # (which imports the code as it is now).
            worker.kill()
            return
        call = self._next_call()
        if call is not None:
            worker.start(call, cold=after_init)
            self.provision()  # the queue moved: keep the spare
            return
        if failed:
            # A failed init is not kept warm: the next invoke imports the module again.
            worker.kill()
            return
        if self.fleet.starved(self):
            # Another function waits for room in the budget: this environment goes (as
            # Lambda reclaims idle ones) so that one can start.
            worker.kill()
            return
        worker.idle_since = asyncio.get_running_loop().time()
        if after_init:
            self.idle.insert(0, worker)  # fresh spares go last: warm ones serve first
        else:
            self.idle.append(worker)

    def on_withdrawn(self, worker: Worker) -> None:
        """A worker takes no more work (going away): out of the budget and the idle list."""
        if worker in self.alive:
            self.alive.discard(worker)
            self.fleet.alive -= 1
        if worker in self.idle:
            self.idle.remove(worker)
        lifecycle = worker.lifecycle
        if lifecycle.ready or lifecycle.cause == "killed":
            self.starting.discard(worker)
        # else its init failed: it stays "starting" until it reports to a queued invoke,
        # so no second environment is started for that invoke meanwhile.
        self.fleet.request_pump()

    def claim_for_init_failure(self, worker: Worker) -> Call | None:
        """The invoke an init failure is reported to: the oldest one waiting (none for a
        spare's, whose waiting invokes get an environment of their own)."""
        self.init_failing = True
        return None if worker.spare else self._next_call()

    def on_gone(self, worker: Worker) -> None:
        self.workers.discard(worker)
        self.starting.discard(worker)
        self.fleet.request_pump()

    def note_python(self, version: str) -> None:
        self.fleet.note_python(self.fn, version)


def _eviction_order(worker: Worker) -> tuple[bool, float]:
    """Environments that never served an invoke (spares, prewarmed ones) go first, then
    the one idle longest."""
    return (worker.served > 0, worker.idle_since)
