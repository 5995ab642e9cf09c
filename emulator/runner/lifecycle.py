"""The life of one execution environment as a state machine: events in, actions out.

No I/O, no asyncio, no clock: `worker.py` feeds what happened (the worker finished its
init, replied, a timer fired, the channel closed, the process exited, the pool wants it
gone) and carries out what `handle` returns (send the request, arm the timer, kill the
process, finish the invocation, ...). The allowed transitions are the table
`TRANSITIONS`; any other event raises `IllegalTransition`, so a driver bug shows up as
an exception instead of a worker stuck in a wrong state.

    STARTING --InitDone--> IDLE --Assign--> BUSY --Reply--> IDLE
        |                   |                 |
        +--Deadline/Hangup/Kill---------------+--> EXITING --Exited--> DEAD

AWS behaviour it encodes (docs/aws-behaviour.md §13): one invocation at a time per
environment; a timeout, a crash and a failed init each reset the environment, so the next
invoke initialises the module again; an invocation whose runtime exits gets
`Runtime.ExitError` with the exit status, known only once the process has exited.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from emulator.runner.faults import Fault
from emulator.runner.outcomes import KILLED


class State(enum.Enum):
    STARTING = "starting"  # process launched (or launching), module init not reported yet
    IDLE = "idle"  # initialised, no invocation
    BUSY = "busy"  # one invocation sent, no answer yet
    EXITING = "exiting"  # takes no more work; its exit status is awaited
    DEAD = "dead"  # exit status known (or given up on); nothing is left to do

    # Identity hash in C: Enum's own hashes the name in Python, twice per invoke here.
    __hash__ = object.__hash__


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class InitDone:
    """The worker reported its init; `failed` if importing the handler raised."""

    failed: bool = False


@dataclass(frozen=True, slots=True)
class Assign:
    """The pool gives the worker one invocation; `fault` is an injected fault, if any."""

    timeout_s: float
    fault: Fault | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The worker answered the invocation (result or error object)."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """The armed timer fired."""


@dataclass(frozen=True, slots=True)
class Hangup:
    """The worker closed its channel: it is exiting."""


@dataclass(frozen=True, slots=True)
class Kill:
    """The pool or runner ends this environment (retired, evicted, closed, a fault)."""


@dataclass(frozen=True, slots=True)
class Exited:
    """The process has ended (or could not start); `reason` as Runtime.ExitError words it."""

    reason: str


Event = InitDone | Assign | Reply | Deadline | Hangup | Kill | Exited

# Events without fields, for drivers to reuse.
REPLY, DEADLINE, HANGUP, KILL = Reply(), Deadline(), Hangup(), Kill()

# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Send:
    """Send the assigned request."""


@dataclass(frozen=True, slots=True)
class Arm:
    """(Re)arm the worker's one timer; it feeds `Deadline` after `seconds`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Disarm:
    """Cancel the timer."""


@dataclass(frozen=True, slots=True)
class KillProcess:
    """SIGKILL the process group (whatever the handler started goes too)."""


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Take no more work: stop reading the channel, leave the pool's idle list."""


@dataclass(frozen=True, slots=True)
class Available:
    """Ready for an invocation; `after_init` if it has just initialised (a cold start)."""

    after_init: bool


FinishKind = Literal["reply", "timeout", "exit"]


@dataclass(frozen=True, slots=True)
class Finish:
    """End the current invocation: with the worker's reply, as timed out, or as exited.

    `injected` marks a timeout that a fault declared (the handler had returned);
    `reason` is the exit reason for "exit".
    """

    kind: FinishKind
    reason: str = ""
    injected: bool = False


@dataclass(frozen=True, slots=True)
class InitFailed:
    """The environment ended before its init completed (crash, init timeout, no start);
    the pool reports it to the oldest invoke waiting for an environment."""

    timed_out: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Gone:
    """Dead: release the channel, pipe and timer; the pool forgets the worker."""

    reason: str


Action = Send | Arm | Disarm | KillProcess | Withdraw | Available | Finish | InitFailed | Gone

# The actions without variable parts, built once: an invoke's round trip then allocates
# only its Arm (the hot path runs ~5 actions per invoke).
_SEND, _DISARM, _KILL_PROCESS, _WITHDRAW = Send(), Disarm(), KillProcess(), Withdraw()
_READY, _FREE = Available(after_init=True), Available(after_init=False)
_REPLIED, _TIMED_OUT = Finish("reply"), Finish("timeout")

# ---------------------------------------------------------------------------- the table

S = State
TRANSITIONS: dict[tuple[State, type[Event]], State] = {
    (S.STARTING, InitDone): S.IDLE,
    (S.STARTING, Deadline): S.EXITING,  # init timeout
    (S.STARTING, Hangup): S.EXITING,  # crashed during init
    (S.STARTING, Kill): S.EXITING,
    (S.STARTING, Exited): S.DEAD,  # could not start, or exited before its hangup was read
    (S.IDLE, Assign): S.BUSY,
    (S.IDLE, Hangup): S.EXITING,
    (S.IDLE, Kill): S.EXITING,
    (S.IDLE, Exited): S.DEAD,
    (S.BUSY, Reply): S.IDLE,  # a reset (failed init, fault) then chains Kill
    (S.BUSY, Deadline): S.EXITING,  # invocation timeout
    (S.BUSY, Hangup): S.EXITING,  # crashed mid-invocation
    (S.BUSY, Kill): S.EXITING,
    (S.BUSY, Exited): S.DEAD,
    (S.EXITING, Deadline): S.EXITING,  # grace over: kill, then give up
    (S.EXITING, Kill): S.EXITING,
    (S.EXITING, Exited): S.DEAD,
    (S.DEAD, Kill): S.DEAD,  # killing the dead is a no-op
}

