"""`stream-duplicate[=P]`: a DynamoDB stream batch delivered to its function twice.

AWS: Lambda processes each stream record at least once; a batch whose checkpoint was not
recorded is read and invoked again, in order, so a record the function already handled
comes back (docs/aws-behaviour.md §8, §17). The stream poller (services/streams.py) asks
`redeliver` after each invocation that did not fail; when it fires, the poller invokes
the same batch again at once and settles the shard with that second invocation's
outcome, as Lambda checkpoints only after the batch it ran last.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from emulator.faults.record import FaultLog


class StreamFaults:
    """Decides, per successful stream batch, whether Lambda delivers it again."""

    def __init__(self, log: FaultLog, *, duplicate: float, rng: random.Random) -> None:
        self._log = log
        self._duplicate = duplicate
        self._rng = rng

    def redeliver(self, source: str, batch: Sequence[Mapping[str, Any]]) -> bool:
        """True: invoke `batch` (just delivered by `source`) once more."""
        if not batch or self._rng.random() >= self._duplicate:
            return False
        first = batch[0].get("dynamodb", {}).get("SequenceNumber")
        self._log.fired(
            "stream-duplicate",
            f"{source}: batch of {len(batch)} record(s) from {first} delivered again",
            source=source,
            records=len(batch),
            first_sequence=first,
        )
        return True


__all__ = ["StreamFaults"]
