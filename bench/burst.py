"""Targets (issue 12): a burst of 50 pairs on a stack with InviteTimeoutSeconds=2 has zero
accepts after `expiresAt`, invite -> `invite` delivered p99 <= 500 ms and accept -> both
`start` p99 <= 500 ms; a burst of 200 pairs loses and duplicates no frame.

Two stacks, each `duelctl up --parameter-overrides InviteTimeoutSeconds=2 DuelSeconds=4
StartLeadSeconds=1` in a scratch directory (the issue's stack): against the first,
`duelctl bench --burst 50 --rounds 3 --run-out-share 0.5` (half the duels stopped, half
left to run out together; round 1 meets cold workers, later rounds warm ones, so the
rounds are kept apart in `per_round`); against a fresh one, `--burst 200` once. The load
average before and after each run is saved with the figures: on a shared machine they
say how much the figures are worth.

    python bench/burst.py [PAIRS] [ROUNDS] [BIG_PAIRS]
"""

from __future__ import annotations

import os
import sys
from typing import Any

from common import duelctl_up, run_bench, save

PARAMS = {"InviteTimeoutSeconds": "2", "DuelSeconds": "4", "StartLeadSeconds": "1"}


def burst(pairs: str, rounds: str) -> dict[str, Any]:
    with duelctl_up(params=PARAMS) as up:
        before = os.getloadavg()
        args = ["--burst", pairs, "--rounds", rounds, "--run-out-share", "0.5", "--seed", "1"]
        result = run_bench(up.workdir, args)
        result["load_average"] = {"before": before, "after": os.getloadavg()}
        return result


def headline(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "pairs": run["pairs"],
        "rounds": run["rounds"],
        "started": run["started"],
        "expired_accepts": run["expired_accepts"],
        "invite_sent_p99_ms": run["invite_sent_ms"]["p99"],
        "invite_p50_ms": run["invite_ms"]["p50"],
        "invite_p99_ms": run["invite_ms"]["p99"],
        "start_p50_ms": run["start_ms"]["p50"],
        "start_p99_ms": run["start_ms"]["p99"],
        "stop_p99_ms": run["stop_ms"]["p99"],
        "timeout_late_p95_ms": run["timeout_late_ms"]["p95"],
        "lost": run["lost"],
        "duplicated": run["duplicated"],
        "errors": run["errors"],
        "clean": run["clean"],
        "load_average_before": round(run["load_average"]["before"][0], 2),
    }


def main() -> None:
    pairs = sys.argv[1] if len(sys.argv) > 1 else "50"
    rounds = sys.argv[2] if len(sys.argv) > 2 else "3"
    big = sys.argv[3] if len(sys.argv) > 3 else "200"
    small_run = burst(pairs, rounds)
    big_run = burst(big, "1")
    summary = {"burst": headline(small_run), "big": headline(big_run)}
    print(summary)
    print("saved", save("burst", {"summary": summary, "burst_run": small_run, "big_run": big_run}))


if __name__ == "__main__":
    main()
