"""`gone-window=MS` and `drop-disconnect=P`: the WebSocket gateway's connection faults.

- gone-window: AWS makes a connection usable only once its `$connect` has completed;
  until then `@connections` answers 410 GoneException to every call for it, though the
  `$connect` handler may already have stored the connection id (docs/aws-behaviour.md
  §3, §17). Locally `$connect` completes as soon as its handler returns; with this fault
  the handshake completes MS after it began (as with a slow or cold `$connect`), so
  anything posting to the new connection in that window gets the 410. The client's
  upgrade stays pending meanwhile, as on AWS.
- drop-disconnect: AWS delivers `$disconnect` on a best-effort basis (§3); with
  probability P a closed connection's `$disconnect` is never invoked, leaving whatever
  its `$connect` stored.

The gateway (gateway/local.py) calls `connecting`, `gone` and `disconnect`. Every close
is also recorded (`ran` or `dropped`, bounded), so a checker can tell a connection whose
`$disconnect` ran from one whose `$disconnect` was dropped or never due (a handshake that
failed after its `$connect` handler had run).
"""

from __future__ import annotations

import random
from collections import OrderedDict

from emulator.clock import Clock
from emulator.faults.record import FaultLog

MAX_RECORDED = 100_000  # closes remembered for the checker (oldest forgotten first)


class GatewayFaults:
    """The connection faults of one stack (shared by its WebSocket APIs)."""

    def __init__(
        self,
        log: FaultLog,
        *,
        gone_window_s: float | None,
        drop_disconnect: float | None,
        rng: random.Random,
    ) -> None:
        self._log = log
        self._window_s = gone_window_s
        self._drop = drop_disconnect
        self._rng = rng
        self._held: set[str] = set()
        self.disconnects: OrderedDict[str, str] = OrderedDict()  # id -> "ran" | "dropped"

    async def connecting(self, connection_id: str, connected_at_ms: int, clock: Clock) -> None:
        """Called once `$connect` succeeded: return when the connection may open.

        With a gone window, that is `connected_at_ms` + MS; until then the connection
        stays "connecting" (410 for every @connections call).
        """
        if not self._window_s:
            return
        deadline = connected_at_ms / 1000 + self._window_s
        if clock.now() >= deadline:
            return
        self._held.add(connection_id)
        try:
            await clock.sleep_until(deadline)
        finally:
            self._held.discard(connection_id)

    @property
    def held(self) -> frozenset[str]:
        """The connections whose handshake the gone window holds right now."""
        return frozenset(self._held)

    def gone(self, connection_id: str) -> None:
        """An @connections call for a connecting connection was answered 410."""
        if connection_id in self._held:
            self._log.fired(
                "gone-window",
                f"{connection_id}: 410 GoneException while its handshake completes",
                connection_id=connection_id,
            )

    def disconnect(self, connection_id: str) -> bool:
        """A connection closed: False means its `$disconnect` is never invoked."""
        dropped = bool(self._drop) and self._rng.random() < (self._drop or 0.0)
        self.disconnects[connection_id] = "dropped" if dropped else "ran"
        while len(self.disconnects) > MAX_RECORDED:
            self.disconnects.popitem(last=False)
        if dropped:
            self._log.fired(
                "drop-disconnect",
                f"{connection_id}: closed, and its $disconnect never runs",
                connection_id=connection_id,
            )
        return not dropped


__all__ = ["MAX_RECORDED", "GatewayFaults"]
