"""Target: 50 connections pinging, >= 600 frames/s end to end.

Each `ping` is a full trip: frame in, route, Lambda worker, DynamoDB UpdateItem on
moto, `pong` posted back through the TLS proxy and @connections. 50 idle connections
ping back to back (each waits for its pong before the next ping); the figure is pongs
per second (one frame each way per ping).

    python bench/throughput.py [CONNECTIONS] [SECONDS]
"""

from __future__ import annotations

import sys

from common import duelctl_up, run_bench, save


def main() -> None:
    conns = sys.argv[1] if len(sys.argv) > 1 else "50"
    seconds = sys.argv[2] if len(sys.argv) > 2 else "15"
    with duelctl_up() as up:
        result = run_bench(
            up.workdir,
            [
                "--pairs",
                "0",
                "--idle",
                conns,
                "--idle-ping",
                "0",
                "--ramp",
                "1",
                "--duration",
                seconds,
            ],
        )
    summary = {
        "connections": int(conns),
        "pongs_per_s": result["pings_per_s"],
        "ping_p50_ms": result["ping_ms"]["p50"],
        "ping_p99_ms": result["ping_ms"]["p99"],
        "client_cpu": result["client_cpu"],
        "stack_cpu": (result.get("server") or {}).get("cpu"),
        "clean": result["clean"],
    }
    print(summary)
    print("saved", save("throughput", {"summary": summary, "run": result}))


if __name__ == "__main__":
    main()
