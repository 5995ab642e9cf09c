"""Asynchronous invocations are retried as AWS does: twice, 1 and then 2 minutes apart.

Driven through the real Invoke API with unmodified boto3; the waits between attempts run
on a FakeClock the test moves, so no real time passes and no duration is asserted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config

from emulator.clock import FakeClock
from emulator.lambda_api import ASYNC_RETRY_DELAYS_S, LambdaInvokeApi
from emulator.runner.base import Invocation

NAMES = {"duel-Worker": "WorkerFunction"}


class FailingRunner:
    """Fails the first `failures` invocations (a crash, as fault mode's lambda-crash does)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[Mapping[str, Any]] = []
        self.changed = asyncio.Event()

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append(event)
        self.changed.set()
        n = len(self.calls)
        if n <= self.failures:
            error = {"errorMessage": "signal: killed", "errorType": "Runtime.ExitError"}
            return Invocation(function, f"r-{n}", "error", error, 1.0)
        return Invocation(function, f"r-{n}", "ok", None, 1.0)

    async def wait_calls(self, count: int) -> None:
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            while len(self.calls) < count:
                self.changed.clear()
                await self.changed.wait()


async def serve(
    runner: FailingRunner, clock: FakeClock
) -> AsyncIterator[tuple[LambdaInvokeApi, Any]]:
    api = LambdaInvokeApi(
        runner, NAMES.get, region="us-east-1", account_id="123456789012", clock=clock
    )
    app = web.Application()
    app.add_routes(api.routes())
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{app_runner.addresses[0][1]}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    try:
        yield api, client
    finally:
        client.close()
        await api.aclose(timeout_s=0.1)
        await app_runner.cleanup()


async def invoke_event(client: Any) -> None:
    reply = await asyncio.to_thread(
        client.invoke, FunctionName="duel-Worker", InvocationType="Event", Payload=b'{"n": 1}'
    )
    assert reply["StatusCode"] == 202


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize("failures", [1, 3])
async def test_a_failed_event_invocation_runs_twice_more_on_the_clock(failures: int) -> None:
    clock, runner = FakeClock(), FailingRunner(failures)
    async for api, client in serve(runner, clock):
        await invoke_event(client)
        await runner.wait_calls(1)
        await settle()
        assert len(runner.calls) == 1  # the first retry waits a minute
        clock.advance(ASYNC_RETRY_DELAYS_S[0] - 1)
        await settle()
        assert len(runner.calls) == 1
        clock.advance(1)
        await runner.wait_calls(2)
        if failures == 1:
            await api.wait_idle()
            assert len(runner.calls) == 2  # succeeded: no more attempts
            return
        clock.advance(ASYNC_RETRY_DELAYS_S[1])
        await runner.wait_calls(3)
        await api.wait_idle()  # two retries, then AWS gives up
        assert runner.calls == [{"n": 1}] * 3
