"""Where the time goes: py-spy samples and /proc CPU of every kind of stack process.

Two loads, each against `duelctl up` in a scratch directory:

- ping (default): N connections pinging back to back for a few seconds;
- `--burst`: issue 12's burst (`duelctl bench --burst PAIRS --rounds R`, half the duels
  run out) on the issue's stack (InviteTimeoutSeconds=2 DuelSeconds=4 StartLeadSeconds=1).
  Sampling starts once every connection is open (the stack's log shows 2N `$connect`
  invocations), so the profile covers the bursts, not the sign-ins.

py-spy (`pip install py-spy`) follows the whole process tree (`--subprocesses`) and keeps
only samples holding the interpreter lock: CPU, not waiting. Processes are grouped by
kind: the emulator (`duelctl up`), each moto process by the service group it serves
(`emulator.services.moto.child`, told apart by the listening socket it kept), the fork
server and the workers (their samples also split by handler). Printed per kind: CPU in
cores over the window and the time spent waiting for a CPU (/proc), and the functions
with the most inclusive samples. `PROFILE_KEEP_RAW=FILE` keeps py-spy's raw stacks;
`PROFILE_WALL=1` samples waiting threads too (wall clock instead of CPU).

    python bench/profile.py [CONNECTIONS] [SECONDS]
    python bench/profile.py --burst [PAIRS] [ROUNDS]
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import duelctl_up, run_bench, save

from duelctl.bench.stats import cpu_seconds, process_tree

BURST_PARAMS = {"InviteTimeoutSeconds": "2", "DuelSeconds": "4", "StartLeadSeconds": "1"}
MOTO_CHILD = "emulator.services.moto.child"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rpartition(")")[2].split()[1])


def _listening_inodes() -> set[str]:
    """Inodes of the machine's listening TCP sockets (/proc/net/tcp, state 0A)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def moto_group(pid: int, args: list[str]) -> str:
    """The group a moto process serves: the `--serve GROUP=FD` whose listening socket it
    kept open (each process closes the other groups' sockets, and a closed descriptor's
    number may come back as an accepted connection; moto/child.py)."""
    listening = _listening_inodes()
    for index, arg in enumerate(args):
        if arg == "--serve" and index + 1 < len(args):
            group, _, fd = args[index + 1].partition("=")
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in listening:
                return group
    return "?"


def kind_of(pid: int, root: int) -> str:
    """ "emulator", "moto:GROUP", "forkserver", "worker", "gone" or "other"."""
    args = _cmdline(pid)
    if not args:
        return "gone"
    if pid == root:
        return "emulator"
    if MOTO_CHILD in args:
        return f"moto:{moto_group(pid, args)}"
    if "--zygote" in args or any(a.endswith("bootstrap.py") for a in args):
        # Workers are forked by the fork server (a child of the emulator), or spawned
        # fresh by the emulator itself.
        return "forkserver" if "--zygote" in args and _ppid(pid) == root else "worker"
    return "other"


_PROCESS = re.compile(r"^process (\d+):")
_HANDLER = re.compile(r"^handle \((?:.*/)?handlers/(\w+)\.py")


def parse_raw(raw: Path, kinds: dict[int, str]) -> dict[str, collections.Counter[str]]:
    """py-spy raw stacks -> per kind, samples per frame (inclusive), plus "__total__".

    Worker samples also count towards "worker:HANDLER" when a handler frame is on the
    stack, so a burst's functions can be told apart.
    """
    out: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        frames = stack.split(";")
        # A child's stack starts with its ancestors' "process PID:..." frames: the last
        # one names the process the sample is from.
        pids = [int(m.group(1)) for f in frames if (m := _PROCESS.match(f))]
        kind = kinds.get(pids[-1], "other") if pids else "other"
        names = {re.sub(r" \(.*\)$", "", f) for f in frames if f and not _PROCESS.match(f)}
        names = {f for f in names if not f.startswith("thread ")}
        buckets = [kind]
        if kind == "worker":
            handler = next((m.group(1) for f in frames if (m := _HANDLER.match(f))), None)
            buckets.append(f"worker:{handler or '(between invokes)'}")
        for bucket in buckets:
            out[bucket]["__total__"] += samples
            for frame in names:
                out[bucket][frame] += samples
    return out


