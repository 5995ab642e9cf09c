"""Play one scenario against a stack over real WebSockets and record what happened.

The engine is the only interpreter of scenario steps: `duelctl run` feeds it files,
`duelctl simulate` feeds it built-in scenarios. It stops at the first step that does
not hold and reports that step's file:line with what was expected and what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from duelctl.client.auth import Identity, TokenSource, forged_copy
from duelctl.client.ws import DuelSocket, Frame, HandshakeRefused
from duelctl.scenario.model import (
    Connect,
    Disconnect,
    Expect,
    ExpectNothing,
    Ref,
    Scenario,
    Send,
    Step,
    Wait,
    Where,
)
from emulator.endpoints import Endpoints

EventKind = Literal[
    "connect", "refused", "disconnect", "closed", "send", "recv", "wait", "ok", "note"
]
MISSING: Any = object()


@dataclass(slots=True)
class Event:
    """One line of the timeline; `t_ms` is relative to the scenario's start."""

    t_ms: float
    who: str  # connection name ("alice", "alice#2"), "" for the scenario itself
    kind: EventKind
    text: str
    data: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t_ms": round(self.t_ms, 1), "who": self.who, "kind": self.kind}
        out["frame" if self.data is not None else "text"] = (
            self.data if self.data is not None else self.text
        )
        return out


@dataclass(slots=True)
class Failure:
    """Why a scenario failed: the step, what it expected, what actually arrived."""

    where: Where | None
    step: str
    message: str
    expected: str = ""
    received: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.where.path if self.where else None,
            "line": self.where.line if self.where else None,
            "step": self.step,
            "message": self.message,
            "expected": self.expected,
            "received": self.received,
        }


@dataclass(slots=True)
class Result:
    scenario: Scenario
    failure: Failure | None
    events: list[Event]
    duration_s: float
    users: dict[str, str]  # scenario name -> real username
    user_ids: dict[str, str]  # scenario name -> userId (sub)
    steps_run: int
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "file": self.scenario.path,
            "line": self.scenario.line,
            "passed": self.passed,
            "duration_ms": round(self.duration_s * 1000, 1),
            "steps": len(self.scenario.steps),
            "steps_run": self.steps_run,
            "users": self.users,
            "user_ids": self.user_ids,
            "notes": self.notes,
            "failure": self.failure.to_json() if self.failure else None,
            "timeline": [e.to_json() for e in self.events],
        }


class StepFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def parameter_notes(scenario: Scenario, stack: Mapping[str, str] | None) -> list[str]:
    """Say where the stack's parameters differ from what the scenario was written for."""
    if not scenario.parameters:
        return []
    if stack is None:
        wanted = " ".join(f"{k}={v}" for k, v in scenario.parameters.items())
        return [f"the target's parameters are unknown; this scenario assumes {wanted}"]
    notes = []
    for key, value in scenario.parameters.items():
        have = stack.get(key)
        if have is not None and str(have) != str(value):
            notes.append(f"the stack runs with {key}={have}, this scenario wants {key}={value}")
    return notes


def get_path(data: Any, path: tuple[str, ...]) -> Any:
    """Follow `a.b.0.len` through dicts and lists; MISSING when a segment is absent."""
    value = data
    for i, segment in enumerate(path):
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.lstrip("-").isdigit():
            index = int(segment)
            if -len(value) <= index < len(value):
                value = value[index]
            else:
                return MISSING
        elif segment == "len" and i == len(path) - 1 and isinstance(value, list | str | dict):
            return len(value)
        else:
            return MISSING
    return value


def same_value(actual: Any, expected: Any) -> bool:
    """Equality that lets `5` match 5 and "5", but never True match 1."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    if isinstance(actual, int | float) and isinstance(expected, str):
        with contextlib.suppress(ValueError):
            return float(expected) == float(actual)
        return False
    if isinstance(actual, str) and isinstance(expected, int | float):
        return same_value(expected, actual)
    return bool(actual == expected)


def parse_time(value: Any) -> float | None:
    """Epoch seconds of a wire time ("2026-11-25T12:00:03.000Z"), or None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def show(value: Any) -> str:
    return "(absent)" if value is MISSING else json.dumps(value)


