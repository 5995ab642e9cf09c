"""End-to-end helpers: real users with real JWTs from the local Cognito, real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "duel-e2e-password"
_counter = itertools.count()


@dataclass
class User:
    username: str
    user_id: str
    token: str


def make_user(endpoints: Any, name: str) -> User:
    """Create a Cognito user in the local pool and sign in (ADMIN_USER_PASSWORD_AUTH)."""
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=endpoints.aws_endpoint_url,
        region_name=endpoints.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pool, client = endpoints.user_pool_id, endpoints.user_pool_client_id
    idp.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
    auth = idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    user = idp.admin_get_user(UserPoolId=pool, Username=name)
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return User(name, sub, auth["IdToken"])


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
