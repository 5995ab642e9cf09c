"""The parsed form of a scenario file: frozen, validated, every step knows its line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FRAME_TYPES = (
    "invite_sent",
    "invite",
    "start",
    "rejected",
    "no_response",
    "stop",
    "timeout",
    "pong",
    "state",
    "error",
)
ERROR_CODES = (
    "bad_request",
    "unknown_action",
    "self_invite",
    "user_offline",
    "user_busy",
    "not_found",
    "forbidden",
    "invalid_state",
)
ACTIONS = ("invite", "accept", "reject", "stop", "ping", "state", "send")
TOKEN_MODES = ("valid", "none", "garbage", "forged")
TIME_FIELDS = ("startAt", "endsAt", "expiresAt", "expireAt")
CLOCKS = ("real", "virtual")


@dataclass(frozen=True, slots=True)
class Where:
    """A step's position: `path:line` (1-based), for failure messages."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Ref:
    """`$name` or `$name.field.path`: a user, a captured frame, `$session`, `$params.X`."""

    name: str
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "$" + ".".join((self.name, *self.path))


Value = object  # a literal (str, int, float, bool, None) or a Ref


@dataclass(frozen=True, slots=True)
class Check:
    """One field check on a frame: `path=value`, `!path` (absent), `path=*` (present)."""

    path: tuple[str, ...]
    op: Literal["eq", "ne", "absent", "present"]
    value: Value = None
    text: str = ""  # as written, for messages


@dataclass(frozen=True, slots=True)
class Step:
    where: Where
    text: str  # the step as written, for the timeline and failures


@dataclass(frozen=True, slots=True)
class Connect(Step):
    conn: str  # "alice" or "alice#2"
    token: str = "valid"  # one of TOKEN_MODES
    status: int | None = None  # expected refusal status (token != valid)


@dataclass(frozen=True, slots=True)
class Disconnect(Step):
    conn: str


@dataclass(frozen=True, slots=True)
class Send(Step):
    """A client action: invite/accept/reject/stop/ping/state, or a raw `send`."""

    conn: str
    action: str  # one of ACTIONS
    to: Value = None  # invite: a Ref to a user, or a literal user id
    session: Value = None  # accept/reject/stop: None = the sender's latest session
    request_id: str | None = None
    raw: str | None = None  # send: the exact text


@dataclass(frozen=True, slots=True)
class Expect(Step):
    """Each of `conns` receives a frame of `frame_type` passing `checks` within `within` s."""

    conns: tuple[str, ...]
    frame_type: str  # one of FRAME_TYPES, or "any"
    checks: tuple[Check, ...] = ()
    same: tuple[str, ...] = ()  # fields that must be byte-identical across conns
    within: float = 5.0
    capture: str | None = None


@dataclass(frozen=True, slots=True)
class ExpectNothing(Step):
    """None of `conns` has or receives an unmatched frame for `within` seconds."""

    conns: tuple[str, ...]
    within: float = 1.0


@dataclass(frozen=True, slots=True)
class Wait(Step):
    """Sleep `seconds`, or until the time in `until` (a Ref or a bare time field name)."""

    seconds: float | None = None
    until: Ref | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str  # the file, as given
    line: int  # where this scenario's document starts
    description: str
    parameters: Mapping[str, str]
    users: tuple[str, ...]  # connected before the first step
    offline: tuple[str, ...]  # have accounts, not connected
    steps: tuple[Step, ...]
    timeout: float = 5.0  # default `within`
    tags: tuple[str, ...] = field(default=())
    clock: str | None = None  # `clock: virtual|real` at the top; None: whatever the run uses
    # `faults: SPEC` at the top (README "Fault mode"), canonical; None: whatever the run uses
    faults: str | None = None

    @property
    def all_users(self) -> tuple[str, ...]:
        return self.users + self.offline