class ScenarioRunner:
    """Runs one scenario; create one per run (it holds that run's sockets and captures)."""

    def __init__(
        self,
        scenario: Scenario,
        endpoints: Endpoints,
        tokens: TokenSource,
        *,
        usernames: Mapping[str, str] | None = None,
        stack_parameters: Mapping[str, str] | None = None,
        max_wait_s: float = 60.0,
    ) -> None:
        self.scenario = scenario
        self.endpoints = endpoints
        self.tokens = tokens
        self.usernames = {u: (usernames or {}).get(u, u) for u in scenario.all_users}
        self.notes = parameter_notes(scenario, stack_parameters)
        self.max_wait_s = max_wait_s
        self.identities: dict[str, Identity] = {}
        self.sockets: dict[str, DuelSocket] = {}
        self.events: list[Event] = []
        self.captures: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, Any] = {}  # sessionId and time fields, latest seen by anyone
        self.user_session: dict[str, str] = {}  # user -> latest sessionId it saw
        self.t0 = time.monotonic()
        self.names_by_id: dict[str, str] = {}

    # -- bookkeeping ------------------------------------------------------------------------

    def record(
        self, who: str, kind: EventKind, text: str, data: dict[str, Any] | None = None
    ) -> None:
        self.events.append(Event((time.monotonic() - self.t0) * 1000, who, kind, text, data))

    def _on_frame(self, sock: DuelSocket, frame: Frame) -> None:
        t_ms = (frame.at - self.t0) * 1000
        self.events.append(Event(t_ms, sock.name, "recv", frame.text, frame.data))
        data = frame.data or {}
        session_id = data.get("sessionId")
        if isinstance(session_id, str):
            self.latest["sessionId"] = session_id
            self.user_session[sock.name.split("#")[0]] = session_id
        for key in ("startAt", "endsAt", "expiresAt", "expireAt"):
            if isinstance(data.get(key), str):
                self.latest[key] = data[key]

    def _on_close(self, sock: DuelSocket) -> None:
        if not sock.closed_by_us:
            reason = f" {sock.close_reason}" if sock.close_reason else ""
            self.record(sock.name, "closed", f"closed by the server: {sock.close_code}{reason}")

    def fail(
        self, step: Step | None, message: str, expected: str = "", received: list[str] | None = None
    ) -> StepFailed:
        where = step.where if step is not None else Where(self.scenario.path, self.scenario.line)
        notes = [f"note: {n}" for n in self.notes]
        return StepFailed(
            Failure(
                where=where,
                step=step.text if step is not None else "(setup)",
                message=message,
                expected=expected,
                received=(received or []) + notes,
            )
        )

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> Result:
        """Play every step; the first that does not hold ends the run with a Failure."""
        self.t0 = time.monotonic()
        failure: Failure | None = None
        steps_run = 0
        for note in self.notes:
            self.record("", "note", note)
        try:
            await self._setup()
            for step in self.scenario.steps:
                await self._step(step)
                steps_run += 1
        except StepFailed as exc:
            failure = exc.failure
        finally:
            await asyncio.gather(
                *(s.close() for s in self.sockets.values()), return_exceptions=True
            )
        return Result(
            scenario=self.scenario,
            failure=failure,
            events=sorted(self.events, key=lambda e: e.t_ms),
            duration_s=time.monotonic() - self.t0,
            users=dict(self.usernames),
            user_ids={u: i.user_id for u, i in self.identities.items()},
            steps_run=steps_run,
            notes=list(self.notes),
        )

    async def _setup(self) -> None:
        users = self.scenario.all_users
        found = await asyncio.gather(*(self.tokens.identity(self.usernames[u]) for u in users))
        self.identities = dict(zip(users, found, strict=True))
        self.names_by_id = {i.user_id: u for u, i in self.identities.items()}
        for user in self.scenario.users:
            await self._open(None, user, self.identities[user].token)

    async def _open(self, step: Step | None, conn: str, token: str | None) -> DuelSocket:
        try:
            sock = await DuelSocket.open(
                self.endpoints.websocket_url,
                token,
                conn,
                on_frame=self._on_frame,
                on_close=self._on_close,
            )
        except HandshakeRefused as exc:
            self.record(conn, "refused", f"handshake refused: HTTP {exc.status}")
            raise self.fail(
                step,
                f"{conn} could not connect: the handshake was refused with HTTP {exc.status}",
                expected="the WebSocket opens",
                received=[f"HTTP {exc.status} {exc.body.strip()}"[:300]],
            ) from None
        self.sockets[conn] = sock
        self.record(conn, "connect", f"connected as {self.usernames[conn.split('#')[0]]}")
        return sock

    async def _step(self, step: Step) -> None:
        if isinstance(step, Send):
            await self._send(step)
        elif isinstance(step, Expect):
            await self._expect(step)
        elif isinstance(step, ExpectNothing):
            await self._expect_nothing(step)
        elif isinstance(step, Wait):
            await self._wait(step)
        elif isinstance(step, Connect):
            await self._connect(step)
        elif isinstance(step, Disconnect):
            sock = self.sockets.pop(step.conn)
            await sock.close()
            self.record(step.conn, "disconnect", "disconnected (close 1000)")
        else:  # pragma: no cover - the parser builds only the kinds above
            raise TypeError(f"unknown step {step!r}")

    # -- values ------------------------------------------------------------------------------

    def resolve(self, step: Step, value: Any) -> Any:
        if not isinstance(value, Ref):
            return value
        if value.name in self.identities:
            identity = self.identities[value.name]
            if value.path == ("username",):
                return identity.username or self.usernames[value.name]
            return identity.user_id
        if value.name == "session":
            if "sessionId" not in self.latest:
                raise self.fail(step, "$session is used before any frame carried a sessionId")
            return self.latest["sessionId"]
        if value.name == "params":
            return self.scenario.parameters[value.path[0]]
        if value.name == "latest":
            field_name = value.path[0]
            if field_name not in self.latest:
                raise self.fail(step, f"no frame so far carried {field_name}")
            return self.latest[field_name]
        frame = self.captures.get(value.name)
        if frame is None:
            raise self.fail(step, f"{value} refers to a capture that did not happen")
        found = get_path(frame, value.path)
        if found is MISSING:
            raise self.fail(step, f"{value}: the captured frame has no {'.'.join(value.path)}")
        return found

    def session_for(self, step: Send) -> str:
        if step.session is not None:
            return str(self.resolve(step, step.session))
        user = step.conn.split("#")[0]
        session = self.user_session.get(user) or self.latest.get("sessionId")
        if session is None:
            raise self.fail(
                step,
                f"{user} has seen no session id yet; expect the invite first, or give session=...",
            )
        return str(session)

    # -- steps -------------------------------------------------------------------------------

    async def _send(self, step: Send) -> None:
        sock = self.sockets[step.conn]
        if step.action == "send":
            text = step.raw or ""
        else:
            body: dict[str, Any]
            if step.action == "invite":
                body = {"action": "invite", "to": self.resolve(step, step.to)}
            elif step.action in ("accept", "reject"):
                body = {
                    "action": "response",
                    "sessionId": self.session_for(step),
                    "accept": step.action == "accept",
                }
            elif step.action == "stop":
                body = {"action": "stop", "sessionId": self.session_for(step)}
            else:
                body = {"action": step.action}
            if step.request_id is not None:
                body["requestId"] = step.request_id
            text = json.dumps(body, separators=(",", ":"))
        try:
            await sock.send_text(text)
        except ConnectionError:
            raise self.fail(step, f"{step.conn}'s connection is closed; nothing was sent") from None
        data = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(text)
            data = parsed if isinstance(parsed, dict) else None
        self.record(step.conn, "send", text, data)

    def _failed_check(
        self, step: Expect, data: dict[str, Any] | None, resolved: list[Any]
    ) -> str | None:
        """The first check `data` fails, described; None when all pass."""
        for check, expected in zip(step.checks, resolved, strict=True):
            actual = get_path(data, check.path) if data is not None else MISSING
            name = ".".join(check.path)
            if check.op == "absent" and actual is not MISSING:
                return f"{name}: expected absent, got {show(actual)}"
            if check.op == "present" and actual is MISSING:
                return f"{name}: expected present, got (absent)"
            if check.op == "eq" and (actual is MISSING or not same_value(actual, expected)):
                return f"{name}: expected {show(expected)}, got {show(actual)}"
            if check.op == "ne" and actual is not MISSING and same_value(actual, expected):
                return f"{name}: expected anything but {show(expected)}, got {show(actual)}"
        return None

    def _describe_expect(self, step: Expect, resolved: list[Any]) -> str:
        parts = [step.frame_type]
        for check, value in zip(step.checks, resolved, strict=True):
            if check.op in ("eq", "ne") and isinstance(check.value, Ref):
                parts.append(f"{check.text} (= {show(value)})")
            else:
                parts.append(check.text)
        if step.same:
            parts.append("same=" + ",".join(step.same))
        return " ".join(parts) + f" within {step.within:g}s"

    def _received(self, sock: DuelSocket, step: Expect | None, resolved: list[Any]) -> list[str]:
        pending = sock.pending()
        lines: list[str] = []
        for frame in pending[-8:]:
            line = f"{sock.name} ← {frame.text}"
            if step is not None and (step.frame_type in ("any", frame.type)):
                why = self._failed_check(step, frame.data, resolved)
                if why:
                    line += f"   [{why}]"
            lines.append(line)
        if not lines:
            lines.append(f"{sock.name} ← (no unmatched frames)")
        if not sock.is_open:
            lines.append(f"{sock.name}: connection closed ({sock.close_code})")
        return lines

    async def _expect(self, step: Expect) -> None:
        resolved = [self.resolve(step, c.value) for c in step.checks]

        def match(frame: Frame) -> bool:
            if step.frame_type != "any" and frame.type != step.frame_type:
                return False
            return self._failed_check(step, frame.data, resolved) is None

        socks = [self.sockets[c] for c in step.conns]
        found = await asyncio.gather(*(s.wait_for(match, step.within) for s in socks))
        missing = [s for s, f in zip(socks, found, strict=True) if f is None]
        if missing:
            who = ", ".join(s.name for s in missing)
            received: list[str] = []
            for sock in missing:
                received += self._received(sock, step, resolved)
            raise self.fail(
                step,
                f"{who} received no matching {step.frame_type} within {step.within:g}s",
                expected=self._describe_expect(step, resolved),
                received=received,
            )
        frames = [f for f in found if f is not None]
        for name in step.same:
            values = [get_path(f.data, (name,)) for f in frames]
            if any(v is MISSING for v in values) or any(v != values[0] for v in values):
                raise self.fail(
                    step,
                    f"{name} differs between {', '.join(step.conns)}",
                    expected=f"the same {name} for all of {', '.join(step.conns)}",
                    received=[
                        f"{s.name}: {name}={show(v)}" for s, v in zip(socks, values, strict=True)
                    ],
                )
        if step.capture is not None and frames[0].data is not None:
            self.captures[step.capture] = frames[0].data
        self.record("", "ok", f"line {step.where.line}: {step.text}")

    async def _expect_nothing(self, step: ExpectNothing) -> None:
        socks = [self.sockets[c] for c in step.conns]
        for sock in socks:
            if sock.pending():
                raise self.fail(
                    step,
                    f"{sock.name} had already received a frame no step expected",
                    expected=f"no frame for {', '.join(step.conns)} within {step.within:g}s",
                    received=self._received(sock, None, []),
                )
        found = await asyncio.gather(*(s.wait_for(lambda f: True, step.within) for s in socks))
        for sock, frame in zip(socks, found, strict=True):
            if frame is not None:
                raise self.fail(
                    step,
                    f"{sock.name} received a frame within {step.within:g}s",
                    expected=f"no frame for {', '.join(step.conns)} within {step.within:g}s",
                    received=[f"{sock.name} ← {frame.text}"],
                )
        self.record("", "ok", f"line {step.where.line}: {step.text}")

    async def _wait(self, step: Wait) -> None:
        if step.seconds is not None:
            self.record("", "wait", f"wait {step.seconds:g}s")
            await asyncio.sleep(step.seconds)
            return
        assert step.until is not None
        value = self.resolve(step, step.until)
        deadline = parse_time(value)
        if deadline is None:
            raise self.fail(step, f"{step.until} is {show(value)}, not a time")
        delay = deadline - time.time()
        if delay > self.max_wait_s:
            raise self.fail(
                step,
                f"{step.until} is {delay:.0f}s away, more than the {self.max_wait_s:g}s this run "
                "waits; the stack's timers are longer than this scenario's (start it with the "
                "scenario's parameters, or let duelctl start an embedded stack)",
                expected=f"a wait of at most {self.max_wait_s:g}s",
                received=[f"{step.until} = {value}"],
            )
        self.record("", "wait", f"wait until {value} ({max(delay, 0) * 1000:.0f} ms)")
        if delay > 0:
            await asyncio.sleep(delay)

    async def _connect(self, step: Connect) -> None:
        user = step.conn.split("#")[0]
        identity = self.identities[user]
        if step.token == "valid":
            await self._open(step, step.conn, identity.token)
            return
        token = {"none": None, "garbage": "not-a-jwt", "forged": None}[step.token]
        if step.token == "forged":
            token = await asyncio.to_thread(forged_copy, identity.token)
        try:
            sock = await DuelSocket.open(self.endpoints.websocket_url, token, step.conn)
        except HandshakeRefused as exc:
            self.record(
                step.conn, "refused", f"handshake refused: HTTP {exc.status} (token={step.token})"
            )
            ok = exc.status == step.status if step.status is not None else exc.status in (401, 403)
            if not ok:
                wanted = str(step.status) if step.status is not None else "401 or 403"
                raise self.fail(
                    step,
                    f"the handshake was refused with HTTP {exc.status}, not {wanted}",
                    expected=f"HTTP {wanted}",
                    received=[f"HTTP {exc.status} {exc.body.strip()}"[:300]],
                ) from None
            return
        await sock.close()
        raise self.fail(
            step,
            f"the handshake with token={step.token} was accepted; it must be refused",
            expected=f"HTTP {step.status or '401 or 403'}",
            received=["101 Switching Protocols (the socket opened)"],
        )
