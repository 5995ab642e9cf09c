"""How `duelctl up` renders the emulator's structured log records."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from duelctl.logview import emulator_logs, format_record
from emulator.logs import CONNECTION, FRAME, INVOKE, emit


def record(
    name: str, message: str, level: int = logging.INFO, **event: object
) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, message, None, None)
    rec.event = event
    return rec


def test_invocations_show_function_route_user_duration_outcome() -> None:
    """An invoke record is one line with the fields a developer scans for."""
    line = format_record(
        record(
            INVOKE,
            "x",
            function="InviteFunction",
            route="invite",
            request_id="r",
            duration_ms=12.4,
            outcome="ok",
            cold_start=True,
            user="alice",
        )
    )
    assert (
        line
        == "[bold]InviteFunction[/] [cyan]invite[/] user=alice 12ms [green]ok[/] [dim](cold)[/]"
    )
    failed = format_record(
        record(INVOKE, "KeyError: 'to'", function="F", outcome="error", duration_ms=3)
    )
    assert "[red]error[/]" in failed and "KeyError" in failed


def test_frames_and_other_channels() -> None:
    """Frames are dim arrows; other records show their channel and message."""
    assert format_record(
        record(FRAME, "f", logging.DEBUG, direction="out", connection_id="c1", text="{}")
    ) == ("[dim]→ c1 {}[/]")
    line = format_record(record(CONNECTION, "refused 401", logging.WARNING))
    assert line == "[yellow]connection: refused 401[/]"


def test_the_handler_writes_emitted_records_and_detaches_after() -> None:
    """While attached, emulator records print on the console; frames only with -v."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    with emulator_logs(console, level=logging.INFO):
        emit(INVOKE, "done", function="PingFunction", route="ping", outcome="ok", duration_ms=1)
        emit(FRAME, "frame", level=logging.DEBUG, direction="in", connection_id="c", text="hi")
    with emulator_logs(console, level=logging.INFO, frames=True):
        emit(FRAME, "frame", level=logging.DEBUG, direction="in", connection_id="c", text="yo")
    emit(INVOKE, "after", function="Nope", outcome="ok")
    text = buffer.getvalue()
    assert "PingFunction ping 1ms ok" in text
    assert "hi" not in text and "← c yo" in text
    assert "Nope" not in text
