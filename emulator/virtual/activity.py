"""What the stack is doing right now, as far as virtual time must know: is it quiet?

Virtual time may jump only while nothing is in flight (emulator/virtual/advancer.py), so
every part that does work on the stack's behalf says when it starts and ends:

- invocations, counted where every invoke passes (`runtime._RunnerRef.invoke`);
- poller and reaper work (a receive, a batch, a sweep): `with activity.busy(): ...`;
- pollers also say when they have looked at their source and found nothing to do
  (`Poller.caught_up`), because a handler's write or a jump can make work for them that
  nobody is doing *yet*: the stream record a handler produced, the SQS message a jump
  made due, the item whose TTL just passed.

`seq` counts changes that can create such work (an invocation ended, the reaper deleted
an item, a clock timer fired, the clock jumped; `jumps` counts the jumps alone); a
poller is caught up when its last empty look started at the current `seq` (or `jumps`,
for a poller whose source changes only as time passes). Every change wakes the pollers
(`Poller.pause`), so in a virtual stack a stream record or a due message is picked up at
once, not at the next real-time poll.

Everything here runs on the stack's event loop; nothing is shared with threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator


class Poller:
    """One poller's progress: the `seq` (and stack time) of its last look that found nothing.

    `after_jumps_only`: the poller's source changes only as time passes (the TTL reaper:
    no handler writes an item whose TTL has already passed), so it must look again after
    a jump, not after every invocation.
    """

    def __init__(self, activity: Activity, name: str, *, after_jumps_only: bool = False) -> None:
        self.name = name
        self._activity = activity
        self._jumps_only = after_jumps_only
        self.seen_seq = -1
        self.seen_at = 0.0  # stack time when that look started
        self._mark: tuple[int, int] = (-1, -1)

    def look(self) -> tuple[int, float]:
        """Call when a look starts; pass the result to `caught_up` if it finds nothing."""
        self._mark = self._wake_mark()
        return self._seq(), self._activity.now()

    def _wake_mark(self) -> tuple[int, int]:
        return self._seq(), self._activity.pokes

    def _seq(self) -> int:
        return self._activity.jumps if self._jumps_only else self._activity.seq

    async def pause(self, timeout: float) -> None:
        """Until the next look is due: `timeout` real seconds, or sooner once something
        this poller follows changed (or it was poked) since the last `look` began, so
        nothing that happened during a look waits for the timeout."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._wake_mark() == self._mark:
            left = end - loop.time()
            if left <= 0:
                return
            await self._activity.wait_poke(left)

    def caught_up(self, started: tuple[int, float]) -> None:
        """The look that started at `started` found nothing to do."""
        self.seen_seq, self.seen_at = started
        self._activity.poke_advancer()

    @property
    def is_caught_up(self) -> bool:
        return self.seen_seq == self._seq()


class Activity:
    """Counters of work in flight and the pollers' progress, for one virtual stack."""

    def __init__(self, now: object = time.time) -> None:
        self._now = now
        self.in_flight = 0  # invocations
        self.busy_count = 0  # poller batches, receives, sweeps, clock syncs
        self.busy_reasons: dict[str, int] = {}
        self.seq = 0
        self.jumps = 0
        self.pokes = 0
        self.pollers: list[Poller] = []
        self._poke: asyncio.Event | None = None
        self._advancer_poke: asyncio.Event | None = None

    def now(self) -> float:
        return float(self._now())  # type: ignore[operator]

    def set_now(self, now: object) -> None:
        """Use the stack's clock for `Poller.seen_at` (the VirtualClock sets itself here)."""
        self._now = now

    # -- work in flight ------------------------------------------------------------------

    @contextlib.contextmanager
    def invocation(self) -> Iterator[None]:
        """Around one invoke: in flight while inside; its end may have made work (`changed`)."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.changed()

    @contextlib.contextmanager
    def busy(self, reason: str) -> Iterator[None]:
        """Around poller or reaper work that must not see time jump under it."""
        self.busy_count += 1
        self.busy_reasons[reason] = self.busy_reasons.get(reason, 0) + 1
        try:
            yield
        finally:
            self.busy_count -= 1
            left = self.busy_reasons[reason] - 1
            if left:
                self.busy_reasons[reason] = left
            else:
                del self.busy_reasons[reason]
            self.poke_advancer()

    def changed(self) -> None:
        """Something happened that may give a poller work: every poller must look again."""
        self.seq += 1
        self._wake_pollers()
        self.poke_advancer()

    def jumped(self) -> None:
        """The clock jumped: a change for every poller, the time-driven ones included."""
        self.jumps += 1
        self.changed()

    # -- pollers -------------------------------------------------------------------------

    def poller(self, name: str, *, after_jumps_only: bool = False) -> Poller:
        handle = Poller(self, name, after_jumps_only=after_jumps_only)
        self.pollers.append(handle)
        return handle

    def remove(self, poller: Poller) -> None:
        with contextlib.suppress(ValueError):
            self.pollers.remove(poller)

    def poke(self) -> None:
        """Make every poller look again at once, though nothing changed."""
        self.pokes += 1
        self._wake_pollers()

    def _wake_pollers(self) -> None:
        event, self._poke = self._poke, None
        if event is not None:
            event.set()

    async def wait_poke(self, timeout: float) -> None:
        """Sleep up to `timeout` real seconds, or until the next `poke`/`changed`."""
        if self._poke is None:
            self._poke = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._poke.wait()

    # -- the advancer --------------------------------------------------------------------

    def poke_advancer(self) -> None:
        if self._advancer_poke is not None:
            self._advancer_poke.set()

    def advancer_event(self) -> asyncio.Event:
        """The event the advancer sleeps on; set whenever anything here changes."""
        if self._advancer_poke is None:
            self._advancer_poke = asyncio.Event()
        return self._advancer_poke

    def not_quiet(self) -> str | None:
        """Why the stack is not quiet, from these counters alone; None when it is."""
        if self.in_flight:
            return f"{self.in_flight} invocation(s) in flight"
        if self.busy_count:
            return "busy: " + ", ".join(sorted(self.busy_reasons))
        behind = [p.name for p in self.pollers if not p.is_caught_up]
        if behind:
            return "catching up: " + ", ".join(behind)
        return None

    def caught_up_since(self) -> float:
        """The stack time since which every poller has looked (its oldest last look)."""
        return min((p.seen_at for p in self.pollers), default=self.now())


def activity_of(clock: object) -> Activity | None:
    """The Activity of a virtual stack's clock; None for a real clock (do nothing extra)."""
    activity = getattr(clock, "activity", None)
    return activity if isinstance(activity, Activity) else None


__all__ = ["Activity", "Poller", "activity_of"]
