"""How `duelctl up` renders the emulator's structured log records (what a person reads)."""

from __future__ import annotations

import io
import logging
import threading
import time

from rich.console import Console

from duelctl.logview import LogView, authorizer_functions, emulator_logs, paint
from emulator.logs import CONNECTION, FRAME, INVOKE, SERVICE, emit

AUTH = "AuthorizerFunction"
REQ = "7f0c2d1e-0000-4000-8000-000000000001"


def view(**kwargs: object) -> tuple[LogView, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    return LogView(console, **kwargs), buffer  # type: ignore[arg-type]


def feed(handler: LogView, name: str, message: str, level: int = logging.INFO, **event: object):
    record = logging.LogRecord(name, level, __file__, 1, message, None, None)
    record.event = event
    handler.handle(record)


def lines(buffer: io.StringIO) -> list[str]:
    # Drop the time column: "HH:MM:SS.mmm "
    return [line[13:] for line in buffer.getvalue().splitlines()]


def test_an_invocation_is_one_line_naming_the_user() -> None:
    """Function, route, the caller's name, duration, outcome; an error adds nothing twice."""
    handler, buffer = view()
    feed(
        handler,
        INVOKE,
        "InviteFunction invite ok 12.4 ms (cold start)",
        function="InviteFunction",
        route="invite",
        request_id="r1",
        duration_ms=12.4,
        outcome="ok",
        cold_start=True,
        user="alice",
    )
    feed(
        handler,
        INVOKE,
        "StopFunction stop error 3.0 ms",
        logging.WARNING,
        function="StopFunction",
        route="stop",
        request_id="r2",
        duration_ms=3.0,
        outcome="error",
        cold_start=False,
        user="bob",
    )
    assert lines(buffer) == [
        "InviteFunction invite user=alice 12ms ok (cold)",
        "StopFunction stop user=bob 3ms error",
    ]


def test_handler_output_shows_the_function_and_the_level_not_a_question_mark() -> None:
    """Lambda's `[LEVEL]\\ttime\\trequest-id\\t` prefix shrinks to the level."""
    handler, buffer = view()
    record = f"[WARNING]\t2026-01-01T00:00:00.000Z\t{REQ}\tsession s1 is gone"
    feed(handler, INVOKE, record, function="StopFunction", request_id=REQ, output=record)
    feed(handler, INVOKE, "plain print", function="StopFunction", request_id=REQ, output="plain")
    assert lines(buffer) == [
        "StopFunction │ WARNING session s1 is gone",
        "StopFunction │ plain",
    ]
    assert "?" not in buffer.getvalue()


def authorizer_denies(handler: LogView, reason: str, request_id: str = REQ) -> None:
    """What the emulator logs when the duel's authorizer refuses a token."""
    for text in (
        f"[WARNING]\t2026-01-01T00:00:00.000Z\t{request_id}\trefusing connection: {reason}",
        "[ERROR] Exception: Unauthorized",
        "Traceback (most recent call last):",
        '  File "/x/handlers/authorizer.py", line 50, in handle',
        '    raise Exception("Unauthorized") from None',
    ):
        feed(handler, INVOKE, text, function=AUTH, request_id=request_id, output=text)
    feed(
        handler,
        INVOKE,
        f"{AUTH} authorizer error 8.0 ms",
        logging.WARNING,
        function=AUTH,
        route="authorizer",
        request_id=request_id,
        duration_ms=8.0,
        outcome="error",
        cold_start=False,
    )
    feed(
        handler,
        CONNECTION,
        "refused 401: authorizer raised Unauthorized",
        logging.INFO,
        action="refuse",
        connection_id="c1",
        status=401,
        reason="authorizer raised Unauthorized",
    )


def test_a_denied_connection_is_one_denial_line_with_the_authorizers_reason() -> None:
    """No traceback, no red error, no second refusal line, the function named once."""
    handler, buffer = view(authorizers={AUTH})
    authorizer_denies(handler, "malformed token: Not enough segments")
    assert lines(buffer) == [
        f"{AUTH} denied 401 refusing connection: malformed token: Not enough segments 8ms"
    ]


def test_a_denial_is_yellow_not_red() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system="standard", force_terminal=True)
    handler = LogView(console, authorizers={AUTH})
    authorizer_denies(handler, "token expired")
    text = buffer.getvalue()
    assert paint("yellow", "denied 401", True) in text
    assert "\x1b[31m" not in text  # red


def test_the_authorizer_is_learnt_from_its_route_when_not_given() -> None:
    """Without the template's list, the first denial still reads as a denial, then all do."""
    handler, buffer = view()
    authorizer_denies(handler, "first", "req-1")
    buffer.truncate(0)
    buffer.seek(0)
    authorizer_denies(handler, "second", "req-2")
    assert lines(buffer) == [f"{AUTH} denied 401 refusing connection: second 8ms"]


