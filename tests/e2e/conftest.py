"""End-to-end helpers: real users with real JWTs from the local Cognito, real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from duelctl.client.auth import Identity
from duelctl.testing import sign_in
from duelctl_endpoints import Endpoints

_counter = itertools.count()

User = Identity  # username, user_id (the token's `sub`), token


def make_user(endpoints: Endpoints, name: str) -> User:
    """A user of the local pool, signed in (created on first use, as `duelctl token` does)."""
    return sign_in(endpoints, name)


@dataclass
class Tab:
    """One WebSocket connection of a user, with an inbox of parsed frames."""

    user: User
    ws: ClientConnection
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    async def send(self, **body: Any) -> None:
        await self.ws.send(json.dumps(body))

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def expect(self, type_: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame, which must be of `type_` (the order of frames is the contract)."""
        frame = await asyncio.wait_for(self.inbox.get(), timeout)
        assert frame.get("type") == type_, f"{self.user.username} expected {type_}, got {frame}"
        return frame

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def expect_silence(self, seconds: float) -> None:
        """Nothing arrives for `seconds` (used to prove a frame is not sent twice)."""
        try:
            frame = await asyncio.wait_for(self.inbox.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"{self.user.username} got an unexpected frame: {frame}")

    async def close(self) -> None:
        await self.ws.close()
        if self.reader:
            await asyncio.gather(self.reader, return_exceptions=True)


async def _read(tab: Tab) -> None:
    async for message in tab.ws:
        tab.inbox.put_nowait(json.loads(message))


@pytest.fixture
def users(stack: Any) -> Callable[[str], User]:
    """A factory of fresh users (unique names, so tests never share state)."""

    def factory(prefix: str) -> User:
        return make_user(stack, f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}")

    return factory


@pytest.fixture
async def open_tab(stack: Any) -> AsyncIterator[Callable[[User], Awaitable[Tab]]]:
    tabs: list[Tab] = []

    async def opener(user: User) -> Tab:
        ws = await connect(f"{stack.websocket_url}?token={user.token}")
        tab = Tab(user, ws)
        tab.reader = asyncio.create_task(_read(tab))
        tabs.append(tab)
        return tab

    yield opener
    for tab in tabs:
        await tab.close()
