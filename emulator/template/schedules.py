"""Schedules: SAM Schedule/ScheduleV2 events, AWS::Events::Rule and AWS::Scheduler::Schedule.

Each becomes a `Schedule` the stack fires on its clock (emulator/services/schedules.py).
The expression is checked here, at load, with EventBridge's own rules (EventBridge user
guide, "Schedule expressions for rules"; EventBridge Scheduler user guide, "Schedule
types"), so a template AWS would refuse does not quietly run locally:

- `rate(value unit)`: a positive whole value; unit minute, hour or day, singular exactly
  when the value is 1.
- `cron(minutes hours day-of-month month day-of-week year)`: six fields, `,` `-` `*`
  `/`, `?` in exactly one of day-of-month and day-of-week, `L`, `W` and `#` where
  EventBridge allows them; months JAN-DEC, days SUN-SAT (1 = Sunday); years 1970-2199.
- `at(yyyy-mm-ddThh:mm:ss)`: one time, EventBridge Scheduler only.

Rules whose targets are not functions of this template (queues, topics, other accounts)
and rules on event patterns are listed in `Template.ignored`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emulator.template.errors import TemplateError
from emulator.template.functions import PendingEvent
from emulator.template.intrinsics import as_text
from emulator.template.model import Function, Schedule
from emulator.template.physical import (
    EVENTS_RULE,
    SCHEDULER_SCHEDULE,
    PhysicalIds,
    Props,
    RawResource,
    to_bool,
)
from emulator.template.services import find_function

# ---------------------------------------------------------------------- expressions

_RATE_RE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON_RE = re.compile(r"cron\((.*)\)")
_AT_RE = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
# AWS: 1 = Sunday ... 7 = Saturday in cron day-of-week.
_DAYS = {d: i + 1 for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_YEARS = (1970, 2199)


@dataclass(frozen=True, slots=True)
class _DaySpec:
    """Day-of-month or day-of-week: values, or one of the special forms."""

    values: frozenset[int] = frozenset()
    any: bool = False  # "?" (or "*" in day-of-month)
    last: bool = False  # "L" (day-of-month), "nL" (day-of-week: last weekday n)
    nearest_weekday: int | None = None  # "nW"
    last_weekday: bool = False  # "LW"
    nth: tuple[int, int] | None = None  # "d#n": the n-th weekday d of the month


@dataclass(frozen=True, slots=True)
class ScheduleExpression:
    """A parsed rate/cron/at expression that knows its next firing after a time."""

    text: str
    kind: Literal["rate", "cron", "at"]
    period_s: int = 0  # rate
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    dom: _DaySpec = _DaySpec()
    months: frozenset[int] = frozenset()
    dow: _DaySpec = _DaySpec()
    years: frozenset[int] = frozenset()
    at: dt.datetime | None = None  # naive, in the schedule's time zone

    def next_after(self, after: float, *, origin: float, tz: str = "UTC") -> float | None:
        """The first firing strictly after `after` (epoch seconds), None if there is none.

        `origin` is when the schedule started (a rate fires every period from there);
        cron and at expressions read the wall clock of `tz`.
        """
        if self.kind == "rate":
            periods = max(0, int((after - origin) // self.period_s))
            candidate = origin + (periods + 1) * self.period_s
            return candidate if candidate > after else candidate + self.period_s
        zone = ZoneInfo(tz)
        if self.kind == "at":
            assert self.at is not None
            when = self.at.replace(tzinfo=zone).timestamp()
            return when if when > after else None
        return self._next_cron(after, zone)

    def _next_cron(self, after: float, zone: ZoneInfo) -> float | None:
        start = dt.datetime.fromtimestamp(after, zone)
        for year, month in self._months_from(start.year, start.month):
            for day in self._days(year, month):
                date = dt.date(year, month, day)
                if date < start.date():
                    continue
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = dt.datetime(year, month, day, hour, minute, tzinfo=zone)
                        if moment.timestamp() > after:
                            return moment.timestamp()
        return None

    def _months_from(self, year: int, month: int) -> Iterator[tuple[int, int]]:
        for y in range(year, _YEARS[1] + 1):
            if y not in self.years:
                continue
            for m in sorted(self.months):
                if (y, m) >= (year, month):
                    yield y, m

    def _days(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        spec = self.dow if self.dom.any else self.dom
        if spec is self.dom:
            return _dom_days(spec, year, month, last)
        return _dow_days(spec, year, month, last)


def _weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday, as cron counts."""
    return (dt.date(year, month, day).isoweekday() % 7) + 1


