"""`faults:` at the top of a scenario: a SPEC (text or list), checked before anything runs."""

from __future__ import annotations

import dataclasses

import pytest

from duelctl.errors import ScenarioFileError
from duelctl.scenario.parse import parse_scenarios
from duelctl.scenario.play import PlayOptions, embedded_faults

STEPS = """
users: [alice, bob]
steps:
  - alice: invite bob
  - expect bob: invite
"""


def test_a_spec_is_kept_in_its_canonical_form() -> None:
    [scenario] = parse_scenarios("faults: sqs-duplicate, gone-window=500\n" + STEPS, "s.yaml")
    assert scenario.faults == "sqs-duplicate=0.25,gone-window=500ms"


def test_a_list_of_faults_reads_like_the_comma_separated_text() -> None:
    text = "faults:\n  - ddb-throttle=5%\n  - lambda-crash=0.1\n" + STEPS
    [scenario] = parse_scenarios(text, "s.yaml")
    assert scenario.faults == "ddb-throttle=0.05,lambda-crash=0.1"


def test_without_faults_the_run_decides() -> None:
    [scenario] = parse_scenarios(STEPS, "s.yaml")
    assert scenario.faults is None
    assert embedded_faults(scenario, PlayOptions()) is None
    with_spec = dataclasses.replace(scenario, faults="sqs-reorder=1s")
    assert embedded_faults(with_spec, PlayOptions()) == "sqs-reorder=1s"
    assert embedded_faults(with_spec, PlayOptions(faults="none")) == "none"


def test_a_bad_spec_names_the_file_and_line() -> None:
    with pytest.raises(ScenarioFileError) as caught:
        parse_scenarios("name: x\nfaults: lambda-crash\n" + STEPS, "s.yaml")
    assert str(caught.value) == (
        "s.yaml:2: `faults`: lambda-crash needs a value, e.g. lambda-crash=0.05"
    )
