"""Play one scenario against a stack over real WebSockets and record what happened.

The engine is the only interpreter of scenario steps: `duelctl run` feeds it files,
`duelctl simulate` feeds it built-in scenarios. It stops at the first step that does
not hold and reports that step's file:line with what was expected and what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from duelctl.client.auth import Identity, TokenSource, forged_copy
from duelctl.client.ws import DuelSocket, Frame, HandshakeRefused
from duelctl.scenario.cleanup import CLEANUP_WAIT_S, end_sessions
from duelctl.scenario.clock import Connection, RealTime, StackTime
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
from duelctl.scenario.results import (
    MISSING,
    Event,
    EventKind,
    Failure,
    Result,
    StepFailed,
    get_path,
    parameter_notes,
    parse_time,
    same_value,
    show,
)
from duelctl_endpoints import Endpoints

# A connection quiet this long (stack seconds) during a wait gets a `ping`, as a real
# client keeps its socket alive: API Gateway closes one idle for 10 minutes (docs/
# aws-behaviour.md §6), and a default 10-minute duel is longer than that.
KEEPALIVE_S = 300.0
KEEPALIVE_EARLY_S = 60.0  # sockets this close to their ping go with the first one due
KEEPALIVE_ID = "duelctl-keepalive"  # requestId of those pings; their pongs are consumed


class ScenarioRunner:
    """Runs one scenario; create one per run (it holds that run's sockets and captures).

    `stack_time` is the clock the run waits on (scenario/clock.py): real time, or a
    virtual stack's clock, which then moves straight to whatever the run waits for.
    """

    def __init__(
        self,
        scenario: Scenario,
        endpoints: Endpoints,
        tokens: TokenSource,
        *,
        usernames: Mapping[str, str] | None = None,
        stack_parameters: Mapping[str, str] | None = None,
        max_wait_s: float = 60.0,
        stack_time: StackTime | None = None,
    ) -> None:
        self.scenario = scenario
        self.endpoints = endpoints
        self.tokens = tokens
        self.usernames = {u: (usernames or {}).get(u, u) for u in scenario.all_users}
        self.stack_parameters = dict(stack_parameters or {})
        self.notes = parameter_notes(scenario, stack_parameters)
        self.max_wait_s = max_wait_s
        self.time: StackTime = stack_time if stack_time is not None else RealTime()
        self.identities: dict[str, Identity] = {}
        self.sockets: dict[str, DuelSocket] = {}
        self.opened: list[DuelSocket] = []  # every socket of this run, closed ones too
        self.sent: dict[DuelSocket, int] = {}  # frames sent per socket
        self.last_sent: dict[DuelSocket, float] = {}  # stack time of the last one
        self.events: list[Event] = []
        self.captures: dict[str, dict[str, Any]] = {}
        self.latest: dict[str, Any] = {}  # sessionId and time fields, latest seen by anyone
        self.user_session: dict[str, str] = {}  # user -> latest sessionId it saw
        self.t0 = self.time.now()
        self.names_by_id: dict[str, str] = {}
        # Frames read while a wait is pending: stamped again once the wait says where the
        # stack's clock went (a virtual stack may jump during a wait, never after a frame).
        self._provisional: list[Event] | None = None

    # -- bookkeeping ------------------------------------------------------------------------

    def elapsed_ms(self) -> float:
        return (self.time.now() - self.t0) * 1000

    def record(
        self, who: str, kind: EventKind, text: str, data: dict[str, Any] | None = None
    ) -> None:
        self.events.append(Event(self.elapsed_ms(), who, kind, text, data))

    def _on_frame(self, sock: DuelSocket, frame: Frame) -> None:
        event = Event(self.elapsed_ms(), sock.name, "recv", frame.text, frame.data)
        self.events.append(event)
        if self._provisional is not None:
            self._provisional.append(event)
        data = frame.data or {}
        if data.get("type") == "pong" and data.get("requestId") == KEEPALIVE_ID:
            frame.consumed = True  # our own keep-alive, not the scenario's
        session_id = data.get("sessionId")
        if isinstance(session_id, str):
            self.latest["sessionId"] = session_id
            self.user_session[sock.name.split("#")[0]] = session_id
        for key in ("startAt", "endsAt", "expiresAt", "expireAt"):
            if isinstance(data.get(key), str):
                self.latest[key] = data[key]
        self.time.frame_arrived()

    def _on_close(self, sock: DuelSocket) -> None:
        if not sock.closed_by_us:
            reason = f" {sock.close_reason}" if sock.close_reason else ""
            self.record(sock.name, "closed", f"closed by the server: {sock.close_code}{reason}")
        self.time.frame_arrived()

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

    # -- waiting -----------------------------------------------------------------------------

    def connections(self) -> list[Connection]:
        """Every socket of this run as the stack's clock needs to know it (clock.py)."""
        out = []
        for sock in self.opened:
            address = sock.ws.local_address
            if not address:
                continue
            out.append(
                Connection(
                    port=int(address[1]),
                    sent=self.sent.get(sock, 0),
                    received=len(sock.frames),
                    open=sock.is_open and not sock.closed_by_us,
                )
            )
        return out

    async def wait_until(self, deadline: float) -> None:
        """Wait until a frame or close arrives, or the stack's clock reaches `deadline`.

        Sockets quiet for KEEPALIVE_S get a `ping` first, as a live client's would; a
        ping returns at once, so the caller looks at what arrived while it was sent.
        """
        due, pinged = await self._keep_alive()
        if pinged:
            return
        deadline = min(deadline, due)
        before = self.time.offset
        self._provisional = []
        try:
            await self.time.wait(deadline, self.connections)
        finally:
            moved_ms = (self.time.offset - before) * 1000
            for event in self._provisional:
                event.t_ms += moved_ms
            self._provisional = None

    async def _keep_alive(self) -> tuple[float, bool]:
        """Ping the sockets quiet for KEEPALIVE_S; return when the next ping is due and
        whether one was sent now.

        Once one is due, those due within KEEPALIVE_EARLY_S go along, so a long wait
        pings all its sockets at once rather than one after another.
        """
        now = self.time.now()
        due = math.inf
        open_socks = [(c, s) for c, s in self.sockets.items() if s.is_open]
        quiet = [now - self.last_sent.get(s, now) for _, s in open_socks]
        threshold = KEEPALIVE_S - KEEPALIVE_EARLY_S if quiet and max(quiet) >= KEEPALIVE_S else None
        pinged = False
        for conn, sock in open_socks:
            quiet_since = self.last_sent.get(sock, now)
            if threshold is not None and now - quiet_since >= threshold:
                body = {"action": "ping", "requestId": KEEPALIVE_ID}
                text = json.dumps(body, separators=(",", ":"))
                with contextlib.suppress(ConnectionError):
                    await self.send_text(sock, text)
                    self.record(conn, "send", text, body)
                    pinged = True
                quiet_since = now
            due = min(due, quiet_since + KEEPALIVE_S)
        return due, pinged

    async def send_text(self, sock: DuelSocket, text: str) -> None:
        await sock.send_text(text)
        self.sent[sock] = self.sent.get(sock, 0) + 1
        self.last_sent[sock] = self.time.now()

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> Result:
        """Play every step; the first that does not hold ends the run with a Failure.

        A run that fails or is interrupted ends the sessions its users are still in
        (cleanup.py), so the next run with the same users does not meet user_busy.
        """
        wall_start = time.monotonic()
        self.t0 = self.time.now()
        failure: Failure | None = None
        steps_run = 0
        for note in self.notes:
            self.record("", "note", note)
        try:
            try:
                await self._setup()
                for step in self.scenario.steps:
                    await self._step(step)
                    steps_run += 1
            except StepFailed as exc:
                failure = exc.failure
                await end_sessions(self)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(end_sessions(self), 2 * CLEANUP_WAIT_S)
                raise
        finally:
            await asyncio.gather(
                *(s.close() for s in self.sockets.values()), return_exceptions=True
            )
        return Result(
            scenario=self.scenario,
            failure=failure,
            events=sorted(self.events, key=lambda e: e.t_ms),
            duration_s=self.time.now() - self.t0,
            users=dict(self.usernames),
            user_ids={u: i.user_id for u, i in self.identities.items()},
            steps_run=steps_run,
            notes=list(self.notes),
            clock=self.time.mode,
            wall_s=time.monotonic() - wall_start,
            started_at=self.t0,
        )

    async def _setup(self) -> None:
        users = self.scenario.all_users
        found = await asyncio.gather(*(self.tokens.identity(self.usernames[u]) for u in users))
        self.identities = dict(zip(users, found, strict=True))
        self.names_by_id = {i.user_id: u for u, i in self.identities.items()}
        for user in self.scenario.users:
            await self.open_connection(None, user, self.identities[user].token)

    async def open_connection(self, step: Step | None, conn: str, token: str | None) -> DuelSocket:
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
        self.opened.append(sock)
        self.last_sent[sock] = self.time.now()  # AWS: the idle timer starts at connect
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
            name = value.path[0]
            if name in self.scenario.parameters:
                return self.scenario.parameters[name]
            if name in self.stack_parameters:
                return self.stack_parameters[name]
            raise self.fail(
                step,
                f"{value}: the scenario does not set {name} and the stack's parameters are "
                "unknown (name it under `parameters:`)",
            )
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
            await self.send_text(sock, text)
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

    @staticmethod
    def take(sock: DuelSocket, match: Callable[[Frame], bool]) -> Frame | None:
        """Consume the first unconsumed frame `match` accepts (no waiting)."""
        for frame in sock.frames:
            if not frame.consumed and match(frame):
                frame.consumed = True
                return frame
        return None

    async def _expect(self, step: Expect) -> None:
        resolved = [self.resolve(step, c.value) for c in step.checks]

        def match(frame: Frame) -> bool:
            if step.frame_type != "any" and frame.type != step.frame_type:
                return False
            return self._failed_check(step, frame.data, resolved) is None

        socks = [self.sockets[c] for c in step.conns]
        found: list[Frame | None] = [None] * len(socks)
        deadline = self.time.now() + step.within
        while True:
            for i, sock in enumerate(socks):
                if found[i] is None:
                    found[i] = self.take(sock, match)
            waiting = [s for s, f in zip(socks, found, strict=True) if f is None]
            # A closed socket receives nothing more: its expectation is decided.
            if not any(s.is_open for s in waiting) or self.time.now() >= deadline:
                break
            await self.wait_until(deadline)
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
        deadline = self.time.now() + step.within
        while True:
            for sock in socks:
                frame = self.take(sock, lambda f: True)
                if frame is not None:
                    raise self.fail(
                        step,
                        f"{sock.name} received a frame within {step.within:g}s",
                        expected=f"no frame for {', '.join(step.conns)} within {step.within:g}s",
                        received=[f"{sock.name} ← {frame.text}"],
                    )
            if not any(s.is_open for s in socks) or self.time.now() >= deadline:
                break
            await self.wait_until(deadline)
        self.record("", "ok", f"line {step.where.line}: {step.text}")

    async def _wait(self, step: Wait) -> None:
        if step.seconds is not None:
            self.record("", "wait", f"wait {step.seconds:g}s")
            deadline = self.time.now() + step.seconds
        else:
            assert step.until is not None
            value = self.resolve(step, step.until)
            parsed = parse_time(value)
            if parsed is None:
                raise self.fail(step, f"{step.until} is {show(value)}, not a time")
            deadline = parsed
            delay = deadline - self.time.now()
            # On a virtual stack a wait costs nothing: the clock jumps there.
            if self.time.mode == "real" and delay > self.max_wait_s:
                raise self.fail(
                    step,
                    f"{step.until} is {delay:.0f}s away, more than the {self.max_wait_s:g}s "
                    "this run waits; the stack's timers are longer than this scenario's (start "
                    "it with `duelctl up --clock virtual`, or with the scenario's parameters, "
                    "or let duelctl start an embedded stack)",
                    expected=f"a wait of at most {self.max_wait_s:g}s",
                    received=[f"{step.until} = {value}"],
                )
            self.record("", "wait", f"wait until {value} ({max(delay, 0) * 1000:.0f} ms)")
        while self.time.now() < deadline:
            await self.wait_until(deadline)

    async def _connect(self, step: Connect) -> None:
        user = step.conn.split("#")[0]
        identity = self.identities[user]
        if step.token == "valid":
            await self.open_connection(step, step.conn, identity.token)
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


__all__ = [
    "KEEPALIVE_ID",
    "MISSING",
    "Event",
    "EventKind",
    "Failure",
    "Result",
    "ScenarioRunner",
    "StepFailed",
    "get_path",
    "parameter_notes",
    "parse_time",
    "same_value",
    "show",
]
