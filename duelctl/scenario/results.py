"""What a scenario run produces: its timeline, its failure, its result; value helpers.

Shared by the engine (engine.py), which fills them in, and by everything that shows or
stores a run (render.py, junit.py, `--json`, `duelctl connect`'s frame lines).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from duelctl.client.ws import parse_time  # re-exported: the scenario's readers use it
from duelctl.scenario.model import Scenario, Where

EventKind = Literal[
    "connect", "refused", "disconnect", "closed", "send", "recv", "wait", "ok", "note"
]
MISSING: Any = object()


@dataclass(slots=True)
class Event:
    """One line of the timeline; `t_ms` is relative to the scenario's start."""

    t_ms: float
    who: str  # connection name ("alice", "alice#2"), "" for the scenario itself
    kind: EventKind
    text: str
    data: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t_ms": round(self.t_ms, 1), "who": self.who, "kind": self.kind}
        out["frame" if self.data is not None else "text"] = (
            self.data if self.data is not None else self.text
        )
        return out


@dataclass(slots=True)
class Failure:
    """Why a scenario failed: the step, what it expected, what actually arrived."""

    where: Where | None
    step: str
    message: str
    expected: str = ""
    received: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.where.path if self.where else None,
            "line": self.where.line if self.where else None,
            "step": self.step,
            "message": self.message,
            "expected": self.expected,
            "received": self.received,
        }


@dataclass(slots=True)
class Result:
    scenario: Scenario
    failure: Failure | None
    events: list[Event]
    duration_s: float  # on the stack's clock (virtual seconds on a virtual stack)
    users: dict[str, str]  # scenario name -> real username
    user_ids: dict[str, str]  # scenario name -> userId (sub)
    steps_run: int
    notes: list[str] = field(default_factory=list)
    clock: str = "real"
    wall_s: float = 0.0  # real seconds the run took
    started_at: float = 0.0  # the stack's time (epoch s) at t=0 of the timeline

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "file": self.scenario.path,
            "line": self.scenario.line,
            "passed": self.passed,
            "duration_ms": round(self.duration_s * 1000, 1),
            "clock": self.clock,
            "started_at": datetime.fromtimestamp(self.started_at, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "wall_ms": round(self.wall_s * 1000, 1),
            "steps": len(self.scenario.steps),
            "steps_run": self.steps_run,
            "users": self.users,
            "user_ids": self.user_ids,
            "notes": self.notes,
            "failure": self.failure.to_json() if self.failure else None,
            "timeline": [e.to_json() for e in self.events],
        }


class StepFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def parameter_notes(scenario: Scenario, stack: Mapping[str, str] | None) -> list[str]:
    """Say where the stack's parameters differ from what the scenario was written for."""
    if not scenario.parameters:
        return []
    if stack is None:
        wanted = " ".join(f"{k}={v}" for k, v in scenario.parameters.items())
        return [f"the target's parameters are unknown; this scenario assumes {wanted}"]
    notes = []
    for key, value in scenario.parameters.items():
        have = stack.get(key)
        if have is not None and str(have) != str(value):
            notes.append(f"the stack runs with {key}={have}, this scenario wants {key}={value}")
    return notes


def get_path(data: Any, path: tuple[str, ...]) -> Any:
    """Follow `a.b.0.len` through dicts and lists; MISSING when a segment is absent."""
    value = data
    for i, segment in enumerate(path):
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.lstrip("-").isdigit():
            index = int(segment)
            if -len(value) <= index < len(value):
                value = value[index]
            else:
                return MISSING
        elif segment == "len" and i == len(path) - 1 and isinstance(value, list | str | dict):
            return len(value)
        else:
            return MISSING
    return value


def same_value(actual: Any, expected: Any) -> bool:
    """Equality that lets `5` match 5 and "5", but never True match 1."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    if isinstance(actual, int | float) and isinstance(expected, str):
        with contextlib.suppress(ValueError):
            return float(expected) == float(actual)
        return False
    if isinstance(actual, str) and isinstance(expected, int | float):
        return same_value(expected, actual)
    return bool(actual == expected)


def show(value: Any) -> str:
    return "(absent)" if value is MISSING else json.dumps(value)


__all__ = [
    "MISSING",
    "Event",
    "EventKind",
    "Failure",
    "Result",
    "StepFailed",
    "get_path",
    "parameter_notes",
    "parse_time",
    "same_value",
    "show",
]
