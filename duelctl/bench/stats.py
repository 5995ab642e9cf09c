"""Numbers a bench run reports: latency percentiles, CPU, memory and event-loop lag.

Latencies are kept as raw samples (a run is bounded in time and count, so a list of
floats is small) and summarised with the nearest-rank percentile, which always names a
value that was actually measured.

Process figures come from /proc (Linux). Elsewhere they are None: the bench still runs,
it only cannot tell how busy the stack was.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

Summary = dict[str, float | None]
PERCENTILES = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))


class Samples:
    """Latency samples in milliseconds."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: list[float] = []

    def add(self, ms: float) -> None:
        self.values.append(ms)

    def __len__(self) -> int:
        return len(self.values)

    def summary(self) -> Summary:
        """`{"p50", "p95", "p99", "max"}` in ms (rounded to µs); all None without samples."""
        return summarize(self.values)


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(values: Iterable[float]) -> Summary:
    ordered = sorted(values)
    if not ordered:
        empty: Summary = {name: None for name, _ in PERCENTILES}
        empty["max"] = None
        return empty
    out: Summary = {name: round(percentile(ordered, pct), 3) for name, pct in PERCENTILES}
    out["max"] = round(ordered[-1], 3)
    return out


class CpuMeter:
    """CPU time this process used since `start`, as a fraction of one core.

    1.0 means the client kept one core busy the whole time: its own latency then adds
    to every figure, so the report flags it.
    """

    def __init__(self) -> None:
        self._cpu0 = 0.0
        self._wall0 = 0.0

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def start(self) -> None:
        self._cpu0 = self._cpu()
        self._wall0 = time.perf_counter()

    def used(self) -> float:
        wall = time.perf_counter() - self._wall0
        return (self._cpu() - self._cpu0) / wall if wall > 0 else 0.0


class LoopLag:
    """How late the client's event loop wakes a 20 ms sleeper: a saturated client shows
    lag long before its CPU figure reaches 1.0, because frames queue behind each other."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.samples = Samples()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            self.samples.add(max(0.0, (loop.time() - before - self.interval_s) * 1000))


# ---------------------------------------------------------------------- /proc readers

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; everything after its ')' is fixed.
    return text[text.rfind(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (the stack and its handler workers)."""
    children: dict[int, list[int]] = {}
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return [root]
    for entry in entries:
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process used so far (its own, not its children's)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[21]) * _PAGE


def pss_bytes(pid: int) -> int | None:
    """Proportional set size: shared pages split among the processes sharing them, so the
    sum over a tree of forked workers is the memory the tree really costs."""
    try:
        for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class TreeSample:
    at: float  # perf_counter
    cpu_s: float  # CPU seconds used so far by the processes alive now
    processes: int
    rss: int  # bytes, the root process only
    tree_rss: int  # bytes, summed over the tree (counts shared pages once per process)
    tree_pss: int | None  # bytes, summed PSS; None when smaps_rollup is unreadable


def sample_tree(root: int) -> TreeSample | None:
    """CPU and memory of `root` and its descendants right now; None if `root` is gone."""
    root_rss = rss_bytes(root)
    if root_rss is None:
        return None
    cpu = 0.0
    tree_rss = 0
    tree_pss: int | None = 0
    pids = process_tree(root)
    for pid in pids:
        used = cpu_seconds(pid)
        rss = rss_bytes(pid)
        cpu += used or 0.0
        tree_rss += rss or 0
        pss = pss_bytes(pid)
        tree_pss = None if pss is None or tree_pss is None else tree_pss + pss
    return TreeSample(time.perf_counter(), cpu, len(pids), root_rss, tree_rss, tree_pss)


class StackMeter:
    """Samples the stack's process tree while a run lasts: peak memory and CPU share.

    CPU of workers that exit during the run is lost from the sum (the kernel folds it
    into the parent only when reaped by wait), so the figure is a lower bound.
    """

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.first: TreeSample | None = None
        self.last: TreeSample | None = None
        self.peak_rss = 0
        self.peak_tree_rss = 0
        self.peak_tree_pss: int | None = None
        self.peak_processes = 0

    def sample(self) -> None:
        current = sample_tree(self.pid)
        if current is None:
            return
        if self.first is None:
            self.first = current
        self.last = current
        self.peak_rss = max(self.peak_rss, current.rss)
        self.peak_tree_rss = max(self.peak_tree_rss, current.tree_rss)
        self.peak_processes = max(self.peak_processes, current.processes)
        if current.tree_pss is not None:
            self.peak_tree_pss = max(self.peak_tree_pss or 0, current.tree_pss)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval_s)

    def cpu(self) -> float | None:
        """Cores the stack kept busy on average between the first and last sample."""
        if self.first is None or self.last is None or self.last.at <= self.first.at:
            return None
        return max(0.0, (self.last.cpu_s - self.first.cpu_s) / (self.last.at - self.first.at))

    def to_json(self) -> dict[str, float | int | None]:
        mb = 1024 * 1024
        return {
            "pid": self.pid,
            "cpu": None if (cpu := self.cpu()) is None else round(cpu, 3),
            "rss_mb": round(self.peak_rss / mb, 1),
            "tree_rss_mb": round(self.peak_tree_rss / mb, 1),
            "tree_pss_mb": None
            if self.peak_tree_pss is None
            else round(self.peak_tree_pss / mb, 1),
            "processes": self.peak_processes,
        }
