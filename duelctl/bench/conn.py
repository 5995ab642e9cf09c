"""One bench connection: a lean WebSocket client that tracks every frame it expects.

The bench shares the machine with the stack it measures, so the client does as little
as it can per frame: one `json.loads`, a dict lookup, and a future resolved. There is no
inbox (the scenario client's `DuelSocket` keeps every frame for timelines; here that
would only cost memory and scans).

Tracking. Every server frame has an identity on its connection: `(type, sessionId)`,
or `(type, requestId)` for frames without a session (`pong`). The protocol sends each
identity at most once per connection (exactly one `start`, one `stop` per session and
user, one `pong` per ping), so a second arrival is a duplicate. A frame the engine
waits for resolves its `Expect`; one that arrives after its wait timed out is late (and
no longer lost); one nobody expected is unexpected, counted by type.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from duelctl.client.ws import url_with_token


@dataclass(slots=True)
class Tally:
    """Counts shared by all connections of a run."""

    frames: int = 0  # server frames received
    sent: int = 0  # client frames sent
    duplicated: int = 0
    duplicated_types: Counter[str] = field(default_factory=Counter)
    late: int = 0
    ignored: int = 0  # frames of a session abandoned after a failed step
    unexpected: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def error(self, code: str) -> None:
        self.errors[code] += 1


class StepFailed(Exception):
    """An expected frame did not come: an error frame answered instead, or time ran out."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(slots=True)
class Arrival:
    at: float  # time.perf_counter() on arrival
    wall: float  # time.time() on arrival, to compare with server timestamps
    data: dict[str, Any]


@dataclass(eq=False, slots=True)
class Expect:
    """A frame one connection waits for; `future` gets its `Arrival` or a StepFailed.

    `types` are the frame types that fulfil it: usually one, two where the protocol lets a
    timer win a race (an accept against the invite's expiry gives `start` or
    `no_response`, exactly one of them).
    """

    types: tuple[str, ...]
    future: asyncio.Future[Arrival]
    session_id: str | None = None
    request_id: str | None = None
    from_user: str | None = None

    @property
    def type(self) -> str:
        return "/".join(self.types)

    def matches(self, data: dict[str, Any]) -> bool:
        if self.session_id is not None and data.get("sessionId") != self.session_id:
            return False
        if self.request_id is not None and data.get("requestId") != self.request_id:
            return False
        return self.from_user is None or data.get("from") == self.from_user


def _slug(message: object) -> str:
    """API Gateway's own frames (`{"message": "Internal server error", ...}`) as a code."""
    text = str(message or "no_type").strip().lower()
    return "_".join(text.split()) or "no_type"


