"""Schedules fire on the stack's clock: EventBridge rules and EventBridge Scheduler.

`Scheduler.run` sleeps with `clock.sleep_until` until the next firing of any enabled
schedule, so a virtual clock (issue 13) drives it like the wall clock. Each firing
invokes the target function asynchronously, as EventBridge does, with:

- a rule (SAM `Schedule`, AWS::Events::Rule): its target's constant `Input`, else the
  scheduled event, or the part of it `InputPath` selects (EventBridge user guide,
  "Amazon EventBridge events"; the event shape below);
- a schedule (SAM `ScheduleV2`, AWS::Scheduler::Schedule): its `Input` with the context
  attributes `<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
  `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` filled in
  (EventBridge Scheduler user guide, "Adding context attributes"), else `{}`
  (unverified).

A rate starts counting when the stack starts, as a new rule's does when it is created.
When the clock jumps past several firings, each missed one fires in order (at most
`MAX_CATCH_UP` per jump; the rest are skipped with a log line). `ScheduleApi` serves
`GET /_duelctl/schedules` and `POST /_duelctl/schedules/{name}/fire` on the stack's
HTTP origin for `duelctl schedule`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.runner.base import FunctionRunner, Invocation
from emulator.template.model import Schedule
from emulator.template.schedules import ScheduleExpression, parse_expression, scheduled_time

MAX_CATCH_UP = 100
PATH_PREFIX = "/_duelctl/schedules"
_FIRE_PATH = re.compile(r"^/_duelctl/schedules/(?P<name>[^/]+)/fire$")


def scheduled_event(
    schedule: Schedule,
    *,
    region: str,
    account_id: str,
    scheduled_s: float,
    execution_id: str,
) -> Any:
    """The payload a firing hands to the function (see the module docstring)."""
    when = scheduled_time(scheduled_s)
    if schedule.kind == "scheduler":
        if schedule.input is None:
            return {}
        text = (
            schedule.input.replace("<aws.scheduler.schedule-arn>", schedule.arn)
            .replace("<aws.scheduler.scheduled-time>", when)
            .replace("<aws.scheduler.execution-id>", execution_id)
            .replace("<aws.scheduler.attempt-number>", "1")
        )
        return json.loads(text)
    if schedule.input is not None:
        return json.loads(schedule.input)
    # AWS: the scheduled event (EventBridge user guide, "Creating a rule that runs on a
    # schedule"); `time` is the scheduled minute, `resources` the rule's ARN.
    event: Any = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": when,
        "region": region,
        "resources": [schedule.arn],
        "detail": {},
    }
    if schedule.input_path not in (None, "$"):
        for part in str(schedule.input_path).split(".")[1:]:
            event = event.get(part) if isinstance(event, dict) else None
    return event


@dataclass(slots=True)
class _Entry:
    schedule: Schedule
    expression: ScheduleExpression
    next_at: float | None


class Scheduler:
    """Fires a template's schedules on a clock; `fire` runs one now."""

    def __init__(
        self,
        schedules: Sequence[Schedule],
        runner: FunctionRunner,
        *,
        region: str,
        account_id: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._runner = runner
        self._region = region
        self._account_id = account_id
        self._clock = clock
        origin = clock.now()
        self._origin = origin
        self._entries = []
        for schedule in schedules:
            expression = parse_expression(schedule.expression, schedule.logical_id, allow_at=True)
            next_at = (
                expression.next_after(origin, origin=origin, tz=schedule.timezone)
                if schedule.enabled
                else None
            )
            self._entries.append(_Entry(schedule, expression, next_at))
        self._tasks: set[asyncio.Task[Invocation | None]] = set()
        self.fired = 0  # firings started by the clock (observability, tests)

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return tuple(entry.schedule for entry in self._entries)

    def next_firings(self) -> list[tuple[Schedule, float | None]]:
        """Each schedule with its next firing (epoch seconds), None when disabled or done."""
        return [(entry.schedule, entry.next_at) for entry in self._entries]

    def find(self, name: str) -> list[Schedule]:
        """Schedules called `name`: the physical name or the logical id."""
        return [
            entry.schedule
            for entry in self._entries
            if name in (entry.schedule.name, entry.schedule.logical_id)
        ]

    async def fire(self, schedule: Schedule, scheduled_s: float | None = None) -> Invocation:
        """Invoke `schedule`'s function once, as a firing at `scheduled_s` (default: now)."""
        when = self._clock.now() if scheduled_s is None else scheduled_s
        event = scheduled_event(
            schedule,
            region=self._region,
            account_id=self._account_id,
            scheduled_s=when,
            execution_id=os.urandom(8).hex(),
        )
        invocation = await self._runner.invoke(
            schedule.function, event, route=f"schedule {schedule.name}"
        )
        if not invocation.ok:
            emit(
                SERVICE,
                f"schedule {schedule.name}: {schedule.function} {invocation.outcome}",
                level=logging.WARNING,
                schedule=schedule.name,
                function=schedule.function,
                outcome=invocation.outcome,
            )
        return invocation

    async def run(self) -> None:
        """Fire every enabled schedule when due, until cancelled."""
        try:
            while True:
                due = [entry.next_at for entry in self._entries if entry.next_at is not None]
                if not due:
                    await asyncio.Event().wait()  # nothing left to fire; wait for cancel
                await self._clock.sleep_until(min(due))
                now = self._clock.now()
                for entry in self._entries:
                    self._fire_due(entry, now)
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _fire_due(self, entry: _Entry, now: float) -> None:
        fired = 0
        while entry.next_at is not None and entry.next_at <= now:
            if fired < MAX_CATCH_UP:
                self._start(entry.schedule, entry.next_at)
            fired += 1
            entry.next_at = entry.expression.next_after(
                entry.next_at, origin=self._origin, tz=entry.schedule.timezone
            )
        if fired > MAX_CATCH_UP:
            emit(
                SERVICE,
                f"schedule {entry.schedule.name}: the clock skipped {fired} firings; fired the "
                f"first {MAX_CATCH_UP}",
                level=logging.WARNING,
            )

    def _start(self, schedule: Schedule, scheduled_s: float) -> None:
        self.fired += 1
        task = asyncio.create_task(self._quiet(schedule, scheduled_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quiet(self, schedule: Schedule, scheduled_s: float) -> Invocation | None:
        try:
            return await self.fire(schedule, scheduled_s)
        except Exception as exc:  # the runner promises not to raise; keep the loop alive
            emit(SERVICE, f"schedule {schedule.name}: {exc}", level=logging.ERROR)
            return None

    async def wait_idle(self) -> None:
        """Wait until every firing started so far has finished (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def describe(scheduler: Scheduler) -> list[dict[str, Any]]:
    """The schedules as `GET /_duelctl/schedules` lists them."""
    return [
        {
            "name": schedule.name,
            "logicalId": schedule.logical_id,
            "expression": schedule.expression,
            "function": schedule.function,
            "enabled": schedule.enabled,
            "next": None if next_at is None else scheduled_time(next_at),
        }
        for schedule, next_at in scheduler.next_firings()
    ]


class ScheduleApi:
    """The management routes `duelctl schedule` calls (local stacks only)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    @staticmethod
    def matches(raw_path: str) -> bool:
        path = raw_path.split("?", 1)[0]
        return path == PATH_PREFIX or path.startswith(PATH_PREFIX + "/")

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if path == PATH_PREFIX:
            if request.method != "GET":
                return web.json_response({"message": "use GET"}, status=405)
            return web.json_response({"schedules": describe(self._scheduler)})
        match = _FIRE_PATH.match(path)
        if match is None:
            return web.json_response({"message": "not found"}, status=404)
        if request.method != "POST":
            return web.json_response({"message": "use POST"}, status=405)
        name = match.group("name")
        schedules = self._scheduler.find(name)
        if not schedules:
            names = ", ".join(s.name for s in self._scheduler.schedules) or "none"
            return web.json_response(
                {"message": f"no schedule {name!r} (schedules: {names})"}, status=404
            )
        fired = []
        for schedule in schedules:
            invocation = await self._scheduler.fire(schedule)
            fired.append(
                {
                    "name": schedule.name,
                    "function": schedule.function,
                    "requestId": invocation.request_id,
                    "outcome": invocation.outcome,
                    "durationMs": round(invocation.duration_ms, 1),
                    "result": invocation.result,
                }
            )
        return web.json_response({"fired": fired})
