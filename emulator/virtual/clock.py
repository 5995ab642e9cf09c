"""The emulator's side of virtual time: a `Clock` that is real time plus a growing offset.

`VirtualClock` is what a `--clock virtual` stack hands every part that reads time (the
gateway's timers and event times, the reaper, the pollers, the HTTP API's JWT checks).
It writes its offset to a `timesync.ClockFile`, which handler workers and moto's
processes follow, so every process of the stack reads the same time.

Between jumps virtual time flows at the real rate; `jump_to` is the only way it moves
faster, and it only moves forward. The advancer (advancer.py) decides when and where.
Sleepers (`sleep_until`) wake on every jump and go back to sleep if their deadline has
not come; their deadlines are also points the advancer may jump to (the gateway's idle
and 2-hour connection limits sleep here).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

from emulator.timesync import ClockFile
from emulator.virtual.activity import Activity


class VirtualClock:
    """`emulator.clock.Clock` for a virtual stack; the offset lives in `file`."""

    mode = "virtual"

    def __init__(self, file: ClockFile, activity: Activity | None = None) -> None:
        self.file = file
        self._offset = file.offset
        self.activity = activity if activity is not None else Activity()
        self.activity.set_now(self.now)
        self._jumped: asyncio.Event | None = None
        self._sleepers: dict[int, float] = {}
        self._ids = itertools.count()

    @property
    def offset(self) -> float:
        """Seconds virtual time is ahead of real time."""
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def now_ms(self) -> int:
        return int((time.time() + self._offset) * 1000)

    async def sleep_until(self, deadline: float) -> None:
        token = next(self._ids)
        self._sleepers[token] = deadline
        try:
            while (remaining := deadline - self.now()) > 0:
                if self._jumped is None:
                    self._jumped = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._jumped.wait()
            await asyncio.sleep(0)
        finally:
            # Still registered (so "due") until the sleeper runs on, without a yield in
            # between: time cannot jump past a timer before its owner has acted on it.
            del self._sleepers[token]
        # A timer that fired is a change: the pollers look again before the next jump,
        # which also gives work its owner starts in a task of its own time to begin.
        self.activity.changed()

    def next_sleeper(self) -> float | None:
        """The earliest deadline someone sleeps until, None if nobody sleeps."""
        return min(self._sleepers.values(), default=None)

    def jump_to(self, target: float) -> float:
        """Move virtual time forward to `target` (epoch seconds); return how far it moved.

        Never moves backwards: a `target` at or before now changes nothing (returns 0).
        """
        step = target - self.now()
        if step <= 0:
            return 0.0
        self._offset += step
        self.file.set_offset(self._offset)
        event, self._jumped = self._jumped, None
        if event is not None:
            event.set()
        self.activity.jumped()
        return step


__all__ = ["VirtualClock"]
