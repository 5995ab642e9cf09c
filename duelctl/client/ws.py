"""One WebSocket connection of one user, with an inbox of received frames.

Frames are recorded the moment they arrive (a reader task per connection), so a
timeline shows true receive times, and expectations consume them later in any order:
the protocol lets frames caused by different requests arrive in either order, so an
expectation looks for the first unconsumed frame that matches, not only the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from duelctl.errors import TargetUnreachable, UsageError


def parse_time(value: object) -> float | None:
    """Epoch seconds of a wire time (`2026-11-25T12:00:03.000Z`, docs/protocol.md), None
    for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class Frame:
    """A text frame the server sent; `data` is its JSON object, if it is one."""

    at: float  # time.monotonic() on arrival
    text: str
    data: dict[str, Any] | None
    consumed: bool = False

    @property
    def type(self) -> str | None:
        value = self.data.get("type") if self.data is not None else None
        return value if isinstance(value, str) else None


def parse_frame(text: str, at: float) -> Frame:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return Frame(at=at, text=text, data=data if isinstance(data, dict) else None)


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP error status (401, 403, 502, ...)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status
        self.body = body


def url_with_token(websocket_url: str, token: str | None) -> str:
    """`websocket_url?token=<JWT>` (docs/protocol.md); None leaves the query out."""
    if token is None:
        return websocket_url
    parts = urlsplit(websocket_url)
    query = "&".join(q for q in (parts.query, urlencode({"token": token})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


FrameListener = Callable[["DuelSocket", Frame], None]
CloseListener = Callable[["DuelSocket"], None]


@dataclass(eq=False)
class DuelSocket:
    """A live connection: send actions, await frames. Build one with `DuelSocket.open`."""

    name: str  # "alice", "alice#2"
    ws: ClientConnection
    on_frame: FrameListener | None = None
    on_close: CloseListener | None = None
    frames: list[Frame] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None
    closed_by_us: bool = False

    @classmethod
    async def open(
        cls,
        websocket_url: str,
        token: str | None,
        name: str,
        *,
        on_frame: FrameListener | None = None,
        on_close: CloseListener | None = None,
        open_timeout: float = 10.0,
    ) -> DuelSocket:
        """Connect with `?token=`; raise HandshakeRefused or TargetUnreachable."""
        url = url_with_token(websocket_url, token)
        # A local stack is never behind the user's proxy; a stage may be.
        local = urlsplit(websocket_url).hostname in ("127.0.0.1", "localhost", "::1")
        try:
            ws = await connect(
                url,
                open_timeout=open_timeout,
                max_size=None,
                ping_interval=None,  # keep-alive is the protocol's own `ping` action
                proxy=None if local else True,
            )
        except InvalidStatus as exc:
            body = exc.response.body.decode(errors="replace") if exc.response.body else ""
            raise HandshakeRefused(exc.response.status_code, body) from None
        except InvalidURI as exc:
            raise UsageError(f"bad websocket_url {websocket_url!r}: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise TargetUnreachable(
                f"cannot connect to {websocket_url} ({type(exc).__name__}: {exc})"
            ) from None
        sock = cls(name=name, ws=ws, on_frame=on_frame, on_close=on_close)
        sock._reader = asyncio.create_task(sock._read(), name=f"reader {name}")
        return sock

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                text = message if isinstance(message, str) else message.decode(errors="replace")
                frame = parse_frame(text, time.monotonic())
                async with self._arrived:
                    self.frames.append(frame)
                    self._arrived.notify_all()
                if self.on_frame is not None:
                    self.on_frame(self, frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            async with self._arrived:
                self._arrived.notify_all()
            if self.on_close is not None:
                self.on_close(self)

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def send_json(self, body: dict[str, Any]) -> str:
        """Send `body` as one JSON text frame; return the text sent."""
        text = json.dumps(body, separators=(",", ":"))
        await self.send_text(text)
        return text

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            raise ConnectionError(f"{self.name}: the connection is closed") from None

    def pending(self) -> list[Frame]:
        """Frames received and not yet consumed by an expectation, oldest first."""
        return [f for f in self.frames if not f.consumed]

    async def wait_for(self, match: Callable[[Frame], bool], timeout: float) -> Frame | None:
        """Consume and return the first unconsumed frame `match` accepts, or None on timeout."""
        deadline = time.monotonic() + timeout
        async with self._arrived:
            while True:
                for frame in self.frames:
                    if not frame.consumed and match(frame):
                        frame.consumed = True
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_open:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)

    async def wait_closed(self, timeout: float) -> bool:
        """Wait until the server or we closed the socket; False on timeout."""
        if self._reader is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close with 1000 and wait for the reader to finish."""
        self.closed_by_us = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
