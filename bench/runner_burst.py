"""The function runner alone under a burst: latency, cold starts on the request path, CPU.

Drives `ProcessRunner` directly (no gateway, no moto) with a trivial handler, so what is
measured is the runner: scheduling invokes onto workers, forking new ones, the IPC of one
invoke. Three measurements, each on a fresh runner prewarmed the way `duelctl up` does:

- **burst**: N invokes of one function fired at the same instant, R times in a row (the
  first burst meets one prewarmed worker; later ones meet what the earlier ones left):
  invoke latency p50/p99/max (call to result), time queued before the handler ran
  (latency minus the handler's duration; for a cold start it includes the init), how many
  invokes were an environment's first after its init (`cold_start`), the longest the
  event loop was blocked (a 1 ms ticker), and the parent's CPU per invoke;
- **sequential**: M invokes one after another on a warm worker with an API Gateway-sized
  event: the parent's CPU per invoke (`time.process_time`, the runner's own overhead:
  JSON, framing, bookkeeping, logging) and the round trip;
- `--sleep-ms` makes the handler wait like one that calls AWS (default 0: trivial);
  `--init-ms` gives its module init that much CPU work (a real handler creating its boto3
  clients spends ~50-100 ms there).

    python bench/runner_burst.py [--n 50] [--rounds 3] [--seq 2000] [--sleep-ms 0]
                                 [--init-ms 0] [--save] [--label NAME]

`--save` writes `bench/results/runner_burst.json`. Wall-clock figures move with the
machine's load; CPU figures much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator.runner.process import ProcessRunner  # noqa: E402
from emulator.template.model import Function  # noqa: E402

HANDLER = """
import time

INIT_MS = {init_ms}
_end = time.process_time() + INIT_MS / 1000
while time.process_time() < _end:  # module init that costs CPU, like creating boto3 clients
    pass

def handler(event, context):
    ms = event.get("sleep_ms", 0) if isinstance(event, dict) else 0
    if ms:
        time.sleep(ms / 1000)
    return {{"statusCode": 200}}
"""


def message_event(sleep_ms: float) -> dict[str, Any]:
    """An API Gateway WebSocket MESSAGE event of the usual size (~1.3 KB of JSON)."""
    return {
        "requestContext": {
            "routeKey": "ping",
            "messageId": "Bx1-4cW3IAMCIdQ=",
            "eventType": "MESSAGE",
            "extendedRequestId": "Bx1-4cW3IAMFgTg=",
            "requestTime": "25/Nov/2026:15:14:53 +0000",
            "messageDirection": "IN",
            "stage": "local",
            "connectedAt": 1795619693000,
            "requestTimeEpoch": 1795619693123,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "Python/3.11 websockets/17"},
            "requestId": "Bx1-4cW3IAMFgTg=",
            "domainName": "abcdefghij.execute-api.us-east-1.amazonaws.com",
            "connectionId": "Bx1-4cW3IAMCIdQ=",
            "apiId": "abcdefghij",
            "authorizer": {
                "userId": "8f14e45f-ceea-4e7a-9f3b-1d2c3b4a5e6f",
                "username": "alice",
                "principalId": "8f14e45f-ceea-4e7a-9f3b-1d2c3b4a5e6f",
                "integrationLatency": 12,
            },
        },
        "body": json.dumps({"action": "ping", "requestId": "r-000001", "pad": "x" * 200}),
        "isBase64Encoded": False,
        "sleep_ms": sleep_ms,
    }


def function(code_root: Path) -> Function:
    name = "bench-Fn-ABC123"
    return Function(
        logical_id="Fn",
        name=name,
        handler="app.handler",
        runtime="python3.12",
        code_root=code_root,
        timeout_s=30,
        memory_mb=256,
        environment=MappingProxyType({}),
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
    )


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


class LoopLag:
    """The longest the event loop went without running a 1 ms ticker: time it was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - before - 0.001)


async def timed(runner: ProcessRunner, event: dict[str, Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    inv = await runner.invoke("Fn", event)
    return (time.perf_counter() - start) * 1000, inv


async def burst(code: Path, n: int, rounds: int, sleep_ms: float) -> list[dict[str, Any]]:
    runner = ProcessRunner({"Fn": function(code)}, region="us-east-1", account_id="123456789012")
    try:
        await runner.prewarm()
        await asyncio.sleep(0.5)  # let start-up settle (a stack is ready before load comes)
        out = []
        for r in range(rounds):
            event = message_event(sleep_ms)
            lag = LoopLag()
            ticker = asyncio.create_task(lag.run())
            cpu = time.process_time()
            results = await asyncio.gather(*(timed(runner, event) for _ in range(n)))
            cpu = time.process_time() - cpu
            ticker.cancel()
            lat = [ms for ms, _ in results]
            invs = [inv for _, inv in results]
            out.append(
                {
                    "round": r + 1,
                    "p50_ms": round(pct(lat, 50), 2),
                    "p99_ms": round(pct(lat, 99), 2),
                    "max_ms": round(max(lat), 2),
                    "errors": sum(not inv.ok for inv in invs),
                    "cold_starts": sum(inv.cold_start for inv in invs),
                    "queued_p99_ms": round(
                        pct([ms - inv.duration_ms for ms, inv in results], 99), 2
                    ),
                    "loop_blocked_max_ms": round(lag.worst * 1000, 2),
                    "parent_cpu_ms_per_invoke": round(cpu * 1000 / n, 3),
                }
            )
            await asyncio.sleep(0.5)  # the pool settles (background forks finish)
        return out
    finally:
        await runner.aclose()


async def sequential(code: Path, count: int, sleep_ms: float) -> dict[str, Any]:
    runner = ProcessRunner({"Fn": function(code)}, region="us-east-1", account_id="123456789012")
    try:
        await runner.prewarm()
        event = message_event(sleep_ms)
        for _ in range(50):  # warm up both sides
            await runner.invoke("Fn", event)
        rtts = []
        cpu = time.process_time()
        for _ in range(count):
            ms, inv = await timed(runner, event)
            assert inv.ok, inv.result
            rtts.append(ms)
        cpu = time.process_time() - cpu
        return {
            "invokes": count,
            "parent_cpu_us_per_invoke": round(cpu * 1e6 / count, 1),
            "rtt_p50_ms": round(statistics.median(rtts), 3),
            "rtt_p99_ms": round(pct(rtts, 99), 3),
        }
    finally:
        await runner.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="invokes per burst")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seq", type=int, default=2000, help="sequential invokes")
    parser.add_argument("--sleep-ms", type=float, default=0.0, help="handler wait per invoke")
    parser.add_argument("--init-ms", type=float, default=0.0, help="module init CPU work")
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--label", default="", help="stored with --save (e.g. before/after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runner-burst-") as tmp:
        code = Path(tmp)
        (code / "app.py").write_text(HANDLER.format(init_ms=args.init_ms))
        bursts = await burst(code, args.n, args.rounds, args.sleep_ms)
        seq = await sequential(code, args.seq, 0.0) if args.seq else None
    result = {
        "label": args.label,
        "config": {
            "n": args.n,
            "rounds": args.rounds,
            "sleep_ms": args.sleep_ms,
            "init_ms": args.init_ms,
        },
        "burst": bursts,
        "sequential": seq,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if args.save:
        sys.path.insert(0, str(ROOT / "bench"))
        from common import save

        save("runner_burst" + (f"_{args.label}" if args.label else ""), result)


if __name__ == "__main__":
    asyncio.run(main())
