"""The bench itself: connect everyone, play duels pair by pair in a loop, count everything.

Each pair (inviter A, invitee B) plays one duel after another until the run's deadline:

    accept   A invite -> A invite_sent, B invite; B accept -> both start;
             a few pings (A and B in turn) -> pong; A or B stop -> both stop
    reject   ... B reject -> both rejected
    no_response  B never answers -> both no_response when the invite expires
    timeout  accepted, pinged, then left alone -> both timeout at endsAt

Timer kinds are only chosen when the stack's timers are known and short enough to end
before the deadline (an embedded stack runs with compressed timers). Their lateness
(arrival minus the `expiresAt`/`endsAt` the server announced) is the timer figure.

Idle connections (`idle`) only keep alive: one `ping` every `idle_ping_s` seconds, or
back to back when it is 0, which makes them a pure ping-throughput load.

Every wait is bounded (`step_timeout_s`), the loop stops at the deadline, and after it a
short grace lets late frames arrive before the lost ones are counted, so a run always
ends within ramp + duration + a few step timeouts.

The connections, the frame ledger and the meters are `base.BenchRun`'s, shared with the
burst mode (`burst.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from duelctl.bench.base import BenchRun
from duelctl.bench.config import BenchConfig, Timers
from duelctl.bench.conn import Arrival, BenchConn, Expect, StepFailed
from duelctl.bench.stats import Samples, Summary
from duelctl.client.auth import Identity
from duelctl.client.ws import parse_time

KINDS = ("accept", "reject", "no_response", "timeout")
TIMER_MARGIN_S = 1.0  # a timer kind must fit before the deadline with this to spare
PAUSE_AFTER_FAILURE_S = 0.2
RATE_WINDOW_S = 3.0  # the live line's rates cover about this many recent seconds


@dataclass(slots=True)
class Progress:
    """A snapshot for the live display."""

    elapsed_s: float
    phase: str
    connections: int
    target_connections: int
    duels: int
    duels_per_s: float
    pings_per_s: float
    errors: int
    lost: int
    client_cpu: float


@dataclass(slots=True)
class BenchResult:
    config: BenchConfig
    connect_ms: Summary
    invite_ms: Summary
    start_ms: Summary
    stop_ms: Summary
    ping_ms: Summary
    reject_ms: Summary
    timer_late_ms: Summary
    loop_lag_ms: Summary
    duels: int
    peak_active: int
    kinds: dict[str, int]
    pings: int
    window_s: float
    connections: int
    lost: int
    lost_types: dict[str, int]
    duplicated: int
    duplicated_types: dict[str, int]
    late: int
    unexpected: dict[str, int]
    errors: dict[str, int]
    frames_in: int
    frames_out: int
    client_cpu: float
    server: dict[str, Any] | None = None
    ready_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No frame lost, duplicated or unexpected, no error, and at least one duel or ping."""
        return (
            self.lost == 0
            and self.duplicated == 0
            and not self.unexpected
            and not self.errors
            and (self.duels > 0 or self.pings > 0)
        )

    def to_json(self) -> dict[str, Any]:
        """The `--json` object: the issue's keys first, then the detail."""
        window = self.window_s or 1.0
        return {
            "connect_ms": self.connect_ms,
            "invite_ms": self.invite_ms,
            "start_ms": self.start_ms,
            "stop_ms": self.stop_ms,
            "ping_ms": self.ping_ms,
            "duels": self.duels,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "errors": dict(self.errors),
            "ready_s": None if self.ready_s is None else round(self.ready_s, 3),
            "client_cpu": round(self.client_cpu, 3),
            "clean": self.clean,
            "reject_ms": self.reject_ms,
            "timer_late_ms": self.timer_late_ms,
            "loop_lag_ms": self.loop_lag_ms,
            "kinds": dict(self.kinds),
            "peak_active_duels": self.peak_active,
            "pings": self.pings,
            "duels_per_s": round(self.duels / window, 2),
            "pings_per_s": round(self.pings / window, 2),
            "window_s": round(self.window_s, 3),
            "connections": self.connections,
            "late": self.late,
            "lost_types": dict(self.lost_types),
            "duplicated_types": dict(self.duplicated_types),
            "unexpected": dict(self.unexpected),
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "server": self.server,
            "config": {
                "pairs": self.config.pairs,
                "idle": self.config.idle,
                "duration_s": self.config.duration_s,
                "ramp_s": self.config.ramp_s,
                "idle_ping_s": self.config.idle_ping_s,
                "pings": self.config.pings,
                "hold_s": self.config.hold_s,
                "reject_share": self.config.reject_share,
                "timeout_share": self.config.timeout_share,
                "step_timeout_s": self.config.step_timeout_s,
            },
            "notes": list(self.notes),
        }


