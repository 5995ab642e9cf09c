"""Schedules fire on the stack's clock (a FakeClock here) and on demand over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from emulator.clock import FakeClock
from emulator.runner.base import Invocation
from emulator.services.schedules import ScheduleApi, Scheduler, scheduled_event
from emulator.template.model import Schedule

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/"


class Recorder:
    """A FunctionRunner that records (function, event); `Boom` raises."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append((function, event))
        self.changed.set()
        if function == "Boom":
            error = {"errorMessage": "no", "errorType": "RuntimeError"}
            return Invocation(function, "r-err", "error", error, 1.0)
        return Invocation(function, f"r-{len(self.calls)}", "ok", {"seen": True}, 1.0)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            while len(self.calls) < count:
                self.changed.clear()
                await self.changed.wait()


def rule(name: str, expression: str, function: str = "Fn", **extra: Any) -> Schedule:
    return Schedule(
        logical_id=f"{name}Id",
        name=name,
        arn=RULE_ARN + name,
        expression=expression,
        function=function,
        kind="rule",
        **extra,
    )


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def runner() -> Recorder:
    return Recorder()


def make(schedules: list[Schedule], runner: Recorder, clock: FakeClock) -> Scheduler:
    return Scheduler(schedules, runner, region="us-east-1", account_id="123456789012", clock=clock)


@pytest.fixture
async def running(runner: Recorder, clock: FakeClock) -> AsyncIterator[Scheduler]:
    scheduler = make(
        [
            rule("every-minute", "rate(1 minute)", input='{"n": 1}'),
            rule("hourly", "cron(0 * * * ? *)", function="Hourly"),
            rule("off", "rate(1 minute)", function="Off", enabled=False),
        ],
        runner,
        clock,
    )
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0)
    yield scheduler
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_fires_when_the_clock_reaches_each_firing(
    running: Scheduler, runner: Recorder, clock: FakeClock
) -> None:
    """Nothing before the first period; each due firing once; a disabled one never."""
    clock.advance(59)
    for _ in range(5):
        await asyncio.sleep(0)
    assert runner.calls == []
    clock.advance(1)
    await runner.wait_for(1)
    assert runner.calls == [("Fn", {"n": 1})]
    clock.advance(60 * 59)  # to 01:00: 59 more minutes and the hourly cron
    await runner.wait_for(61)
    await running.wait_idle()
    functions = [function for function, _ in runner.calls]
    assert functions.count("Fn") == 60
    assert functions.count("Hourly") == 1
    assert "Off" not in functions
    hourly = next(event for function, event in runner.calls if function == "Hourly")
    assert hourly["time"] == "2026-01-01T01:00:00Z"
    assert hourly["resources"] == [RULE_ARN + "hourly"]


async def test_next_firings_move_on(running: Scheduler, clock: FakeClock, runner: Recorder) -> None:
    before = {s.name: at for s, at in running.next_firings()}
    assert before == {"every-minute": START + 60, "hourly": START + 3600, "off": None}
    clock.advance(60)
    await runner.wait_for(1)
    after = {s.name: at for s, at in running.next_firings()}
    assert after["every-minute"] == START + 120


def test_scheduled_event_shapes() -> None:
    """Rule: the scheduled event, or Input, or InputPath; scheduler: Input with attributes."""
    plain = scheduled_event(
        rule("r", "rate(1 minute)"),
        region="eu-west-1",
        account_id="1",
        scheduled_s=START,
        execution_id="e1",
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", plain.pop("id"))
    assert plain == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [RULE_ARN + "r"],
        "detail": {},
    }
    path = scheduled_event(
        rule("r", "rate(1 minute)", input_path="$.resources"),
        region="eu-west-1",
        account_id="1",
        scheduled_s=START,
        execution_id="e1",
    )
    assert path == [RULE_ARN + "r"]
    scheduler = Schedule(
        logical_id="S",
        name="S",
        arn="arn:aws:scheduler:eu-west-1:1:schedule/default/S",
        expression="rate(1 hour)",
        function="Fn",
        kind="scheduler",
        input='{"a": "<aws.scheduler.schedule-arn>", "t": "<aws.scheduler.scheduled-time>", '
        '"x": "<aws.scheduler.execution-id>", "n": "<aws.scheduler.attempt-number>"}',
    )
    filled = scheduled_event(
        scheduler, region="eu-west-1", account_id="1", scheduled_s=START, execution_id="e1"
    )
    assert filled == {
        "a": "arn:aws:scheduler:eu-west-1:1:schedule/default/S",
        "t": "2026-01-01T00:00:00Z",
        "x": "e1",
        "n": "1",
    }


async def test_catch_up_after_a_long_jump_is_bounded(runner: Recorder, clock: FakeClock) -> None:
    """A jump past 500 firings fires the first 100, in order, then carries on."""
    scheduler = make([rule("fast", "rate(1 minute)")], runner, clock)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0)
    clock.advance(500 * 60)
    await runner.wait_for(100)
    await scheduler.wait_idle()
    assert len(runner.calls) == 100
    times = [event["time"] for _, event in runner.calls]
    assert times == sorted(times)
    assert scheduler.next_firings()[0][1] == START + 501 * 60
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def client(runner: Recorder, clock: FakeClock) -> AsyncIterator[TestClient[Any, Any]]:
    scheduler = make(
        [rule("nightly", "cron(0 2 * * ? *)"), rule("broken", "rate(1 day)", function="Boom")],
        runner,
        clock,
    )
    api = ScheduleApi(scheduler)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_http_list_and_fire(client: TestClient[Any, Any], runner: Recorder) -> None:
    """GET lists names and next firings; POST fires by name or logical id and waits."""
    listed = await (await client.get("/_duelctl/schedules")).json()
    assert listed["schedules"][0] == {
        "name": "nightly",
        "logicalId": "nightlyId",
        "expression": "cron(0 2 * * ? *)",
        "function": "Fn",
        "enabled": True,
        "next": "2026-01-01T02:00:00Z",
    }
    response = await client.post("/_duelctl/schedules/nightlyId/fire")
    assert response.status == 200
    (fired,) = (await response.json())["fired"]
    assert (fired["name"], fired["outcome"], fired["result"]) == ("nightly", "ok", {"seen": True})
    assert runner.calls[0][1]["time"] == "2026-01-01T00:00:00Z"  # fired now, not at 02:00
    broken = await (await client.post("/_duelctl/schedules/broken/fire")).json()
    assert broken["fired"][0]["outcome"] == "error"
    missing = await client.post("/_duelctl/schedules/nope/fire")
    assert missing.status == 404
    assert "schedules: nightly, broken" in json.loads(await missing.text())["message"]
    assert (await client.get("/_duelctl/schedules/nightly/fire")).status == 405
