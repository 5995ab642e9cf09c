"""The `Sessions` item as a value (docs/protocol.md, "Session lifecycle")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from duel.times import parse_iso


class Status(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    STOPPED = "stopped"


class EndReason(StrEnum):
    REJECTED = "rejected"
    NO_RESPONSE = "no_response"
    WITHDRAWN = "withdrawn"
    STOP = "stop"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Session:
    """One duel, from invite to stop. Times are wire strings, stored once and sent as stored.

    `expire_at` is the DynamoDB TTL (epoch seconds): invite deadline + 300 while
    pending, `ends_at` + 300 while active, end time + 86400 once stopped.

    `start_lease` and `start_sent` are delivery state, never sent to clients: the
    accepting invocation may be posting `start` until `start_lease` (epoch ms, its own
    deadline), and sets `start_sent` once it has. An ending committed in between leaves
    its frame to that invocation, so nobody gets an ending before `start`
    (docs/protocol.md, "Delivery").
    """

    session_id: str
    user_a: str  # the inviter
    user_b: str  # the invitee
    status: Status
    created_at: str
    expires_at: str  # invite deadline
    expire_at: int
    start_at: str | None = None
    ends_at: str | None = None
    end_reason: EndReason | None = None
    ended_by: str | None = None
    start_lease: int | None = None
    start_sent: bool = False

    def involves(self, user_id: str) -> bool:
        return user_id in (self.user_a, self.user_b)

    def other(self, user_id: str) -> str:
        return self.user_b if user_id == self.user_a else self.user_a

    @property
    def expires_at_ms(self) -> int:
        return parse_iso(self.expires_at)

    @property
    def ends_at_ms(self) -> int | None:
        return None if self.ends_at is None else parse_iso(self.ends_at)

    def view(self) -> dict[str, str]:
        """The protocol's session view: absent fields omitted."""
        fields = {
            "sessionId": self.session_id,
            "userA": self.user_a,
            "userB": self.user_b,
            "status": self.status.value,
            "startAt": self.start_at,
            "endsAt": self.ends_at,
            "expiresAt": self.expires_at,
        }
        return {key: value for key, value in fields.items() if value is not None}
