"""Targets: ping RTT p50 <= 3 ms at 1 connection; accept -> both `start` p50 <= 10 ms.

Two runs against one `duelctl up`: one connection pinging back to back, then one pair
dueling (invite, accept, one ping, stop) with no rejects or timeouts, so every figure is
an unloaded round trip through the whole stack.

    python bench/latency.py [SECONDS]
"""

from __future__ import annotations

import sys

from common import duelctl_up, run_bench, save


def main() -> None:
    seconds = sys.argv[1] if len(sys.argv) > 1 else "10"
    with duelctl_up() as up:
        ping = run_bench(
            up.workdir, ["--pairs", "0", "--idle", "1", "--idle-ping", "0", "--duration", seconds]
        )
        duel = run_bench(
            up.workdir,
            [
                "--pairs",
                "1",
                "--pings",
                "1",
                "--reject-share",
                "0",
                "--timeout-share",
                "0",
                "--duration",
                seconds,
            ],
        )
    summary = {
        "ping_rtt_p50_ms": ping["ping_ms"]["p50"],
        "ping_rtt_p99_ms": ping["ping_ms"]["p99"],
        "pings_per_s_1conn": ping["pings_per_s"],
        "start_p50_ms": duel["start_ms"]["p50"],
        "start_p99_ms": duel["start_ms"]["p99"],
        "invite_p50_ms": duel["invite_ms"]["p50"],
        "stop_p50_ms": duel["stop_ms"]["p50"],
        "clean": ping["clean"] and duel["clean"],
    }
    print(summary)
    print("saved", save("latency", {"summary": summary, "ping_run": ping, "duel_run": duel}))


if __name__ == "__main__":
    main()