class Bench(BenchRun):
    """One run: `await Bench(config, url, identities, timers).run()`."""

    def __init__(
        self,
        config: BenchConfig,
        websocket_url: str,
        identities: Sequence[Identity],
        timers: Timers,
        *,
        stack_pid: int | None = None,
        on_first_connection: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config, websocket_url, identities, stack_pid=stack_pid)
        self.config = config
        self.timers = timers
        self.invite_ms = Samples()
        self.start_ms = Samples()
        self.stop_ms = Samples()
        self.ping_ms = Samples()
        self.reject_ms = Samples()
        self.timer_late_ms = Samples()
        self.kinds: Counter[str] = Counter()
        self.duels = 0
        self.pings = 0
        self.active = 0  # duels between `start` and their end right now
        self.peak_active = 0
        self._on_first = on_first_connection
        self._slots = asyncio.Semaphore(max(1, config.connect_concurrency))
        self._deadline = 0.0
        self._window_start: float | None = None
        self._window_end: float | None = None
        self._recent: list[tuple[float, int, int]] = []  # (time, duels, pings) for rates
        self._timer_kinds = self._usable_timer_kinds()

    # ------------------------------------------------------------------ run

    async def run(self) -> BenchResult:
        return self._result(await self._measured(self._all_pairs))

    async def _all_pairs(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        self._deadline = self._t0 + cfg.ramp_s + cfg.duration_s
        self.phase = "connecting"
        order = itertools.count()
        tasks = [
            loop.create_task(self._pair(self.conns[2 * p], self.conns[2 * p + 1], order))
            for p in range(cfg.pairs)
        ]
        tasks += [loop.create_task(self._idle(conn, order)) for conn in self.conns[2 * cfg.pairs :]]
        try:
            await asyncio.gather(*tasks)
            self._window_end = time.perf_counter()
            self.phase = "draining"
            await self._drain_late()
        finally:
            for task in tasks:
                task.cancel()

    def progress(self) -> Progress:
        now = time.perf_counter()
        duels_per_s, pings_per_s = self._rates(now)
        return Progress(
            elapsed_s=now - self._t0 if self._t0 else 0.0,
            phase=self.phase,
            connections=self.open,
            target_connections=self.config.connections,
            duels=self.duels,
            duels_per_s=duels_per_s,
            pings_per_s=pings_per_s,
            errors=sum(self.tally.errors.values()),
            lost=self._lost(),
            client_cpu=self.cpu.used() if self._t0 else 0.0,
        )

    def _rates(self, now: float) -> tuple[float, float]:
        """Duels and pings per second for the live line.

        Over the last `RATE_WINDOW_S` while the run lasts (since the first duel began
        when less has passed: the first line used to show 0.0/s, having nothing to
        compare with); once the duels are over, the whole window's average, the very
        figure the summary prints, so the last live line and the table agree.
        """
        start = self._window_start
        if start is None:
            return 0.0, 0.0
        if self._window_end is not None:
            span = self._window_end - start
            return (self.duels / span, self.pings / span) if span > 0 else (0.0, 0.0)
        self._recent.append((now, self.duels, self.pings))
        while len(self._recent) > 1 and now - self._recent[1][0] >= RATE_WINDOW_S:
            self._recent.pop(0)
        then, duels, pings = self._recent[0]
        if now - then < RATE_WINDOW_S:
            then, duels, pings = start, 0, 0
        span = now - then
        if span <= 0:
            return 0.0, 0.0
        return (self.duels - duels) / span, (self.pings - pings) / span

    # ------------------------------------------------------------------ connecting

    async def _connect(self, conn: BenchConn, order: itertools.count[int]) -> bool:
        cfg = self.config
        slot = next(order)
        if cfg.ramp_s > 0 and cfg.connections > 1:
            at = self._t0 + cfg.ramp_s * slot / (cfg.connections - 1)
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
        async with self._slots:
            try:
                elapsed = await conn.open(self.url, self.config.step_timeout_s)
            except StepFailed as failed:
                self.tally.error(failed.code)
                return False
        self.connect_ms.add(elapsed)
        self.open += 1
        if self.open == 1 and self._on_first is not None:
            self._on_first()
        if self.open == cfg.connections:
            self.phase = "running"
        return True

    # ------------------------------------------------------------------ loops

    def _started_window(self) -> None:
        if self._window_start is None:
            self._window_start = time.perf_counter()

    async def _pair(self, a: BenchConn, b: BenchConn, order: itertools.count[int]) -> None:
        ok_a, ok_b = await asyncio.gather(self._connect(a, order), self._connect(b, order))
        if not (ok_a and ok_b):
            return
        self._started_window()
        turn = 0
        while time.perf_counter() < self._deadline:
            kind = self._choose(self._deadline - time.perf_counter())
            try:
                await self._duel(a, b, kind, turn)
            except StepFailed:
                if a.closed or b.closed:
                    return
                await asyncio.sleep(PAUSE_AFTER_FAILURE_S)
            turn += 1

    async def _idle(self, conn: BenchConn, order: itertools.count[int]) -> None:
        if not await self._connect(conn, order):
            return
        self._started_window()
        interval = self.config.idle_ping_s
        if interval > 0:  # spread the pings of all idle connections over the interval
            await asyncio.sleep(self._rng.uniform(0, interval))
        while time.perf_counter() < self._deadline and not conn.closed:
            started = time.perf_counter()
            with contextlib.suppress(StepFailed):
                await self._ping(conn)
            if interval > 0:
                await asyncio.sleep(max(0.0, started + interval - time.perf_counter()))

    def _usable_timer_kinds(self) -> list[tuple[str, float]]:
        t = self.timers
        kinds: list[tuple[str, float]] = []
        if self.config.timeout_share <= 0:
            return kinds
        if t.invite_timeout_s is not None:
            kinds.append(("no_response", t.invite_timeout_s))
        if t.duel_s is not None and t.start_lead_s is not None:
            kinds.append(("timeout", t.start_lead_s + t.duel_s))
        if not kinds:
            self.notes.append("timeouts skipped: the stack's timer parameters are unknown")
        elif all(wait + TIMER_MARGIN_S > self.config.duration_s for _, wait in kinds):
            waits = ", ".join(f"{k} {w:g}s" for k, w in kinds)
            self.notes.append(f"timeouts skipped: they do not fit in --duration ({waits})")
        return kinds

    def _choose(self, remaining_s: float) -> str:
        cfg = self.config
        roll = self._rng.random()
        if roll < cfg.reject_share:
            return "reject"
        if roll < cfg.reject_share + cfg.timeout_share:
            fits = [k for k, wait in self._timer_kinds if wait + TIMER_MARGIN_S <= remaining_s]
            if fits:
                return self._rng.choice(fits)
        return "accept"

    # ------------------------------------------------------------------ one duel

    async def _ping(self, conn: BenchConn) -> None:
        rid = self._request_id()
        expect = conn.expect("pong", request_id=rid)
        sent = time.perf_counter()
        try:
            await conn.send({"action": "ping", "requestId": rid})
            got = await self._wait(conn, expect, sent + self.config.step_timeout_s)
        except StepFailed:
            conn.cancel(expect)
            raise
        self.ping_ms.add((got.at - sent) * 1000)
        self.pings += 1

    async def _duel(self, a: BenchConn, b: BenchConn, kind: str, turn: int) -> None:
        """Play one duel of `kind`; raise StepFailed (after cleaning up) if a step fails.

        An answer or a stop can lose a race to the stack's own timer (an accept arriving
        after the invite expired gets `no_response` to both, a stop after `endsAt` gets
        `timeout`); the protocol then promises exactly one of the two outcomes to both
        users, so either ends the step, and the loser's `invalid_state` is no error.
        """
        step = self.config.step_timeout_s
        waiting: list[tuple[BenchConn, Expect]] = []

        def expect(conn: BenchConn, frames: str | tuple[str, ...], **match: str) -> Expect:
            e = conn.expect(frames, **match)
            waiting.append((conn, e))
            return e

        def both(frames: str | tuple[str, ...], sid: str) -> tuple[Expect, Expect]:
            return expect(a, frames, session_id=sid), expect(b, frames, session_id=sid)

        session_id: str | None = None
        running = False  # this duel is counted in `active`
        try:
            rid = self._request_id()
            sent_e = expect(a, "invite_sent", request_id=rid)
            invite_e = expect(b, "invite", from_user=a.user_id)
            t_invite = time.perf_counter()
            await a.send({"action": "invite", "to": b.user_id, "requestId": rid})
            sent = await self._wait(a, sent_e, t_invite + step)
            session_id = str(sent.data.get("sessionId"))
            invited = await self._wait(b, invite_e, t_invite + step)
            self.invite_ms.add((invited.at - t_invite) * 1000)
            expires = parse_time(sent.data.get("expiresAt"))

            if kind == "no_response":
                ea, eb = both("no_response", session_id)
                got = await self._both(a, ea, b, eb, self._after(expires, step))
                outcome = self._late(got, expires, "no_response")
            elif kind == "reject":
                ea, eb = both(("rejected", "no_response"), session_id)
                body = self._answer(session_id, accept=False)
                t = time.perf_counter()
                got = await self._race(b, body, (a, ea), (b, eb), t + step)
                outcome = self._settle(b, body, got, "rejected")
                if outcome == "rejected":
                    self.reject_ms.add((max(g.at for g in got) - t) * 1000)
                else:
                    self._late(got, expires, outcome)
            else:
                ea, eb = both(("start", "no_response"), session_id)
                body = self._answer(session_id, accept=True)
                t = time.perf_counter()
                got = await self._race(b, body, (a, ea), (b, eb), t + step)
                outcome = self._settle(b, body, got, "start")
                if outcome != "start":
                    self._late(got, expires, outcome)
                else:
                    self.start_ms.add((max(g.at for g in got) - t) * 1000)
                    self.active += 1
                    running = True
                    self.peak_active = max(self.peak_active, self.active)
                    ends = parse_time(got[0].data.get("endsAt"))
                    # Registered before the pings: on a slow stack the duel may end by
                    # its timer while they run.
                    end_a, end_b = both(("stop", "timeout"), session_id)
                    await self._hold(a, b, time.perf_counter(), kind)
                    if kind == "timeout":
                        ended = await self._both(a, end_a, b, end_b, self._after(ends, step))
                        outcome = self._settle(None, None, ended, "timeout")
                        self._late(ended, ends, outcome)
                    else:
                        stopper = a if turn % 2 == 0 else b
                        body = {"action": "stop", "sessionId": session_id}
                        body["requestId"] = self._request_id()
                        t = time.perf_counter()
                        ended = await self._race(stopper, body, (a, end_a), (b, end_b), t + step)
                        outcome = self._settle(stopper, body, ended, "stop")
                        if outcome == "stop":
                            self.stop_ms.add((max(g.at for g in ended) - t) * 1000)
                        else:
                            self._late(ended, ends, outcome)
                    self.active -= 1
                    running = False
        except StepFailed as failed:
            if running:
                self.active -= 1
            await self._abandon(a, b, session_id, waiting, timed_out=failed.code.startswith("t"))
            raise
        self.duels += 1
        self.kinds[outcome if outcome in KINDS else kind] += 1

    async def _hold(self, a: BenchConn, b: BenchConn, started: float, kind: str) -> None:
        """The duel's middle: its pings, spread over `hold_s` (never past the deadline)."""
        hold, pings = self.config.hold_s, self.config.pings
        for i in range(pings):
            if hold > 0:
                at = min(started + hold * (i + 1) / (pings + 1), self._deadline)
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
            await self._ping(a if i % 2 == 0 else b)
        if hold > 0 and kind != "timeout":
            await asyncio.sleep(max(0.0, min(started + hold, self._deadline) - time.perf_counter()))

    @staticmethod
    def _after(due: float | None, step_s: float) -> float:
        """perf_counter deadline: `step_s` after the wall-clock time `due` (now if unknown)."""
        return time.perf_counter() + max(0.0, (due or time.time()) - time.time()) + step_s

    async def _race(
        self,
        sender: BenchConn,
        body: dict[str, Any],
        first: tuple[BenchConn, Expect],
        second: tuple[BenchConn, Expect],
        until: float,
    ) -> tuple[Arrival, Arrival]:
        """Send `body` (racing a timer) unless both ends already came; wait for both."""
        sender.racing[str(body["requestId"])] = None
        if not (first[1].future.done() and second[1].future.done()):
            await sender.send(body)
        return await self._both(first[0], first[1], second[0], second[1], until)

    def _settle(
        self,
        sender: BenchConn | None,
        body: dict[str, Any] | None,
        got: tuple[Arrival, Arrival],
        intended: str,
    ) -> str:
        """The outcome both users saw; account for the racing request's error, if any."""
        first, second = str(got[0].data.get("type")), str(got[1].data.get("type"))
        if first != second:
            # docs/protocol.md: exactly one outcome per session, sent to both users.
            self.tally.error(f"conflicting_{first}_{second}")
        if sender is None or body is None:
            return first
        request_id = str(body["requestId"])
        code = sender.racing.pop(request_id, None)
        if first == intended:
            if code is not None:
                self.tally.error(code)
        elif code is None:
            sender.quiet_requests.add(request_id)  # its invalid_state may still come
        else:
            self.tally.ignored += 1
        return first

    def _late(self, got: tuple[Arrival, ...], due: float | None, outcome: str) -> str:
        """Record how late a timer's frames reached both users (wall clock)."""
        if due is not None:
            self.timer_late_ms.add((max(g.wall for g in got) - due) * 1000)
        return outcome

    def _answer(self, session_id: str, *, accept: bool) -> dict[str, Any]:
        return {
            "action": "response",
            "sessionId": session_id,
            "accept": accept,
            "requestId": self._request_id(),
        }

    async def _abandon(
        self,
        a: BenchConn,
        b: BenchConn,
        session_id: str | None,
        waiting: list[tuple[BenchConn, Expect]],
        *,
        timed_out: bool,
    ) -> None:
        """After a failed step: stop waiting, end the session, ignore its later frames.

        When the step timed out, the frames still awaited count as lost (or late); when
        the server answered with an error, they will legitimately never come.
        """
        for conn, e in waiting:
            if e.future.done():
                continue
            if timed_out:
                conn.give_up(e)
            else:
                conn.cancel(e)
        if session_id is None:
            return
        a.abandoned.add(session_id)
        b.abandoned.add(session_id)
        # The inviter may withdraw a pending invite or stop an active duel; an error
        # (the session already ended) is expected and not counted.
        rid = self._request_id()
        a.quiet_requests.add(rid)
        with contextlib.suppress(StepFailed):
            await a.send({"action": "stop", "sessionId": session_id, "requestId": rid})

    # ------------------------------------------------------------------ result

    def _result(self, cpu: float) -> BenchResult:
        start = self._window_start or self._t0
        end = self._window_end or time.perf_counter()
        return BenchResult(
            config=self.config,
            invite_ms=self.invite_ms.summary(),
            start_ms=self.start_ms.summary(),
            stop_ms=self.stop_ms.summary(),
            ping_ms=self.ping_ms.summary(),
            reject_ms=self.reject_ms.summary(),
            timer_late_ms=self.timer_late_ms.summary(),
            duels=self.duels,
            peak_active=self.peak_active,
            kinds={k: self.kinds[k] for k in KINDS if self.kinds[k]},
            pings=self.pings,
            window_s=max(0.0, end - start),
            **self._ledger(cpu),
        )
