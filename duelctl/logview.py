"""Render the emulator's structured log records (emulator/logs.py) as lines a person follows.

The emulator never prints: it logs records whose `record.event` holds the fields (an
invocation's function, route, duration, outcome and caller; a connection's id and
user; a frame's direction and text). `LogView` turns them into one line each, written
for someone watching `duelctl up`:

- callers by name (`user=alice`, `→ alice {...}` for `-v` frames), not by UUID;
- a connection the authorizer refuses is one yellow `denied` line with the
  authorizer's own reason, not a red error, a traceback and a second refusal line;
- handler output as `Function │ text`, Lambda's `[LEVEL] time request-id` prefix
  shortened to the level;
- the "pythonX.Y runs on local Python" note once, not once per function;
- successful `GET` polling (the web client asks `/online` every few seconds) as one
  summary per window unless `-v`.

Rendering is a hot path (one line per invocation under load): lines are built as
plain strings with ANSI styles and written straight to the console's file, without
rich's markup parser or layout; rich prints them only while a live display is up.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from emulator.logs import CONNECTION, FRAME, INVOKE, SERVICE

_SGR = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "magenta": "35",
    "cyan": "36",
}
OUTCOME_STYLE = {"ok": "green", "error": "red", "timeout": "red"}
LEVEL_STYLE = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow", "WARN": "yellow"}

POLL_WINDOW_S = 30.0  # one summary line per polled route per window
MAX_HELD_LINES = 50  # output kept per authorizer invocation until it ends
AUTHORIZER_ROUTE = "authorizer"  # the route label the gateway gives authorizer invokes
UNAUTHORIZED_REASON = "authorizer raised Unauthorized"  # the gateway's refusal reason

# Python's Lambda runtime prefixes logging records: "[LEVEL]\t<ISO time>\t<request id>\t"
# (AWS Lambda developer guide, "Log and monitor Python Lambda functions"); the request id
# is noise on a console.
_LAMBDA_RECORD = re.compile(r"^\[(?P<level>[A-Z]+)\]\t\S+\t\S+\t(?P<text>.*)$", re.DOTALL)
# The runtime's own lines, e.g. for an unhandled exception: "[ERROR] Type: message".
_RUNTIME_LINE = re.compile(r"^\[(?P<level>[A-Z]+)\] (?P<text>.*)$", re.DOTALL)
_UNHANDLED = re.compile(r"^\[ERROR\] (?:[\w.]+): (?P<message>.*)$")


def paint(style: str | None, text: str, color: bool) -> str:
    """`text` in `style` ("bold", "red", "dim cyan") as ANSI SGR, or as is without color."""
    if not color or not style:
        return text
    codes = ";".join(_SGR[s] for s in style.split() if s in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


@dataclass(slots=True)
class _Poll:
    """Successful calls of one polled route since its window opened."""

    opened: float
    count: int = 0
    users: dict[str, None] = field(default_factory=dict)  # ordered set
    min_ms: float = float("inf")
    max_ms: float = 0.0


@dataclass(slots=True)
class _Held:
    """An authorizer invocation's output, kept until its outcome says what it meant."""

    function: str
    lines: list[str] = field(default_factory=list)


