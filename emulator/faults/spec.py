"""The fault mode's SPEC: `sqs-duplicate,gone-window=500,ddb-throttle=0.05` -> `FaultSpec`.

Grammar (README "Fault mode"; every name once at most, whitespace around commas ignored)::

    SPEC  := "none" | ITEM ("," ITEM)*
    ITEM  := NAME | NAME "=" VALUE

| NAME               | VALUE                    | default |
|--------------------|--------------------------|---------|
| `sqs-duplicate`    | probability P            | 0.25    |
| `sqs-delay`        | duration MAX (bare: s)   | needed  |
| `sqs-reorder`      | duration WINDOW (bare: s)| 1s      |
| `stream-duplicate` | probability P            | 0.25    |
| `gone-window`      | duration MS (bare: ms)   | needed  |
| `drop-disconnect`  | probability P            | needed  |
| `ddb-throttle`     | probability P            | needed  |
| `lambda-crash`     | probability P            | needed  |
| `lambda-timeout`   | probability P            | needed  |

A probability is a number in (0, 1] or a percentage (`5%`); a duration is a number with
an optional unit `ms`, `s` or `m`. The parser is the only place that knows the text; the
rest of the fault mode reads `FaultSpec`'s fields, and `str(spec)` gives the canonical
text back (the moto child process learns its share of the spec that way, `ddb.py`).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, fields

DEFAULT_DUPLICATE_P = 0.25
DEFAULT_REORDER_S = 1.0

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0}


class FaultSpecError(ValueError):
    """The SPEC text is malformed; the message names the item and what is wrong."""


# name -> (field, kind, bare unit in seconds, default or None when a value is required)
_ITEMS: dict[str, tuple[str, str, float, float | None]] = {
    "sqs-duplicate": ("sqs_duplicate", "p", 0.0, DEFAULT_DUPLICATE_P),
    "sqs-delay": ("sqs_delay_s", "duration", 1.0, None),
    "sqs-reorder": ("sqs_reorder_s", "duration", 1.0, DEFAULT_REORDER_S),
    "stream-duplicate": ("stream_duplicate", "p", 0.0, DEFAULT_DUPLICATE_P),
    "gone-window": ("gone_window_s", "duration", 0.001, None),
    "drop-disconnect": ("drop_disconnect", "p", 0.0, None),
    "ddb-throttle": ("ddb_throttle", "p", 0.0, None),
    "lambda-crash": ("lambda_crash", "p", 0.0, None),
    "lambda-timeout": ("lambda_timeout", "p", 0.0, None),
}
NAMES: tuple[str, ...] = tuple(_ITEMS)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Which faults a stack injects, and how often or how much (None = not injected).

    Probabilities are per event (a message, a batch, a write, an invocation, a close);
    durations are seconds.
    """

    sqs_duplicate: float | None = None
    sqs_delay_s: float | None = None
    sqs_reorder_s: float | None = None
    stream_duplicate: float | None = None
    gone_window_s: float | None = None
    drop_disconnect: float | None = None
    ddb_throttle: float | None = None
    lambda_crash: float | None = None
    lambda_timeout: float | None = None

    @property
    def empty(self) -> bool:
        """No fault at all (`none`): the stack still records what the checker reads."""
        return not self.names

    @property
    def names(self) -> tuple[str, ...]:
        """The SPEC names of the faults this spec injects, in the grammar's order."""
        return tuple(name for name, (attr, *_) in _ITEMS.items() if getattr(self, attr) is not None)

    def __str__(self) -> str:
        """The canonical SPEC text; `parse_spec(str(spec)) == spec`."""
        items = []
        for name, (attr, kind, _unit, _default) in _ITEMS.items():
            value = getattr(self, attr)
            if value is None:
                continue
            items.append(f"{name}={_format(value, kind, name)}")
        return ",".join(items) or "none"

    def merged(self, other: FaultSpec) -> FaultSpec:
        """This spec with every fault `other` sets taken from `other`."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(
            {
                f.name: getattr(other, f.name)
                for f in fields(other)
                if getattr(other, f.name) is not None
            }
        )
        return FaultSpec(**values)


def _format(value: float, kind: str, name: str) -> str:
    if kind == "p":
        return f"{value:g}"
    if name == "gone-window":
        return f"{value * 1000:g}ms"
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


def parse_spec(text: str) -> FaultSpec:
    """Parse SPEC (module docstring); raise FaultSpecError naming the bad item."""
    stripped = text.strip()
    if not stripped:
        raise FaultSpecError("the fault spec is empty (give `none` for no faults)")
    if stripped.lower() == "none":
        return FaultSpec()
    values: dict[str, float] = {}
    for raw in stripped.split(","):
        item = raw.strip()
        if not item:
            raise FaultSpecError(f"empty item in {text!r} (two commas in a row?)")
        name, has_value, value = (part.strip() for part in item.partition("="))
        if name not in _ITEMS:
            close = difflib.get_close_matches(name, NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FaultSpecError(f"unknown fault {name!r}{hint}; known: {', '.join(NAMES)}")
        attr, kind, unit, default = _ITEMS[name]
        if attr in values:
            raise FaultSpecError(f"{name} is given twice")
        if not has_value:
            if default is None:
                example = "0.05" if kind == "p" else "500ms"
                raise FaultSpecError(f"{name} needs a value, e.g. {name}={example}")
            values[attr] = default
            continue
        values[attr] = _probability(name, value) if kind == "p" else _duration(name, value, unit)
    return FaultSpec(**values)


def _probability(name: str, text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise FaultSpecError(f"{name}={text}: give a probability, e.g. 0.05 or 5%") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise FaultSpecError(f"{name}={text}: a probability is more than 0 and at most 1")
    return value


def _duration(name: str, text: str, bare_unit_s: float) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        bare = "ms" if bare_unit_s < 1 else "seconds"
        raise FaultSpecError(
            f"{name}={text}: give a duration, e.g. 500ms, 2s or 1m (a bare number is {bare})"
        )
    number, unit = match.groups()
    value = float(number) * (_UNIT_S[unit] if unit else bare_unit_s)
    if value <= 0:
        raise FaultSpecError(f"{name}={text}: the duration must be more than 0")
    return value


__all__ = ["NAMES", "FaultSpec", "FaultSpecError", "parse_spec"]