Cause = Literal["killed", "init_timeout", "hangup", "timeout", "reset"]


class IllegalTransition(RuntimeError):
    """An event the current state does not allow (a bug in the driver, never the handler)."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"{type(event).__name__} is not allowed in state {state.value}")
        self.state = state
        self.event = event


class Lifecycle:
    """One environment's state; `handle(event)` returns the actions, in order."""

    __slots__ = ("cause", "exit_grace_s", "fault", "forced", "has_call", "ready", "reset", "state")

    def __init__(self, exit_grace_s: float) -> None:
        self.state = State.STARTING
        self.exit_grace_s = exit_grace_s
        self.ready = False  # has reached IDLE once
        self.reset = False  # the next reply ends the environment (its init failed)
        self.has_call = False  # an invocation is assigned and not finished
        self.fault: Fault | None = None
        self.cause: Cause | None = None  # why it is going away
        self.forced = False  # the exit grace has run out once

    @property
    def alive(self) -> bool:
        """Not yet going away: may still be handed work."""
        return self.state in (State.STARTING, State.IDLE, State.BUSY)

    def handle(self, event: Event) -> list[Action]:
        """Apply `event`; raise IllegalTransition (state unchanged) if the table forbids it."""
        old = self.state
        new = TRANSITIONS.get((old, type(event)))
        if new is None:
            raise IllegalTransition(old, event)
        self.state = new
        out: list[Action] = []
        _EFFECTS[type(event)](self, old, event, out)
        return out

    # Effects per event type; `old` is the state before the transition.

    def _init_done(self, old: State, event: InitDone, out: list[Action]) -> None:
        self.ready = True
        self.reset = event.failed
        out += (_DISARM, _READY)

    def _assign(self, old: State, event: Assign, out: list[Action]) -> None:
        self.has_call = True
        self.fault = event.fault
        out += (_SEND, Arm(event.timeout_s))

    def _reply(self, old: State, event: Reply, out: list[Action]) -> None:
        out.append(_DISARM)
        fault, self.fault = self.fault, None
        if fault == "crash":
            # The handler did its work; the runtime dies before its answer gets out. The
            # invocation ends as Runtime.ExitError once the exit status is known.
            self.cause = "reset"
            out += self.handle(KILL)
            return
        self.has_call = False
        if fault == "timeout":
            out.append(Finish("timeout", injected=True))
            self.cause = "reset"
            out += self.handle(KILL)  # AWS resets the environment after a timeout
            return
        out.append(_REPLIED)
        if self.reset:
            # AWS: after a failed init the environment is reset; the next invoke imports
            # the module again (and picks up a fix).
            self.cause = "reset"
            out += self.handle(KILL)
        else:
            out.append(_FREE)

    def _deadline(self, old: State, event: Deadline, out: list[Action]) -> None:
        if old is State.EXITING:
            if not self.forced:
                self.forced = True
                out += (_KILL_PROCESS, Arm(self.exit_grace_s))
            else:  # killed and still no exit status: stop waiting for it
                out += self.handle(Exited(KILLED))
            return
        if old is State.BUSY:
            self.has_call = False
            self.fault = None
            self.cause = "timeout"
            out.append(_TIMED_OUT)  # AWS resets the environment after a timeout
        else:
            self.cause = "init_timeout"
        out += (_KILL_PROCESS, _WITHDRAW, Arm(self.exit_grace_s))

    def _hangup(self, old: State, event: Hangup, out: list[Action]) -> None:
        self.cause = self.cause or "hangup"
        out += (_WITHDRAW, Arm(self.exit_grace_s))

    def _kill(self, old: State, event: Kill, out: list[Action]) -> None:
        if old is State.DEAD:
            return
        if old is State.EXITING:
            out.append(_KILL_PROCESS)
            return
        self.cause = self.cause or "killed"
        out += (_KILL_PROCESS, _WITHDRAW, Arm(self.exit_grace_s))

    def _exited(self, old: State, event: Exited, out: list[Action]) -> None:
        out.append(_DISARM)
        if old is not State.EXITING:
            out.append(_WITHDRAW)
        if self.has_call:
            self.has_call = False
            self.fault = None
            out.append(Finish("exit", reason=event.reason))
        if not self.ready and self.cause != "killed":
            out.append(InitFailed(timed_out=self.cause == "init_timeout", reason=event.reason))
        out.append(Gone(event.reason))


_EFFECTS: dict[type[Event], Callable[[Lifecycle, State, object, list[Action]], None]] = {
    InitDone: Lifecycle._init_done,  # type: ignore[dict-item]
    Assign: Lifecycle._assign,  # type: ignore[dict-item]
    Reply: Lifecycle._reply,  # type: ignore[dict-item]
    Deadline: Lifecycle._deadline,  # type: ignore[dict-item]
    Hangup: Lifecycle._hangup,  # type: ignore[dict-item]
    Kill: Lifecycle._kill,  # type: ignore[dict-item]
    Exited: Lifecycle._exited,  # type: ignore[dict-item]
}
