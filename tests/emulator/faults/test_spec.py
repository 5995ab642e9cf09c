"""The fault SPEC grammar: what parses, what it means, and the one-line errors."""

from __future__ import annotations

import pytest

from emulator.faults.spec import NAMES, FaultSpec, FaultSpecError, parse_spec


def test_the_issue_example_parses_with_defaults_and_units() -> None:
    spec = parse_spec("sqs-duplicate, gone-window=500,ddb-throttle=0.05")
    assert spec == FaultSpec(sqs_duplicate=0.25, gone_window_s=0.5, ddb_throttle=0.05)
    assert spec.names == ("sqs-duplicate", "gone-window", "ddb-throttle")


def test_every_fault_with_a_value_round_trips_through_its_canonical_text() -> None:
    text = (
        "sqs-duplicate=0.5,sqs-delay=3s,sqs-reorder=250ms,stream-duplicate=10%,"
        "gone-window=1.5s,drop-disconnect=1,ddb-throttle=0.05,lambda-crash=0.1,lambda-timeout=2%"
    )
    spec = parse_spec(text)
    assert spec.names == NAMES
    assert spec.sqs_delay_s == 3.0 and spec.sqs_reorder_s == 0.25
    assert spec.gone_window_s == 1.5 and spec.stream_duplicate == 0.1
    assert parse_spec(str(spec)) == spec


def test_bare_numbers_take_each_faults_unit() -> None:
    spec = parse_spec("sqs-delay=2,gone-window=300,sqs-reorder=1m")
    assert (spec.sqs_delay_s, spec.gone_window_s, spec.sqs_reorder_s) == (2.0, 0.3, 60.0)
    assert str(parse_spec("gone-window=300")) == "gone-window=300ms"


def test_none_is_an_empty_spec() -> None:
    spec = parse_spec(" none ")
    assert spec.empty and str(spec) == "none" and spec == FaultSpec()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("sqs-dupe", "did you mean 'sqs-duplicate'"),
        ("sqs-delay", "needs a value, e.g. sqs-delay=500ms"),
        ("ddb-throttle", "needs a value, e.g. ddb-throttle=0.05"),
        ("lambda-crash=0", "more than 0 and at most 1"),
        ("lambda-crash=1.5", "more than 0 and at most 1"),
        ("lambda-crash=often", "give a probability"),
        ("gone-window=soon", "a bare number is ms"),
        ("sqs-delay=-1", "a bare number is seconds"),
        ("sqs-delay=0s", "more than 0"),
        ("drop-disconnect=0.1,drop-disconnect=0.2", "given twice"),
        ("sqs-duplicate,,gone-window=5", "two commas"),
    ],
)
def test_malformed_specs_name_the_item(text: str, says: str) -> None:
    with pytest.raises(FaultSpecError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(text)


def test_merged_takes_the_other_specs_faults() -> None:
    base = parse_spec("sqs-duplicate=0.5,ddb-throttle=0.1")
    merged = base.merged(parse_spec("ddb-throttle=0.2,lambda-crash=0.3"))
    assert merged == FaultSpec(sqs_duplicate=0.5, ddb_throttle=0.2, lambda_crash=0.3)
