"""Structured log events: the emulator logs, only the CLI renders.

Every part logs through `emit`, which sends one stdlib logging record on the
"emulator" logger tree with the structured fields in `record.event`. `duelctl up`
attaches a handler that renders them with rich; tests can capture them with caplog.
"""

from __future__ import annotations

import logging
from typing import Any

INVOKE = (
    "emulator.invoke"  # one per invocation: function, route, request_id, duration_ms, outcome, user
)
FRAME = "emulator.frame"  # debug: direction ("in"/"out"), connection_id, size, text (truncated)
CONNECTION = "emulator.connection"  # connect / refuse / disconnect with status and reason
SERVICE = "emulator.service"  # start-up, pollers, reaper, reload notes


def emit(channel: str, message: str, *, level: int = logging.INFO, **event: Any) -> None:
    """Log `message` on `channel` with the structured fields the CLI renders."""
    logger = logging.getLogger(channel)
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"event": event})
