"""The stack's clock as a scenario runner sees it: real time, or a virtual stack's time.

A scenario waits in three ways (`expect ... within`, `expect nothing ... within`,
`wait`), and all of them go through `StackTime.wait(deadline, connections)`: return
when a frame (or a close) arrives on any of the runner's connections, or when the
stack's clock reaches `deadline`.

- `RealTime`: the wall clock; a wait is a sleep that frames interrupt.
- `VirtualTime`: a `--clock virtual` stack's clock control API (emulator/virtual/control.py,
  README "Virtual time"). The runner registers as a client, so the stack never jumps
  while it is between steps; each wait tells the stack, per connection (by its local
  port), how many frames the runner sent and read, so the stack never jumps while a
  frame is in flight either way, and returns as soon as it sends something.

`ClockClient` is the plain HTTP client of that API, shared with `duelctl clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from duelctl.errors import TargetUnreachable, UsageError

# How long one wait request may be held by the stack (real seconds); the runner asks again.
WAIT_REQUEST_S = 20.0
# After a wait ends because the stack sent something, how long (real seconds) the runner
# gives those frames to arrive before it looks anyway.
ARRIVAL_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class Connection:
    """One of the runner's WebSocket connections, as a wait reports it to the stack."""

    port: int  # the connection's local port (the gateway's peer port)
    sent: int  # frames the runner sent on it
    received: int  # frames the runner has read from it
    open: bool

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "sent": self.sent, "received": self.received, "open": self.open}


class StackTime(Protocol):
    """The clock a scenario runs on."""

    mode: str  # "real" or "virtual"

    @property
    def offset(self) -> float:
        """Seconds the stack's clock is ahead of this machine's (0 on a real stack)."""
        ...

    def now(self) -> float:
        """The stack's time, epoch seconds."""
        ...

    def frame_arrived(self) -> None:
        """The runner read a frame or saw a close (wakes a pending real-time wait)."""
        ...

    async def start(self) -> None: ...

    async def wait(self, deadline: float, connections: Callable[[], Sequence[Connection]]) -> None:
        """Return on a frame or close on any connection, or once the clock is at `deadline`."""
        ...

    async def close(self) -> None: ...


class RealTime:
    """The wall clock: a wait sleeps until the deadline, or until a frame arrives."""

    mode = "real"
    offset = 0.0

    def __init__(self) -> None:
        self._arrived = asyncio.Event()

    def now(self) -> float:
        return time.time()

    def frame_arrived(self) -> None:
        self._arrived.set()

    async def start(self) -> None:
        return None

    async def wait(self, deadline: float, connections: Callable[[], Sequence[Connection]]) -> None:
        # Callers look at their sockets right before calling (no await in between), so a
        # frame that arrived before this point was already seen.
        self._arrived.clear()
        remaining = deadline - time.time()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()

    async def close(self) -> None:
        return None


class ClockError(Exception):
    """The clock API answered with an error: `status` and the server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClockClient:
    """HTTP client of a local stack's clock control API (`clock_url` in the endpoints file)."""

    def __init__(self, clock_url: str, *, timeout_s: float = 60.0) -> None:
        self.url = clock_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def _request(self, method: str, path: str, body: object = None) -> Any:
        if self._session is None:
            # Never through a proxy: the clock API is on the local stack.
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=False)
        url = self.url + path
        try:
            async with self._session.request(method, url, json=body) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TargetUnreachable(
                f"cannot reach the clock API at {url} ({type(exc).__name__}: {exc})"
            ) from None
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise ClockError(status, str(message or text.strip()[:200] or f"HTTP {status}"))
        return data

    async def state(self) -> dict[str, Any]:
        data = await self._request("GET", "")
        if not isinstance(data, dict) or "mode" not in data:
            raise TargetUnreachable(f"{self.url} did not answer like a duelctl clock")
        return data

    async def advance(self, seconds: float) -> dict[str, Any]:
        data: dict[str, Any] = await self._request("POST", "/advance", {"seconds": seconds})
        return data

    async def set(self, iso_time: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._request("POST", "/set", {"time": iso_time})
        return data

    async def register(self, name: str) -> str:
        data = await self._request("POST", "/clients", {"name": name})
        return str(data["client"])

    async def wait(
        self, client: str, until_ms: int, connections: Sequence[Connection], max_s: float
    ) -> dict[str, Any]:
        body = {
            "until_ms": until_ms,
            "connections": [c.to_json() for c in connections],
            "max_s": max_s,
        }
        data: dict[str, Any] = await self._request("POST", f"/clients/{client}/wait", body)
        return data

    async def unregister(self, client: str) -> None:
        with contextlib.suppress(ClockError):
            await self._request("DELETE", f"/clients/{client}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class VirtualTime:
    """A virtual stack's clock, driven through its control API while the runner waits."""

    mode = "virtual"

    def __init__(self, clock_url: str, *, name: str = "duelctl run") -> None:
        self._client = ClockClient(clock_url)
        self._name = name
        self._id: str | None = None
        self._offset = 0.0
        self._arrived = asyncio.Event()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        # The offset only changes while this runner waits (it is registered), and every
        # wait's answer carries it, so between waits this is exactly the stack's time.
        return time.time() + self._offset

    def frame_arrived(self) -> None:
        self._arrived.set()

    async def start(self) -> None:
        state = await self._client.state()
        if state.get("mode") != "virtual":
            raise UsageError(f"the stack at {self._client.url} runs on the real clock")
        self._offset = float(state.get("offset_s", 0.0))
        self._id = await self._client.register(self._name)

    async def wait(self, deadline: float, connections: Callable[[], Sequence[Connection]]) -> None:
        until_ms = math.ceil(deadline * 1000)
        while True:
            if self._id is None:
                self._id = await self._client.register(self._name)
            conns = list(connections())
            try:
                reply = await self._client.wait(self._id, until_ms, conns, WAIT_REQUEST_S)
            except ClockError as exc:
                if exc.status == 404:  # the stack dropped us (lease): register again
                    self._id = None
                    continue
                raise TargetUnreachable(f"the stack's clock refused a wait: {exc}") from None
            self._offset = float(reply.get("offset_s", self._offset))
            reason = reply.get("reason")
            if reason == "frames":
                await self._let_arrive(reply.get("connections", []), connections)
                return
            if reason == "deadline" or self.now() * 1000 >= until_ms:
                return
            if list(connections()) != conns:
                return  # something arrived meanwhile: the caller looks before waiting on

    async def _let_arrive(
        self, seen: list[dict[str, Any]], connections: Callable[[], Sequence[Connection]]
    ) -> None:
        """Wait (briefly, in real time) until what the stack says it sent has been read."""
        wanted = {int(c["port"]): c for c in seen if isinstance(c, dict) and "port" in c}
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ARRIVAL_GRACE_S
        while True:
            self._arrived.clear()
            behind = False
            for conn in connections():
                stack = wanted.get(conn.port)
                if stack is None or not conn.open:
                    continue
                if conn.received < int(stack.get("frames_to_client", 0)) or not stack.get(
                    "open", True
                ):
                    behind = True
            left = give_up - loop.time()
            if not behind or left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._arrived.wait()

    async def close(self) -> None:
        try:
            if self._id is not None:
                await self._client.unregister(self._id)
        except TargetUnreachable:
            pass
        finally:
            self._id = None
            await self._client.aclose()


__all__ = [
    "ClockClient",
    "ClockError",
    "Connection",
    "RealTime",
    "StackTime",
    "VirtualTime",
]
