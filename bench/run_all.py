"""Run every bench script, then write bench/results/summary.md: each target, its figure.

    python bench/run_all.py

Takes about twelve minutes on two cores. Each script also leaves its own JSON in
bench/results/ (with the machine and the time it ran).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT, duelctl_up, machine, run_bench, save

HERE = Path(__file__).resolve().parent


def script(name: str, *args: str) -> dict[str, Any]:
    print(f"== {name} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], check=True, cwd=ROOT)
    data: dict[str, Any] = json.loads((RESULTS / f"{name}.json").read_text())
    return data


def acceptance() -> dict[str, Any]:
    """The issue's run: `duelctl bench --pairs 100 --duration 30` against `duelctl up`."""
    print("== duelctl bench --pairs 100 --duration 30 (duelctl up, template defaults)", flush=True)
    with duelctl_up(params={}) as up:
        result = run_bench(up.workdir, ["--pairs", "100", "--duration", "30"])
    save("pairs100", {"run": result})
    return result


def fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return f"{value}{unit}"


def main() -> None:
    load_before = os.getloadavg()
    started = time.time()
    startup = script("startup", "5")
    latency = script("latency", "10")
    throughput = script("throughput", "50", "15")
    ceiling = script("ceiling", "50", "10")
    scale = script("scale")
    burst = script("burst")
    pairs = acceptance()
    load_after = os.getloadavg()

    s, lat, t, c, sc = (
        startup,
        latency["summary"],
        throughput["summary"],
        ceiling["summary"],
        scale["summary"],
    )
    b, big = burst["summary"]["burst"], burst["summary"]["big"]
    rows = [
        ("`duelctl up` ready (endpoints file)", "-", fmt(s["endpoints_s_median"], " s")),
        (
            "`duelctl up` ready (first connection accepted)",
            "≤ 1.0 s",
            fmt(s["ready_s_median"], " s"),
        ),
        ("accept → both `start` p50 (1 pair)", "≤ 10 ms", fmt(lat["start_p50_ms"], " ms")),
        ("ping RTT p50 (1 connection)", "≤ 3 ms", fmt(lat["ping_rtt_p50_ms"], " ms")),
        (
            "50 connections pinging: pongs/s (frames/s both ways)",
            "≥ 600 frames/s",
            f"{fmt(t['pongs_per_s'])} ({fmt(2 * t['pongs_per_s'])})",
        ),
        (
            "1,000 connections / duels at once: lost, duplicated",
            "0, 0 with 200 duels",
            f"{sc['connections']} / {sc['peak_active_duels']}: {sc['lost']}, {sc['duplicated']}",
        ),
        (
            "timer lateness p50 / p95 (1,000 connections)",
            "≤ 250 ms",
            f"{fmt(sc['timer_late_ms']['p50'], ' ms')} / {fmt(sc['timer_late_ms']['p95'], ' ms')}",
        ),
        (
            "memory with 1,000 connections: `duelctl up` RSS / whole tree PSS",
            "≤ 300 MB",
            f"{fmt(sc['up_rss_mb'], ' MB')} / {fmt(sc['tree_pss_mb'], ' MB')}",
        ),
        (
            "`duelctl bench --pairs 100 --duration 30`",
            "clean",
            f"{'clean' if pairs['clean'] else 'NOT clean'}: {pairs['duels']} duels, "
            f"lost {pairs['lost']}, duplicated {pairs['duplicated']}, "
            f"errors {pairs['errors'] or 'none'}",
        ),
        (
            f"burst of {b['pairs']} pairs x {b['rounds']} (InviteTimeoutSeconds=2): "
            "accepts after `expiresAt`",
            "0",
            f"{b['expired_accepts']} ({b['started']} of {b['pairs'] * b['rounds']} started)",
        ),
        (
            f"burst of {b['pairs']} pairs: invite delivered p99 / accept → both `start` p99",
            "≤ 500 ms",
            f"{fmt(b['invite_p99_ms'], ' ms')} / {fmt(b['start_p99_ms'], ' ms')}",
        ),
        (
            f"burst of {big['pairs']} pairs: lost, duplicated",
            "0, 0",
            f"{big['lost']}, {big['duplicated']} ({big['expired_accepts']} accepts expired)",
        ),
        (
            "ceiling: echo RTT p50 / stack RTT p50 (1 connection)",
            "-",
            f"{fmt(c['echo_rtt_p50_ms_1conn'], ' ms')} / {fmt(c['stack_rtt_p50_ms_1conn'], ' ms')}"
            f" (ratio {c['rtt_ratio_1conn']})",
        ),
        (
            "ceiling: echo msgs/s / stack pongs/s (50 connections)",
            "-",
            f"{fmt(c['echo_per_s_n'])} / {fmt(c['stack_per_s_n'])} "
            f"(ratio {c['throughput_ratio_n']})",
        ),
    ]
    m = machine()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} on {m['nproc']} "
        f"cores ({m['cpu']}), {m['mem_gb']} GB, Python {m['python']}, Linux {m['kernel']}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
        "",
        "| target | goal | measured |",
        "|---|---|---|",
        *(f"| {name} | {goal} | {value} |" for name, goal, value in rows),
    ]
    (RESULTS / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
