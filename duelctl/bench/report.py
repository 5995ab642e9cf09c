"""How a bench run looks to a person: live progress on stderr, then the result table.

On a terminal the progress is a rich `Live` line refreshed four times a second; in CI
(no terminal) it is one plain line every few seconds, so logs stay readable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from duelctl.bench.burst import BurstProgress
from duelctl.bench.burst_stats import BurstResult
from duelctl.bench.engine import BenchResult, Progress
from duelctl.bench.stats import Summary

SATURATED_CPU = 0.9  # a client this busy adds its own queueing to every latency
PLAIN_EVERY_S = 5.0


def progress_line(p: Progress) -> Text:
    text = Text()
    text.append(f"{p.elapsed_s:6.1f}s ", style="dim")
    text.append(f"{p.phase:<10} ", style="bold")
    text.append(f"conns {p.connections}/{p.target_connections}  ")
    text.append(f"duels {p.duels} ({p.duels_per_s:.1f}/s)  ")
    text.append(f"pings {p.pings_per_s:.0f}/s  ")
    text.append(f"errors {p.errors}  ", style="red" if p.errors else "")
    text.append(f"lost {p.lost}  ", style="red" if p.lost else "")
    style = "red" if p.client_cpu >= SATURATED_CPU else "dim"
    text.append(f"client cpu {p.client_cpu * 100:.0f}%", style=style)
    return text


@contextlib.asynccontextmanager
async def live_progress(
    console: Console, snapshot: Callable[[], Any], line: Callable[[Any], Text] = progress_line
) -> AsyncIterator[None]:
    """Show `line(snapshot())` while the block runs (Live on a terminal, plain lines
    otherwise); `line` renders the mode's snapshot (steady `Progress` by default)."""
    if console.is_terminal:
        with Live(line(snapshot()), console=console, refresh_per_second=4) as live:

            async def refresh() -> None:
                while True:
                    await asyncio.sleep(0.25)
                    live.update(line(snapshot()))

            task = asyncio.get_running_loop().create_task(refresh())
            try:
                yield
            finally:
                task.cancel()
                live.update(line(snapshot()))
        return

    async def plain() -> None:
        while True:
            await asyncio.sleep(PLAIN_EVERY_S)
            console.print(line(snapshot()))

    task = asyncio.get_running_loop().create_task(plain())
    try:
        yield
    finally:
        task.cancel()


def burst_progress_line(p: BurstProgress) -> Text:
    text = Text()
    text.append(f"{p.elapsed_s:6.1f}s ", style="dim")
    text.append(f"{p.phase:<24} ", style="bold")
    text.append(f"conns {p.connections}/{p.target_connections}  ")
    if p.round:
        text.append(f"started {p.started}/{p.pairs}  ended {p.ended}/{p.pairs}  ")
    text.append(f"expired {p.expired}  ", style="red" if p.expired else "")
    text.append(f"errors {p.errors}  ", style="red" if p.errors else "")
    text.append(f"lost {p.lost}  ", style="red" if p.lost else "")
    style = "red" if p.client_cpu >= SATURATED_CPU else "dim"
    text.append(f"client cpu {p.client_cpu * 100:.0f}%", style=style)
    return text


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _row(table: Table, name: str, summary: Summary, count: int | None = None) -> None:
    table.add_row(
        name,
        *(_ms(summary[key]) for key in ("p50", "p95", "p99", "max")),
        "" if count is None else str(count),
    )


def result_view(result: BenchResult) -> Group:
    """The final report: latency table, then counts, errors and resource use."""
    latency = Table(title="latency (ms)", title_justify="left", show_edge=False)
    latency.add_column("")
    for head in ("p50", "p95", "p99", "max"):
        latency.add_column(head, justify="right")
    latency.add_column("n", justify="right", style="dim")
    kinds = result.kinds
    _row(latency, "connect (handshake)", result.connect_ms, result.connections)
    _row(latency, "invite → invite delivered", result.invite_ms)
    _row(latency, "accept → both start", result.start_ms)
    _row(latency, "stop → both stop", result.stop_ms)
    _row(latency, "ping RTT", result.ping_ms, result.pings)
    _row(latency, "reject → both rejected", result.reject_ms, kinds.get("reject"))
    _row(latency, "timer lateness", result.timer_late_ms)
    _row(latency, "client loop lag", result.loop_lag_ms)

    counts = Table.grid(padding=(0, 2))
    counts.add_column(style="bold")
    counts.add_column()
    window = result.window_s or 1.0
    shown_kinds = ", ".join(f"{k} {n}" for k, n in kinds.items()) or "none"
    counts.add_row(
        "duels completed", f"{result.duels} ({result.duels / window:.1f}/s; {shown_kinds})"
    )
    counts.add_row("duels at once", f"{result.peak_active} at most")
    counts.add_row("pings answered", f"{result.pings} ({result.pings / window:.0f}/s)")
    _accounting(counts, result)
    return Group(latency, Text(""), counts)


