"""Shows why MotoServer serves DynamoDB one request at a time: moto's own server lets two win.

Not a test (pytest collects only test_*.py); run it by hand:

    python3 tests/emulator/services/race_without_lock.py [trials] [threads]

It runs the same race as test_moto_server.py's race test twice: through MotoServer as
shipped, then through moto's own threaded server (werkzeug, a thread per connection, no
lock) in this process, and prints how many trials had more than one winner. A short GIL
switch interval makes moto's read-check-write window easy to hit; at the default
interval double winners are rarer but still happen.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from emulator.services.moto_server import MotoServer


def race(url: str, trials: int, threads: int) -> int:
    """Return the number of trials in which more than one thread won."""
    kwargs: dict[str, Any] = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": Config(retries={"max_attempts": 1}, max_pool_connections=threads),
    }
    admin = boto3.client("dynamodb", **kwargs)
    table = "race-demo"
    with contextlib.suppress(ClientError):
        admin.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    clients = [boto3.client("dynamodb", **kwargs) for _ in range(threads)]
    doubles = 0
    for trial in range(trials):
        key = {"pk": {"S": f"s{trial}"}}
        admin.put_item(TableName=table, Item={**key, "status": {"S": "pending"}})
        winners: list[int] = []
        barrier = threading.Barrier(threads)

        def attempt(
            i: int,
            key: dict[str, dict[str, str]] = key,
            barrier: threading.Barrier = barrier,
            winners: list[int] = winners,
        ) -> None:
            barrier.wait()
            try:
                clients[i].update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET #s = :a, winner = :w",
                    ConditionExpression="#s = :p",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":a": {"S": "active"},
                        ":p": {"S": "pending"},
                        ":w": {"N": str(i)},
                    },
                )
                winners.append(i)
            except ClientError:
                pass

        workers = [threading.Thread(target=attempt, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        doubles += len(winners) > 1
    return doubles


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    sys.setswitchinterval(1e-6)
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    with MotoServer() as server:
        doubles = race(server.url_for("dynamodb"), trials, threads)
        print(f"MotoServer:          {doubles}/{trials} double winners")
    plain = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    plain.start()
    try:
        host, port = plain.get_host_and_port()
        doubles = race(f"http://{host}:{port}", trials, threads)
        print(f"moto's own server:   {doubles}/{trials} double winners")
    finally:
        plain.stop()


if __name__ == "__main__":
    main()
