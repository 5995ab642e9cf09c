"""`ddb-throttle=P`: DynamoDB answers a share of writes with a throttling or conflict error.

Runs inside moto's DynamoDB process (services/moto/app.py), before moto sees the request,
so the handler's unmodified boto3 gets AWS's own answer and reacts as it would on AWS
(docs/aws-behaviour.md §10, §17):

- PutItem, UpdateItem, DeleteItem, BatchWriteItem: HTTP 400
  `ProvisionedThroughputExceededException` with a `ThrottlingReasons` entry. botocore
  retries it by itself (its default `standard` mode: 4 attempts in all for DynamoDB, a
  random backoff of up to 1, 2, 4 s; botocore/retries/standard.py), so a handler usually
  sees only latency, and a write fails for good with probability P**4.
- TransactWriteItems: HTTP 400 `TransactionCanceledException` whose
  `CancellationReasons` name one action `TransactionConflict` (another transaction held
  the item) and the others `None`. botocore does not retry it; the handler must.

Writes the emulator makes itself (the TTL reaper, provisioning) carry the user agent
marker `EMULATOR_AGENT` and are never throttled: AWS's own TTL deletions are not.

The parent process passes the spec and seed in the environment (`ENV`, `SEED_ENV`) and
reads what fired from `GET /_duelctl/faults?after=N` (`report`): counts, and the events
after sequence number N, which it logs on the `faults` channel.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from emulator.faults.record import rng_for
from emulator.faults.spec import FaultSpecError, parse_spec

ENV = "DUELCTL_FAULTS"  # the stack's canonical fault spec (spec.py)
SEED_ENV = "DUELCTL_FAULTS_SEED"
EMULATOR_AGENT = "duelctl-emulator"  # in the User-Agent of the emulator's own AWS calls
KIND = "ddb-throttle"
MAX_EVENTS = 10_000

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_PREFIX = "com.amazonaws.dynamodb.v20120810#"
# AWS: the texts of the DynamoDB API reference (TransactWriteItems, "CancellationReasons";
# ProvisionedThroughputExceededException).
THROUGHPUT_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
CONFLICT_MESSAGE = "Transaction is ongoing for the item"

Answer = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body


class DdbThrottle:
    """Decides per write request whether to throttle it, and builds AWS's answer."""

    def __init__(
        self, probability: float, seed: int, *, region: str = "us-east-1", account: str = ""
    ) -> None:
        self._p = probability
        self._rng = rng_for(seed, KIND)
        self._region = region
        self._account = account or "123456789012"
        self._seq = 0
        self.count = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)

    def answer(
        self, target: str, body: bytes, user_agent: str, authorization: str = ""
    ) -> Answer | None:
        """AWS's error for this request if it is throttled, else None (moto answers).

        `authorization` (SigV4) names the region the table ARN in the answer carries.
        """
        operation = target.rpartition(".")[2]
        if operation not in WRITES or EMULATOR_AGENT in user_agent:
            return None
        if self._rng.random() >= self._p:
            return None
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return None  # moto answers malformed requests as AWS does
        if not isinstance(request, dict):
            return None
        if operation == "TransactWriteItems":
            items = request.get("TransactItems")
            count = len(items) if isinstance(items, list) and items else 1
            conflict = self._rng.randrange(count)
            answer = _transaction_conflict(count, conflict)
            tables = _transact_tables(items)
            error = "TransactionCanceledException"
        else:
            tables = _tables(request)
            region = _region_of(authorization) or self._region
            arn = f"arn:aws:dynamodb:{region}:{self._account}:table/{tables[0] if tables else ''}"
            answer = _throughput_exceeded(arn)
            error = "ProvisionedThroughputExceededException"
        self._seq += 1
        self.count += 1
        self.events.append(
            {
                "seq": self._seq,
                "at": time.time(),
                "operation": operation,
                "tables": tables,
                "error": error,
            }
        )
        return answer

    def report(self, after: int = 0) -> dict[str, Any]:
        """Counts and the events with a sequence number above `after`."""
        return {
            "counts": {KIND: self.count},
            "events": [e for e in self.events if e["seq"] > after],
        }


def from_env(environ: Mapping[str, str] | None = None) -> DdbThrottle | None:
    """The throttle the stack asked for in the environment, None without ddb-throttle."""
    env = os.environ if environ is None else environ
    text = env.get(ENV, "").strip()
    if not text:
        return None
    try:
        spec = parse_spec(text)
        seed = int(env.get(SEED_ENV, "0"))
    except (FaultSpecError, ValueError):
        return None
    if spec.ddb_throttle is None:
        return None
    return DdbThrottle(spec.ddb_throttle, seed, region=env.get("AWS_DEFAULT_REGION", "us-east-1"))


def _error(error_type: str, fields: dict[str, Any]) -> Answer:
    body = json.dumps({"__type": _PREFIX + error_type, **fields}).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", os.urandom(26).hex().upper()),
    ]
    return 400, headers, body


def _throughput_exceeded(table_arn: str) -> Answer:
    # AWS: an on-demand table's hot key is throttled with reason
    # Table+Write+KeyRangeThroughputExceeded (DynamoDB API reference, ThrottlingReason).
    return _error(
        "ProvisionedThroughputExceededException",
        {
            "message": THROUGHPUT_MESSAGE,
            "ThrottlingReasons": [
                {"reason": "TableWriteKeyRangeThroughputExceeded", "resource": table_arn}
            ],
        },
    )


def _transaction_conflict(count: int, conflict: int) -> Answer:
    reasons: list[dict[str, str]] = [
        {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE}
        if index == conflict
        else {"Code": "None"}
        for index in range(count)
    ]
    codes = ", ".join(r["Code"] for r in reasons)
    return _error(
        "TransactionCanceledException",
        {
            "Message": "Transaction cancelled, please refer cancellation reasons for "
            f"specific reasons [{codes}]",
            "CancellationReasons": reasons,
        },
    )


_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


def _region_of(authorization: str) -> str | None:
    """The region of a SigV4 Authorization header's credential scope."""
    match = _SCOPE.search(authorization)
    return match.group(1) if match else None


def _tables(request: Mapping[str, Any]) -> list[str]:
    if isinstance(request.get("TableName"), str):
        return [request["TableName"]]
    items = request.get("RequestItems")
    return sorted(items) if isinstance(items, dict) else []


def _transact_tables(items: object) -> list[str]:
    found: dict[str, None] = {}
    for item in items if isinstance(items, list) else []:
        for action in item.values() if isinstance(item, dict) else ():
            if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                found[action["TableName"]] = None
    return list(found)


__all__ = [
    "EMULATOR_AGENT",
    "ENV",
    "SEED_ENV",
    "WRITES",
    "DdbThrottle",
    "from_env",
]
