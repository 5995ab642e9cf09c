"""Lambda event filtering: EventBridge-style patterns matched against one record.

An event source mapping's `FilterCriteria.Filters[].Pattern` are JSON strings. A record
passes when any filter matches (OR between filters); a filter matches when every key in
it matches (AND within); a leaf is an array of allowed values or operators, one of which
must match. Matching is exact and case-sensitive (docs/aws-behaviour.md §8; Lambda developer
guide, "Lambda event filtering").

Supported leaf forms: literal strings, numbers, booleans and null; `{"prefix": s}`,
`{"suffix": s}`, `{"equals-ignore-case": s}`, `{"numeric": [op, n, ...]}` with ops
`= < <= > >=`, `{"exists": bool}`, `{"anything-but": v | [v...] | {"prefix"|"suffix":
s}}`; and `"$or": [pattern, ...]` at any object level. Anything else is a PatternError
at parse time, as AWS rejects the mapping.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Pattern = Mapping[str, Any]

_NUMERIC_OPS = ("=", "<", "<=", ">", ">=")
_STRING_OPS = ("prefix", "suffix", "equals-ignore-case")


class PatternError(ValueError):
    """A filter pattern AWS would refuse; the message names what is wrong."""


# ---------------------------------------------------------------------- parsing


def parse_pattern(text: str) -> Pattern:
    """Parse and validate one FilterCriteria pattern (a JSON object as a string)."""
    try:
        pattern = json.loads(text)
    except ValueError as exc:
        raise PatternError(f"filter pattern is not valid JSON: {exc}") from None
    _check_object(pattern, "pattern")
    result: Pattern = pattern
    return result


def parse_patterns(texts: Iterable[str]) -> tuple[Pattern, ...]:
    return tuple(parse_pattern(t) for t in texts)


def _check_object(pattern: object, where: str) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise PatternError(f"{where}: expected a non-empty JSON object")
    for key, value in pattern.items():
        path = f"{where}.{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError(f"{path}: expected an array of at least two patterns")
            for i, alternative in enumerate(value):
                _check_object(alternative, f"{path}[{i}]")
        elif isinstance(value, dict):
            _check_object(value, path)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"{path}: an empty array matches nothing")
            for matcher in value:
                _check_matcher(matcher, path)
        else:
            raise PatternError(f"{path}: values must be arrays, e.g. [{json.dumps(value)}]")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_matcher(matcher: object, path: str) -> None:
    if matcher is None or isinstance(matcher, str | bool) or _is_number(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise PatternError(f"{path}: {json.dumps(matcher)} is not a value or an operator")
    ((op, arg),) = matcher.items()
    if op in _STRING_OPS:
        if not isinstance(arg, str):
            raise PatternError(f"{path}: {op} takes a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise PatternError(f"{path}: exists takes true or false")
    elif op == "numeric":
        _check_numeric(arg, path)
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix"):
                raise PatternError(f"{path}: anything-but takes a value, an array or prefix/suffix")
            if not isinstance(next(iter(arg.values())), str):
                raise PatternError(f"{path}: anything-but prefix/suffix takes a string")
        elif isinstance(arg, list):
            if not arg or not all(isinstance(v, str) or _is_number(v) for v in arg):
                raise PatternError(f"{path}: anything-but takes strings or numbers")
        elif not (isinstance(arg, str) or _is_number(arg)):
            raise PatternError(f"{path}: anything-but takes a string or a number")
    else:
        raise PatternError(f"{path}: unsupported operator {op!r}")


def _check_numeric(arg: object, path: str) -> None:
    if not isinstance(arg, list) or not arg or len(arg) % 2 or len(arg) > 4:
        raise PatternError(f"{path}: numeric takes [op, n] or [op, n, op, n]")
    for op, n in zip(arg[::2], arg[1::2], strict=True):
        if op not in _NUMERIC_OPS or not _is_number(n):
            raise PatternError(f"{path}: numeric takes operators {_NUMERIC_OPS} and numbers")


# ---------------------------------------------------------------------- matching


def matches_any(patterns: Sequence[Pattern], event: Mapping[str, Any]) -> bool:
    """True if any pattern matches (OR between filters); no patterns = everything."""
    return not patterns or any(matches(p, event) for p in patterns)


def matches(pattern: Pattern, event: Mapping[str, Any]) -> bool:
    """True if every key of `pattern` matches `event` (AND within a filter)."""
    return _match_object(pattern, event)


def _match_object(pattern: Pattern, value: object) -> bool:
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_match_object(alt, value) for alt in sub):
                return False
            continue
        present = isinstance(value, Mapping) and key in value
        child = value[key] if present else None  # type: ignore[index]
        if isinstance(sub, Mapping):
            if not _match_nested(sub, child):
                return False
        elif not _match_leaf(sub, child, present=present):
            return False
    return True


def _match_nested(pattern: Pattern, child: object) -> bool:
    if isinstance(child, list):
        # EventBridge flattens arrays of objects: any element may satisfy the pattern.
        objects = [c for c in child if isinstance(c, Mapping)]
        return any(_match_object(pattern, c) for c in objects) or (
            not objects and _match_object(pattern, None)
        )
    return _match_object(pattern, child if isinstance(child, Mapping) else None)


def _match_leaf(matchers: Sequence[Any], value: object, *, present: bool) -> bool:
    # EventBridge: operators apply to leaves; an object is not a leaf (so `exists`
    # on an object key does not match), an array matches if any element does.
    is_leaf = present and not isinstance(value, Mapping)
    candidates = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, Mapping) and "exists" in matcher:
            if matcher["exists"] == (is_leaf and candidates != []):
                return True
            continue
        if not is_leaf:
            continue
        if any(_match_one(matcher, c) for c in candidates):
            return True
    return False


def _match_one(matcher: object, value: object) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    ((op, arg),) = matcher.items()
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(arg).casefold()
    if op == "numeric":
        return _is_number(value) and _numeric(arg, float(value))  # type: ignore[arg-type]
    if op == "anything-but":
        return _anything_but(arg, value)
    return False


def _equal(expected: object, value: object) -> bool:
    if expected is None or value is None:
        return expected is None and value is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if _is_number(expected) and _is_number(value):
        return math.isclose(float(expected), float(value), rel_tol=0, abs_tol=1e-9)  # type: ignore[arg-type]
    return type(expected) is type(value) and expected == value


def _numeric(conditions: Sequence[Any], value: float) -> bool:
    for op, bound in zip(conditions[::2], conditions[1::2], strict=True):
        n = float(bound)
        ok = {
            "=": value == n,
            "<": value < n,
            "<=": value <= n,
            ">": value > n,
            ">=": value >= n,
        }[op]
        if not ok:
            return False
    return True


def _anything_but(arg: object, value: object) -> bool:
    if value is None:
        return False  # anything-but still needs a value to compare
    if isinstance(arg, Mapping):
        ((op, text),) = arg.items()
        if not isinstance(value, str):
            return True
        return not (value.startswith(text) if op == "prefix" else value.endswith(text))
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_equal(e, value) for e in excluded)


__all__ = ["Pattern", "PatternError", "matches", "matches_any", "parse_pattern", "parse_patterns"]
