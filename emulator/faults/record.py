"""What the fault mode shares across kinds: seeded randomness, counters and the log line.

Each fault kind draws from its own `random.Random`, seeded from the stack's seed and the
kind's name, so turning one fault on or off never changes the decisions of another, and
a run can be repeated with `--faults-seed N` (to the extent the stack's own interleaving
repeats: the draws happen in the order events reach each kind).
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from typing import Any

from emulator.logs import emit

FAULTS = "emulator.faults"  # log channel: one record per fault that fires (`fault` = its name)


def new_seed() -> int:
    """A random seed for a stack started without `--faults-seed` (printed, to repeat a run)."""
    return secrets.randbelow(10**9)


def rng_for(seed: int, kind: str) -> random.Random:
    """The random source of one fault kind: the same seed gives the same sequence."""
    return random.Random(f"{seed}:{kind}")


class FaultLog:
    """Counts fired faults per kind and logs each one on the `faults` channel."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def fired(self, kind: str, message: str, **fields: Any) -> None:
        """Record that fault `kind` fired; `message` says where, for a person."""
        self.counts[kind] += 1
        emit(FAULTS, f"{kind}: {message}", fault=kind, **fields)

    def add(self, kind: str, count: int) -> None:
        """Count faults fired elsewhere (moto's process) and already logged on arrival."""
        if count:
            self.counts[kind] += count


__all__ = ["FAULTS", "FaultLog", "new_seed", "rng_for"]
