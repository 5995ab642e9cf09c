"""How connections end: the close codes the gateway sends, the one `$disconnect` reports,
and when a connection's time is up (docs/aws-behaviour.md §1, §6)."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.gateway.connection import Connection


@dataclass(frozen=True, slots=True)
class CloseWith:
    """A close code and reason the gateway sends (or reports in `$disconnect`)."""

    code: int
    reason: str


# AWS: $disconnect after DeleteConnection carries 1000 "Connection Closed Normally";
# idle and shutdown closes carry 1001 "Going away"; a client close frame without a
# status gives 1005 "Client-side close frame status not set" (docs/aws-behaviour.md §1).
DELETED = CloseWith(1000, "Connection Closed Normally")
GOING_AWAY = CloseWith(1001, "Going away")
NO_STATUS_REASON = "Client-side close frame status not set"
# AWS sends 1009 / 1003 (docs/aws-behaviour.md §6); the reason texts are ours (unverified).
MESSAGE_TOO_BIG = CloseWith(1009, "Message too big")
UNSUPPORTED_DATA = CloseWith(1003, "Unsupported data: binary frames are not supported")
ABNORMAL = CloseWith(1006, "")  # no close frame at all: the TCP connection dropped


def observed_close(
    *,
    sent: CloseWith | None,
    received: CloseWith | None,
    received_first: bool | None,
) -> CloseWith:
    """The `$disconnect` code and reason for a connection that has closed.

    The side that closed first decides: the client's code (1005 with AWS's text when its
    close frame had no status), the gateway's own code, or 1006 when the TCP connection
    ended without any close frame (docs/aws-behaviour.md §1).
    """
    if received is not None and (sent is None or received_first):
        if received.code == 1005:
            return CloseWith(1005, NO_STATUS_REASON)
        return received
    if sent is not None:
        return sent
    return ABNORMAL


@dataclass(frozen=True, slots=True)
class OpenUntil:
    """Within both time limits: the connection stays open; look again at `deadline`."""

    deadline: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Expired:
    """Past its idle or duration limit: close the connection with `close` (1001)."""

    close: CloseWith = GOING_AWAY


TimeLimit = OpenUntil | Expired


def time_limit(
    conn: Connection, now_ms: int, *, idle_timeout_s: float, max_duration_s: float
) -> TimeLimit:
    """Expired if the connection is past its idle or duration limit, else OpenUntil the
    next deadline at which to ask again.

    AWS: idle 10 min and 2 h limits; a `$disconnect` with 1001 "Going away" was seen
    after ~604 s idle (docs/aws-behaviour.md §6). Only client messages move `last_active_at_ms`.
    """
    idle_deadline = conn.last_active_at_ms / 1000 + idle_timeout_s
    hard_deadline = conn.connected_at_ms / 1000 + max_duration_s
    deadline = min(idle_deadline, hard_deadline)
    if now_ms / 1000 >= deadline:
        return Expired()
    return OpenUntil(deadline)
