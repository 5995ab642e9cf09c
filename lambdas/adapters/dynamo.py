"""Small DynamoDB helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

# AWS: a partition key is at most 2048 bytes and may not be empty (DynamoDB dev guide,
# "Service, account, and table quotas"); a longer client-supplied id could never match.
MAX_KEY_BYTES = 2048


def usable_key(value: str) -> bool:
    """Whether `value` can be a key at all; callers treat an unusable one as "not there"."""
    return 0 < len(value.encode()) <= MAX_KEY_BYTES


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def now_seconds(now_ms: int) -> int:
    """The `:now` for `expireAt > :now` filters.

    For an integer `expireAt`, `expireAt > now` equals `expireAt > floor(now)`, so the
    whole-second bound decides liveness exactly.
    """
    return now_ms // 1000


def all_items(call: Callable[..., dict[str, Any]], **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan, following LastEvaluatedKey across pages.

    AWS: one page holds at most 1 MB before filtering (DynamoDB dev guide, "Paginating
    table query results"), so a filtered page can be short, or empty, mid-way.
    """
    start: dict[str, Any] | None = None
    while True:
        page = call(**params, **({"ExclusiveStartKey": start} if start else {}))
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return
