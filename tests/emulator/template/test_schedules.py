"""Schedule expressions (rate, cron, at) and the schedules a template declares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from emulator.template.errors import TemplateError
from emulator.template.model import Template
from emulator.template.schedules import parse_expression

Load = Callable[..., Template]
UTC = dt.UTC


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def firings(expression: str, start: float, count: int, tz: str = "UTC") -> list[str]:
    """The next `count` firings after `start`, as UTC ISO strings."""
    parsed = parse_expression(expression, "test", allow_at=True)
    out: list[str] = []
    at: float | None = start
    for _ in range(count):
        assert at is not None
        at = parsed.next_after(at, origin=start, tz=tz)
        if at is None:
            break
        out.append(dt.datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M %a"))
    return out


START = ts(2026, 1, 1, 0, 0)  # a Thursday


def test_rate_counts_from_the_start() -> None:
    """rate(N unit) fires every N units after the schedule started, never at the start."""
    assert firings("rate(1 minute)", START + 10, 2) == [
        "2026-01-01 00:01 Thu",
        "2026-01-01 00:02 Thu",
    ]
    assert firings("rate(2 hours)", START, 2) == ["2026-01-01 02:00 Thu", "2026-01-01 04:00 Thu"]
    assert firings("rate(1 day)", START, 1) == ["2026-01-02 00:00 Fri"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 12 * * ? *)", ["2026-01-01 12:00 Thu", "2026-01-02 12:00 Fri"]),
        ("cron(0/15 * * * ? *)", ["2026-01-01 00:15 Thu", "2026-01-01 00:30 Thu"]),
        ("cron(*/20 9-10 ? * * *)", ["2026-01-01 09:00 Thu", "2026-01-01 09:20 Thu"]),
        ("cron(0 18 ? * MON-FRI *)", ["2026-01-01 18:00 Thu", "2026-01-02 18:00 Fri"]),
        ("cron(0 8 ? * SAT,SUN *)", ["2026-01-03 08:00 Sat", "2026-01-04 08:00 Sun"]),
        ("cron(0 0 L * ? *)", ["2026-01-31 00:00 Sat", "2026-02-28 00:00 Sat"]),
        ("cron(0 0 ? * 6L *)", ["2026-01-30 00:00 Fri", "2026-02-27 00:00 Fri"]),
        ("cron(0 0 ? * 2#1 *)", ["2026-01-05 00:00 Mon", "2026-02-02 00:00 Mon"]),
        ("cron(0 0 3W * ? *)", ["2026-01-02 00:00 Fri", "2026-02-03 00:00 Tue"]),
        ("cron(0 0 LW * ? *)", ["2026-01-30 00:00 Fri", "2026-02-27 00:00 Fri"]),
        ("cron(0 0 1 JAN,JUL ? 2026-2027)", ["2026-07-01 00:00 Wed", "2027-01-01 00:00 Fri"]),
        ("cron(0 0 29 2 ? *)", ["2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun"]),
        ("cron(0 0 1 1 ? 2026)", []),
    ],
)
def test_cron_fields(expression: str, expected: list[str]) -> None:
    """EventBridge's six fields with ranges, steps, lists, names, L, W and #."""
    assert firings(expression, START, 2) == expected


def test_cron_in_a_time_zone_follows_daylight_saving() -> None:
    """ScheduleExpressionTimezone: 07:30 Paris is 06:30 UTC in winter, 05:30 in summer."""
    assert firings("cron(30 7 * * ? *)", START, 1, tz="Europe/Paris") == ["2026-01-01 06:30 Thu"]
    assert firings("cron(30 7 * * ? *)", ts(2026, 7, 1), 1, tz="Europe/Paris") == [
        "2026-07-01 05:30 Wed"
    ]


