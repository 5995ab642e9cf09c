"""Time as a dependency: the gateway, reaper and pollers never call time.time() directly.

Production code gets `SYSTEM_CLOCK`; tests pass a `FakeClock` they drive, so an invite
can expire in a unit test without waiting a minute. A `--clock virtual` stack runs on
`emulator.virtual.clock.VirtualClock`: real time plus an offset that jumps ahead while
the stack is quiet, shared with handler workers and moto through `emulator.timesync`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock, like AWS timestamps)."""
        ...

    def now_ms(self) -> int: ...

    async def sleep_until(self, deadline: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """A clock that moves only when a test calls `advance`; sleepers wake in order."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._changed = asyncio.Event()

    def now(self) -> float:
        return self._now

    def now_ms(self) -> int:
        return int(self._now * 1000)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._changed.set()

    async def sleep_until(self, deadline: float) -> None:
        while self._now < deadline:
            self._changed.clear()
            await self._changed.wait()
        await asyncio.sleep(0)


SYSTEM_CLOCK = SystemClock()