def _accounting(counts: Table, result: BenchResult | BurstResult) -> None:
    """The rows both modes share: frames, lost/duplicated, errors, the client and stack."""
    counts.add_row("frames", f"{result.frames_in} received, {result.frames_out} sent")
    bad = "red" if result.lost or result.duplicated else "green"
    detail = ", ".join(f"{k} {n}" for k, n in {**result.lost_types}.items())
    counts.add_row(
        "lost / duplicated",
        Text(
            f"{result.lost} / {result.duplicated}" + (f"  (lost: {detail})" if detail else ""),
            style=bad,
        ),
    )
    if result.late:
        counts.add_row("late", f"{result.late} (arrived after their wait gave up)")
    if result.unexpected:
        counts.add_row(
            "unexpected", Text(", ".join(f"{k} {n}" for k, n in result.unexpected.items()), "red")
        )
    errors = ", ".join(f"{k} {n}" for k, n in sorted(result.errors.items())) or "none"
    counts.add_row("errors", Text(errors, style="red" if result.errors else "green"))
    cpu_style = "red" if result.client_cpu >= SATURATED_CPU else ""
    saturated = "  SATURATED: client latency inflates every figure" if cpu_style else ""
    counts.add_row(
        "client cpu", Text(f"{result.client_cpu * 100:.0f}% of one core{saturated}", cpu_style)
    )
    server = result.server
    if server:
        pss = server.get("tree_pss_mb")
        cpu = server.get("cpu")
        counts.add_row(
            "stack",
            f"cpu {'-' if cpu is None else f'{cpu:.2f}'} cores; peak rss {server['rss_mb']} MB "
            f"(tree {server['tree_rss_mb']} MB rss"
            + (f", {pss} MB pss" if pss is not None else "")
            + f", {server['processes']} processes)",
        )
    if result.ready_s is not None:
        counts.add_row("stack ready", f"{result.ready_s:.2f} s (started by the bench)")
    for note in result.notes:
        counts.add_row("note", Text(note, style="yellow"))


def burst_view(result: BurstResult) -> Group:
    """The burst's report: the four phases and run-out lateness, then outcomes and counts."""
    latency = Table(title="burst latency (ms)", title_justify="left", show_edge=False)
    latency.add_column("")
    for head in ("p50", "p95", "p99", "max"):
        latency.add_column(head, justify="right")
    latency.add_column("n", justify="right", style="dim")
    _row(latency, "connect (handshake, before the burst)", result.connect_ms, result.connections)
    phases = (
        ("invite_sent_ms", "invite → invite_sent"),
        ("invite_ms", "invite → invite delivered"),
        ("start_ms", "accept → both start"),
        ("stop_ms", "stop → both stop"),
        ("timeout_late_ms", "run-out timeout after endsAt"),
    )
    for key, name in phases:
        samples = sum(len(r.samples[key]) for r in result.rounds)
        _row(latency, name, result.phase(key), samples)
    _row(latency, "client loop lag", result.loop_lag_ms)

    counts = Table.grid(padding=(0, 2))
    counts.add_column(style="bold")
    counts.add_column()
    t = result.timers
    shown = (
        f"InviteTimeoutSeconds={_num(t.invite_timeout_s)} DuelSeconds={_num(t.duel_s)} "
        f"StartLeadSeconds={_num(t.start_lead_s)}"
    )
    counts.add_row("stack timers", shown)
    spreads = ", ".join(f"{r.spread_ms:.1f}" for r in result.rounds) or "-"
    counts.add_row(
        "burst",
        f"{result.config.pairs} pairs x {len(result.rounds)} rounds; invites sent within "
        f"{spreads} ms",
    )
    started, expected = result.count("started"), result.expected
    counts.add_row(
        "started",
        Text(f"{started} of {expected}", style="green" if started == expected else "red"),
    )
    ended = f"stopped {result.count('stopped')}, ran out {result.count('ran_out')}" + (
        f", stop after endsAt {n}" if (n := result.count("stop_lost_race")) else ""
    )
    counts.add_row("ended", ended)
    expired = result.count("expired_accepts")
    late_sent = result.count("accepts_sent_after_expiry")
    counts.add_row(
        "accepts after expiresAt",
        Text(
            f"{expired} (invalid_state + no_response)"
            + (f"; {late_sent} sent after it (the invite came late)" if late_sent else ""),
            style="red" if expired else "green",
        ),
    )
    if failed := result.count("failed"):
        counts.add_row("failed steps", Text(str(failed), style="red"))
    _accounting(counts, result)
    return Group(latency, Text(""), counts)


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def finished_line(result: BenchResult | BurstResult, started: float) -> str:
    verdict = "clean" if result.clean else "NOT clean"
    return f"bench finished in {time.perf_counter() - started:.1f} s: {verdict}"
