"""The burst: N pairs invite at one instant, accept on arrival, start, and stop together.

The steady mode (`engine`) measures a stack under an even load; a burst measures what
issue 12 saw go wrong: many users acting in the same fraction of a second, on a stack
whose short invite timeout turns queueing into wrong answers. One run:

    connect all 2N users (timed as `connect_ms`, not part of the burst); pause
    each round (`rounds` of them, a pause between):
      every inviter sends `invite`, back to back (the spread is measured: the issue
        asks for all within 100 ms)
      each invitee sends `response accept` the moment its `invite` arrives
      both users wait for `start` (or `no_response`, when the accept lost the race
        with `expiresAt`: the stack answers it `invalid_state`)
      the inviter sends `stop` at once and both wait for `stop`; a share of pairs
        (`run_out_share`) sends nothing and waits for `timeout` at `endsAt` instead,
        so those duels all end within the same moment

Frames are tracked exactly as in the steady mode (`conn.BenchConn`): every identity
once per connection, a second arrival is duplicated, a wait past `step_timeout_s` is
lost unless the frame turns up later. After the last round a short settle catches
stragglers and duplicates before connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from duelctl.bench.base import BenchRun
from duelctl.bench.burst_stats import BurstResult, RoundStats, run_out_pairs
from duelctl.bench.config import BurstConfig, Timers
from duelctl.bench.conn import Arrival, BenchConn, Expect, StepFailed
from duelctl.client.auth import Identity
from duelctl.client.ws import parse_time

SETTLE_S = 1.0  # after the last round: room for late frames and duplicates to show up
MAX_RUN_OUT_S = 300.0  # a run-out duel ending later than this is stopped instead


@dataclass(slots=True)
class BurstProgress:
    """A snapshot for the live display."""

    elapsed_s: float
    phase: str
    connections: int
    target_connections: int
    round: int
    rounds: int
    pairs: int
    started: int  # this round
    ended: int  # this round
    expired: int  # all rounds
    errors: int
    lost: int
    client_cpu: float


@dataclass(eq=False, slots=True)
class PairPlan:
    """One pair's part in one round, and the waits registered before its invite leaves."""

    a: BenchConn  # the inviter
    b: BenchConn  # the invitee
    run_out: bool
    body: dict[str, Any]
    sent_e: Expect
    invite_e: Expect
    t_invite: float = 0.0
    waiting: list[tuple[BenchConn, Expect]] = field(default_factory=list)


