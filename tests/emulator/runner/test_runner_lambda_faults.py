"""lambda-crash / lambda-timeout decided by the fault plan, carried out by real workers."""

from __future__ import annotations

from pathlib import Path

from emulator.faults.plan import FaultPlan
from emulator.faults.spec import parse_spec

HANDLER = """
    def handler(event, context):
        open(event["marker"], "a").write("ran\\n")
        return "done"
"""


async def test_every_invocation_fails_the_way_the_plan_says(
    make_code, make_function, make_runner, tmp_path: Path
) -> None:
    crash = FaultPlan(parse_spec("lambda-crash=1"), seed=1)
    timeout = FaultPlan(parse_spec("lambda-timeout=1"), seed=1)
    code = make_code({"app.py": HANDLER})
    marker = tmp_path / "ran"
    crashing = make_runner({"Fn": make_function(code)}, faults=crash.invoke_faults)
    timing_out = make_runner({"Fn": make_function(code)}, faults=timeout.invoke_faults)
    crashed = [await crashing.invoke("Fn", {"marker": str(marker)}) for _ in range(2)]
    timed_out = await timing_out.invoke("Fn", {"marker": str(marker)})
    assert [i.result["errorType"] for i in crashed] == ["Runtime.ExitError"] * 2
    assert timed_out.outcome == "timeout"
    assert marker.read_text().split() == ["ran"] * 3  # each handler ran to its end first
    assert crash.counts == {"lambda-crash": 2}
    assert timeout.counts == {"lambda-timeout": 1}