def _dom_days(spec: _DaySpec, year: int, month: int, last: int) -> list[int]:
    if spec.last:
        return [last]
    if spec.last_weekday:
        day = last
        while _weekday(year, month, day) in (1, 7):
            day -= 1
        return [day]
    if spec.nearest_weekday is not None:
        day = min(spec.nearest_weekday, last)
        weekday = _weekday(year, month, day)
        if weekday == 7:  # Saturday -> Friday, or Monday when Friday is last month's
            day = day - 1 if day > 1 else day + 2
        elif weekday == 1:  # Sunday -> Monday, or Friday when Monday is next month's
            day = day + 1 if day < last else day - 2
        return [day]
    return [d for d in range(1, last + 1) if spec.any or d in spec.values]


def _dow_days(spec: _DaySpec, year: int, month: int, last: int) -> list[int]:
    days = range(1, last + 1)
    if spec.nth is not None:
        weekday, nth = spec.nth
        matches = [d for d in days if _weekday(year, month, d) == weekday]
        return [matches[nth - 1]] if len(matches) >= nth else []
    if spec.last:
        (weekday,) = spec.values
        return [max(d for d in days if _weekday(year, month, d) == weekday)]
    return [d for d in days if spec.any or _weekday(year, month, d) in spec.values]


def parse_expression(text: str, where: str, *, allow_at: bool = False) -> ScheduleExpression:
    """Parse a schedule expression; raise TemplateError naming `where` and the rule broken."""
    text = text.strip()
    rate = _RATE_RE.fullmatch(text)
    if rate is not None:
        value, unit = int(rate.group(1)), rate.group(2)
        singular = not unit.endswith("s")
        if value < 1 or singular != (value == 1):
            raise TemplateError(
                f"{where}: schedule {text} is invalid; use a positive value with a singular "
                "unit for 1 and a plural one otherwise (rate(1 minute), rate(5 minutes))"
            )
        return ScheduleExpression(text, "rate", period_s=value * _UNIT_S[unit.rstrip("s")])
    at = _AT_RE.fullmatch(text)
    if at is not None and allow_at:
        year, month, day, hour, minute, second = (int(part) for part in at.groups())
        try:
            moment = dt.datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise TemplateError(f"{where}: schedule {text} is not a valid date; fix it") from None
        return ScheduleExpression(text, "at", at=moment)
    cron = _CRON_RE.fullmatch(text)
    if cron is None:
        forms = "rate(...), cron(...) or at(...)" if allow_at else "rate(...) or cron(...)"
        raise TemplateError(f"{where}: schedule {text!r} is not {forms}; fix the expression")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise TemplateError(
            f"{where}: {text} has {len(fields)} fields; EventBridge cron takes six (minutes "
            "hours day-of-month month day-of-week year)"
        )
    try:
        minutes = _field(fields[0], 0, 59)
        hours = _field(fields[1], 0, 23)
        months = _field(fields[3], 1, 12, _MONTHS)
        years = _field(fields[5], *_YEARS)
        dom = _dom(fields[2])
        dow = _dow(fields[4])
    except ValueError as exc:
        raise TemplateError(f"{where}: {text}: {exc}; fix the expression") from None
    if dom.any == dow.any:
        raise TemplateError(
            f"{where}: {text}: EventBridge needs '?' in exactly one of day-of-month and "
            "day-of-week (e.g. cron(0 12 * * ? *)); fix the expression"
        )
    return ScheduleExpression(
        text, "cron", minutes=minutes, hours=hours, dom=dom, months=months, dow=dow, years=years
    )


def _number(token: str, names: Mapping[str, int] | None) -> int:
    if names is not None and token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        raise ValueError(f"{token!r} is not a number")
    return int(token)