class Burst(BenchRun):
    """One run: `await Burst(config, url, identities, timers).run()`."""

    def __init__(
        self,
        config: BurstConfig,
        websocket_url: str,
        identities: Sequence[Identity],
        timers: Timers,
        *,
        stack_pid: int | None = None,
    ) -> None:
        super().__init__(config, websocket_url, identities, stack_pid=stack_pid)
        self.config = config
        self.timers = timers
        self.rounds: list[RoundStats] = []

    # ------------------------------------------------------------------ run

    async def run(self) -> BurstResult:
        return self._result(await self._measured(self._all_rounds))

    async def _all_rounds(self) -> None:
        cfg = self.config
        pairs = await self._connect_all()
        for index in range(cfg.rounds):
            if not pairs:
                break
            self.phase = "pause"
            await asyncio.sleep(cfg.pause_s)
            await self._round(index + 1, pairs)
        self.phase = "settling"
        await asyncio.sleep(SETTLE_S)  # a quiet moment for stragglers and duplicates
        await self._drain_late()

    def progress(self) -> BurstProgress:
        current = self.rounds[-1] if self.rounds else None
        return BurstProgress(
            elapsed_s=time.perf_counter() - self._t0 if self._t0 else 0.0,
            phase=self.phase,
            connections=self.open,
            target_connections=self.config.connections,
            round=current.index if current else 0,
            rounds=self.config.rounds,
            pairs=current.pairs if current else self.config.pairs,
            started=current.outcomes["started"] if current else 0,
            ended=current.ended if current else 0,
            expired=sum(r.outcomes["expired_accepts"] for r in self.rounds),
            errors=sum(self.tally.errors.values()),
            lost=self._lost(),
            client_cpu=self.cpu.used() if self._t0 else 0.0,
        )

    # ------------------------------------------------------------------ connecting

    async def _connect_all(self) -> list[tuple[BenchConn, BenchConn]]:
        """Open every connection (bounded handshakes in flight); the pairs fully open."""
        self.phase = "connecting"
        slots = asyncio.Semaphore(max(1, self.config.connect_concurrency))

        async def one(conn: BenchConn) -> bool:
            async with slots:
                try:
                    elapsed = await conn.open(self.url, self.config.step_timeout_s)
                except StepFailed as failed:
                    self.tally.error(failed.code)
                    return False
            self.connect_ms.add(elapsed)
            self.open += 1
            return True

        opened = await asyncio.gather(*(one(c) for c in self.conns))
        pairs = [
            (self.conns[2 * p], self.conns[2 * p + 1])
            for p in range(self.config.pairs)
            if opened[2 * p] and opened[2 * p + 1]
        ]
        if len(pairs) < self.config.pairs:
            self.notes.append(f"{self.config.pairs - len(pairs)} pairs could not connect")
        return pairs

    # ------------------------------------------------------------------ one round

    async def _round(self, index: int, pairs: list[tuple[BenchConn, BenchConn]]) -> None:
        """Every pair invites at once; wait until every pair's duel has ended."""
        cfg = self.config
        chosen = run_out_pairs(len(pairs), cfg.run_out_share, self._rng)
        stats = RoundStats(index, len(pairs), len(chosen))
        self.rounds.append(stats)
        plans: list[PairPlan] = []
        for i, (a, b) in enumerate(pairs):
            rid = self._request_id()
            plan = PairPlan(
                a,
                b,
                run_out=i in chosen,
                body={"action": "invite", "to": b.user_id, "requestId": rid},
                sent_e=a.expect("invite_sent", request_id=rid),
                invite_e=b.expect("invite", from_user=a.user_id),
            )
            plan.waiting += [(a, plan.sent_e), (b, plan.invite_e)]
            # The invite failed (an error frame, a closed socket): its `invite` will not come.
            plan.sent_e.future.add_done_callback(_relay_failure(b, plan.invite_e))
            plans.append(plan)

        self.phase = f"round {index}/{cfg.rounds}: inviting"
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        first = time.perf_counter()
        for plan in plans:
            plan.t_invite = time.perf_counter()
            try:
                await plan.a.send(plan.body)
            except StepFailed as failed:
                plan.a.fail(plan.sent_e, failed.code)
            # Its task runs from the loop's next turn: should a send wait for the socket
            # to drain, the pairs already invited go on meanwhile.
            tasks.append(loop.create_task(self._play(plan, stats)))
        stats.spread_ms = (time.perf_counter() - first) * 1000
        if stats.spread_ms > cfg.spread_s * 1000:
            self.notes.append(
                f"round {index}: the invites took {stats.spread_ms:.0f} ms to send "
                f"(more than {cfg.spread_s * 1000:.0f} ms): the client is the bottleneck"
            )
        self.phase = f"round {index}/{cfg.rounds}: dueling"
        await asyncio.gather(*tasks)

    async def _play(self, plan: PairPlan, stats: RoundStats) -> None:
        """One pair's round after its invite left; failures are counted, never raised."""
        a, b = plan.a, plan.b
        step = self.config.step_timeout_s
        session_id: str | None = None

        def expect(conn: BenchConn, frames: tuple[str, ...], sid: str) -> Expect:
            e = conn.expect(frames, session_id=sid)
            plan.waiting.append((conn, e))
            return e

        try:
            invited = await self._wait(b, plan.invite_e, plan.t_invite + step)
            session_id = sid = str(invited.data.get("sessionId"))
            stats.add("invite_ms", (invited.at - plan.t_invite) * 1000)
            expires = parse_time(invited.data.get("expiresAt"))

            # The accept, at once. Both waits exist before it leaves; either `start`
            # or, when it reaches the stack after `expiresAt`, `no_response` ends them.
            start_a = expect(a, ("start", "no_response"), sid)
            start_b = expect(b, ("start", "no_response"), sid)
            accept = {"action": "response", "sessionId": sid, "accept": True}
            accept["requestId"] = rid = self._request_id()
            b.racing[rid] = None
            t_accept = time.perf_counter()
            await b.send(accept)
            if expires is not None and time.time() >= expires:
                stats.count("accepts_sent_after_expiry")

            sent = await self._wait(a, plan.sent_e, plan.t_invite + step)
            stats.add("invite_sent_ms", (sent.at - plan.t_invite) * 1000)

            until = max(t_accept + step, _after(expires, step))
            got = await self._both(a, start_a, b, start_b, until)
            if self._settle_race(b, rid, got, "start") != "start":
                stats.count("expired_accepts")
                return
            stats.add("start_ms", (max(g.at for g in got) - t_accept) * 1000)
            stats.count("started")

            ends = parse_time(got[0].data.get("endsAt"))
            end_a = expect(a, ("stop", "timeout"), sid)
            end_b = expect(b, ("stop", "timeout"), sid)
            if plan.run_out and ends is not None and ends - time.time() > MAX_RUN_OUT_S:
                plan.run_out = False
                note = f"duels end over {MAX_RUN_OUT_S:g} s after start: run-outs stopped"
                if note not in self.notes:
                    self.notes.append(note)
            if plan.run_out:
                ended = await self._both(a, end_a, b, end_b, _after(ends, step))
                self._settle_race(None, None, ended, "timeout")
                if ends is not None:
                    stats.add("timeout_late_ms", (max(g.wall for g in ended) - ends) * 1000)
                stats.count("ran_out")
                return

            stop = {"action": "stop", "sessionId": sid}
            stop["requestId"] = rid = self._request_id()
            a.racing[rid] = None
            t_stop = time.perf_counter()
            await a.send(stop)
            ended = await self._both(a, end_a, b, end_b, max(t_stop + step, _after(ends, step)))
            if self._settle_race(a, rid, ended, "stop") == "stop":
                stats.add("stop_ms", (max(g.at for g in ended) - t_stop) * 1000)
                stats.count("stopped")
            else:
                stats.count("stop_lost_race")
        except StepFailed as failed:
            stats.count("failed")
            await self._abandon(plan, session_id, timed_out=failed.code.startswith("timeout_"))

    # ------------------------------------------------------------------ waits

    def _settle_race(
        self,
        sender: BenchConn | None,
        request_id: str | None,
        got: tuple[Arrival, Arrival],
        intended: str,
    ) -> str:
        """The outcome both users saw; account for the racing request's error, if any.

        docs/protocol.md: exactly one outcome per session, the same to both users. When
        the timer won, the request's `invalid_state` is the expected answer (not an
        error); any other error code still counts.
        """
        first, second = str(got[0].data.get("type")), str(got[1].data.get("type"))
        if first != second:
            self.tally.error(f"conflicting_{first}_{second}")
        if sender is None or request_id is None:
            return first
        code = sender.racing.pop(request_id, None)
        if first == intended:
            if code is not None:
                self.tally.error(code)
        elif code is None:
            sender.quiet_requests.add(request_id)  # its invalid_state may still come
        elif code == "invalid_state":
            self.tally.ignored += 1
        else:
            self.tally.error(code)
        return first

    async def _abandon(self, plan: PairPlan, session_id: str | None, *, timed_out: bool) -> None:
        """After a failed step: stop waiting, end the session, ignore its later frames.

        As in the steady mode: when the step timed out, the frames still awaited count as
        lost (or late); when the stack answered with an error they will never come.
        """
        for conn, e in plan.waiting:
            if e.future.done():
                if not e.future.cancelled():
                    e.future.exception()  # retrieved: no "never retrieved" warning
                continue
            if timed_out:
                conn.give_up(e)
            else:
                conn.cancel(e)
        for conn in (plan.a, plan.b):  # requests still racing a timer when the step failed
            for request_id, code in conn.racing.items():
                if code is None:
                    conn.quiet_requests.add(request_id)  # an invalid_state may still come
                elif code != "invalid_state":
                    self.tally.error(code)
            conn.racing.clear()
        if session_id is None:
            return
        plan.a.abandoned.add(session_id)
        plan.b.abandoned.add(session_id)
        rid = self._request_id()
        plan.a.quiet_requests.add(rid)
        with contextlib.suppress(StepFailed):
            await plan.a.send({"action": "stop", "sessionId": session_id, "requestId": rid})

    # ------------------------------------------------------------------ result

    def _result(self, cpu: float) -> BurstResult:
        return BurstResult(
            config=self.config, timers=self.timers, rounds=list(self.rounds), **self._ledger(cpu)
        )


def _after(due: float | None, step_s: float) -> float:
    """perf_counter deadline: `step_s` after the wall-clock time `due` (now if unknown)."""
    return time.perf_counter() + max(0.0, (due or time.time()) - time.time()) + step_s


def _relay_failure(conn: BenchConn, expect: Expect) -> Any:
    """A done-callback: when the watched future failed, fail `expect` with the same code."""

    def relay(future: asyncio.Future[Arrival]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            conn.fail(expect, exc.code if isinstance(exc, StepFailed) else type(exc).__name__)

    return relay
