"""JUnit XML for CI: one <testcase> per scenario, failures carry file:line and details."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from duelctl.scenario.engine import Result


def junit_xml(results: Sequence[Result], *, suite: str = "duelctl scenarios") -> str:
    """The report as text; `classname` is the scenario file, `name` the scenario."""
    failures = sum(not r.passed for r in results)
    total = sum(r.duration_s for r in results)
    root = ET.Element("testsuites", tests=str(len(results)), failures=str(failures))
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{total:.3f}",
    )
    for result in results:
        case = ET.SubElement(
            node,
            "testcase",
            classname=result.scenario.path,
            name=result.scenario.name,
            file=result.scenario.path,
            line=str(result.scenario.line),
            time=f"{result.duration_s:.3f}",
        )
        if result.failure is not None:
            f = result.failure
            where = f"{f.where}: " if f.where else ""
            details = [f"{where}{f.step}", f.message]
            if f.expected:
                details.append(f"expected: {f.expected}")
            details += [f"received: {line}" for line in f.received]
            failure = ET.SubElement(
                case, "failure", message=f"{where}{f.message}", type="ExpectationFailed"
            )
            failure.text = "\n".join(details)
        timeline = "\n".join(
            f"+{e.t_ms:.0f}ms {e.who or '-'} {e.kind} {e.text}" for e in result.events
        )
        ET.SubElement(case, "system-out").text = timeline
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, results: Sequence[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results))
