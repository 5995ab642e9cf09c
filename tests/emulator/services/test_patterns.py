"""Lambda FilterCriteria patterns: every operator, OR between filters, AND within."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.services.patterns import (
    PatternError,
    matches,
    matches_any,
    parse_pattern,
    parse_patterns,
)

TTL_PATTERN = (
    '{"eventName": ["REMOVE"], "userIdentity": {"type": ["Service"], '
    '"principalId": ["dynamodb.amazonaws.com"]}}'
)


def m(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return matches(parse_pattern(json.dumps(pattern)), event)


def test_ttl_pattern_matches_only_ttl_removals() -> None:
    """The template's TTL filter passes TTL REMOVEs and nothing else."""
    pattern = parse_pattern(TTL_PATTERN)
    ttl = {
        "eventName": "REMOVE",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    }
    assert matches(pattern, ttl)
    assert not matches(pattern, {"eventName": "REMOVE"})
    assert not matches(pattern, {**ttl, "eventName": "MODIFY"})
    assert not matches(pattern, {**ttl, "userIdentity": {"type": "Service"}})


def test_exact_values_are_case_sensitive_and_typed() -> None:
    """Literal values match exactly: case matters, "5" is not 5, true is not 1."""
    assert m({"a": ["x"]}, {"a": "x"})
    assert not m({"a": ["x"]}, {"a": "X"})
    assert m({"a": [5]}, {"a": 5.0})
    assert not m({"a": [5]}, {"a": "5"})
    assert m({"a": [True]}, {"a": True})
    assert not m({"a": [True]}, {"a": 1})
    assert not m({"a": [1]}, {"a": True})
    assert m({"a": [None]}, {"a": None})
    assert not m({"a": [None]}, {})
    assert m({"a": [""]}, {"a": ""})


def test_array_of_values_is_or() -> None:
    """Any listed value matches."""
    assert m({"s": ["pending", "active"]}, {"s": "active"})
    assert not m({"s": ["pending", "active"]}, {"s": "stopped"})


def test_keys_are_and_and_nested() -> None:
    """Every key must match, at any depth."""
    pattern = {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["active"]}}}}
    event = {"eventName": "MODIFY", "dynamodb": {"NewImage": {"status": {"S": "active"}}}}
    assert m(pattern, event)
    assert not m(pattern, {**event, "eventName": "INSERT"})
    assert not m(pattern, {"eventName": "MODIFY", "dynamodb": {"NewImage": {}}})
    assert not m(pattern, {"eventName": "MODIFY"})


def test_event_arrays_match_if_any_element_does() -> None:
    """An array in the event matches when one of its elements matches."""
    assert m({"tags": ["b"]}, {"tags": ["a", "b"]})
    assert not m({"tags": ["c"]}, {"tags": ["a", "b"]})
    assert not m({"tags": ["a"]}, {"tags": []})
    assert m({"items": {"k": ["v"]}}, {"items": [{"k": "w"}, {"k": "v"}]})


def test_prefix_and_suffix() -> None:
    """prefix/suffix match strings only."""
    assert m({"k": [{"prefix": "INVITE#"}]}, {"k": "INVITE#42"})
    assert not m({"k": [{"prefix": "INVITE#"}]}, {"k": "invite#42"})
    assert not m({"k": [{"prefix": "1"}]}, {"k": 12})
    assert m({"k": [{"suffix": ".png"}]}, {"k": "a.png"})
    assert not m({"k": [{"suffix": ".png"}]}, {"k": "a.jpg"})


def test_equals_ignore_case() -> None:
    """equals-ignore-case ignores case and nothing else."""
    assert m({"k": [{"equals-ignore-case": "Alice"}]}, {"k": "aLICE"})
    assert not m({"k": [{"equals-ignore-case": "Alice"}]}, {"k": "Alicia"})


def test_numeric_ranges_and_equality() -> None:
    """numeric compares JSON numbers, with one or two conditions."""
    rng = {"n": [{"numeric": [">", 0, "<=", 5]}]}
    assert m(rng, {"n": 5})
    assert m(rng, {"n": 0.5})
    assert not m(rng, {"n": 0})
    assert not m(rng, {"n": 6})
    assert not m(rng, {"n": "3"})
    assert not m(rng, {"n": True})
    assert m({"n": [{"numeric": ["=", 3]}]}, {"n": 3.0})
    assert m({"n": [{"numeric": [">=", 3]}]}, {"n": 3})
    assert m({"n": [{"numeric": ["<", 3]}]}, {"n": -1})
    assert not m({"n": [{"numeric": ["<", 3]}]}, {"n": 3})


