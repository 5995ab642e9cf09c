"""When and where virtual time jumps: only while the stack is quiet, to the next thing due.

The rule (README, "Virtual time"): time jumps only while

- no invocation is in flight and no poller, reaper or clock sync is busy (Activity);
- every poller has looked at its source since the last change (a handler's write, a
  reaper's delete, the last jump), so nothing that became due is left unpicked;
- no gateway task runs (a message being dispatched, a `$disconnect`) and no gateway
  timer is overdue;
- at least one client waits (a registered client's `wait`, or a manual `advance`), and
  no registered client holds (is registered and not waiting: it is between steps);
- no waiting client has frames in flight on its connections, either way.

It then jumps to the earliest of: the waiting clients' deadlines, the next moment moto
has something due (a delayed or in-flight SQS message becoming visible, a TTL passing;
`Probe.next_due`), and the earliest clock sleeper (the gateway's idle and 2-hour
connection limits, schedules, the Invoke API's retries). After a jump every poller must
look again before the next one, so what came due is handled first, and whatever that
causes (stream records of a reaped item) too. moto names only what is still to come, so
a due time it named earlier that real time has since passed, after the pollers last
looked, makes them look again before any jump.

Everything runs on the stack's event loop. The quiet check is repeated after the one
await it contains (asking moto), and the jump happens without awaiting in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from emulator.logs import SERVICE, emit
from emulator.virtual.clock import VirtualClock
from emulator.virtual.peers import ClientConnection, PeerFrames, news_for, settled

# moto makes an SQS message visible once its clock is past `visible_at` (in ms), so a
# jump lands a little after the moment it reports (moto/sqs/models.py `Message.visible`);
# the margin also covers the microseconds by which processes' clocks may differ.
DUE_MARGIN_S = 0.01
TICK_S = 0.002  # how often the advancer looks while someone waits and the stack is busy
LEASE_S = 30.0  # a registered client silent this long (real seconds) is dropped
MAX_WAIT_S = 20.0  # the longest one wait request is held (the client asks again)

WaitReason = Literal["frames", "deadline", "pending"]


class Probe(Protocol):
    """What the advancer needs to know about the rest of the stack."""

    def not_quiet(self) -> str | None:
        """Why the gateways are not quiet (tasks running); None when they are."""
        ...

    def peer(self, port: int) -> PeerFrames | None:
        """The gateway's counts for the connection whose client uses `port`."""
        ...

    async def next_due(self) -> float | None:
        """The earliest epoch second moto has something coming due at, None if nothing;
        raises DueUnknown when moto cannot be asked."""
        ...

    async def synced(self) -> None:
        """Tell moto's processes the clock moved (they wake their long polls)."""
        ...


@dataclass(eq=False)
class _Client:
    id: str
    name: str
    last_seen: float  # time.monotonic()
    waiting: int = 0


@dataclass(eq=False)
class _Waiter:
    client: _Client | None  # None: a manual advance
    until: float  # stack time
    conns: tuple[ClientConnection, ...]
    started: float  # time.monotonic()
    max_s: float
    done: asyncio.Future[WaitReason] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DueUnknown(Exception):
    """`Probe.next_due` could not ask every moto process: no jump until it can."""


class UnknownClient(Exception):
    """A wait named a client id that was never registered or whose lease ran out."""


class Backwards(ValueError):
    """A manual move to a time before the stack's now."""


