"""Render the emulator's structured log records (emulator/logs.py) on the console.

The emulator never prints: it logs records whose `record.event` holds the fields
(invoke: function, route, request_id, duration_ms, outcome, cold_start, user). This
handler turns them into one line each; `-v` also shows frames (DEBUG on
"emulator.frame").
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

OUTCOME_STYLE = {"ok": "green", "error": "red", "timeout": "red"}


def _clock(created: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(created)) + f".{int(created % 1 * 1000):03d}"


def format_record(record: logging.LogRecord) -> str:
    """One record as rich markup (without the time column)."""
    event: dict[str, Any] = getattr(record, "event", None) or {}
    name = record.name
    if name == "emulator.invoke" and event:
        outcome = str(event.get("outcome", "?"))
        style = OUTCOME_STYLE.get(outcome, "yellow")
        parts = [f"[bold]{escape(str(event.get('function', '?')))}[/]"]
        if event.get("route"):
            parts.append(f"[cyan]{escape(str(event['route']))}[/]")
        if event.get("user"):
            parts.append(f"user={escape(str(event['user']))}")
        duration = event.get("duration_ms")
        if isinstance(duration, int | float):
            parts.append(f"{duration:.0f}ms")
        parts.append(f"[{style}]{escape(outcome)}[/]")
        if event.get("cold_start"):
            parts.append("[dim](cold)[/]")
        if outcome != "ok" and record.getMessage():
            parts.append(f"[dim]{escape(record.getMessage())}[/]")
        return " ".join(parts)
    if name == "emulator.frame" and event:
        arrow = "→" if event.get("direction") == "out" else "←"
        conn = escape(str(event.get("connection_id", "")))
        text = escape(str(event.get("text", "")))
        return f"[dim]{arrow} {conn} {text}[/]"
    level = record.levelno
    style = "red" if level >= logging.ERROR else "yellow" if level >= logging.WARNING else "dim"
    channel = name.removeprefix("emulator.")
    return f"[{style}]{escape(channel)}: {escape(record.getMessage())}[/]"


class RichLogHandler(logging.Handler):
    """Writes each emulator record as one line on `console` (stderr)."""

    def __init__(self, console: Console, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"[dim]{_clock(record.created)}[/] {format_record(record)}"
            self.console.print(line, soft_wrap=True)
            if record.exc_info and record.levelno >= logging.ERROR:
                self.console.print(f"[dim]{escape(self.format(record))}[/]", soft_wrap=True)
        except Exception:  # a log line must never take the stack down
            self.handleError(record)


@contextlib.contextmanager
def emulator_logs(console: Console, *, level: int, frames: bool = False) -> Iterator[None]:
    """Route the "emulator" logger tree to `console` while the block runs."""
    logger = logging.getLogger("emulator")
    handler = RichLogHandler(console, level=logging.DEBUG if frames else level)
    old = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if frames else level)
    logger.propagate = False
    frame_logger = logging.getLogger("emulator.frame")
    old_frame_level = frame_logger.level
    frame_logger.setLevel(logging.DEBUG if frames else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old[0])
        logger.propagate = old[1]
        frame_logger.setLevel(old_frame_level)
