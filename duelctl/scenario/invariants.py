"""The duel's invariants, checked on what one scenario run left behind (issue 14).

Pure functions over data the audit (audit.py) collected from the stack and the run:

- `history`: the `Sessions` table's stream records for the run's users, in write order
  (DynamoDB serialises writes to an item; the stream keeps their order);
- `sockets`: every WebSocket the run opened, with when it was open (stack time) and the
  frames it received, from the run's timeline;
- `stale`: `Connections` items of the run's users whose connection is closed.

The invariants (docs/protocol.md "Session lifecycle"):

1. `one-live-session`: a user is never in two pending/active sessions at once; a session
   counts as live from its invite until it stops or its deadline passes.
2. `one-start`: each connection gets at most one `start` per session, and a participant's
   connection that was open from before the accept until `grace_s` after it gets one.
3. `one-ending`: each connection gets at most one ending frame per session, of the type
   the stored `endReason` calls for, and no `invite`/`invite_sent`/`start`/ending frame
   of that session after it; a participant's connection open from before the end until
   `grace_s` after it gets one.
4. `stale-connection`: no `Connections` item is left for a closed connection whose
   `$disconnect` ran (fault mode's drop-disconnect, and handshakes that failed after
   `$connect`, are exempt: `$disconnect` never ran for them).
5. `past-deadline`: no accept is committed at or after the invite's `expiresAt`, no user
   command ends a session after its deadline, and no session is still pending/active
   once its deadline and the TTL backstop (`expireAt`) have passed.

A violation carries the interleaving that shows it: the stream records and frames
involved, in order, with their stack times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LIVE = ("pending", "active")
ENDING_FRAMES = ("rejected", "no_response", "stop", "timeout")
SESSION_FRAMES = ("invite", "invite_sent", "start", *ENDING_FRAMES)
# endReason (docs/protocol.md "Items") -> the ending frame both users get
ENDING_FOR_REASON = {
    "rejected": "rejected",
    "no_response": "no_response",
    "withdrawn": "stop",
    "stop": "stop",
    "timeout": "timeout",
}
USER_REASONS = ("rejected", "withdrawn", "stop")  # ends a user command decides
STOPPED_TTL_S = 86_400  # a stopped session's expireAt = ceil(end) + this (docs/protocol.md)
BACKSTOP_GRACE_S = 60.0  # after expireAt: the TTL reaper, the stream and its consumer


@dataclass(frozen=True, slots=True)
class Change:
    """One write to a session item, as the stream recorded it (images as plain values)."""

    sequence: str
    event: str  # INSERT | MODIFY | REMOVE
    session_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None

    def describe(self) -> str:
        image = self.after or self.before or {}
        status = image.get("status", "?")
        was = (self.before or {}).get("status")
        move = f"{was} -> {status}" if was and was != status and self.after else status
        extra = f" ({image['endReason']})" if image.get("endReason") and self.after else ""
        return f"#{self.sequence[-6:]} {self.event} {self.session_id[:8]} {move}{extra}"


@dataclass(slots=True)
class Socket:
    """One WebSocket of the run: its name, open interval (stack epoch s) and frames."""

    name: str  # "alice", "alice#2", "alice#cleanup"
    user_id: str
    opened_at: float
    closed_at: float
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def open_during(self, start: float, end: float) -> bool:
        return self.opened_at <= start and self.closed_at >= end


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    subject: str  # a session id, a user, a connection id
    message: str
    trace: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [f"[{self.invariant}] {self.message}"]
        lines += [f"    {line}" for line in self.trace]
        return "\n".join(lines)


def plain(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A DynamoDB image ({"status": {"S": "pending"}}) as plain values ({"status": "pending"})."""
    if image is None:
        return None
    out: dict[str, Any] = {}
    for name, value in image.items():
        if not isinstance(value, Mapping) or len(value) != 1:
            out[name] = value
            continue
        kind, raw = next(iter(value.items()))
        out[name] = float(raw) if kind == "N" else raw
    return out


