"""The JUnit report: one testcase per scenario, failures with file:line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from duelctl.scenario.engine import Event, Failure, Result
from duelctl.scenario.junit import junit_xml, write_junit
from duelctl.scenario.model import Where
from duelctl.scenario.parse import parse_scenarios


def result(name: str, failure: Failure | None) -> Result:
    (scenario,) = parse_scenarios(
        f"name: {name}\nusers: [a]\nsteps: [wait 1s]\n", f"dir/{name}.yaml"
    )
    events = [Event(1.0, "a", "send", '{"action":"ping"}'), Event(3.5, "a", "recv", "<&>")]
    return Result(scenario, failure, events, 0.25, {"a": "a-1"}, {"a": "id"}, 1)


def test_report_has_a_testcase_per_scenario_and_failure_details(tmp_path: Path) -> None:
    """Passing and failing scenarios become testcases; the failure carries file:line."""
    failure = Failure(
        Where("dir/bad.yaml", 3),
        "expect a: pong",
        "a received no matching pong",
        "pong within 1s",
        ['a ← {"type": "error"}'],
    )
    path = tmp_path / "r" / "junit.xml"
    write_junit(path, [result("good", None), result("bad", failure)])
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    good, bad = root.findall("./testsuite/testcase")
    assert (good.get("classname"), good.get("name"), good.get("time")) == (
        "dir/good.yaml",
        "good",
        "0.250",
    )
    assert good.find("failure") is None
    node = bad.find("failure")
    assert node is not None
    assert node.get("message") == "dir/bad.yaml:3: a received no matching pong"
    assert "expected: pong within 1s" in (node.text or "")
    assert "received: a ← " in (node.text or "")
    out = bad.find("system-out")
    assert out is not None and "+4ms a recv <&>" in (out.text or "")


def test_report_is_valid_xml_with_nothing_to_report() -> None:
    """An empty run still yields a well-formed report."""
    root = ET.fromstring(junit_xml([]))
    assert root.get("tests") == "0"