def test_at_fires_once() -> None:
    """at(...) (Scheduler only) fires once, in its time zone; never again after."""
    assert firings("at(2026-03-01T09:00:00)", START, 3, tz="America/New_York") == [
        "2026-03-01 14:00 Sun"
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(1 minutes)", "singular unit for 1"),
        ("rate(5 minute)", "plural one otherwise"),
        ("rate(0 minutes)", "positive value"),
        ("rate(1 week)", "is not rate(...) or cron(...)"),
        ("cron(0 12 * * * *)", "'?' in exactly one of day-of-month and day-of-week"),
        ("cron(0 12 ? * ? *)", "'?' in exactly one"),
        ("cron(0 12 * * ?)", "has 5 fields"),
        ("cron(60 12 * * ? *)", "60 is outside 0-59"),
        ("cron(0 12 * FOO ? *)", "'FOO' is not a number"),
        ("cron(0 12 ? * 8#1 *)", "must be <day 1-7>#<1-5>"),
        ("cron(0 0 1 1 ? 2200)", "2200 is outside 1970-2199"),
        ("at(2026-03-01T09:00:00)", "is not rate(...) or cron(...)"),
    ],
)
def test_expressions_aws_refuses(expression: str, message: str) -> None:
    """Each broken expression names itself and the rule it breaks."""
    with pytest.raises(TemplateError) as info:
        parse_expression(expression, "Fn event Tick")
    assert str(info.value).startswith("Fn event Tick: ")
    assert message in str(info.value)


APP = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, CodeUri: src/}
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Job:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.job
      AutoPublishAlias: live
      Events:
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes), Input: '{"kind": "tick"}', Enabled: false}
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 2 * * ? *)
            ScheduleExpressionTimezone: Asia/Tokyo
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 15}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 hour)
      State: ENABLED
      Targets:
        - {Arn: !Ref Job.Alias, Id: job, InputPath: $.detail}
        - {Arn: !GetAtt Queue.Arn, Id: queue}
  Pattern:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [app]}
      Targets: [{Arn: !GetAtt Job.Arn, Id: job}]
  Direct:
    Type: AWS::Scheduler::Schedule
    Properties:
      Name: direct
      ScheduleExpression: at(2030-01-01T00:00:00)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !GetAtt Job.Arn, RoleArn: arn:aws:iam::1:role/r, Input: '{"once": true}'}
"""


def test_schedules_of_every_kind(load: Load) -> None:
    """SAM Schedule/ScheduleV2, a rule with a Lambda (alias) target, a Scheduler schedule."""
    app = load(APP)
    by_id = {s.logical_id: s for s in app.schedules}
    assert set(by_id) == {"JobTick", "JobNightly", "Rule", "Direct"}
    tick = by_id["JobTick"]
    assert (tick.kind, tick.enabled, tick.input) == ("rule", False, '{"kind": "tick"}')
    assert tick.arn == f"arn:aws:events:us-east-1:123456789012:rule/{tick.name}"
    nightly = by_id["JobNightly"]
    assert (nightly.kind, nightly.name, nightly.timezone) == (
        "scheduler",
        "JobNightly",
        "Asia/Tokyo",
    )
    assert nightly.arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/JobNightly"
    rule = by_id["Rule"]
    assert (rule.function, rule.input_path, rule.kind) == ("Job", "$.detail", "rule")
    assert by_id["Direct"].name == "direct"
    ignored = "\n".join(app.ignored)
    assert "Rule (AWS::Events::Rule): target arn:aws:sqs:" in ignored
    assert "Pattern (AWS::Events::Rule): event patterns are not emulated" in ignored
    assert "FlexibleTimeWindow: the schedule fires at its exact time locally" in ignored


@pytest.mark.parametrize(
    ("fragment", "replacement", "message"),
    [
        ("Schedule: rate(5 minutes)", "Schedule: rate(5 minute)", "event Tick (Schedule)"),
        ('Input: \'{"kind": "tick"}\'', "Input: 'not json'", "Input is not valid JSON"),
        ("Asia/Tokyo", "Mars/Olympus", "is not a known time zone"),
        (
            "InputPath: $.detail",
            "InputTransformer: {InputTemplate: x}",
            "InputTransformer is not emulated",
        ),
        (
            "InputPath: $.detail",
            "InputPath: '$.detail[0]'",
            "InputPath $.detail[0] is not emulated",
        ),
        ("Name: direct", "Name: JobNightly", "schedule name JobNightly is also used by"),
    ],
)
def test_schedule_mistakes_fail_at_load(
    load: Load, fragment: str, replacement: str, message: str
) -> None:
    assert fragment in APP
    with pytest.raises(TemplateError) as info:
        load(APP.replace(fragment, replacement, 1))
    assert message in str(info.value)