def _field(
    text: str, low: int, high: int, names: Mapping[str, int] | None = None
) -> frozenset[int]:
    """`*`, `a`, `a-b`, `a/step`, `*/step`, `a-b/step`, comma lists; wrap-around ranges."""
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1 if not step_text else _number(step_text, None)
        if step < 1:
            raise ValueError(f"step {step_text} must be at least 1")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, second = base.partition("-")
            start, end = _number(first, names), _number(second, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        for value in (start, end):
            if not low <= value <= high:
                raise ValueError(f"{value} is outside {low}-{high}")
        span = (
            list(range(start, end + 1))
            if start <= end
            else [
                *range(start, high + 1),
                *range(low, end + 1),
            ]
        )
        values.update(span[::step])
    return frozenset(values)


def _dom(text: str) -> _DaySpec:
    if text == "?":
        return _DaySpec(any=True)
    if text == "*":
        return _DaySpec(values=frozenset(range(1, 32)))
    if text == "L":
        return _DaySpec(last=True)
    if text == "LW":
        return _DaySpec(last_weekday=True)
    if text.endswith("W") and text[:-1].isdigit() and 1 <= int(text[:-1]) <= 31:
        return _DaySpec(nearest_weekday=int(text[:-1]))
    return _DaySpec(values=_field(text, 1, 31))


def _dow(text: str) -> _DaySpec:
    if text == "?":
        return _DaySpec(any=True)
    if text == "*":
        return _DaySpec(values=frozenset(range(1, 8)))
    if text == "L":
        return _DaySpec(values=frozenset({7}))  # the last day of the week: Saturday
    if text.endswith("L") and len(text) > 1:
        return _DaySpec(values=frozenset({_number(text[:-1], _DAYS)}), last=True)
    if "#" in text:
        day, _, nth = text.partition("#")
        weekday, count = _number(day, _DAYS), _number(nth, None)
        if not 1 <= weekday <= 7 or not 1 <= count <= 5:
            raise ValueError(f"{text} must be <day 1-7>#<1-5>")
        return _DaySpec(nth=(weekday, count))
    return _DaySpec(values=_field(text, 1, 7, _DAYS))


def scheduled_time(epoch_s: float) -> str:
    """`2026-01-01T12:00:00Z`, the `time` of a scheduled event."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- builders


class ScheduleBuilder:
    """Turns schedule events and resources into `Schedule`s once functions are known."""

    def __init__(
        self,
        ids: PhysicalIds,
        props: Mapping[str, Props],
        functions: Mapping[str, Function],
        ignored: list[str],
    ) -> None:
        self.ids = ids
        self.props = props
        self.functions = functions
        self.ignored = ignored

    def build(self, events: Sequence[PendingEvent]) -> tuple[Schedule, ...]:
        schedules: list[Schedule] = []
        for event in events:
            if event.type == "Schedule":
                schedules.append(self._sam_rule(event))
            elif event.type == "ScheduleV2":
                schedules.append(self._sam_scheduler(event))
        for prop in self.props.values():
            if prop.resource.implicit:
                continue
            if prop.resource.type == EVENTS_RULE:
                schedules += self._rule(prop)
            elif prop.resource.type == SCHEDULER_SCHEDULE:
                schedules += self._scheduler(prop)
        names: dict[str, str] = {}
        for schedule in schedules:
            other = names.setdefault(schedule.name, schedule.logical_id)
            if other != schedule.logical_id:
                raise TemplateError(
                    f"{schedule.logical_id}: schedule name {schedule.name} is also used by "
                    f"{other}; names must be unique"
                )
        return tuple(schedules)

    def _implicit(self, logical_id: str) -> RawResource:
        return self.props[logical_id].resource

    def _sam_rule(self, event: PendingEvent) -> Schedule:
        values = event.properties
        expression = as_text(values.get("Schedule") or "", event.label, "Schedule")
        if not expression:
            raise TemplateError(f"{event.label}: Schedule is required; set e.g. rate(5 minutes)")
        parse_expression(expression, event.label)
        resource = self._implicit(event.logical_id)
        enabled = to_bool(values.get("Enabled"), event.label, "Enabled", True)
        if values.get("State") is not None:
            enabled = as_text(values["State"], event.label, "State") == "ENABLED"
        self._note_retry(event.label, values)
        return Schedule(
            logical_id=event.logical_id,
            name=self.ids.name(resource),
            arn=self.ids.rule_arn(resource),
            expression=expression,
            function=event.function,
            kind="rule",
            enabled=enabled,
            input=_input(event.label, values.get("Input")),
        )

    def _sam_scheduler(self, event: PendingEvent) -> Schedule:
        values = event.properties
        expression = as_text(
            values.get("ScheduleExpression") or "", event.label, "ScheduleExpression"
        )
        if not expression:
            raise TemplateError(
                f"{event.label}: ScheduleExpression is required; set e.g. rate(5 minutes)"
            )
        parse_expression(expression, event.label, allow_at=True)
        resource = self._implicit(event.logical_id)
        state = as_text(values.get("State") or "ENABLED", event.label, "State")
        self._note_window(event.label, values)
        return Schedule(
            logical_id=event.logical_id,
            name=self.ids.name(resource),
            arn=self.ids.schedule_arn(resource),
            expression=expression,
            function=event.function,
            kind="scheduler",
            enabled=state == "ENABLED",
            input=_input(event.label, values.get("Input")),
            timezone=_timezone(event.label, values.get("ScheduleExpressionTimezone")),
        )

    def _rule(self, prop: Props) -> list[Schedule]:
        expression = prop.text("ScheduleExpression")
        if expression is None:
            self.ignored.append(
                f"{prop.label}: event patterns are not emulated (only ScheduleExpression rules)"
            )
            return []
        parse_expression(expression, prop.label)
        enabled = (prop.text("State") or "ENABLED") == "ENABLED"
        out: list[Schedule] = []
        for target in prop.items("Targets"):
            function = self._target(prop.label, target)
            if function is None:
                continue
            if "InputTransformer" in target:
                raise TemplateError(
                    f"{prop.label}: target InputTransformer is not emulated; use Input or InputPath"
                )
            path = target.get("InputPath")
            out.append(
                Schedule(
                    logical_id=prop.resource.logical_id,
                    name=self.ids.name(prop.resource),
                    arn=self.ids.rule_arn(prop.resource),
                    expression=expression,
                    function=function,
                    kind="rule",
                    enabled=enabled,
                    input=_input(prop.label, target.get("Input")),
                    input_path=None if path is None else _input_path(prop.label, path),
                )
            )
        return out

    def _scheduler(self, prop: Props) -> list[Schedule]:
        expression = prop.required_text("ScheduleExpression", "set e.g. rate(5 minutes)")
        parse_expression(expression, prop.label, allow_at=True)
        target = prop.mapping("Target")
        function = self._target(prop.label, target)
        if function is None:
            return []
        self._note_window(prop.label, {"FlexibleTimeWindow": prop.get("FlexibleTimeWindow")})
        return [
            Schedule(
                logical_id=prop.resource.logical_id,
                name=self.ids.name(prop.resource),
                arn=self.ids.schedule_arn(prop.resource),
                expression=expression,
                function=function,
                kind="scheduler",
                enabled=(prop.text("State") or "ENABLED") == "ENABLED",
                input=_input(prop.label, target.get("Input")),
                timezone=_timezone(prop.label, prop.get("ScheduleExpressionTimezone")),
            )
        ]

    def _target(self, label: str, target: Any) -> str | None:
        """The function a target invokes, or None (noted as ignored) for other targets."""
        if not isinstance(target, dict) or not isinstance(target.get("Arn"), str):
            raise TemplateError(f"{label}: each target needs an Arn; fix it")
        arn = target["Arn"]
        function = find_function(self.functions, arn) if ":lambda:" in arn else None
        if function is None:
            self.ignored.append(
                f"{label}: target {arn} is not a function of this template; only Lambda "
                "targets are invoked locally"
            )
        return function

    def _note_retry(self, label: str, values: Mapping[str, Any]) -> None:
        if values.get("DeadLetterConfig") or values.get("RetryPolicy"):
            self.ignored.append(f"{label}: retry policies and dead-letter queues are not emulated")

    def _note_window(self, label: str, values: Mapping[str, Any]) -> None:
        window = values.get("FlexibleTimeWindow")
        if isinstance(window, dict) and window.get("Mode") == "FLEXIBLE":
            self.ignored.append(
                f"{label}: FlexibleTimeWindow: the schedule fires at its exact time locally"
            )
        for key in ("StartDate", "EndDate"):
            if values.get(key) is not None:
                self.ignored.append(f"{label}: {key} is not applied locally")


def _input(label: str, value: Any) -> str | None:
    """A target's constant Input as JSON text; AWS requires valid JSON for Lambda targets."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value)
    text = as_text(value, label, "Input")
    try:
        json.loads(text)
    except ValueError:
        raise TemplateError(f"{label}: Input is not valid JSON ({text[:40]!r}); fix it") from None
    return text


def _input_path(label: str, value: Any) -> str:
    text = as_text(value, label, "InputPath")
    if text != "$" and re.fullmatch(r"\$(\.[A-Za-z0-9_-]+)+", text) is None:
        raise TemplateError(
            f"{label}: InputPath {text} is not emulated; use $ or a plain $.field.path"
        )
    return text


def _timezone(label: str, value: Any) -> str:
    if value is None:
        return "UTC"
    name = as_text(value, label, "ScheduleExpressionTimezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TemplateError(
            f"{label}: ScheduleExpressionTimezone {name} is not a known time zone; use an "
            "IANA name such as Europe/Paris"
        ) from None
    return name
