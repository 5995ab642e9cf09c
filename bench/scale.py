"""Targets: 1,000 connections and 200 concurrent duels with zero lost or duplicated
frames; timers fire <= 250 ms after they are due; `duelctl up` <= 300 MB RSS.

200 pairs each hold a duel for 30 s (invite, accept, 3 pings spread over the duel,
stop), one after another; 10 % of invites are rejected and 20 % left to time out (half
expire unanswered after InviteTimeoutSeconds=5, half run to DuelSeconds=40), and 600
more connections keep alive with a ping every 30 s: 1,000 connections, ~190-200 duels
at once. (Duels last minutes in use, DuelSeconds defaults to 600; the scenario keeps
the turnover higher so timers of both kinds fire during the run.) Connections open
over a 10 s ramp. Timer lateness is the arrival of `no_response` / `timeout` minus the
`expiresAt` / `endsAt` the server announced. Memory is the stack's peak during the
run, sampled from /proc: the `duelctl up` process itself, and its whole process tree
(RSS, and PSS, which splits the pages forked workers share).

    python bench/scale.py [PAIRS] [IDLE] [SECONDS] [RAMP] [HOLD]
"""

from __future__ import annotations

import sys

from common import duelctl_up, run_bench, save

PARAMS = {"InviteTimeoutSeconds": "5", "DuelSeconds": "40", "StartLeadSeconds": "1"}


def main() -> None:
    pairs = sys.argv[1] if len(sys.argv) > 1 else "200"
    idle = sys.argv[2] if len(sys.argv) > 2 else "600"
    seconds = sys.argv[3] if len(sys.argv) > 3 else "75"
    ramp = sys.argv[4] if len(sys.argv) > 4 else "10"
    with duelctl_up(params=PARAMS) as up:
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
        "peak_active_duels": result["peak_active_duels"],
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
