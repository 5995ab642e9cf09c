"""Targets: 1,000 connections and 200 concurrent duels with zero lost or duplicated
frames; timers fire <= 250 ms after they are due; `duelctl up` <= 300 MB RSS.

200 pairs duel (with rejects, expiring invites and duels that run to their timeout:
the stack runs with InviteTimeoutSeconds=2, DuelSeconds=5, StartLeadSeconds=1) while
600 more connections keep alive with a ping every 10 s: 1,000 connections. Connections
open over the ramp. Memory is the stack's peak during the run, sampled from /proc:
the `duelctl up` process itself, and its whole process tree (RSS and PSS).

    python bench/scale.py [PAIRS] [IDLE] [SECONDS] [RAMP]
"""

from __future__ import annotations

import sys

from common import duelctl_up, run_bench, save


def main() -> None:
    pairs = sys.argv[1] if len(sys.argv) > 1 else "200"
    idle = sys.argv[2] if len(sys.argv) > 2 else "600"
    seconds = sys.argv[3] if len(sys.argv) > 3 else "30"
    ramp = sys.argv[4] if len(sys.argv) > 4 else "10"
    with duelctl_up() as up:
        result = run_bench(
            up.workdir,
            [
                "--pairs",
                pairs,
                "--idle",
                idle,
                "--ramp",
                ramp,
                "--duration",
                seconds,
                "--timeout-share",
                "0.2",
                "--step-timeout",
                "20",
            ],
        )
    server = result.get("server") or {}
    summary = {
        "connections": result["connections"],
        "duels": result["duels"],
        "kinds": result["kinds"],
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "errors": result["errors"],
        "timer_late_ms": result["timer_late_ms"],
        "start_ms": result["start_ms"],
        "ping_ms": result["ping_ms"],
        "up_rss_mb": server.get("rss_mb"),
        "tree_rss_mb": server.get("tree_rss_mb"),
        "tree_pss_mb": server.get("tree_pss_mb"),
        "processes": server.get("processes"),
        "stack_cpu": server.get("cpu"),
        "client_cpu": result["client_cpu"],
        "clean": result["clean"],
    }
    print(summary)
    print("saved", save("scale", {"summary": summary, "run": result}))


if __name__ == "__main__":
    main()
