"""The ceiling: the same client against a raw `websockets` echo server and the stack.

One tiny client loop (send a ping frame, wait for the reply, repeat) runs first against
an echo server (websockets' asyncio server answering each message with itself, in its
own process, compression off like the gateway), then against `duelctl up`, on this
machine in the same run, at 1 connection and at N connections. The stack's figures
divided by the echo server's are the ratios in bench/README.md: how much of what Python
WebSockets on this machine could do at best the whole stack achieves.

    python bench/ceiling.py [CONNECTIONS] [SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import duelctl_up, save

from duelctl.bench.stats import summarize
from duelctl.bench.users import create_local_user, local_cognito_client


async def echo_server(port_file: Path) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        await asyncio.to_thread(port_file.write_text, str(port))
        await asyncio.Future()


async def load(urls: list[str], seconds: float) -> dict[str, object]:
    """Each URL one connection pinging back to back for `seconds`: RTTs and rate."""
    from websockets.asyncio.client import connect

    rtts: list[float] = []
    count = 0

    async def one(url: str, deadline: float) -> None:
        nonlocal count
        async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                sent = time.perf_counter()
                await ws.send(json.dumps({"action": "ping", "requestId": f"c{n}"}))
                await ws.recv()
                rtts.append((time.perf_counter() - sent) * 1000)
                count += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(u, started + seconds) for u in urls))
    elapsed = time.perf_counter() - started
    return {"rtt_ms": summarize(rtts), "per_s": round(count / elapsed, 1), "messages": count}


def measure(urls: list[str], seconds: float) -> dict[str, object]:
    return asyncio.run(load(urls, seconds))


def main() -> None:
    conns = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port_file)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.02)
            echo = f"ws://127.0.0.1:{port_file.read_text()}/"
            results["echo_1"] = measure([echo], seconds)
            results[f"echo_{conns}"] = measure([echo] * conns, seconds)
        finally:
            server.terminate()
            server.wait()
    with duelctl_up() as up:
        endpoints = up.endpoints
        client = local_cognito_client(endpoints)
        tokens = [
            create_local_user(client, endpoints, f"ceiling-{time.time_ns()}-{i}").token
            for i in range(conns)
        ]
        urls = [f"{endpoints.websocket_url}?token={t}" for t in tokens]
        measure(urls[:1], 2.0)  # warm the ping function's workers
        results["stack_1"] = measure(urls[:1], seconds)
        results[f"stack_{conns}"] = measure(urls, seconds)

    def ratio(key: str, stat: str) -> float | None:
        stack, echo = results[f"stack_{key}"], results[f"echo_{key}"]
        if stat == "per_s":
            return round(float(stack["per_s"]) / float(echo["per_s"]), 4)  # type: ignore[arg-type]
        s = stack["rtt_ms"]["p50"]  # type: ignore[index]
        e = echo["rtt_ms"]["p50"]  # type: ignore[index]
        return round(e / s, 4) if s and e else None

    summary = {
        "connections": conns,
        "echo_rtt_p50_ms_1conn": results["echo_1"]["rtt_ms"]["p50"],  # type: ignore[index]
        "stack_rtt_p50_ms_1conn": results["stack_1"]["rtt_ms"]["p50"],  # type: ignore[index]
        "echo_per_s_n": results[f"echo_{conns}"]["per_s"],
        "stack_per_s_n": results[f"stack_{conns}"]["per_s"],
        "rtt_ratio_1conn": ratio("1", "rtt"),
        "throughput_ratio_n": ratio(str(conns), "per_s"),
    }
    print(json.dumps(summary, indent=2))
    print("saved", save("ceiling", {"summary": summary, "runs": results}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(echo_server(Path(sys.argv[2])))
    else:
        main()
