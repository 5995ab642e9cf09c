"""Small DynamoDB helpers shared by the repositories."""

from __future__ import annotations

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
