"""The emulator's own routes into moto (`/_duelctl/...`), and the client that calls them.

What the emulator needs from moto beyond the AWS APIs reads or changes moto's objects
in place, in the process that holds them; these functions do that (the caller holds
the service's turn, `app.py`). No AWS SDK ever reaches these paths.

- `cognito/pools/ID` (GET), `.../rekey`, `.../clients/CID/rekey` (POST): moto picks
  random pool and client ids; the template model fixed AWS-shaped ones at load
  (model.py), and moto derives a pool's `iss` and ARN from its id, so provisioning
  renames moto's objects right after creating them.
- `dynamodb/ttl-expired` (POST): the items whose TTL has passed (ttl.py); a Scan would
  make moto deep-copy the whole table every sweep, inside the DynamoDB turn.
- `next-due` (GET): the next moment something in this process comes due by itself
  (a delayed or in-flight SQS message turning visible, a DynamoDB item's TTL), for the
  virtual clock to jump to.
- `clock/sync` (POST), `stats` (GET): served by `app.py`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

PREFIX = "/_duelctl/"


def internal_call(aws_url: str, method: str, path: str, body: object = None) -> Any:
    """Call the `/_duelctl/` route `path` of the moto server at `aws_url`; None on 404."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(aws_url.rstrip("/") + PREFIX + path, data=data, method=method)
    # The emulator's own call: never through a proxy from the developer's environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as reply:
            return json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


# ---------------------------------------------------------------------- Cognito


def _moto_pool(pool_id: str) -> tuple[Any, Any] | None:
    """(moto backend, moto pool object) holding `pool_id`, or None."""
    from moto.cognitoidp.models import cognitoidp_backends

    backend: Any
    for _account, _region, backend in cognitoidp_backends.iter_backends():
        found = backend.user_pools.get(pool_id)
        if found is not None:
            return backend, found
    return None


def cognito_route(method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any]:
    """GET pools/ID; POST pools/ID/rekey {"id"}; POST pools/ID/clients/CID/rekey {"id"}."""
    located = _moto_pool(parts[0])
    if located is None:
        return 404, {"message": f"no user pool {parts[0]}"}
    backend, pool = located
    if method == "GET" and len(parts) == 1:
        return 200, {"id": pool.id, "clients": sorted(pool.clients)}
    if method == "POST" and parts[1:] == ["rekey"]:
        new_id = str(body["id"])
        del backend.user_pools[pool.id]
        pool.arn = pool.arn.replace(pool.id, new_id)
        pool.id = new_id
        backend.user_pools[new_id] = pool
        return 200, {"id": new_id}
    if method == "POST" and len(parts) == 4 and parts[1] == "clients" and parts[3] == "rekey":
        app_client = pool.clients.pop(parts[2], None)
        if app_client is None:
            return 404, {"message": f"no client {parts[2]}"}
        app_client.id = str(body["id"])
        pool.clients[app_client.id] = app_client
        return 200, {"id": app_client.id}
    return 404, {"message": "no such internal route"}


# ---------------------------------------------------------------------- DynamoDB TTL


def _items(table: Any) -> Iterator[Any]:
    """Every item of a moto table, read in place."""
    for bucket in list(table.items.values()):
        if table.range_key_attr:
            yield from list(bucket.values())
        else:
            yield bucket


def _ttl_number(item: Any, attribute: str) -> Decimal | None:
    """The item's TTL as a number; None unless the attribute is a Number (AWS ignores
    other types: docs/aws-behaviour.md §7)."""
    value = item.attrs.get(attribute)
    if value is None or value.type != "N":
        return None
    try:
        return Decimal(value.value)
    except (InvalidOperation, TypeError):
        return None


def ttl_expired(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys and TTL values of the items whose TTL attribute is a Number in [floor, now]."""
    from moto.dynamodb.models import dynamodb_backends

    table: Any = dynamodb_backends[request["account"]][request["region"]].tables[request["table"]]
    attribute = request["attribute"]
    floor, now = Decimal(str(request["floor"])), Decimal(str(request["now"]))
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    found = []
    for item in _items(table):
        number = _ttl_number(item, attribute)
        if number is not None and floor <= number <= now:
            keys = {n: item.attrs[n].to_json() for n in names if n in item.attrs}
            found.append({"keys": keys, "ttl": item.attrs[attribute].to_json()})
    return found


def ttl_next_due(now: float) -> float | None:
    """The smallest TTL value after `now` in any table with TTL enabled, or None.

    An item is expired once the clock reaches its TTL value (ttl.py deletes values in
    [now - 5 years, now]), so this is the moment the next one expires.
    """
    from moto.dynamodb.models import dynamodb_backends

    limit = Decimal(repr(now))
    best: Decimal | None = None
    backend: Any
    for _account, _region, backend in dynamodb_backends.iter_backends():
        for table in list(backend.tables.values()):
            ttl = getattr(table, "ttl", None) or {}
            attribute = ttl.get("AttributeName")
            if ttl.get("TimeToLiveStatus") != "ENABLED" or not attribute:
                continue
            for item in _items(table):
                number = _ttl_number(item, attribute)
                if number is not None and number > limit and (best is None or number < best):
                    best = number
    return float(best) if best is not None else None


# ---------------------------------------------------------------------- SQS


def message_due_ms(message: Any) -> float:
    """When moto first counts `message` receivable (epoch ms): moto's `Message.visible`
    is `now > visible_at` and `Message.delayed` is `now < delayed_until` (moto/sqs/
    models.py), so one millisecond past the later of the two."""
    return (
        max(
            float(getattr(message, "visible_at", 0.0)),
            float(getattr(message, "delayed_until", 0.0)),
        )
        + 1
    )


def queue_next_due_ms(queue: Any, now_ms: float) -> float | None:
    """The earliest time (epoch ms) after `now_ms` a message of `queue` turns receivable."""
    dues = [message_due_ms(m) for m in list(getattr(queue, "_messages", ()))]
    upcoming = [due for due in dues if due > now_ms]
    return min(upcoming) if upcoming else None


def sqs_next_due(now: float) -> float | None:
    """Epoch seconds at which the next delayed or in-flight message of any queue becomes
    receivable, or None when no message is waiting to."""
    from moto.sqs.models import sqs_backends

    best: float | None = None
    backend: Any
    for _account, _region, backend in sqs_backends.iter_backends():
        for queue in list(backend.queues.values()):
            due = queue_next_due_ms(queue, now * 1000)
            if due is not None and (best is None or due < best):
                best = due
    return best / 1000 if best is not None else None


__all__ = [
    "PREFIX",
    "cognito_route",
    "internal_call",
    "message_due_ms",
    "queue_next_due_ms",
    "sqs_next_due",
    "ttl_expired",
    "ttl_next_due",
]
