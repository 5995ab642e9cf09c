"""moto's CPU per AWS request under concurrent load, and SQS latency while DynamoDB is busy.

Starts the emulator's moto side the way `duelctl up` does (`MotoServer`, process mode),
then fires UpdateItem, TransactWriteItems, SendMessage and ReceiveMessage from
PROCS client processes x THREADS threads, each with its own unmodified boto3 client, and
reads the CPU time of every moto process from /proc before and after: CPU milliseconds
per request is moto's whole cost of one handler AWS call (HTTP server, framework, moto's
parsing and backend), independent of how busy the shared machine is. A last phase keeps
DynamoDB saturated with UpdateItems and measures SendMessage latency from one more
thread at a steady rate: with one moto process the sends queue behind the writes, with
one process per service group they do not.

    python bench/moto_requests.py [--requests N] [--procs P] [--threads T]
                                  [--single] [--flask] [--unpatched] [--json]

`--root DIR` imports the emulator from DIR instead (e.g. `git archive` of an older
commit, to measure it with the same load); `--ops` picks phases, `--load-seconds 0`
skips the last one. `--single` serves every service from one process (the layout
before the split);
`--flask` sends every request through moto's Flask app (`DUELCTL_MOTO_DIRECT=0`) instead
of straight into moto's response classes; `--unpatched` runs moto's own algorithms
(`DUELCTL_MOTO_PATCHES=0`).
Results go to bench/results/moto_requests[-LABEL].json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if "--root" in sys.argv:  # before anything imports the emulator
    sys.path.insert(0, sys.argv[sys.argv.index("--root") + 1])
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGION = "us-east-1"
TABLE = "bench-sessions"
QUEUE = "bench-timers"
RECEIVE_QUEUE = "bench-receive"
OPS = ("UpdateItem", "TransactWriteItems", "SendMessage", "ReceiveMessage")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (moto's groups fork from one interpreter)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def boto(service: str, url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=4),
    )


def one_call(op: str, client: Any, urls: dict[str, str], worker: str, i: int) -> None:
    """One request of kind `op`; keys differ per worker and request (no contention)."""
    key = {"id": {"S": f"{worker}-{i % 50}"}}
    if op == "UpdateItem":
        client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #s = :s, n = if_not_exists(n, :z) + :one",
            ConditionExpression="attribute_not_exists(#s) OR #s <> :never",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": {"S": "active"},
                ":z": {"N": "0"},
                ":one": {"N": "1"},
                ":never": {"S": "never"},
            },
        )
    elif op == "TransactWriteItems":
        other = {"id": {"S": f"{worker}-pair-{i % 50}"}}
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key,
                        "UpdateExpression": "SET #s = :s",
                        "ConditionExpression": "attribute_not_exists(#s) OR #s <> :never",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {
                            ":s": {"S": "active"},
                            ":never": {"S": "never"},
                        },
                    }
                },
                {"Put": {"TableName": TABLE, "Item": {**other, "owner": {"S": worker}}}},
            ]
        )
    elif op == "SendMessage":
        client.send_message(
            QueueUrl=urls["queue"], MessageBody=json.dumps({"w": worker, "i": i}), DelaySeconds=0
        )
    elif op == "ReceiveMessage":
        got = client.receive_message(
            QueueUrl=urls["receive_queue"], MaxNumberOfMessages=1, WaitTimeSeconds=0
        )
        if not got.get("Messages"):
            raise RuntimeError("receive queue ran dry")
    else:
        raise ValueError(op)


def client_process(
    op: str, urls: dict[str, str], threads: int, count: int, name: str, start: Any, out: Any
) -> None:
    """One client process: `threads` threads making `count` requests each."""
    service = "dynamodb" if op in ("UpdateItem", "TransactWriteItems") else "sqs"
    clients = [boto(service, urls[service]) for _ in range(threads)]
    for i, c in enumerate(clients):  # warm: connection and botocore's model caches
        one_call(op if op != "ReceiveMessage" else "SendMessage", c, urls, f"{name}-w{i}", 0)
    errors = [0]

    def run(t: int) -> None:
        for i in range(count):
            try:
                one_call(op, clients[t], urls, f"{name}-{t}", i)
            except Exception:
                errors[0] += 1

    start.wait()
    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(errors[0])


def run_phase(
    op: str, urls: dict[str, str], moto_pids: list[int], procs: int, threads: int, total: int
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    per_thread = max(1, total // (procs * threads))
    start = ctx.Event()
    out = ctx.Queue()
    children = [
        ctx.Process(
            target=client_process, args=(op, urls, threads, per_thread, f"p{p}", start, out)
        )
        for p in range(procs)
    ]
    for c in children:
        c.start()
    time.sleep(1.5)  # clients built and warm (their warm-up calls are not measured)
    before = sum(cpu_seconds(p) for p in moto_pids)
    began = time.perf_counter()
    start.set()
    errors = sum(out.get() for _ in children)
    wall = time.perf_counter() - began
    after = sum(cpu_seconds(p) for p in moto_pids)
    for c in children:
        c.join()
    requests = per_thread * procs * threads
    return {
        "op": op,
        "requests": requests,
        "errors": errors,
        "moto_cpu_ms_per_request": round(1000 * (after - before) / requests, 3),
        "requests_per_s": round(requests / wall, 1),
        "moto_cores": round((after - before) / wall, 2),
    }


def sends_under_load(
    urls: dict[str, str], moto_pids: list[int], procs: int, threads: int, seconds: float
) -> dict[str, Any]:
    """SendMessage latency at ~50/s while client processes saturate DynamoDB."""
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    out = ctx.Queue()
    count = 100_000  # bounded by the deadline below (the processes are terminated)
    loaders = [
        ctx.Process(
            target=client_process,
            args=("UpdateItem", urls, threads, count, f"load{p}", start, out),
        )
        for p in range(procs)
    ]
    for c in loaders:
        c.start()
    sqs = boto("sqs", urls["sqs"])
    one_call("SendMessage", sqs, urls, "probe", 0)
    time.sleep(1.5)
    start.set()
    time.sleep(0.5)
    latencies = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        one_call("SendMessage", sqs, urls, "probe", i)
        latencies.append(1000 * (time.perf_counter() - t0))
        i += 1
        time.sleep(max(0.0, 0.02 - (time.perf_counter() - t0)))
    for c in loaders:
        c.terminate()
        c.join()
    latencies.sort()
    return {
        "sends": len(latencies),
        "send_ms_p50": round(statistics.median(latencies), 2),
        "send_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 2),
        "send_ms_max": round(latencies[-1], 2),
    }


def start_moto(single: bool, flask: bool = False, unpatched: bool = False) -> Any:
    os.environ["DUELCTL_MOTO_DIRECT"] = "0" if flask else "1"
    os.environ["DUELCTL_MOTO_PATCHES"] = "0" if unpatched else "1"
    from emulator.services.moto_server import MotoServer

    try:
        server = MotoServer(mode="process", split=not single)
    except TypeError:  # the layout before the split: one process, one URL
        server = MotoServer(mode="process")
    server.start()
    return server


def urls_of(server: Any) -> dict[str, str]:
    url_for = getattr(server, "url_for", lambda _service: server.url)
    return {"dynamodb": url_for("dynamodb"), "sqs": url_for("sqs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--single", action="store_true")
    parser.add_argument("--flask", action="store_true")
    parser.add_argument("--unpatched", action="store_true")
    parser.add_argument("--load-seconds", type=float, default=6.0)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--root", default=None)
    parser.add_argument("--label", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    server = start_moto(args.single, args.flask, args.unpatched)
    try:
        urls = urls_of(server)
        ddb, sqs = boto("dynamodb", urls["dynamodb"]), boto("sqs", urls["sqs"])
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        urls["queue"] = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        urls["receive_queue"] = sqs.create_queue(
            QueueName=RECEIVE_QUEUE, Attributes={"VisibilityTimeout": "3600"}
        )["QueueUrl"]
        for i in range(0, args.requests + 20 * args.procs * args.threads, 10):
            sqs.send_message_batch(
                QueueUrl=urls["receive_queue"],
                Entries=[{"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(10)],
            )
        pids = getattr(server, "pids", None) or [server.pid]
        moto_pids = sorted({d for p in pids for d in descendants(p)})
        ops = [op for op in args.ops.split(",") if op]
        phases = [
            run_phase(op, urls, moto_pids, args.procs, args.threads, args.requests) for op in ops
        ]
        loaded = (
            sends_under_load(urls, moto_pids, args.procs, args.threads, args.load_seconds)
            if args.load_seconds > 0
            else {}
        )
    finally:
        server.stop()

    result = {
        "layout": "single" if args.single or not hasattr(server, "url_for") else "split",
        "dispatch": "flask" if args.flask else "direct",
        "patches": not args.unpatched,
        "moto_processes": len(moto_pids),
        "clients": f"{args.procs} processes x {args.threads} threads",
        "phases": phases,
        "sends_while_dynamodb_saturated": loaded,
        "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "loadavg": os.getloadavg(),
    }
    name = "moto_requests" + (f"-{args.label}" if args.label else "")
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    sys.stdout.write(
        f"{result['layout']}, {result['dispatch']} dispatch,"
        f" {'patched' if result['patches'] else 'unpatched'},"
        f" {len(moto_pids)} moto process(es)\n"
    )
    for p in phases:
        sys.stdout.write(
            f"  {p['op']:<20} {p['moto_cpu_ms_per_request']:>7.3f} ms CPU/request"
            f"  {p['requests_per_s']:>7.1f} req/s  {p['moto_cores']:.2f} cores"
            f"  errors {p['errors']}\n"
        )
    if loaded:
        sys.stdout.write(
            f"  SendMessage while DynamoDB is saturated: p50 {loaded['send_ms_p50']} ms,"
            f" p95 {loaded['send_ms_p95']} ms, max {loaded['send_ms_max']} ms"
            f" ({loaded['sends']} sends)\n"
        )


if __name__ == "__main__":
    main()