def epoch(wire: object) -> float | None:
    """Epoch seconds of a wire time (`2026-01-01T00:00:00.000Z`), None if not one."""
    if not isinstance(wire, str):
        return None
    try:
        return datetime.fromisoformat(wire.replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None


def stamp(t: float | None) -> str:
    if t is None:
        return "--:--:--.---"
    moment = datetime.fromtimestamp(t, tz=UTC)
    return moment.strftime("%H:%M:%S.") + f"{int(moment.microsecond / 1000):03d}"


def deadline_of(session: Mapping[str, Any]) -> float | None:
    """The deadline of a live session: `endsAt` once accepted, else `expiresAt`."""
    return epoch(session.get("endsAt" if session.get("startAt") else "expiresAt"))


def involves(session: Mapping[str, Any] | None, users: Iterable[str]) -> bool:
    if not session:
        return False
    wanted = set(users)
    return session.get("userA") in wanted or session.get("userB") in wanted


def end_window(session: Mapping[str, Any]) -> tuple[float, float] | None:
    """When a stopped session ended, to the second: its TTL is ceil(end) + one day."""
    expire_at = session.get("expireAt")
    if session.get("status") != "stopped" or not isinstance(expire_at, int | float):
        return None
    latest = float(expire_at) - STOPPED_TTL_S
    return latest - 1.0, latest


# ---------------------------------------------------------------------------- 1, 5 (history)


def check_history(
    history: Sequence[Change], users: Iterable[str], *, start_lead_s: float
) -> list[Violation]:
    """Invariants 1 and 5 (the parts decided by the order of writes)."""
    users = set(users)
    state: dict[str, Mapping[str, Any]] = {}
    seen: dict[str, list[Change]] = {}
    found: list[Violation] = []
    for change in history:
        seen.setdefault(change.session_id, []).append(change)
        after, before = change.after, change.before
        if change.event == "REMOVE" or after is None:
            state.pop(change.session_id, None)
            continue
        state[change.session_id] = after
        status, was = after.get("status"), (before or {}).get("status")
        if status == was:
            continue
        moment: float | None = None
        if status == "pending" and change.event == "INSERT":
            moment = epoch(after.get("createdAt"))
        elif status == "active":
            started = epoch(after.get("startAt"))
            moment = started - start_lead_s if started is not None else None
            expires = epoch(after.get("expiresAt"))
            if moment is not None and expires is not None and moment >= expires:
                found.append(
                    Violation(
                        "past-deadline",
                        change.session_id,
                        f"session {change.session_id} was accepted at {stamp(moment)}, at or "
                        f"after its invite expired ({stamp(expires)})",
                        tuple(c.describe() for c in seen[change.session_id]),
                    )
                )
        if moment is None:
            continue
        for user in (after.get("userA"), after.get("userB")):
            if user not in users:
                continue
            for other_id, other in state.items():
                if other_id == change.session_id or not involves(other, [user]):
                    continue
                deadline = deadline_of(other)
                if other.get("status") in LIVE and deadline is not None and deadline > moment:
                    trace = sorted(
                        seen.get(other_id, []) + seen[change.session_id],
                        key=lambda c: int(c.sequence),
                    )
                    found.append(
                        Violation(
                            "one-live-session",
                            str(user),
                            f"user {user} had session {other_id} {other.get('status')} (until "
                            f"{stamp(deadline)}) when session {change.session_id} became "
                            f"{status} at {stamp(moment)}",
                            tuple(c.describe() for c in trace),
                        )
                    )
    return found


def check_final(sessions: Mapping[str, Mapping[str, Any]], now: float) -> list[Violation]:
    """Invariant 5 on the stored sessions once the run has settled."""
    found: list[Violation] = []
    for session_id, session in sessions.items():
        status = session.get("status")
        deadline = deadline_of(session)
        expire_at = session.get("expireAt")
        if status in LIVE and isinstance(expire_at, int | float):
            if now >= float(expire_at) + BACKSTOP_GRACE_S:
                found.append(
                    Violation(
                        "past-deadline",
                        session_id,
                        f"session {session_id} is still {status} at {stamp(now)}, past its "
                        f"deadline ({stamp(deadline)}) and its TTL backstop",
                    )
                )
            continue
        window = end_window(session)
        reason = session.get("endReason")
        if window is None or reason not in USER_REASONS:
            continue
        # A user command may end a session only before its deadline (docs/protocol.md,
        # "Deadlines beat late inputs"); the end is known to the second. A stop ends an
        # active duel (endsAt); a reject or a withdrawal a pending invite (expiresAt).
        limit = epoch(session.get("endsAt" if reason == "stop" else "expiresAt"))
        if limit is not None and window[0] >= limit:
            found.append(
                Violation(
                    "past-deadline",
                    session_id,
                    f"session {session_id} ended by {reason} after {stamp(window[0])}, past its "
                    f"deadline {stamp(limit)}",
                )
            )
    return found


# ---------------------------------------------------------------------------- 2, 3 (frames)


def _frames_of(socket: Socket, session_id: str) -> list[tuple[float, dict[str, Any]]]:
    return [
        (t, f)
        for t, f in socket.frames
        if f.get("sessionId") == session_id and f.get("type") in SESSION_FRAMES
    ]


def _trace(socket: Socket, frames: Sequence[tuple[float, dict[str, Any]]]) -> tuple[str, ...]:
    return tuple(
        f"{stamp(t)} {socket.name} <- {f.get('type')}"
        + (f" by={str(f['by'])[:8]}" if f.get("by") else "")
        for t, f in frames
    )


def check_frames(
    sessions: Mapping[str, Mapping[str, Any]],
    sockets: Sequence[Socket],
    *,
    start_lead_s: float,
    grace_s: float,
) -> list[Violation]:
    """Invariants 2 and 3 for the run's sessions on the run's sockets."""
    found: list[Violation] = []
    for session_id, session in sessions.items():
        participants = {session.get("userA"), session.get("userB")}
        started = epoch(session.get("startAt"))
        accepted = started - start_lead_s if started is not None else None
        window = end_window(session)
        expected = ENDING_FOR_REASON.get(str(session.get("endReason")))
        for socket in sockets:
            if socket.user_id not in participants:
                continue
            frames = _frames_of(socket, session_id)
            starts = [(t, f) for t, f in frames if f.get("type") == "start"]
            if len(starts) > 1:
                found.append(
                    Violation(
                        "one-start",
                        session_id,
                        f"{socket.name} got {len(starts)} start frames for session {session_id}",
                        _trace(socket, frames),
                    )
                )
            if (
                accepted is not None
                and not starts
                and socket.open_during(accepted, accepted + grace_s)
            ):
                found.append(
                    Violation(
                        "one-start",
                        session_id,
                        f"{socket.name} was open from before the accept ({stamp(accepted)}) "
                        f"until {grace_s:g}s after it and got no start for session {session_id}",
                        _trace(socket, frames),
                    )
                )
            found += _check_endings(session_id, socket, frames, expected, window, grace_s)
    return found


def _check_endings(
    session_id: str,
    socket: Socket,
    frames: Sequence[tuple[float, dict[str, Any]]],
    expected: str | None,
    window: tuple[float, float] | None,
    grace_s: float,
) -> list[Violation]:
    found: list[Violation] = []
    endings = [i for i, (_t, f) in enumerate(frames) if f.get("type") in ENDING_FRAMES]
    if len(endings) > 1:
        found.append(
            Violation(
                "one-ending",
                session_id,
                f"{socket.name} got {len(endings)} ending frames for session {session_id}",
                _trace(socket, frames),
            )
        )
    if endings:
        first = endings[0]
        kind = frames[first][1].get("type")
        if expected is not None and kind != expected:
            found.append(
                Violation(
                    "one-ending",
                    session_id,
                    f"{socket.name} got {kind} for session {session_id}, whose stored outcome "
                    f"calls for {expected}",
                    _trace(socket, frames),
                )
            )
        later = [str(f.get("type")) for _t, f in frames[first + 1 :]]
        later = [t for t in later if t not in ENDING_FRAMES]  # more endings: counted above
        if later:
            found.append(
                Violation(
                    "one-ending",
                    session_id,
                    f"{socket.name} got {', '.join(later)} for session {session_id} after "
                    f"its {kind}",
                    _trace(socket, frames),
                )
            )
    elif window is not None and socket.open_during(window[0], window[1] + grace_s):
        found.append(
            Violation(
                "one-ending",
                session_id,
                f"{socket.name} was open from before session {session_id} ended "
                f"({stamp(window[1])}) until {grace_s:g}s after and got no ending frame",
                _trace(socket, frames),
            )
        )
    return found


# ---------------------------------------------------------------------------- 4 (connections)


def check_connections(stale: Iterable[tuple[str, str, str | None]]) -> list[Violation]:
    """Invariant 4: `stale` is (user, connection id, what became of its $disconnect)."""
    return [
        Violation(
            "stale-connection",
            connection_id,
            f"the Connections item of {user}'s closed connection {connection_id} is still "
            "there, though its $disconnect ran",
        )
        for user, connection_id, disconnect in stale
        if disconnect == "ran"
    ]


__all__ = [
    "BACKSTOP_GRACE_S",
    "ENDING_FOR_REASON",
    "Change",
    "Socket",
    "Violation",
    "check_connections",
    "check_final",
    "check_frames",
    "check_history",
    "epoch",
    "plain",
]
