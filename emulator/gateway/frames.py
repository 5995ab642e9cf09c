"""Data frames: AWS's frame and message limits on what clients send, and the fragments of
what the gateway sends (docs/aws-behaviour.md §6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emulator.gateway.closes import MESSAGE_TOO_BIG, UNSUPPORTED_DATA, CloseWith
from emulator.gateway.limits import MAX_FRAME_BYTES, MAX_MESSAGE_BYTES

FrameKind = Literal["text", "binary", "continuation"]


@dataclass(slots=True)
class FrameTracker:
    """Per-connection reassembly state: bytes of the data message in progress."""

    message_bytes: int | None = None  # None = no fragmented message in progress


def on_frame(tracker: FrameTracker, kind: FrameKind, size: int, *, fin: bool) -> CloseWith | None:
    """Check one incoming data frame against AWS's limits; a CloseWith means close now.

    AWS: binary -> 1003; a frame > 32 KB -> 1009; a message whose fragments add up to
    > 128 KB -> 1009 (docs/aws-behaviour.md §6). Called once per frame, before reassembly.
    """
    if kind == "binary":
        return UNSUPPORTED_DATA
    if size > MAX_FRAME_BYTES:
        return MESSAGE_TOO_BIG
    total = size if kind == "text" else (tracker.message_bytes or 0) + size
    if total > MAX_MESSAGE_BYTES:
        return MESSAGE_TOO_BIG
    tracker.message_bytes = None if fin else total
    return None


def outbound_fragments(text: str) -> list[str]:
    """Split an outgoing message into fragments of at most MAX_FRAME_BYTES UTF-8 bytes.

    AWS: posted data is delivered in <= 32 KB frames (docs/aws-behaviour.md §6, inferred), so a
    client that enforces its own frame limit keeps working. Splits fall on character
    boundaries so each fragment is a valid `str`.
    """
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_FRAME_BYTES:
        return [text]
    parts: list[str] = []
    start = 0
    while start < len(encoded):
        end = min(start + MAX_FRAME_BYTES, len(encoded))
        # Back off to a UTF-8 character boundary (continuation bytes are 0b10xxxxxx).
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(encoded[start:end].decode("utf-8"))
        start = end
    return parts