class BenchConn:
    """A user's connection; `open`, then `send` actions and `expect` frames."""

    def __init__(self, index: int, user_id: str, username: str, token: str, tally: Tally):
        self.index = index
        self.user_id = user_id
        self.username = username
        self.token = token
        self.tally = tally
        self.ws: ClientConnection | None = None
        self.expects: dict[str, Expect] = {}  # by frame type; one outstanding wait per type
        self.seen: set[tuple[str, str]] = set()
        self.timed_out: list[Expect] = []  # waits that gave up; their frame would be late
        self.abandoned: set[str] = set()  # sessions whose frames no longer matter
        self.quiet_requests: set[str] = set()  # clean-up requests; their errors are expected
        # Requests racing a timer: an error answering one counts only if the race went
        # the request's way (the engine decides); None until an error arrives.
        self.racing: dict[str, str | None] = {}
        self.closed = False
        self.closing = False
        self._reader: asyncio.Task[None] | None = None

    async def open(self, websocket_url: str, timeout_s: float) -> float:
        """Connect; return the handshake time in ms. Raises StepFailed with a code."""
        started = time.perf_counter()
        try:
            self.ws = await connect(
                url_with_token(websocket_url, self.token),
                open_timeout=timeout_s,
                close_timeout=2,
                max_size=None,
                compression=None,  # API Gateway does not negotiate it either
                ping_interval=None,  # keep-alive is the protocol's `ping` action
                proxy=None,
            )
        except InvalidStatus as exc:
            raise StepFailed(f"connect_http_{exc.response.status_code}") from None
        except TimeoutError:
            raise StepFailed("connect_timeout") from None
        except (OSError, InvalidHandshake) as exc:
            raise StepFailed(f"connect_{type(exc).__name__}") from None
        elapsed = (time.perf_counter() - started) * 1000
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return elapsed

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                self.on_text(message if isinstance(message, str) else message.decode())
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            if not self.closing:
                self.tally.error("connection_closed")
            for expect in set(self.expects.values()):
                if not expect.future.done():
                    expect.future.set_exception(StepFailed("connection_closed"))
            self.expects.clear()

    def on_text(self, text: str) -> None:
        """Account for one server frame (see the module docstring)."""
        arrival_at, wall = time.perf_counter(), time.time()
        tally = self.tally
        tally.frames += 1
        try:
            data = json.loads(text)
        except ValueError:
            tally.error("not_json")
            return
        if not isinstance(data, dict):
            tally.error("not_json")
            return
        kind = data.get("type")
        if not isinstance(kind, str):
            tally.error(_slug(data.get("message")))
            return
        if kind == "error":
            self._on_error(data)
            return
        ident = (kind, str(data.get("sessionId") or data.get("requestId") or ""))
        if ident in self.seen:
            tally.duplicated += 1
            tally.duplicated_types[kind] += 1
            return
        self.seen.add(ident)
        expect = self.expects.get(kind)
        if expect is not None and expect.matches(data):
            self._forget(expect)
            if not expect.future.done():
                expect.future.set_result(Arrival(arrival_at, wall, data))
            return
        for index, gone in enumerate(self.timed_out):
            if kind in gone.types and gone.matches(data):
                del self.timed_out[index]
                tally.late += 1
                return
        if data.get("sessionId") in self.abandoned:
            tally.ignored += 1
            return
        tally.unexpected[kind] += 1

    def _on_error(self, data: dict[str, Any]) -> None:
        request_id = data.get("requestId")
        if request_id in self.quiet_requests:
            self.quiet_requests.discard(request_id)
            self.tally.ignored += 1
            return
        code = str(data.get("code") or "error")
        if isinstance(request_id, str) and request_id in self.racing:
            self.racing[request_id] = code
            return
        self.tally.error(code)
        for expect in set(self.expects.values()):
            if request_id is not None and expect.request_id == request_id:
                self._forget(expect)
                if not expect.future.done():
                    expect.future.set_exception(StepFailed(code))

    def expect(
        self,
        kind: str | tuple[str, ...],
        *,
        session_id: str | None = None,
        request_id: str | None = None,
        from_user: str | None = None,
    ) -> Expect:
        future: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
        types = (kind,) if isinstance(kind, str) else tuple(kind)
        expect = Expect(types, future, session_id, request_id, from_user)
        if self.closed:
            future.set_exception(StepFailed("connection_closed"))
        else:
            for frame_type in types:
                self.expects[frame_type] = expect
        return expect

    def _forget(self, expect: Expect) -> bool:
        """Stop routing frames to `expect`; whether it was still waiting."""
        waiting = False
        for frame_type in expect.types:
            if self.expects.get(frame_type) is expect:
                del self.expects[frame_type]
                waiting = True
        return waiting

    def give_up(self, expect: Expect) -> None:
        """The wait for `expect` timed out: its frame is lost unless it turns up later."""
        if self._forget(expect):
            self.timed_out.append(expect)

    def cancel(self, expect: Expect) -> None:
        """Stop waiting for a frame that will legitimately never come (its step failed)."""
        self._forget(expect)
        if not expect.future.done():
            expect.future.cancel()

    def fail(self, expect: Expect, code: str) -> None:
        """End a wait with StepFailed(code): a related request failed, so it cannot come."""
        self._forget(expect)
        if not expect.future.done():
            expect.future.set_exception(StepFailed(code))

    async def send(self, body: dict[str, Any]) -> None:
        if self.ws is None or self.closed:
            raise StepFailed("connection_closed")
        try:
            await self.ws.send(json.dumps(body, separators=(",", ":")))
        except ConnectionClosed:
            raise StepFailed("connection_closed") from None
        self.tally.sent += 1

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 3)
