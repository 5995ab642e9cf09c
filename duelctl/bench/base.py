"""What a steady run (`engine.Bench`) and a burst (`burst.Burst`) share: the connections,
the frame ledger, the client's own meters, and the way a run starts and ends.

The two differ only in how they play duels; everything that decides whether a figure can
be trusted (every expected frame tracked per connection, late ones told from lost ones,
the client's CPU and event-loop lag, the stack's CPU and memory) is here once, so the
two modes count the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from duelctl.bench.conn import Arrival, BenchConn, Expect, StepFailed, Tally
from duelctl.bench.stats import CpuMeter, LoopLag, Samples, StackMeter
from duelctl.client.auth import Identity

LATE_GRACE_S = 2.0  # after the duels: how long frames still missing may turn up (late)


class _Sized(Protocol):
    @property
    def connections(self) -> int: ...

    @property
    def seed(self) -> int | None: ...


class BenchRun:
    """The connections of one run and what is measured about them."""

    def __init__(
        self,
        config: _Sized,
        websocket_url: str,
        identities: Sequence[Identity],
        *,
        stack_pid: int | None = None,
    ) -> None:
        if len(identities) < config.connections:
            raise ValueError(f"{config.connections} identities needed, got {len(identities)}")
        self.url = websocket_url
        self.tally = Tally()
        self.conns = [
            BenchConn(i, ident.user_id, ident.username, ident.token, self.tally)
            for i, ident in enumerate(identities[: config.connections])
        ]
        self.connect_ms = Samples()
        self.open = 0
        self.phase = "starting"
        self.notes: list[str] = []
        self.cpu = CpuMeter()
        self.lag = LoopLag()
        self.stack = StackMeter(stack_pid) if stack_pid is not None else None
        self._rng = random.Random(config.seed)
        self._request_ids = itertools.count(1)
        self._t0 = 0.0

    async def _measured(self, play: Callable[[], Awaitable[None]]) -> float:
        """Run `play` with the meters on, then close every connection; the client's CPU share.

        The CPU figure is taken before the connections close, so closing is not counted.
        """
        self.cpu.start()
        loop = asyncio.get_running_loop()
        background = [loop.create_task(self.lag.run())]
        if self.stack is not None:
            background.append(loop.create_task(self.stack.run()))
        self._t0 = time.perf_counter()
        try:
            await play()
        finally:
            self.phase = "closing"
            cpu = self.cpu.used()
            if self.stack is not None:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self.stack.sample)
            await self._close_all()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        self.phase = "done"
        return cpu

    async def _close_all(self) -> None:
        limit = asyncio.Semaphore(100)

        async def close(conn: BenchConn) -> None:
            async with limit:
                await conn.close()

        await asyncio.gather(*(close(c) for c in self.conns), return_exceptions=True)

    def _request_id(self) -> str:
        return f"b{next(self._request_ids)}"

    def _lost(self) -> int:
        return sum(len(c.timed_out) for c in self.conns)

    async def _wait(self, conn: BenchConn, expect: Expect, until: float) -> Arrival:
        """The expected frame, or StepFailed when `until` (perf_counter) passes first."""
        try:
            async with asyncio.timeout(max(0.0, until - time.perf_counter())):
                return await expect.future
        except TimeoutError:
            conn.give_up(expect)
            code = f"timeout_{expect.type}"
            self.tally.error(code)
            raise StepFailed(code) from None

    async def _both(
        self, a: BenchConn, ea: Expect, b: BenchConn, eb: Expect, until: float
    ) -> tuple[Arrival, Arrival]:
        first = await self._wait(a, ea, until)
        second = await self._wait(b, eb, until)
        return first, second

    async def _drain_late(self) -> None:
        """Give frames that missed their wait a moment to turn up (late, not lost)."""
        end = time.perf_counter() + LATE_GRACE_S
        while time.perf_counter() < end and any(c.timed_out for c in self.conns):  # noqa: ASYNC110 - polls a count, nothing to signal
            await asyncio.sleep(0.05)

    def _ledger(self, cpu: float) -> dict[str, Any]:
        """The result fields both modes report: frames lost, duplicated, late, and the meters."""
        lost_types: Counter[str] = Counter()
        for conn in self.conns:
            for e in conn.timed_out:
                lost_types[e.type] += 1
        return {
            "loop_lag_ms": self.lag.samples.summary(),
            "connect_ms": self.connect_ms.summary(),
            "connections": len(self.connect_ms),
            "lost": sum(lost_types.values()),
            "lost_types": dict(lost_types),
            "duplicated": self.tally.duplicated,
            "duplicated_types": dict(self.tally.duplicated_types),
            "late": self.tally.late,
            "unexpected": dict(self.tally.unexpected),
            "errors": dict(self.tally.errors),
            "frames_in": self.tally.frames,
            "frames_out": self.tally.sent,
            "client_cpu": cpu,
            "server": self.stack.to_json() if self.stack is not None else None,
            "notes": list(self.notes),
        }