class Advancer:
    """Owns the decision to jump; clients register, wait and unregister through it."""

    def __init__(
        self,
        clock: VirtualClock,
        probe: Probe,
        *,
        tick_s: float = TICK_S,
        lease_s: float = LEASE_S,
    ) -> None:
        self.clock = clock
        self.activity = clock.activity
        self.probe = probe
        self._tick_s = tick_s
        self._lease_s = lease_s
        self._clients: dict[str, _Client] = {}
        self._waiters: list[_Waiter] = []
        self._ids = itertools.count(1)
        self.jumps = 0
        self.last_reason: str | None = None  # why the last look did not jump
        self._last_due: float | None = None  # moto's answer the last time we asked

    # -- clients ---------------------------------------------------------------------------

    def register(self, name: str = "") -> str:
        """A new client; it holds (no jumps) whenever it is not inside `wait`."""
        client = _Client(f"c{next(self._ids)}", name, time.monotonic())
        self._clients[client.id] = client
        self.activity.poke_advancer()
        return client.id

    def unregister(self, client_id: str) -> bool:
        client = self._clients.pop(client_id, None)
        for waiter in [w for w in self._waiters if w.client is client]:
            self._resolve(waiter, "pending")
        self.activity.poke_advancer()
        return client is not None

    async def wait(
        self,
        client_id: str,
        *,
        until: float,
        connections: Sequence[ClientConnection] = (),
        max_s: float = MAX_WAIT_S,
    ) -> WaitReason:
        """Let time move while this client waits; return why the wait ended.

        "frames": the stack sent something (or closed) on one of `connections`;
        "deadline": the stack's clock reached `until`; "pending": neither within `max_s`
        real seconds (ask again).
        """
        client = self._clients.get(client_id)
        if client is None:
            raise UnknownClient(client_id)
        client.last_seen = time.monotonic()
        waiter = _Waiter(client, until, tuple(connections), time.monotonic(), min(max_s, 60.0))
        client.waiting += 1
        try:
            return await self._park(waiter)
        finally:
            client.waiting -= 1
            client.last_seen = time.monotonic()

    async def advance_to(self, target: float, *, max_s: float = 30.0) -> bool:
        """Move the clock to `target`, through everything due on the way; False on timeout.

        Raises Backwards for a target in the past. Each step waits for the stack to be
        quiet, exactly like a client's wait, so a timer met on the way fires at its time.
        """
        now = self.clock.now()
        if target < now - 0.001:
            raise Backwards(target, now)
        waiter = _Waiter(None, target, (), time.monotonic(), max_s)
        return await self._park(waiter) == "deadline"

    async def _park(self, waiter: _Waiter) -> WaitReason:
        self._waiters.append(waiter)
        self.activity.poke_advancer()
        try:
            return await waiter.done
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            self.activity.poke_advancer()

    def _resolve(self, waiter: _Waiter, reason: WaitReason) -> None:
        if not waiter.done.done():
            waiter.done.set_result(reason)
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Look whenever something changes (and every tick while someone waits)."""
        poked = self.activity.advancer_event()
        try:
            while True:
                await asyncio.sleep(0)  # whatever woke us runs first, and nobody starves
                poked.clear()
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug here must not stop time for good
                    emit(SERVICE, f"virtual clock: {exc!r}", level=logging.ERROR)
                timeout = self._tick_s if self._waiters else 1.0
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await poked.wait()
        finally:
            for waiter in list(self._waiters):
                self._resolve(waiter, "pending")

    async def step(self) -> bool:
        """Resolve finished waits, then jump if the stack is quiet; True if it jumped."""
        self._expire_leases()
        self._resolve_waiters()
        if not self._waiters:
            return False
        reason = self.not_quiet()
        if reason is not None:
            self.last_reason = reason
            return False
        seq = self.activity.seq
        try:
            due = await self.probe.next_due()
        except DueUnknown as exc:
            self.last_reason = f"{exc} did not say what is due"
            return False
        reason = self.not_quiet()
        if reason is not None or self.activity.seq != seq or not self._waiters:
            self.last_reason = reason or "the stack changed while asking moto"
            return False
        now = self.clock.now()
        targets = [(w.until, "a client's deadline") for w in self._waiters]
        # moto names only what is still to come; what it named last time may have come
        # due since, by real time flowing, after the pollers last looked.
        previous, self._last_due = self._last_due, due
        for when in (previous, due):
            if when is not None and self.activity.caught_up_since() < when <= now:
                self.last_reason = "something came due; the pollers look again"
                self.activity.poke()
                return False
        if due is not None and due > now:
            targets.append((due + DUE_MARGIN_S, "moto's next due message or TTL"))
        sleeper = self.clock.next_sleeper()
        if sleeper is not None:
            targets.append((sleeper, "a timer of the stack's"))
        target, what = min(targets)
        if target <= now:
            return False
        step = self.clock.jump_to(target)
        self.jumps += 1
        self.last_reason = None
        emit(
            SERVICE,
            f"virtual clock +{step:.3f}s to {what}",
            level=logging.DEBUG,
            step_s=step,
            offset_s=self.clock.offset,
        )
        with self.activity.busy("clock sync"):
            await self.probe.synced()
        self._resolve_waiters()
        return True

    def not_quiet(self) -> str | None:
        """Why time may not jump now (None: it may)."""
        reason = self.activity.not_quiet() or self.probe.not_quiet()
        if reason is not None:
            return reason
        holding = [c for c in self._clients.values() if not c.waiting]
        if holding:
            return f"client {holding[0].id} {holding[0].name} is between steps".rstrip()
        for waiter in self._waiters:
            for conn in waiter.conns:
                why = settled(conn, self.probe.peer(conn.port))
                if why is not None:
                    return why
        sleeper = self.clock.next_sleeper()
        if sleeper is not None and sleeper <= self.clock.now():
            return "a gateway timer is due"
        return None

    def _resolve_waiters(self) -> None:
        now = self.clock.now()
        real = time.monotonic()
        for waiter in list(self._waiters):
            if any(news_for(c, self.probe.peer(c.port)) for c in waiter.conns):
                self._resolve(waiter, "frames")
            elif now >= waiter.until:
                self._resolve(waiter, "deadline")
            elif real - waiter.started >= waiter.max_s:
                self._resolve(waiter, "pending")

    def _expire_leases(self) -> None:
        cutoff = time.monotonic() - self._lease_s
        for client in list(self._clients.values()):
            if not client.waiting and client.last_seen < cutoff:
                del self._clients[client.id]
                emit(
                    SERVICE,
                    f"virtual clock: client {client.id} {client.name} gone silent; dropped",
                    level=logging.WARNING,
                )

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "clients": len(self._clients),
            "waiting": len(self._waiters),
            "jumps": self.jumps,
            "blocked_by": self.not_quiet() if self._waiters else None,
        }


__all__ = ["Advancer", "Backwards", "DueUnknown", "Probe", "UnknownClient", "WaitReason"]
