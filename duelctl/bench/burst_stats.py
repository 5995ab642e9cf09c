"""What a burst run counts, kept apart from the sockets so it can be tested on its own.

A burst has rounds; each round records, per pair, the four phase latencies the issue
asks for and how the pair's duel ended. `BurstResult` merges the rounds (percentiles
over every sample of every round) and renders the `--json` object, in the steady
mode's style: latencies as `{"p50","p95","p99","max"}` in ms under `*_ms` keys, counts
as plain numbers, the detail after the headline figures.

Phases (client clock, `time.perf_counter`, ms):

- `invite_sent_ms`: invite sent -> the inviter's `invite_sent`;
- `invite_ms`: invite sent -> the invitee's `invite` (delivered);
- `start_ms`: accept sent -> `start` at both users (the later of the two);
- `stop_ms`: stop sent -> `stop` at both users;
- `timeout_late_ms`: the run-out duels' `timeout` at both users (the later) minus the
  `endsAt` the stack announced (wall clock, same host or a synced one).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from duelctl.bench.config import BurstConfig, Timers
from duelctl.bench.stats import Samples, Summary, summarize

PHASES = ("invite_sent_ms", "invite_ms", "start_ms", "stop_ms", "timeout_late_ms")
# How a pair's round can end; `failed` is a step that got an error or timed out.
OUTCOMES = (
    "started",  # both users got `start` (the accept beat the invite's expiry)
    "stopped",  # ... then both got `stop` after the inviter's stop
    "ran_out",  # ... or both got `timeout` at `endsAt` (the run-out share)
    "stop_lost_race",  # the stop reached the stack after `endsAt`: both got `timeout`
    "expired_accepts",  # the accept reached the stack after `expiresAt`: `no_response`
    "accepts_sent_after_expiry",  # the invite itself arrived after `expiresAt` (client clock)
    "failed",
)


def run_out_pairs(pairs: int, share: float, rng: random.Random) -> set[int]:
    """Which pairs of a round are left to run out: `round(share * pairs)` of them, at random.

    Random per round (seeded by --seed) so a slow connection does not always land in
    the same group.
    """
    count = min(pairs, max(0, round(share * pairs)))
    return set(rng.sample(range(pairs), count))


@dataclass(slots=True)
class RoundStats:
    """One round: its samples by phase, its outcomes, and how tightly the invites left."""

    index: int  # 1-based
    pairs: int
    run_out: int  # pairs chosen to run out
    spread_ms: float = 0.0  # first invite sent -> last invite sent
    samples: dict[str, Samples] = field(default_factory=lambda: {k: Samples() for k in PHASES})
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, phase: str, ms: float) -> None:
        self.samples[phase].add(ms)

    def count(self, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.outcomes[outcome] += 1

    @property
    def ended(self) -> int:
        """Pairs whose round is over, whichever way."""
        o = self.outcomes
        return (
            o["stopped"] + o["ran_out"] + o["stop_lost_race"] + o["expired_accepts"] + o["failed"]
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "round": self.index,
            "pairs": self.pairs,
            "run_out_pairs": self.run_out,
            "spread_ms": round(self.spread_ms, 3),
        }
        out.update({phase: self.samples[phase].summary() for phase in PHASES})
        out.update({name: self.outcomes[name] for name in OUTCOMES})
        return out


def timers_json(timers: Timers) -> dict[str, float | None]:
    return {
        "invite_timeout_s": timers.invite_timeout_s,
        "duel_s": timers.duel_s,
        "start_lead_s": timers.start_lead_s,
    }


@dataclass(slots=True)
class BurstResult:
    """A whole burst run: every round, plus the frame accounting shared with steady mode."""

    config: BurstConfig
    timers: Timers
    rounds: list[RoundStats]
    connect_ms: Summary
    loop_lag_ms: Summary
    connections: int
    lost: int
    lost_types: dict[str, int]
    duplicated: int
    duplicated_types: dict[str, int]
    late: int
    unexpected: dict[str, int]
    errors: dict[str, int]
    frames_in: int
    frames_out: int
    client_cpu: float
    server: dict[str, Any] | None = None
    ready_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def phase(self, name: str) -> Summary:
        """Percentiles of one phase over every round's samples."""
        return summarize(v for r in self.rounds for v in r.samples[name].values)

    def count(self, outcome: str) -> int:
        return sum(r.outcomes[outcome] for r in self.rounds)

    @property
    def expected(self) -> int:
        """Pair-rounds asked for: every pair, every round."""
        return self.config.pairs * self.config.rounds

    @property
    def clean(self) -> bool:
        """Every pair started in every round, and nothing lost, duplicated or unexpected,
        no error: what the issue means by a burst the stack holds (a late accept is a
        legal protocol outcome, but on AWS that duel would have started)."""
        return (
            self.expected > 0
            and self.count("started") == self.expected
            and self.lost == 0
            and self.duplicated == 0
            and not self.unexpected
            and not self.errors
        )

    def to_json(self) -> dict[str, Any]:
        """The `--json` object: the issue's figures first, then the detail."""
        spreads = [r.spread_ms for r in self.rounds]
        out: dict[str, Any] = {"mode": "burst"}
        out.update({phase: self.phase(phase) for phase in PHASES})
        out.update(
            {
                "pairs": self.config.pairs,
                "rounds": len(self.rounds),
                "duels": sum(r.ended for r in self.rounds),
                **{name: self.count(name) for name in OUTCOMES},
                "lost": self.lost,
                "duplicated": self.duplicated,
                "errors": dict(self.errors),
                "timers": timers_json(self.timers),
                "ready_s": None if self.ready_s is None else round(self.ready_s, 3),
                "client_cpu": round(self.client_cpu, 3),
                "clean": self.clean,
                "connect_ms": self.connect_ms,
                "spread_ms": round(max(spreads), 3) if spreads else None,
                "loop_lag_ms": self.loop_lag_ms,
                "connections": self.connections,
                "late": self.late,
                "lost_types": dict(self.lost_types),
                "duplicated_types": dict(self.duplicated_types),
                "unexpected": dict(self.unexpected),
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "server": self.server,
                "per_round": [r.to_json() for r in self.rounds],
                "config": {
                    "pairs": self.config.pairs,
                    "rounds": self.config.rounds,
                    "run_out_share": self.config.run_out_share,
                    "step_timeout_s": self.config.step_timeout_s,
                    "pause_s": self.config.pause_s,
                },
                "notes": list(self.notes),
            }
        )
        return out
