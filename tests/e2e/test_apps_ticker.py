"""The ticker sample (tests/apps/ticker) through `duelctl up --template template.yaml`.

What it proves: SAM `Schedule` and `ScheduleV2` events and a plain AWS::Events::Rule
become schedules of the stack, listed in the `duelctl up` panel with their next firing;
`duelctl schedule list` and `duelctl schedule fire NAME` reach them by name or logical
id; a firing hands the function a rule target's constant Input, EventBridge's scheduled
event, or the scheduler's Input with its context attributes filled in; a disabled
schedule still fires on demand and a failing function makes `fire` exit 1; SAM's
generated rule, schedule and permission resolve in `!GetAtt`/`!Ref`.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apps.harness import AppStack, generated_name, running_app

pytestmark = pytest.mark.e2e

RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/"
SCHEDULE_ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/"
ISO_SECOND = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"


@pytest.fixture(scope="module")
def ticker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppStack]:
    with running_app(tmp_path_factory, "ticker", "template.yaml", {}) as app:
        yield app


def duelctl(app: AppStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`duelctl ARGS` in the app's directory (it finds the stack by .duelctl/local.json)."""
    return subprocess.run(
        [sys.executable, "-c", "from duelctl.cli import main; main()", *args],
        cwd=app.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def run(app: AppStack, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(duelctl, app, *args)


def tick(app: AppStack, source: str) -> dict[str, Any]:
    """The table item the handlers keep for `source`: how often it fired, its last event."""
    table = next(
        name
        for name in app.aws("dynamodb").list_tables()["TableNames"]
        if generated_name("ticker", "TicksTable").fullmatch(name)
    )
    item = app.aws("dynamodb").get_item(TableName=table, Key={"source": {"S": source}})
    assert "Item" in item, f"no firing recorded for {source}"
    return {
        "fired": int(item["Item"]["fired"]["N"]),
        "event": json.loads(item["Item"]["lastEvent"]["S"]),
    }


async def test_panel_lists_schedules_with_their_next_firing(ticker: AppStack) -> None:
    """The `duelctl up` panel names every schedule, its expression and next firing."""
    log = await ticker.wait_for_log("fire one now: duelctl schedule fire NAME")
    heartbeat = generated_name("ticker", "HeartbeatFunctionEveryMinute").pattern
    assert re.search(rf"Schedules\s+{heartbeat}\s+rate\(1 minute\)\s+next \d\d:\d\d:\d\d UTC", log)
    assert re.search(r"DigestFunctionMorning\s+cron\(30 7 \? \* MON-FRI \*\)\s+next", log)
    assert re.search(r"DigestFunctionWeekend\s+rate\(1 day\)\s+disabled", log)
    assert re.search(r"ticker-sweep\s+rate\(6 hours\)\s+next", log)


async def test_schedule_list_json(ticker: AppStack) -> None:
    """`duelctl schedule list --json`: names, logical ids, next firing (UTC) or null."""
    done = await run(ticker, "schedule", "list", "--json")
    assert done.returncode == 0, done.stderr
    schedules = {item["logicalId"]: item for item in json.loads(done.stdout)["schedules"]}
    assert set(schedules) == {
        "HeartbeatFunctionEveryMinute",
        "DigestFunctionMorning",
        "DigestFunctionWeekend",
        "SweepRule",
    }
    assert schedules["SweepRule"]["name"] == "ticker-sweep"
    assert schedules["DigestFunctionWeekend"]["next"] is None
    morning = schedules["DigestFunctionMorning"]["next"]
    # 07:30 in Paris is 05:30 or 06:30 UTC, depending on daylight saving time.
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T0[56]:30:00Z", morning), morning


async def test_fire_rule_with_constant_input(ticker: AppStack) -> None:
    """A SAM Schedule event's Input is the whole event; firing by logical id works."""
    done = await run(ticker, "schedule", "fire", "HeartbeatFunctionEveryMinute")
    assert done.returncode == 0, done.stderr
    assert "HeartbeatFunction ok" in done.stderr
    assert tick(ticker, "heartbeat")["event"] == {"source": "heartbeat"}


async def test_fire_plain_rule_sends_the_scheduled_event(ticker: AppStack) -> None:
    """A rule target without Input gets EventBridge's scheduled event, by rule name."""
    done = await run(ticker, "schedule", "fire", "ticker-sweep", "--json")
    assert done.returncode == 0, done.stderr
    (fired,) = json.loads(done.stdout)["fired"]
    assert (fired["function"], fired["outcome"]) == ("SweepFunction", "ok")
    event = tick(ticker, "sweep")["event"]
    assert re.fullmatch(r"[0-9a-f-]{36}", event.pop("id"))
    assert re.fullmatch(ISO_SECOND, event.pop("time"))
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [RULE_ARN + "ticker-sweep"],
        "detail": {},
    }


async def test_fire_scheduler_fills_in_context_attributes(ticker: AppStack) -> None:
    """A ScheduleV2 Input has <aws.scheduler.*> replaced; the ARN names the schedule."""
    done = await run(ticker, "schedule", "fire", "DigestFunctionMorning")
    assert done.returncode == 0, done.stderr
    event = tick(ticker, "digest")["event"]
    assert event["source"] == "digest"
    assert event["schedule"] == SCHEDULE_ARN + "DigestFunctionMorning"
    assert re.fullmatch(ISO_SECOND, event["at"])


async def test_failures_and_unknown_names(ticker: AppStack) -> None:
    """A disabled schedule fires on demand; its function raising exits 1; unknown: 2."""
    done = await run(ticker, "schedule", "fire", "DigestFunctionWeekend")
    assert done.returncode == 1
    assert "DigestFunction error" in done.stderr
    missing = await run(ticker, "schedule", "fire", "NoSuchSchedule")
    assert missing.returncode == 2
    assert "no schedule 'NoSuchSchedule'" in missing.stderr
    assert "ticker-sweep" in missing.stderr
    await ticker.wait_for_log("schedule DigestFunctionWeekend: DigestFunction error")
