"""Framing of requests and replies, and output cut into lines, without processes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from emulator.runner.wire import FrameDecoder, LineSplitter, request_frame


def test_a_request_frame_is_length_prefixed_json() -> None:
    """The worker reads 4 length bytes, then `{"id", "ms", "event"}` as JSON."""
    event = {"body": 'quote " and \\ and é', "n": [1, 2.5, None]}
    frame = request_frame("req-1", 3000, event)
    size = int.from_bytes(frame[:4], "big")
    assert size == len(frame) - 4
    assert json.loads(frame[4:]) == {"id": "req-1", "ms": 3000, "event": event}


def test_events_other_than_objects_are_framed_too() -> None:
    """The Invoke API may pass any JSON value as the event."""
    for event in ([1, 2], "text", None, 7):
        assert json.loads(request_frame("r", 1, event)[4:])["event"] == event


def frame(tag: bytes, body: bytes) -> bytes:
    return (len(body) + 1).to_bytes(4, "big") + tag + body


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(1, 64))
def test_frames_come_out_whole_however_the_stream_is_cut(bodies: list[bytes], step: int) -> None:
    """Frames split across reads (or many in one read) decode to the same frames."""
    stream = b"".join(frame(b"o", body) for body in bodies)
    decoder = FrameDecoder()
    got = []
    for start in range(0, len(stream), step):
        got += list(decoder.feed(stream[start : start + step]))
    assert got == [(b"o", body) for body in bodies]


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r")),
        max_size=10,
    )
)
def test_lines_come_out_whole_however_the_output_is_cut(lines: list[str]) -> None:
    """Lines split across reads come out once each, decoded, without their newline."""
    data = "".join(line + "\n" for line in lines).encode()
    splitter = LineSplitter(max_line=1 << 20)
    got = []
    for start in range(0, len(data), 7):
        got += splitter.feed(data[start : start + 7])
    assert got == lines
    assert splitter.flush() == []


def test_a_partial_last_line_waits_for_flush_and_crlf_is_trimmed() -> None:
    """`print(..., end="")` output is kept until the invocation ends; `\\r\\n` ends a line."""
    splitter = LineSplitter(max_line=100)
    assert splitter.feed(b"one\r\ntwo") == ["one"]
    assert splitter.feed(b" more") == []
    assert splitter.flush() == ["two more"]
    assert splitter.flush() == []


def test_a_line_without_newline_is_cut_at_the_limit() -> None:
    """A handler writing without newlines cannot grow the buffer without bound."""
    splitter = LineSplitter(max_line=10)
    assert splitter.feed(b"x" * 25) == ["x" * 10, "x" * 10]
    assert splitter.flush() == ["x" * 5]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    """Binary garbage on stdout becomes replacement characters."""
    assert LineSplitter(100).feed(b"\xff\xfeok\n") == ["\ufffd\ufffdok"]
