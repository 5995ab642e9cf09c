"""The error codes of docs/protocol.md, as one exception type the handlers turn into frames."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every `error.code` a client can receive (docs/protocol.md, "Error codes")."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_ACTION = "unknown_action"
    SELF_INVITE = "self_invite"
    USER_OFFLINE = "user_offline"
    USER_BUSY = "user_busy"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_STATE = "invalid_state"


class DuelError(Exception):
    """A client request the duel rules refuse; the sender gets an `error` frame, nothing changes.

    Carries the wire `code` and a human-readable message; which code wins when several
    apply is decided by the checks' order (docs/protocol.md: bad_request, not_found,
    forbidden, invalid_state).
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"DuelError({self.code.value!r}, {self.message!r})"
