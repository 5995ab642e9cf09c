"""Ids and times as API Gateway writes them in events; the caller supplies randomness
and the clock, so these stay deterministic."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

ID_RANDOM_BYTES = 11  # 11 bytes -> 16 URL-safe base64 chars ending "="


def id_from_bytes(raw: bytes) -> str:
    """Format 11 random bytes as an API Gateway id: 16 URL-safe base64 chars ending "=".

    AWS: connectionId / requestId / messageId look like `BFaT_fALIAMCKug=`
    (docs/aws-behaviour.md §1).
    The caller supplies the randomness, so this module stays deterministic.
    """
    if len(raw) != ID_RANDOM_BYTES:
        raise ValueError(f"an id needs {ID_RANDOM_BYTES} random bytes, got {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode("ascii")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def request_time(epoch_ms: int) -> str:
    """Render epoch ms as API Gateway's `requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000`.

    Month names are fixed English abbreviations, never the process locale's.
    """
    t = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year:04d}:{t:%H:%M:%S} +0000"
