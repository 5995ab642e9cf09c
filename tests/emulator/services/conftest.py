"""Fixtures for the services layer: one real MotoServer, model builders, a fake runner.

Every test names its resources with a fresh suffix, because moto's state is shared by
all MotoServers of the process (moto_server.py) and the e2e stack may run alongside.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from emulator.runner.base import Invocation, Outcome
from emulator.services.aws import client
from emulator.services.moto_server import MotoServer
from emulator.template.model import (
    EventSource,
    Index,
    KeyAttr,
    Queue,
    Table,
    Template,
    UserPool,
    UserPoolClient,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_url(moto: MotoServer) -> str:
    return moto.url


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_table(
    *,
    region: str = REGION,
    hash_key: str = "pk",
    range_key: str | None = None,
    ttl_attribute: str | None = None,
    stream_view_type: str | None = None,
    global_indexes: tuple[Index, ...] = (),
    local_indexes: tuple[Index, ...] = (),
    logical_id: str = "Table",
) -> Table:
    name = unique("tbl")
    arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"
    return Table(
        logical_id=logical_id,
        name=name,
        arn=arn,
        hash_key=KeyAttr(hash_key, "S"),
        range_key=KeyAttr(range_key, "S") if range_key else None,
        global_indexes=global_indexes,
        local_indexes=local_indexes,
        ttl_attribute=ttl_attribute,
        stream_view_type=stream_view_type,
        stream_arn=f"{arn}/stream/2026-01-01T00:00:00.000" if stream_view_type else None,
    )


def make_queue(
    *,
    region: str = REGION,
    logical_id: str = "Queue",
    fifo: bool = False,
    delay_seconds: int = 0,
    visibility_timeout_s: int = 30,
    redrive_target: str | None = None,
    max_receive_count: int | None = None,
) -> Queue:
    name = unique("q") + (".fifo" if fifo else "")
    return Queue(
        logical_id=logical_id,
        name=name,
        url=f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{name}",
        arn=f"arn:aws:sqs:{region}:{ACCOUNT}:{name}",
        fifo=fifo,
        delay_seconds=delay_seconds,
        visibility_timeout_s=visibility_timeout_s,
        message_retention_s=345600,
        redrive_target=redrive_target,
        max_receive_count=max_receive_count,
    )


def make_source(
    kind: str,
    source: str,
    *,
    batch_size: int = 10,
    report_batch_item_failures: bool = False,
    filter_patterns: tuple[str, ...] = (),
    starting_position: str | None = None,
    maximum_retry_attempts: int | None = None,
) -> EventSource:
    return EventSource(
        logical_id=f"{source}Mapping",
        kind=kind,  # type: ignore[arg-type]
        source=source,
        function="Fn",
        batch_size=batch_size,
        enabled=True,
        report_batch_item_failures=report_batch_item_failures,
        filter_patterns=filter_patterns,
        starting_position=starting_position,
        maximum_retry_attempts=maximum_retry_attempts,
    )


def make_template(
    *,
    region: str = REGION,
    tables: tuple[Table, ...] = (),
    queues: tuple[Queue, ...] = (),
    user_pools: tuple[UserPool, ...] = (),
    user_pool_clients: tuple[UserPoolClient, ...] = (),
    event_sources: tuple[EventSource, ...] = (),
) -> Template:
    def by_id(items: tuple[Any, ...]) -> Mapping[str, Any]:
        return MappingProxyType({i.logical_id: i for i in items})

    return Template(
        path=Path("template.yaml"),
        stack_name="svc-test",
        region=region,
        account_id=ACCOUNT,
        parameters=MappingProxyType({}),
        functions=MappingProxyType({}),
        websocket_apis=(),
        http_apis=(),
        tables=by_id(tables),
        queues=by_id(queues),
        user_pools=by_id(user_pools),
        user_pool_clients=by_id(user_pool_clients),
        event_sources=event_sources,
        outputs=MappingProxyType({}),
    )


Script = Callable[[dict[str, Any], int], tuple[Outcome, Any]]


class FakeRunner:
    """A FunctionRunner that records events and answers from a script.

    `script(event, n)` gets the event and the 0-based invocation number and returns
    (outcome, result); by default every invocation succeeds with None.
    """

    def __init__(self, script: Script | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._script = script or (lambda event, n: ("ok", None))
        self._changed = asyncio.Event()

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        n = len(self.events)
        self.events.append(dict(event))
        outcome, result = self._script(dict(event), n)
        self._changed.set()
        return Invocation(function, f"req-{n}", outcome, result, 1.0)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for e in self.events for r in e["Records"]]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Wait until `predicate()` holds (checked after each invoke and every 50 ms)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll an async `check` until it returns True (every 50 ms)."""
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def background() -> AsyncIterator[Callable[[Awaitable[None]], asyncio.Task[None]]]:
    """Start coroutines as tasks; cancel them all (and re-raise failures) at teardown."""
    tasks: list[asyncio.Task[None]] = []

    def start(coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


@pytest.fixture
def ddb(aws_url: str) -> Any:
    return client("dynamodb", aws_url, REGION)


@pytest.fixture
def sqs(aws_url: str) -> Any:
    return client("sqs", aws_url, REGION)


# Builders as fixtures: under --import-mode=importlib test modules cannot import conftest.
@pytest.fixture
def build() -> Any:
    class Builders:
        table = staticmethod(make_table)
        queue = staticmethod(make_queue)
        source = staticmethod(make_source)
        template = staticmethod(make_template)
        runner = FakeRunner
        name = staticmethod(unique)
        eventually = staticmethod(eventually)

    return Builders