class LogView(logging.Handler):
    """A logging handler that writes each emulator record as one readable line."""

    def __init__(
        self,
        console: Console,
        level: int = logging.INFO,
        *,
        frames: bool = False,
        authorizers: Iterable[str] = (),
        poll_window_s: float = POLL_WINDOW_S,
    ) -> None:
        super().__init__(level)
        self.console = console
        self.frames = frames
        self.color = console.color_system is not None and not console.no_color
        self.authorizers = set(authorizers)
        self.poll_window_s = poll_window_s
        self.conn_users: dict[str, str] = {}
        self._held: dict[str, _Held] = {}
        self._denials_shown = 0
        self._runtime_notes: set[tuple[str, str]] = set()
        self._polls: dict[tuple[str, str], _Poll] = {}
        self._stamp_second = -1
        self._stamp_text = ""
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- output ------------------------------------------------------------------------------

    def _stamp(self, created: float) -> str:
        second = int(created)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = time.strftime("%H:%M:%S", time.localtime(created))
        millis = int((created - second) * 1000)
        return paint("dim", f"{self._stamp_text}.{millis:03d}", self.color)

    def _write(self, created: float, body: str) -> None:
        line = f"{self._stamp(created)} {body}"
        console = self.console
        if getattr(console, "_live_stack", None):  # a live display owns the terminal
            from rich.text import Text

            console.print(Text.from_ansi(line), soft_wrap=True)
            return
        file = console.file
        file.write(line + "\n")
        file.flush()

    # -- records -----------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event: dict[str, Any] = getattr(record, "event", None) or {}
            name = record.name
            if name == INVOKE and event:
                if "output" in event:
                    self._output(record, event)
                elif "outcome" in event:
                    self._invocation(record, event)
                else:
                    self._other(record, event)
            elif name == FRAME and event:
                self._frame(record, event)
            elif name == CONNECTION and event:
                self._connection(record, event)
            elif name == SERVICE and "runtime" in event and "python" in event:
                self._runtime_note(record, event)
            else:
                self._other(record, event)
        except Exception:  # a log line must never take the stack down
            self.handleError(record)

    def _output(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        function = str(event.get("function", "?"))
        text = str(event.get("output", ""))
        request_id = event.get("request_id")
        if function in self.authorizers and request_id:
            held = self._held.setdefault(str(request_id), _Held(function))
            if len(held.lines) < MAX_HELD_LINES:
                held.lines.append(text)
            return
        self._write(record.created, self._output_line(function, text))

    def _output_line(self, function: str, text: str) -> str:
        c = self.color
        match = _LAMBDA_RECORD.match(text) or _RUNTIME_LINE.match(text)
        if match:
            level = match["level"]
            shown = f"{paint(LEVEL_STYLE.get(level), level, c)} {match['text']}"
        else:
            shown = text.replace("\t", "  ")
        return f"{paint('bold', function, c)} {paint('dim', '│', c)} {shown}"

    def _invocation(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        function = str(event.get("function", "?"))
        route = str(event.get("route") or "")
        outcome = str(event.get("outcome", ""))
        request_id = str(event.get("request_id") or "")
        if route == AUTHORIZER_ROUTE:
            self.authorizers.add(function)
        held = self._held.pop(request_id, None)
        if held is not None and outcome == "error":
            reason = _denial_reason(held.lines)
            if reason is not None:
                self._denials_shown += 1
                self._write(record.created, self._denial_line(function, reason, event))
                return
        if held is not None:
            for text in held.lines:
                self._write(record.created, self._output_line(function, text))
        if (
            outcome == "ok"
            and not self.frames
            and route.startswith("GET ")
            and self._polled(record, function, route, event)
        ):
            return
        self._write(record.created, self._invocation_line(function, route, outcome, event))

    def _invocation_line(
        self, function: str, route: str, outcome: str, event: dict[str, Any]
    ) -> str:
        c = self.color
        parts = [paint("bold", function, c)]
        if route:
            parts.append(paint("cyan", route, c))
        user = event.get("user")
        if user:
            parts.append(f"user={user}")
        duration = event.get("duration_ms")
        if isinstance(duration, int | float):
            parts.append(f"{duration:.0f}ms")
        parts.append(paint(OUTCOME_STYLE.get(outcome, "yellow"), outcome or "?", c))
        if event.get("cold_start"):
            parts.append(paint("dim", "(cold)", c))
        return " ".join(parts)

    def _denial_line(self, function: str, reason: str, event: dict[str, Any]) -> str:
        c = self.color
        duration = event.get("duration_ms")
        took = ""
        if isinstance(duration, int | float):
            took = " " + paint("dim", f"{duration:.0f}ms", c)
        return f"{paint('bold', function, c)} {paint('yellow', 'denied 401', c)} {reason}{took}"

    def _polled(
        self, record: logging.LogRecord, function: str, route: str, event: dict[str, Any]
    ) -> bool:
        """Count a successful poll into its window; False means "print this one"."""
        key = (function, route)
        poll = self._polls.get(key)
        if poll is None:  # the first poll after a quiet window shows as itself
            self._polls[key] = _Poll(opened=record.created)
            self._start_ticker()
            return False
        poll.count += 1
        user = event.get("user")
        if user:
            poll.users[str(user)] = None
        duration = event.get("duration_ms")
        if isinstance(duration, int | float):
            poll.min_ms = min(poll.min_ms, duration)
            poll.max_ms = max(poll.max_ms, duration)
        return True

    def flush_polls(self, now: float | None = None, *, force: bool = False) -> None:
        """Print a summary for each poll window that has ended (all of them if `force`)."""
        now = time.time() if now is None else now
        c = self.color
        for key, poll in list(self._polls.items()):
            if not force and now - poll.opened < self.poll_window_s:
                continue
            if poll.count == 0:
                del self._polls[key]
                continue
            function, route = key
            seconds = max(1, round(now - poll.opened))
            who = f" by {', '.join(poll.users)}" if poll.users else ""
            spread = (
                f", {poll.min_ms:.0f}-{poll.max_ms:.0f}ms" if poll.max_ms >= poll.min_ms else ""
            )
            summary = (
                f"polled {poll.count} more times in {seconds}s{who} (all ok{spread}; -v shows each)"
            )
            head = f"{paint('bold', function, c)} {paint('cyan', route, c)}"
            self._write(now, f"{head} {paint('dim', summary, c)}")
            self._polls[key] = _Poll(opened=now)

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="duelctl-logview", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        interval = max(self.poll_window_s / 4, 0.01)
        while not self._stop.wait(interval):
            self.acquire()
            try:
                self.flush_polls()
            except Exception:  # never let the ticker die loudly
                pass
            finally:
                self.release()

    def _frame(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        conn = str(event.get("connection_id", ""))
        who = self.conn_users.get(conn) or conn
        arrow = "→" if event.get("direction") == "out" else "←"
        text = str(event.get("text", ""))
        if "text" not in event:  # a send that failed: the message says why
            text = record.getMessage()
        self._write(record.created, paint("dim", f"{arrow} {who} {text}", self.color))

    def _connection(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        c = self.color
        action = event.get("action")
        conn = str(event.get("connection_id", ""))
        if action == "connect":
            user = event.get("user") or event.get("principal_id")
            if user:
                self.conn_users[conn] = str(user)
            who = f"{user} " if user else ""
            self._write(record.created, paint("dim", f"connected {who}({conn})", c))
        elif action == "disconnect":
            user = self.conn_users.pop(conn, None)
            who = f"{user} " if user else ""
            why = f" {event.get('code', '')} {event.get('reason', '')}".rstrip()
            self._write(record.created, paint("dim", f"disconnected {who}({conn}){why}", c))
        elif action == "refuse":
            reason = str(event.get("reason", ""))
            status = event.get("status")
            if reason == UNAUTHORIZED_REASON and self._denials_shown > 0:
                self._denials_shown -= 1  # already shown as the authorizer's denial
                return
            if status in (401, 403):
                text = f"{paint('yellow', f'denied {status}', c)} {reason}"
            else:
                text = f"{paint('red', f'refused {status}', c)} {reason}"
            self._write(record.created, f"{paint('bold', 'connection', c)} {text}")
        else:
            self._other(record, event)

    def _runtime_note(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        key = (str(event["runtime"]), str(event["python"]))
        if key in self._runtime_notes:
            return
        self._runtime_notes.add(key)
        runtime, python = key
        note = f"service: {runtime} functions run on the local Python {python}"
        self._write(record.created, paint("dim", note, self.color))

    def _other(self, record: logging.LogRecord, event: dict[str, Any]) -> None:
        level = record.levelno
        style = "red" if level >= logging.ERROR else "yellow" if level >= logging.WARNING else "dim"
        channel = record.name.removeprefix("emulator.")
        self._write(record.created, paint(style, f"{channel}: {record.getMessage()}", self.color))
        trace = event.get("traceback") if level >= logging.ERROR else None
        if record.exc_info and level >= logging.ERROR:
            trace = logging.Formatter().formatException(record.exc_info)
        if trace:
            for line in str(trace).rstrip("\n").splitlines():
                self._write(record.created, paint("dim", line, self.color))

    def close(self) -> None:
        self._stop.set()
        self.acquire()
        try:
            self.flush_polls(force=True)
            for held in self._held.values():
                for text in held.lines:
                    self._write(time.time(), self._output_line(held.function, text))
            self._held.clear()
        finally:
            self.release()
        super().close()


def _denial_reason(lines: list[str]) -> str | None:
    """The reason an authorizer gave for raising Unauthorized, None if it failed otherwise.

    AWS: a REQUEST authorizer refuses a connection with 401 by raising exactly
    "Unauthorized" (docs/aws-behaviour.md §4): the runtime's last `[ERROR]` line names it.
    The reason is what the authorizer logged before that (its last record), else
    "Unauthorized".
    """
    verdict = None
    for index, text in enumerate(lines):
        match = _UNHANDLED.match(text)
        if match:
            verdict = index if match["message"].strip() == "Unauthorized" else None
    if verdict is None:
        return None
    for text in reversed(lines[:verdict]):
        record = _LAMBDA_RECORD.match(text)
        if record:
            return record["text"].strip()
    return "Unauthorized"


@contextlib.contextmanager
def emulator_logs(
    console: Console,
    *,
    level: int,
    frames: bool = False,
    authorizers: Iterable[str] = (),
    poll_window_s: float = POLL_WINDOW_S,
) -> Iterator[LogView]:
    """Route the "emulator" logger tree to `console` while the block runs.

    `authorizers` are the logical ids of the template's Lambda authorizers (so their
    output can wait for their verdict); `frames` shows every frame (`-v`).
    """
    logger = logging.getLogger("emulator")
    handler = LogView(
        console,
        level=logging.DEBUG if frames else level,
        frames=frames,
        authorizers=authorizers,
        poll_window_s=poll_window_s,
    )
    old = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if frames else level)
    logger.propagate = False
    frame_logger = logging.getLogger(FRAME)
    old_frame_level = frame_logger.level
    frame_logger.setLevel(logging.DEBUG if frames else logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(old[0])
        logger.propagate = old[1]
        frame_logger.setLevel(old_frame_level)


def authorizer_functions(template: Any) -> frozenset[str]:
    """The logical ids of a loaded template's WebSocket REQUEST authorizer functions."""
    return frozenset(
        api.authorizer.function
        for api in getattr(template, "websocket_apis", ())
        if getattr(api, "authorizer", None) is not None
    )
