"""Target: `duelctl up` ready (endpoints file written, first connection accepted) <= 1.0 s.

Starts `duelctl up` RUNS times in a fresh directory (cold: new moto state, new scratch
CA cache on the first run only), and for each measures from spawning the process to
(a) `.duelctl/local.json` existing and (b) a first WebSocket connection accepted: a new
user created in the local pool, signed in, connected with its token. The client's
boto3 is imported before the spawn, so only the stack's time is counted.

    python bench/startup.py [RUNS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from common import duelctl_up, save

from duelctl.bench.conn import BenchConn, Tally
from duelctl.bench.users import create_local_user, local_cognito_client
from duelctl_endpoints import Endpoints


async def first_connection(endpoints: Endpoints) -> None:
    client = local_cognito_client(endpoints)
    ident = create_local_user(client, endpoints, f"ready-{time.time_ns()}")
    conn = BenchConn(0, ident.user_id, ident.username, ident.token, Tally())
    await conn.open(endpoints.websocket_url, 30.0)
    await conn.close()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    import boto3  # noqa: F401 - warm the client side before timing the stack

    local_cognito_client(
        Endpoints(
            "local", "us-east-1", "x", "ws://x", "", "", "http://127.0.0.1:1", "p", "c", "", ""
        )
    )
    rows = []
    for i in range(runs):
        with duelctl_up() as up:
            endpoints = up.endpoints
            asyncio.run(first_connection(endpoints))
            ready = time.perf_counter() - up.spawned_at
            rows.append({"endpoints_s": round(up.endpoints_after_s, 3), "ready_s": round(ready, 3)})
            print(
                f"run {i + 1}: endpoints {up.endpoints_after_s:.2f} s, "
                f"first connection {ready:.2f} s"
            )
    summary = {
        "endpoints_s_median": round(statistics.median(r["endpoints_s"] for r in rows), 3),
        "ready_s_median": round(statistics.median(r["ready_s"] for r in rows), 3),
        "ready_s_max": max(r["ready_s"] for r in rows),
    }
    print(summary)
    print("saved", save("startup", {"runs": rows, **summary}))


if __name__ == "__main__":
    main()
