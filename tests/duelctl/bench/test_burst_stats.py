"""The burst's bookkeeping without sockets: rounds, outcomes, merged percentiles, JSON.

Also the live line's rates (issue 15: it showed `(0.0/s)` while the summary said
`4.3/s`), read from the steady engine with its clock positions set by hand.
"""

from __future__ import annotations

import random

import pytest

from duelctl.bench.burst_stats import (
    OUTCOMES,
    PHASES,
    BurstResult,
    RoundStats,
    run_out_pairs,
)
from duelctl.bench.config import BenchConfig, BurstConfig, Timers
from duelctl.bench.engine import Bench
from duelctl.bench.stats import summarize
from duelctl.client.auth import Identity

SUMMARY_KEYS = {"p50", "p95", "p99", "max"}


def result(rounds: list[RoundStats], pairs: int, **changes: object) -> BurstResult:
    fields: dict[str, object] = {
        "config": BurstConfig(pairs=pairs, rounds=len(rounds), run_out_share=0.5),
        "timers": Timers(2.0, 4.0, 1.0),
        "rounds": rounds,
        "connect_ms": summarize([3.0, 4.0]),
        "loop_lag_ms": summarize([0.1]),
        "connections": 2 * pairs,
        "lost": 0,
        "lost_types": {},
        "duplicated": 0,
        "duplicated_types": {},
        "late": 0,
        "unexpected": {},
        "errors": {},
        "frames_in": 10,
        "frames_out": 6,
        "client_cpu": 0.25,
    }
    fields.update(changes)
    return BurstResult(**fields)  # type: ignore[arg-type]


def full_round(index: int, pairs: int, start_ms: list[float]) -> RoundStats:
    r = RoundStats(index, pairs, run_out=0)
    for ms in start_ms:
        r.add("start_ms", ms)
        r.count("started")
        r.count("stopped")
    return r


def test_run_out_pairs_picks_the_share_rounded_and_repeats_with_a_seed() -> None:
    """round(share * pairs) distinct pairs; the same seed picks the same ones."""
    picked = run_out_pairs(50, 0.5, random.Random(3))
    assert len(picked) == 25 and picked <= set(range(50))
    assert run_out_pairs(50, 0.5, random.Random(3)) == picked
    assert len(run_out_pairs(5, 0.4, random.Random(1))) == 2
    assert run_out_pairs(7, 0.0, random.Random(1)) == set()
    assert run_out_pairs(7, 1.0, random.Random(1)) == set(range(7))


def test_a_round_counts_each_ending_once_and_refuses_unknown_outcomes() -> None:
    """`ended` sums the ways a pair's round can end; starting is not an ending."""
    r = RoundStats(1, pairs=5, run_out=2)
    for outcome in ("started", "started", "started", "stopped", "ran_out"):
        r.count(outcome)
    r.count("stop_lost_race")
    r.count("expired_accepts")
    r.count("failed")
    assert r.ended == 5
    with pytest.raises(ValueError):
        r.count("rejected")
    data = r.to_json()
    assert data["round"] == 1 and data["run_out_pairs"] == 2
    assert {k for k in PHASES if set(data[k]) == SUMMARY_KEYS} == set(PHASES)
    assert {k: data[k] for k in OUTCOMES}["expired_accepts"] == 1


def test_phases_merge_every_round_before_the_percentiles() -> None:
    """p99 over two rounds is over the union of samples, not an average of two p99s."""
    first = full_round(1, 2, [10.0, 20.0])
    second = full_round(2, 2, [30.0, 400.0])
    merged = result([first, second], pairs=2)
    assert merged.phase("start_ms") == summarize([10.0, 20.0, 30.0, 400.0])
    assert merged.phase("start_ms")["max"] == 400.0
    assert merged.phase("stop_ms") == summarize([])
    assert merged.count("started") == 4
    assert merged.expected == 4


def test_clean_needs_every_pair_started_in_every_round_and_nothing_lost() -> None:
    """An accept after expiresAt is legal protocol but fails the burst; so do lost frames."""
    ok = result([full_round(1, 2, [1.0, 2.0])], pairs=2)
    assert ok.clean
    expired = full_round(1, 2, [1.0])
    expired.count("expired_accepts")
    assert not result([expired], pairs=2).clean
    assert not result([full_round(1, 2, [1.0, 2.0])], pairs=2, lost=1).clean
    assert not result([full_round(1, 2, [1.0, 2.0])], pairs=2, duplicated=1).clean
    assert not result([full_round(1, 2, [1.0, 2.0])], pairs=2, errors={"user_busy": 1}).clean
    assert not result([full_round(1, 2, [1.0, 2.0])], pairs=2, unexpected={"stop": 1}).clean


def test_the_json_object_keeps_the_steady_modes_key_style() -> None:
    """`*_ms` summaries, plain counts, the timers, the widest invite spread, each round."""
    first = full_round(1, 2, [1.0, 2.0])
    first.spread_ms = 3.5
    first.add("invite_ms", 12.0)
    second = full_round(2, 2, [5.0, 6.0])
    second.spread_ms = 7.25
    data = result([first, second], pairs=2, ready_s=1.23456).to_json()
    assert data["mode"] == "burst"
    for key in (*PHASES, "connect_ms", "loop_lag_ms"):
        assert set(data[key]) == SUMMARY_KEYS
    assert data["invite_ms"]["max"] == 12.0
    assert (data["pairs"], data["rounds"], data["duels"], data["started"]) == (2, 2, 4, 4)
    assert (data["lost"], data["duplicated"], data["expired_accepts"]) == (0, 0, 0)
    assert data["timers"] == {"invite_timeout_s": 2.0, "duel_s": 4.0, "start_lead_s": 1.0}
    assert data["spread_ms"] == 7.25
    assert data["ready_s"] == 1.235
    assert [r["round"] for r in data["per_round"]] == [1, 2]
    assert data["clean"] is True


def steady(duels: int) -> Bench:
    ids = [Identity(f"u{i}", f"id-{i}", "token") for i in range(2)]
    bench = Bench(BenchConfig(pairs=1), "ws://127.0.0.1:1/x", ids, Timers())
    bench.duels = duels
    return bench


def test_the_live_rate_is_never_zero_for_want_of_history() -> None:
    """The first snapshot of a run rates the duels since the run's window began."""
    bench = steady(duels=4)
    now = 100.0
    bench._t0 = now - 3.0
    bench._window_start = now - 2.0
    assert bench._rates(now) == (2.0, 0.0)


def test_the_last_live_line_shows_the_summarys_rate() -> None:
    """Once the duels are over, the live rate is duels over the whole window, as the table."""
    bench = steady(duels=43)
    bench._window_start = 10.0
    bench._window_end = 20.0
    bench._recent = [(25.0, 43, 0)]  # nothing happened for the last seconds (closing)
    assert bench._rates(26.0) == (4.3, 0.0)