def test_an_authorizer_that_crashes_is_still_an_error() -> None:
    """Any other exception is a 500 and a bug to see: its output and a red line stay."""
    handler, buffer = view(authorizers={AUTH})
    for text in ("[ERROR] KeyError: 'methodArn'", "Traceback (most recent call last):"):
        feed(handler, INVOKE, text, function=AUTH, request_id="r9", output=text)
    feed(
        handler,
        INVOKE,
        "x",
        logging.WARNING,
        function=AUTH,
        route="authorizer",
        request_id="r9",
        duration_ms=2.0,
        outcome="error",
    )
    feed(
        handler,
        CONNECTION,
        "refused 500",
        action="refuse",
        connection_id="c2",
        status=500,
        reason="authorizer failed: 'methodArn'",
    )
    assert lines(buffer) == [
        f"{AUTH} │ ERROR KeyError: 'methodArn'",
        f"{AUTH} │ Traceback (most recent call last):",
        f"{AUTH} authorizer 2ms error",
        "connection refused 500 authorizer failed: 'methodArn'",
    ]


def test_a_policy_denial_reads_as_a_denial() -> None:
    handler, buffer = view()
    feed(
        handler,
        CONNECTION,
        "refused 403",
        action="refuse",
        connection_id="c3",
        status=403,
        reason="authorizer policy does not allow arn:x",
    )
    assert lines(buffer) == ["connection denied 403 authorizer policy does not allow arn:x"]


def test_the_local_python_note_is_one_line_in_all() -> None:
    handler, buffer = view()
    for fn in ("ConnectFunction", "InviteFunction", "StopFunction"):
        feed(
            handler,
            SERVICE,
            f"{fn}: python3.12 runs on local Python 3.11.7",
            function=fn,
            runtime="python3.12",
            python="3.11.7",
        )
    assert lines(buffer) == ["service: python3.12 functions run on the local Python 3.11.7"]


def poll(handler: LogView, user: str, ms: float, outcome: str = "ok") -> None:
    feed(
        handler,
        INVOKE,
        "x",
        function="OnlineFunction",
        route="GET /online",
        request_id="r",
        duration_ms=ms,
        outcome=outcome,
        user=user,
    )


def test_polling_collapses_into_a_summary() -> None:
    """The first poll shows; the rest of the window is one line with who and how fast."""
    handler, buffer = view(poll_window_s=3600)
    poll(handler, "alice", 4)
    poll(handler, "bob", 3)
    poll(handler, "alice", 8)
    poll(handler, "bob", 5, outcome="error")  # failures always show
    assert lines(buffer) == [
        "OnlineFunction GET /online user=alice 4ms ok",
        "OnlineFunction GET /online user=bob 5ms error",
    ]
    handler.flush_polls(force=True)
    assert lines(buffer)[-1] == (
        "OnlineFunction GET /online polled 2 more times in 1s by bob, alice "
        "(all ok, 3-8ms; -v shows each)"
    )
    handler.close()


def test_polling_shows_every_call_with_v() -> None:
    handler, buffer = view(frames=True)
    for _ in range(3):
        poll(handler, "alice", 4)
    assert len(lines(buffer)) == 3


def test_the_summary_comes_on_its_own_when_the_window_ends() -> None:
    """No further record is needed: a ticker prints the summary when the window closes."""
    handler, buffer = view(poll_window_s=0.05)
    poll(handler, "alice", 4)
    poll(handler, "alice", 4)
    deadline = time.monotonic() + 10
    while "polled 1 more times" not in buffer.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    handler.close()
    assert "polled 1 more times" in buffer.getvalue()


def test_frames_name_the_user_behind_a_connection() -> None:
    """-v frames say who, learnt from the connection's authorizer context."""
    handler, buffer = view(frames=True)
    feed(handler, CONNECTION, "connected", action="connect", connection_id="Ab1=", user="alice")
    feed(handler, FRAME, "f", logging.DEBUG, direction="in", connection_id="Ab1=", text='{"a":1}')
    feed(handler, FRAME, "f", logging.DEBUG, direction="out", connection_id="Ab1=", text="{}")
    feed(handler, FRAME, "f", logging.DEBUG, direction="out", connection_id="Zz9=", text="{}")
    feed(handler, CONNECTION, "d", action="disconnect", connection_id="Ab1=", code=1000, reason="")
    assert lines(buffer) == [
        "connected alice (Ab1=)",
        '← alice {"a":1}',
        "→ alice {}",
        "→ Zz9= {}",
        "disconnected alice (Ab1=) 1000",
    ]


def test_emitted_records_print_while_attached_and_not_after() -> None:
    """emulator_logs routes real `emit` calls; frames only with -v; detaching stops it."""
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


def test_other_records_keep_their_channel_and_error_tracebacks() -> None:
    handler, buffer = view()
    feed(handler, SERVICE, "stack ready in 900 ms")
    feed(handler, SERVICE, "runner failed", logging.ERROR, traceback="Traceback\n  boom\n")
    assert lines(buffer) == [
        "service: stack ready in 900 ms",
        "service: runner failed",
        "Traceback",
        "  boom",
    ]


def test_lines_are_written_whole_from_many_threads() -> None:
    """Records come from the emulator's loop and the poll ticker; lines never interleave."""
    handler, buffer = view()

    def burst(name: str) -> None:
        for i in range(200):
            feed(handler, INVOKE, "x", function=name, route="ping", outcome="ok", duration_ms=i)

    threads = [threading.Thread(target=burst, args=(f"F{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = lines(buffer)
    assert len(got) == 800
    assert all(line.startswith("F") and line.endswith(" ok") for line in got)


def test_authorizer_functions_come_from_the_template() -> None:
    from duelctl.targets import bundled_template
    from emulator.template.load import load_template

    assert authorizer_functions(load_template(bundled_template())) == {AUTH}
