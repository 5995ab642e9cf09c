"""The bytes between the runner and a worker, without I/O: framing and output lines.

Channel (bootstrap.py's module docstring is the other side): frames of a 4-byte
big-endian length and a body. The parent sends `{"id", "ms", "event"}` as JSON; the worker
answers with a tag byte and a body: `r` + `{"init_ms", "python", "failed"}` once its init
is done, `o` + the handler's JSON result, `e` + AWS's error object.

Output: whatever the handler writes to stdout/stderr arrives on a pipe and is cut into
lines here, so the driver only moves bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

READY, OK, ERROR = b"r", b"o", b"e"

# One encoder for every request: `json.dumps` with options builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def request_frame(request_id: str, timeout_ms: int, event: Mapping[str, Any] | Any) -> bytes:
    """The framed request for one invocation: length prefix included, ready to send.

    The event is encoded once; the envelope around it is formatted, not encoded again.
    """
    body = b'{"id":"%s","ms":%d,"event":%s}' % (
        request_id.encode(),
        timeout_ms,
        _ENCODE(event).encode(),
    )
    return len(body).to_bytes(4, "big") + body


class FrameDecoder:
    """Cuts the worker's byte stream into `(tag, body)` frames as they complete."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Add `data`; yield each frame it completes (a frame split over reads waits)."""
        buf = self._buf
        buf += data
        while len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big")
            if len(buf) < 4 + size:
                return
            frame = bytes(buf[4 : 4 + size])
            del buf[: 4 + size]
            yield frame[:1], frame[1:]


class LineSplitter:
    """Cuts output into lines (without the newline, decoded, `\\r` stripped).

    A line longer than `max_line` bytes without a newline comes out in pieces, so one
    handler writing without newlines cannot grow the buffer without bound.
    """

    __slots__ = ("_buf", "_max")

    def __init__(self, max_line: int) -> None:
        self._buf = bytearray()
        self._max = max_line

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf
        if not buf and data.endswith(b"\n") and len(data) <= self._max:
            # The usual case (whole lines in one read): no copy into the buffer.
            return [_text(line) for line in data[:-1].split(b"\n")]
        buf += data
        lines = []
        if (end := buf.rfind(b"\n")) >= 0:
            lines = [_text(line) for line in bytes(buf[:end]).split(b"\n")]
            del buf[: end + 1]
        while len(buf) > self._max:
            lines.append(_text(bytes(buf[: self._max])))
            del buf[: self._max]
        return lines

    def flush(self) -> list[str]:
        """The partial last line, if any (a handler's `print(..., end="")`)."""
        if not self._buf:
            return []
        line = _text(bytes(self._buf))
        self._buf.clear()
        return [line]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")