def _spy(pid: int, raw: Path, rate: int, seconds: float | None) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy not found (pip install py-spy)")
    # PROFILE_WALL=1: every sample, waiting included (where the wall-clock time goes).
    when = ["--idle"] if os.environ.get("PROFILE_WALL") else ["--gil"]
    args = [spy, "record", "--pid", str(pid), "--subprocesses", *when, "--nonblocking"]
    args += ["--rate", str(rate), "--format", "raw", "--output", str(raw)]
    if seconds is not None:
        args += ["--duration", str(int(seconds))]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_queue_seconds(pid: int) -> float:
    """Seconds the process's main thread spent runnable but waiting for a CPU
    (/proc/PID/schedstat, second field): CPU contention, which a wall-clock profile
    cannot tell from waiting for I/O."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _cpu_by_pid(root: int) -> dict[int, tuple[str, float, float]]:
    return {
        p: (kind_of(p, root), cpu_seconds(p) or 0.0, run_queue_seconds(p))
        for p in process_tree(root)
    }


def report(
    before: dict[int, tuple[str, float, float]],
    after: dict[int, tuple[str, float, float]],
    elapsed: float,
    profiles: dict[str, collections.Counter[str]],
    top: int,
) -> dict[str, object]:
    """Print (and return) CPU and run-queue wait per kind over the window and each
    kind's top functions."""
    by_kind: dict[str, float] = collections.defaultdict(float)
    waited: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for pid, (kind, cpu1, wait1) in after.items():
        _, cpu0, wait0 = before.get(pid, (kind, 0.0, 0.0))  # new processes from 0
        by_kind[kind] += cpu1 - cpu0
        waited[kind] += wait1 - wait0
        counts[kind] += 1
    total = sum(by_kind.values())
    print(f"window {elapsed:.1f} s, stack CPU {total / elapsed:.2f} cores")
    for kind, cpu in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(
            f"  {kind:14} {cpu / elapsed:5.2f} cores, waited for a CPU"
            f" {waited[kind]:6.2f} s ({counts[kind]} processes)"
        )
    out: dict[str, object] = {
        "elapsed_s": round(elapsed, 2),
        "cores": {k: round(v / elapsed, 3) for k, v in by_kind.items()},
        "run_queue_s": {k: round(v, 2) for k, v in waited.items()},
        "processes": dict(counts),
        "top": {},
    }
    for kind in sorted(profiles, key=lambda k: -profiles[k]["__total__"]):
        counter = profiles[kind]
        total_samples = counter.pop("__total__")
        rows = [(100 * n / total_samples, f) for f, n in counter.most_common(top)]
        out["top"][kind] = [(round(s, 1), f) for s, f in rows]  # type: ignore[index]
        print(f"\n{kind}: {total_samples} samples; top functions (inclusive share)")
        for share, frame in rows:
            print(f"  {share:5.1f}%  {frame}")
    return out


