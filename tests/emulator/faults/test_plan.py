"""FaultPlan: one object per fault kind, seeded decisions, counts and the log line."""

from __future__ import annotations

import logging

import pytest

from emulator.faults.ddb import ENV, SEED_ENV
from emulator.faults.gateway import GatewayFaults
from emulator.faults.plan import FaultPlan
from emulator.faults.record import FAULTS, FaultLog, rng_for
from emulator.faults.spec import parse_spec


def decisions(plan: FaultPlan, n: int = 200) -> list[str | None]:
    faults = plan.invoke_faults
    assert faults is not None
    return [faults.fault_for("Fn", f"req-{i}") for i in range(n)]


def test_a_plan_builds_only_the_kinds_its_spec_names() -> None:
    plan = FaultPlan(parse_spec("lambda-crash=0.1"), seed=1)
    assert plan.invoke_faults is not None
    assert plan.sqs is None and plan.streams is None
    assert plan.moto_env() == {}
    assert plan.counts == {"lambda-crash": 0}
    none = FaultPlan(parse_spec("none"), seed=1)
    assert none.invoke_faults is None and none.counts == {} and none.gateway is not None


def test_the_same_seed_gives_the_same_decisions_and_another_seed_others() -> None:
    spec = parse_spec("lambda-crash=0.2,lambda-timeout=0.2")
    first = decisions(FaultPlan(spec, seed=7))
    assert first == decisions(FaultPlan(spec, seed=7))
    assert first != decisions(FaultPlan(spec, seed=8))
    assert {"crash", "timeout", None} == set(first)


def test_one_fault_kind_never_shifts_another_kinds_draws() -> None:
    alone = decisions(FaultPlan(parse_spec("lambda-timeout=0.3"), seed=3))
    both = decisions(FaultPlan(parse_spec("lambda-timeout=0.3,lambda-crash=0.2"), seed=3))
    assert "crash" in both
    # Where no crash fired, the timeout decision is the one made without crashes.
    assert [a for a, b in zip(alone, both, strict=True) if b != "crash"] == [
        b for b in both if b != "crash"
    ]


def test_fired_faults_are_counted_and_logged_on_the_faults_channel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = FaultPlan(parse_spec("lambda-crash=1"), seed=1)
    with caplog.at_level(logging.INFO, logger=FAULTS):
        assert plan.invoke_faults is not None
        assert plan.invoke_faults.fault_for("TimersFunction", "req-1") == "crash"
    [record] = [r for r in caplog.records if r.name == FAULTS]
    assert "lambda-crash: TimersFunction req-1" in record.getMessage()
    assert record.event["fault"] == "lambda-crash"  # type: ignore[attr-defined]
    assert plan.summary() == {"spec": "lambda-crash=1", "seed": 1, "counts": {"lambda-crash": 1}}
    assert plan.fired_line() == "faults fired: lambda-crash 1"


def test_ddb_throttle_reaches_moto_through_the_environment() -> None:
    plan = FaultPlan(parse_spec("ddb-throttle=0.05,sqs-duplicate"), seed=42)
    assert plan.moto_env() == {ENV: "sqs-duplicate=0.25,ddb-throttle=0.05", SEED_ENV: "42"}


def test_drop_disconnect_records_every_close_and_forgets_the_oldest() -> None:
    faults = GatewayFaults(FaultLog(), gone_window_s=None, drop_disconnect=0.5, rng=rng_for(1, "x"))
    kept = [faults.disconnect(f"c{i}") for i in range(40)]
    assert {True, False} == set(kept)
    assert [faults.disconnects[f"c{i}"] for i in range(40)] == [
        "ran" if k else "dropped" for k in kept
    ]
    plan = FaultPlan(parse_spec("none"), seed=1)
    assert plan.gateway.disconnect("c1") is True
    assert plan.disconnects(["c1", "c2"]) == {"c1": "ran", "c2": None}
