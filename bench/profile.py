"""Where the time goes: py-spy samples of every stack process under a ping load.

Starts `duelctl up`, loads it with N connections pinging back to back, and records
py-spy (`pip install py-spy`) on the emulator process, the moto process and the busiest
worker for a few seconds each (only samples holding the interpreter lock: CPU, not
waiting). Prints, per process, the functions with the most inclusive samples, grouped
the way bench/README.md reports them. Also prints CPU milliseconds per ping for each
kind of process, read from /proc.

    python bench/profile.py [CONNECTIONS] [SECONDS]
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import duelctl_up, run_bench

from duelctl.bench.stats import cpu_seconds, process_tree


def kind_of(pid: int, root: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return "gone"
    if pid == root:
        return "emulator"
    if "moto_server" in args:
        return "moto"
    if "--zygote" in args or "bootstrap.py" in args:
        return "worker"
    return "other"


def top_functions(raw: Path, count: int) -> list[tuple[float, str]]:
    """Inclusive share of samples per function (file:line dropped), largest first."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        total += samples
        frames = {re.sub(r" \(.*\)$", "", f) for f in stack.split(";") if f and "process " not in f}
        for frame in frames:
            inclusive[frame] += samples
    return [(100 * n / total, f) for f, n in inclusive.most_common(count)] if total else []


def main() -> None:
    conns = sys.argv[1] if len(sys.argv) > 1 else "50"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
    spy = shutil.which("py-spy")
    with duelctl_up() as up, tempfile.TemporaryDirectory() as tmp:
        root = up.proc.pid
        args = ["--pairs", "0", "--idle", conns, "--idle-ping", "0", "--ramp", "1"]
        run_bench(up.workdir, [*args, "--duration", "3"])  # warm workers
        result: dict[str, object] = {}
        load = threading.Thread(
            target=lambda: result.update(
                run_bench(up.workdir, [*args, "--duration", str(seconds * 3 + 4)])
            )
        )
        load.start()
        time.sleep(3)
        before = {p: (kind_of(p, root), cpu_seconds(p) or 0.0) for p in process_tree(root)}
        t0 = time.perf_counter()
        targets = {"emulator": root}
        for pid, (kind, _) in before.items():
            if kind == "moto":
                targets["moto"] = pid
        workers = [p for p, (k, _) in before.items() if k == "worker"]
        if workers:
            targets["worker"] = max(workers, key=lambda p: cpu_seconds(p) or 0.0)
        raws: dict[str, Path] = {}
        if spy is None:
            print("py-spy not found (pip install py-spy): CPU per process only", file=sys.stderr)
        else:
            spies = []
            for name, pid in targets.items():
                raws[name] = Path(tmp) / f"{name}.txt"
                spies.append(
                    subprocess.Popen(
                        [
                            spy,
                            "record",
                            "--pid",
                            str(pid),
                            "--gil",
                            "--rate",
                            "250",
                            "--duration",
                            str(int(seconds)),
                            "--format",
                            "raw",
                            "--output",
                            str(raws[name]),
                            "--nonblocking",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for process in spies:
                process.wait()
        time.sleep(max(0.0, seconds - (time.perf_counter() - t0)))
        after = {p: cpu_seconds(p) or 0.0 for p in process_tree(root)}
        elapsed = time.perf_counter() - t0
        load.join()
        pings_per_s = float(result.get("pings_per_s", 0.0) or 0.0)  # type: ignore[arg-type]
        print(f"{conns} connections pinging: {pings_per_s:.0f} pongs/s")
        by_kind: dict[str, float] = collections.defaultdict(float)
        for pid, (kind, cpu0) in before.items():
            by_kind[kind] += after.get(pid, cpu0) - cpu0
        for kind, cpu in sorted(by_kind.items(), key=lambda kv: -kv[1]):
            per_ping = cpu / elapsed / pings_per_s * 1000 if pings_per_s else 0.0
            print(f"  {kind:9} {cpu / elapsed:5.2f} cores  {per_ping:5.2f} ms CPU per ping")
        for name, raw in raws.items():
            if raw.exists():
                print(f"\n{name}: top functions (inclusive share of CPU samples)")
                for share, frame in top_functions(raw, 25):
                    print(f"  {share:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
