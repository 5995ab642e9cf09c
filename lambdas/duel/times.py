"""Wire times: UTC ISO-8601 with milliseconds and a `Z` (docs/protocol.md).

The domain counts time in integer epoch milliseconds so that a time computed once
(`startAt`, `expiresAt`) is stored and sent as one string, byte-identical for both users.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def iso(epoch_ms: int) -> str:
    """Format epoch milliseconds as `2026-11-25T12:00:03.000Z`."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    """Parse a wire time back to epoch milliseconds; ValueError for any other shape."""
    if not text.endswith("Z") or len(text) != 24:
        raise ValueError(f"not a wire time: {text!r}")
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def ceil_seconds(epoch_ms: int) -> int:
    """Epoch seconds at or after `epoch_ms`: the form of a DynamoDB TTL attribute.

    AWS: TTL must be a Number of epoch seconds (docs/aws-behaviour.md §7); rounding up never
    expires an item before the moment it stands for.
    """
    return -(-epoch_ms // 1000)


def seconds_iso(epoch_s: int) -> str:
    """Format whole epoch seconds (a TTL value) as a wire time."""
    return iso(epoch_s * 1000)
