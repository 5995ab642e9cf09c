"""The runner's side of injected faults (faults.py): crash and timeout, on real workers."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from emulator.logs import INVOKE

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(record.event)  # type: ignore[attr-defined]


class ScriptedFaults:
    """Faults by invoke number, as issue 14's fault mode will decide them."""

    def __init__(self, *faults: str | None) -> None:
        self.faults = list(faults)
        self.asked: list[tuple[str, str]] = []

    def fault_for(self, function: str, request_id: str) -> Any:
        self.asked.append((function, request_id))
        return self.faults.pop(0) if self.faults else None


SIDE_EFFECT = """
    import os

    COUNT = 0

    def handler(event, context):
        global COUNT
        COUNT += 1
        open(event["marker"], "a").write(context.aws_request_id + "\\n")
        return {"count": COUNT, "pid": os.getpid()}
"""


async def test_an_injected_crash_kills_the_worker_after_the_handler_ran(
    make_code, make_function, make_runner, wait_gone, tmp_path: Path, caplog
) -> None:
    """The handler's side effects happen, the caller gets Runtime.ExitError, the worker dies."""
    caplog.set_level(logging.INFO, logger="emulator")
    marker = tmp_path / "effects"
    faults = ScriptedFaults(None, "crash")
    runner = make_runner({"Fn": make_function(make_code({"app.py": SIDE_EFFECT}))}, faults=faults)
    event = {"marker": str(marker)}
    warm = await runner.invoke("Fn", event)
    crashed = await runner.invoke("Fn", event)
    assert crashed.outcome == "error"
    assert crashed.result == {
        "errorMessage": f"RequestId: {crashed.request_id} Error: Runtime exited with error: "
        "signal: killed",
        "errorType": "Runtime.ExitError",
    }
    assert marker.read_text().split() == [warm.request_id, crashed.request_id]
    assert [rid for _, rid in faults.asked] == [warm.request_id, crashed.request_id]
    assert await wait_gone(warm.result["pid"])
    after = await runner.invoke("Fn", event)
    assert after.ok and after.result["count"] == 1  # a new environment
    summaries = [fields(r) for r in caplog.records if r.name == INVOKE and "outcome" in fields(r)]
    assert [s.get("fault") for s in summaries] == [None, "crash", None]


async def test_an_injected_timeout_reports_sandbox_timedout_and_resets(
    make_code, make_function, make_runner, wait_gone, tmp_path: Path
) -> None:
    """A timeout fault answers as if the function ran out its configured timeout."""
    runner = make_runner(
        {"Fn": make_function(make_code({"app.py": SIDE_EFFECT}), timeout_s=3)},
        faults=ScriptedFaults(None, "timeout"),
    )
    event = {"marker": str(tmp_path / "effects")}
    warm = await runner.invoke("Fn", event)
    timed_out = await runner.invoke("Fn", event)
    assert timed_out.outcome == "timeout"
    assert timed_out.result["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(
        rf"{ISO} {timed_out.request_id} Task timed out after 3\.00 seconds",
        timed_out.result["errorMessage"],
    )
    assert timed_out.result["errorMessage"] in timed_out.logs
    assert await wait_gone(warm.result["pid"])  # AWS resets the environment
    after = await runner.invoke("Fn", event)
    assert after.ok and after.result["count"] == 1
