"""The shape of a bench run, kept apart from the engine so the CLI can read defaults cheaply.

`duelctl --help` builds every command's options at start-up; importing the engine (and
with it the WebSocket client) for the defaults would slow every duelctl command down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timers:
    """The stack's duel timers in seconds, when known (template parameters)."""

    invite_timeout_s: float | None = None
    duel_s: float | None = None
    start_lead_s: float | None = None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str] | None) -> Timers:
        def number(name: str) -> float | None:
            raw = (parameters or {}).get(name)
            try:
                return float(raw) if raw is not None else None
            except ValueError:
                return None

        return cls(
            invite_timeout_s=number("InviteTimeoutSeconds"),
            duel_s=number("DuelSeconds"),
            start_lead_s=number("StartLeadSeconds"),
        )


@dataclass(frozen=True, slots=True)
class BenchConfig:
    pairs: int = 10
    duration_s: float = 30.0
    ramp_s: float = 0.0  # connections open evenly spread over this many seconds
    idle: int = 0  # extra connections that only ping
    idle_ping_s: float = 10.0  # an idle connection's ping interval; 0 = back to back
    pings: int = 3  # pings per accepted duel
    hold_s: float = 0.0  # how long an accepted duel runs before its stop (pings spread over it)
    reject_share: float = 0.1
    timeout_share: float = 0.1  # split between no_response and duel timeouts
    # Longest wait for any one expected frame. A saturated stack queues requests; API
    # Gateway gives an integration 29 s before it answers with an error, so 30 s.
    step_timeout_s: float = 30.0
    connect_concurrency: int = 50  # handshakes in flight at once
    seed: int | None = None

    @property
    def connections(self) -> int:
        return 2 * self.pairs + self.idle


@dataclass(frozen=True, slots=True)
class BurstConfig:
    """The shape of a burst run (`duelctl bench --burst N`): N pairs acting at one instant.

    All 2N users connect first (not part of the burst), then each round every inviter
    sends its invite within `spread_s`, each invitee accepts the moment its invite
    arrives, and each inviter stops once both users have `start`; a `run_out_share` of
    the pairs is not stopped and runs to `endsAt` together.
    """

    pairs: int = 50
    rounds: int = 1
    run_out_share: float = 0.0
    spread_s: float = 0.1  # the "within 100 ms": all invites leave in this window
    pause_s: float = 1.0  # quiet time after connecting and between rounds
    step_timeout_s: float = 30.0  # as the steady mode: API Gateway's 29 s, plus one
    connect_concurrency: int = 50
    seed: int | None = None

    @property
    def connections(self) -> int:
        return 2 * self.pairs