class _PeakSampler(threading.Thread):
    """CPU per kind every 0.1 s, for the busiest 1-second window of each kind: whether a
    process saturated its core during a burst, which a whole-run average hides."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._kinds: dict[int, str] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            totals: dict[str, float] = collections.defaultdict(float)
            for pid in process_tree(self.root):
                kind = self._kinds.get(pid)
                if kind is None:
                    kind = self._kinds[pid] = kind_of(pid, self.root)
                totals[kind] += cpu_seconds(pid) or 0.0
            self.samples.append((time.perf_counter(), totals))
            self._done.wait(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def busiest(self) -> dict[str, float]:
        """Per kind, the most CPU seconds used in any 1-second window (processes that
        ended inside a window make it look smaller, never larger)."""
        best: dict[str, float] = collections.defaultdict(float)
        for i, (t0, first) in enumerate(self.samples):
            for t1, last in self.samples[i + 1 :]:
                if t1 - t0 >= 1.0:
                    for kind, cpu in last.items():
                        used = (cpu - first.get(kind, 0.0)) / (t1 - t0)
                        best[kind] = max(best[kind], round(used, 2))
                    break
        return dict(best)


def ping_profile(conns: str, seconds: float) -> dict[str, object]:
    with duelctl_up() as up, tempfile.TemporaryDirectory() as tmp:
        root = up.proc.pid
        args = ["--pairs", "0", "--idle", conns, "--idle-ping", "0", "--ramp", "1"]
        run_bench(up.workdir, [*args, "--duration", "3"])  # warm workers
        result: dict[str, object] = {}
        load = threading.Thread(
            target=lambda: result.update(
                run_bench(up.workdir, [*args, "--duration", str(seconds + 6)])
            )
        )
        load.start()
        time.sleep(3)
        before = _cpu_by_pid(root)
        t0 = time.perf_counter()
        raw = Path(tmp) / "spy.txt"
        _spy(root, raw, 200, seconds).wait()
        after = _cpu_by_pid(root)
        elapsed = time.perf_counter() - t0
        kinds = {p: v[0] for p, v in {**before, **after}.items()}
        if raw.exists() and os.environ.get("PROFILE_KEEP_RAW"):
            shutil.copy(raw, os.environ["PROFILE_KEEP_RAW"])
        load.join()
        pings_per_s = float(result.get("pings_per_s", 0.0) or 0.0)  # type: ignore[arg-type]
        print(f"{conns} connections pinging: {pings_per_s:.0f} pongs/s")
        profiles = parse_raw(raw, kinds) if raw.exists() else {}
        out = report(before, after, elapsed, profiles, 25)
        out["pongs_per_s"] = pings_per_s
        return out


def burst_profile(pairs: str, rounds: str) -> dict[str, object]:
    with duelctl_up(params=BURST_PARAMS) as up, tempfile.TemporaryDirectory() as tmp:
        root = up.proc.pid
        log = up.workdir / "up.log"
        result: dict[str, object] = {}
        args = ["--burst", pairs, "--rounds", rounds, "--run-out-share", "0.5", "--seed", "1"]
        load_before = os.getloadavg()
        load = threading.Thread(target=lambda: result.update(run_bench(up.workdir, args)))
        load.start()
        want = 2 * int(pairs)
        while load.is_alive() and log.read_text(errors="replace").count(" ConnectFunction ") < want:
            time.sleep(0.02)
        before = _cpu_by_pid(root)
        t0 = time.perf_counter()
        raw = Path(tmp) / "spy.txt"
        spy = _spy(root, raw, 100, None)
        peaks = _PeakSampler(root)
        peaks.start()
        load.join()
        peaks.stop()
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        spy.wait()
        after = _cpu_by_pid(root)
        elapsed = time.perf_counter() - t0
        kinds = {p: v[0] for p, v in {**before, **after}.items()}
        if raw.exists() and os.environ.get("PROFILE_KEEP_RAW"):
            shutil.copy(raw, os.environ["PROFILE_KEEP_RAW"])
        # Workers that ended before the last look still carry their samples.
        profiles = parse_raw(raw, kinds) if raw.exists() else {}
        out = report(before, after, elapsed, profiles, 30)
        out["busiest_second"] = peaks.busiest()
        print("\nbusiest 1-second window per kind (cores):", out["busiest_second"])
        out["load_average"] = {"before": load_before, "after": os.getloadavg()}
        out["bench"] = {
            k: result.get(k)
            for k in ("invite_ms", "start_ms", "stop_ms", "expired_accepts", "clean", "per_round")
        }
        print(f"\nload average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
        per_round: Any = result.get("per_round") or []
        for index, rnd in enumerate(per_round):
            print(
                f"round {index + 1}: invite p99 {rnd['invite_ms']['p99']} ms, start p99"
                f" {rnd['start_ms']['p99']} ms, expired accepts {rnd['expired_accepts']}"
            )
        return out


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "--burst":
        pairs = argv[1] if len(argv) > 1 else "50"
        rounds = argv[2] if len(argv) > 2 else "3"
        print("saved", save("profile_burst", burst_profile(pairs, rounds)))
    else:
        conns = argv[0] if argv else "50"
        seconds = float(argv[1]) if len(argv) > 1 else 6.0
        print("saved", save("profile_ping", ping_profile(conns, seconds)))


if __name__ == "__main__":
    main()
