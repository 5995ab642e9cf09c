"""End-to-end harness for the sample apps: one real `duelctl up --template` per app.

Each app runs the way a user runs it (duelctl.testing `local_stack`: its own process,
real sockets, its own moto), so the apps' stacks never share state. Clients are plain
WebSocket connections that keep every text frame they receive, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import ClientConnection, connect

from duelctl.testing import local_stack, up_command

APPS = Path(__file__).resolve().parent
LOCAL_PYTHON = "python{}.{}".format(*sys.version_info[:2])
LOCAL_VERSION = "{}.{}.{}".format(*sys.version_info[:3])
# API Gateway ids (connection, request): 16 URL-safe base64 characters (docs/aws-behaviour.md §1).
GATEWAY_ID = r"[A-Za-z0-9_=-]{16}"


@dataclass
class AppStack:
    """A running sample app: its endpoints file, its log and a way in."""

    name: str
    workdir: Path
    endpoints: dict[str, Any]

    @property
    def websocket_url(self) -> str:
        return str(self.endpoints["websocket_url"])

    def log(self) -> str:
        """Everything `duelctl up` wrote so far (stdout and stderr)."""
        return (self.workdir / "up.log").read_text(encoding="utf-8", errors="replace")

    def aws(self, service: str, endpoint_url: str | None = None) -> Any:
        """A boto3 client for the app's local AWS (moto), or for `endpoint_url`."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint_url or self.endpoints["aws_endpoint_url"],
            region_name=self.endpoints["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    async def wait_for_log(self, text: str, timeout: float = 15.0) -> str:
        """The log once it contains `text` (prewarm and pollers log in the background)."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {text!r} never logged:\n{log[-3000:]}")
            await asyncio.sleep(0.1)
        return log


@contextlib.contextmanager
def running_app(
    tmp_path_factory: pytest.TempPathFactory, app: str, template: str, params: dict[str, str]
) -> Iterator[AppStack]:
    """`duelctl up --template tests/apps/<app>/<template>` in a fresh directory."""
    workdir = tmp_path_factory.mktemp(app)
    with local_stack(workdir, template=APPS / app / template, parameters=params) as stack:
        yield AppStack(app, stack.workdir, stack.data)


@dataclass
class Client:
    """One WebSocket connection; every text frame it receives lands in `frames`."""

    ws: ClientConnection
    frames: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    backlog: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def send(self, message: str | dict[str, Any]) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def text(self, timeout: float = 10.0) -> str:
        """The next frame, as sent (the order of frames from one source is the contract)."""
        if self.backlog:
            return self.backlog.pop(0)
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def json(self, timeout: float = 10.0) -> dict[str, Any]:
        frame = json.loads(await self.text(timeout))
        assert isinstance(frame, dict), frame
        return frame

    async def expect(self, type_: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """The first JSON frame of `type_` (with `fields`), whenever it comes."""

        def wanted(frame: dict[str, Any]) -> bool:
            return frame.get("type") == type_ and all(
                frame.get(key) == value for key, value in fields.items()
            )

        return await self.first(wanted, timeout, f"{type_} {fields}")

    async def first(
        self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 10.0, what: str = ""
    ) -> dict[str, Any]:
        """The first JSON object frame `wanted` accepts, whenever it comes.

        Frames caused by different functions (an async invoke, a stream, a queue) race
        each other, so the others are kept for later calls, in order.
        """
        for index, raw in enumerate(self.backlog):
            frame = _json_object(raw)
            if frame is not None and wanted(frame):
                del self.backlog[index]
                return frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no frame {what}; got {self.backlog}")
            try:
                raw = await asyncio.wait_for(self.frames.get(), remaining)
            except TimeoutError:
                continue
            frame = _json_object(raw)
            if frame is not None and wanted(frame):
                return frame
            self.backlog.append(raw)

    async def silence(self, seconds: float) -> None:
        """Nothing more arrives for `seconds`."""
        assert not self.backlog, self.backlog
        with contextlib.suppress(TimeoutError):
            frame = await asyncio.wait_for(self.frames.get(), seconds)
            raise AssertionError(f"unexpected frame: {frame}")

    async def drain(self, seconds: float) -> list[str]:
        """Every frame kept or received within `seconds`, oldest first."""
        frames, self.backlog = self.backlog, []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frames.append(await asyncio.wait_for(self.frames.get(), remaining))
            except TimeoutError:
                break
        return frames

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


def _json_object(raw: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


async def _read(client: Client) -> None:
    async for message in client.ws:
        client.frames.put_nowait(message if isinstance(message, str) else message.decode())


Opener = Callable[[AppStack], Awaitable[Client]]


@contextlib.asynccontextmanager
async def client_factory() -> AsyncIterator[Opener]:
    """Open clients against an app; every one is closed when the block ends."""
    opened: list[Client] = []

    async def open_client(app: AppStack) -> Client:
        client = Client(await connect(app.websocket_url))
        client.reader = asyncio.create_task(_read(client))
        opened.append(client)
        return client

    try:
        yield open_client
    finally:
        for client in opened:
            await client.close()


def runtime_note(runtime: str) -> str:
    """The one line `duelctl up` shows per runtime that is not the local Python."""
    return f"{runtime} functions run on the local Python {LOCAL_VERSION}"


def generated_name(stack: str, logical_id: str) -> re.Pattern[str]:
    """CloudFormation's name for an unnamed resource: `{stack}-{LogicalId}-{12 alnum}`."""
    return re.compile(rf"{re.escape(stack)}-{re.escape(logical_id)}-[A-Z0-9]{{12}}")


def run_up(template: Path, workdir: Path) -> subprocess.Popen[bytes]:
    """Start `duelctl up --template <template>` (for templates that must not start)."""
    return subprocess.Popen(
        up_command(template), cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