def test_exists() -> None:
    """exists true needs the key with a leaf value; exists false needs it absent."""
    assert m({"k": [{"exists": True}]}, {"k": "v"})
    assert m({"k": [{"exists": True}]}, {"k": None})
    assert not m({"k": [{"exists": True}]}, {})
    assert not m({"k": [{"exists": True}]}, {"k": {"nested": 1}})
    assert m({"k": [{"exists": False}]}, {})
    assert not m({"k": [{"exists": False}]}, {"k": "v"})
    # A missing parent object means the leaf is missing too.
    assert m({"a": {"b": [{"exists": False}]}}, {})
    assert not m({"a": {"b": [{"exists": True}]}}, {})


def test_anything_but() -> None:
    """anything-but excludes values, lists of values and prefixes; it needs a value."""
    assert m({"s": [{"anything-but": "stopped"}]}, {"s": "active"})
    assert not m({"s": [{"anything-but": "stopped"}]}, {"s": "stopped"})
    assert not m({"s": [{"anything-but": ["a", "b"]}]}, {"s": "b"})
    assert m({"s": [{"anything-but": ["a", "b"]}]}, {"s": "c"})
    assert not m({"n": [{"anything-but": [1, 2]}]}, {"n": 2})
    assert m({"n": [{"anything-but": [1, 2]}]}, {"n": 3})
    assert not m({"s": [{"anything-but": {"prefix": "tmp"}}]}, {"s": "tmp-1"})
    assert m({"s": [{"anything-but": {"prefix": "tmp"}}]}, {"s": "keep"})
    assert not m({"s": [{"anything-but": {"suffix": ".tmp"}}]}, {"s": "x.tmp"})
    assert not m({"s": [{"anything-but": "x"}]}, {})


def test_mixed_matchers_in_one_array_are_or() -> None:
    """Values and operators in one array: any may match."""
    pattern = {"k": ["exact", {"prefix": "pre"}, {"exists": False}]}
    assert m(pattern, {"k": "exact"})
    assert m(pattern, {"k": "prefix"})
    assert m(pattern, {})
    assert not m(pattern, {"k": "other"})


def test_dollar_or() -> None:
    """$or matches when any alternative at that level matches."""
    pattern = {"$or": [{"a": ["1"]}, {"b": ["2"]}], "c": ["3"]}
    assert m(pattern, {"a": "1", "c": "3"})
    assert m(pattern, {"b": "2", "c": "3"})
    assert not m(pattern, {"a": "1"})
    assert not m(pattern, {"a": "9", "b": "9", "c": "3"})


def test_matches_any_is_or_between_filters_and_empty_passes_all() -> None:
    """Filters are ORed; a mapping without filters passes everything."""
    patterns = parse_patterns(['{"a": ["1"]}', '{"b": ["2"]}'])
    assert matches_any(patterns, {"a": "1"})
    assert matches_any(patterns, {"b": "2"})
    assert not matches_any(patterns, {"a": "2"})
    assert matches_any((), {"anything": True})


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"a": "x"}',
        '{"a": []}',
        '{"a": [{"prefix": 1}]}',
        '{"a": [{"numeric": [">"]}]}',
        '{"a": [{"numeric": ["~", 1]}]}',
        '{"a": [{"exists": "yes"}]}',
        '{"a": [{"anything-but": {"wildcard": "x"}}]}',
        '{"a": [{"anything-but": []}]}',
        '{"a": [{"cidr": "10.0.0.0/8"}]}',
        '{"a": [{"prefix": "x", "suffix": "y"}]}',
        '{"a": [["nested"]]}',
        '{"$or": [{"a": ["1"]}]}',
    ],
)
def test_malformed_patterns_are_refused(text: str) -> None:
    """Patterns AWS would refuse raise PatternError at parse time."""
    with pytest.raises(PatternError):
        parse_pattern(text)
