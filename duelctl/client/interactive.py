"""The client behind `duelctl connect USER`: interactive, like wscat but aware of the protocol.

Lines typed are actions (`invite bob`, `accept`, `reject`, `stop`, `ping`, `state`, raw
JSON); incoming frames print as they arrive; during a duel a countdown prints the time
left. stdin is read by a thread (input() blocks) that hands lines to the event loop.

Sessions: the client keeps the sessions it has heard of (from `state` and from session
frames). `accept`, `reject` and `stop` without an id pick the user's current one, asking
the server with `state` first when it knows none (a fresh connection into a session
left running elsewhere); an id may be given whole or as a unique prefix (`state` lists
whole ids, the frame lines show the first 8 characters).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import threading
import time
from typing import Any

from rich.markup import escape

from duelctl import console
from duelctl.client.auth import Identity, TokenSource
from duelctl.client.http import fetch_online
from duelctl.client.ws import DuelSocket, Frame, HandshakeRefused
from duelctl.errors import AuthRejected, DuelctlError, TargetUnreachable
from duelctl.scenario.engine import Event, parse_time
from duelctl.scenario.parse import tokenize, unquote
from duelctl.scenario.render import summarize
from duelctl_endpoints import Endpoints

HELP = """\
[bold]invite[/] USER        invite a user (name from /online, or a user id)
[bold]accept[/] / [bold]reject[/]   answer the invite to you (or: accept ID; an id prefix will do)
[bold]stop[/]               end your duel, or withdraw your invite (or: stop ID)
[bold]ping[/] / [bold]state[/]      keep-alive / your pending and active sessions, with their ids
[bold]online[/]             who is online
{"action": ...}    send raw JSON (anything starting with { or [ goes as typed)
[bold]send[/] TEXT          send TEXT verbatim
add requestId=ID to any action; [bold]quit[/] or Ctrl-D leaves"""

ENDED = ("rejected", "no_response", "stop", "timeout")  # frames that end a session


class Interactive:
    """One user's interactive session over one connection."""

    def __init__(self, endpoints: Endpoints, tokens: TokenSource, username: str) -> None:
        self.endpoints = endpoints
        self.tokens = tokens
        self.username = username
        self.me: Identity | None = None
        self.sock: DuelSocket | None = None
        self.names_by_id: dict[str, str] = {}
        self.sessions: dict[str, dict[str, Any]] = {}  # sessionId -> what we know of it
        self._state_requests = 0
        self.duel: tuple[str, float, float] | None = None  # sessionId, startAt, endsAt
        self.countdown: asyncio.Task[None] | None = None
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()
        self.server_closed = False

    # -- incoming ---------------------------------------------------------------------------

    def on_frame(self, sock: DuelSocket, frame: Frame) -> None:
        data = frame.data or {}
        for id_key, name_key in (("from", "fromUsername"), ("to", "toUsername")):
            if isinstance(data.get(id_key), str) and isinstance(data.get(name_key), str):
                self.names_by_id[data[id_key]] = data[name_key]
        self.track(data)
        event = Event(0, sock.name, "recv", frame.text, frame.data)
        line = summarize(event, self.names_by_id)
        line.stylize("green", 0, len(str(data.get("type", ""))))
        console.out.print("[green]←[/] ", line, sep="", soft_wrap=True)
        kind = data.get("type")
        if kind == "state":
            for view in self.sessions.values():
                console.out.print(f"  {escape(self.describe(view))}", soft_wrap=True)
        if kind == "start":
            start, ends = parse_time(data.get("startAt")), parse_time(data.get("endsAt"))
            if start is not None and ends is not None:
                self.duel = (str(data.get("sessionId")), start, ends)
                self._restart_countdown()
        elif kind in ("stop", "timeout") and self.duel and data.get("sessionId") == self.duel[0]:
            self.duel = None
            if self.countdown is not None:
                self.countdown.cancel()

    def on_close(self, sock: DuelSocket) -> None:
        if not sock.closed_by_us:
            self.server_closed = True
            reason = f" {sock.close_reason}" if sock.close_reason else ""
            console.err.print(
                f"[magenta]connection closed by the server ({sock.close_code}{reason})[/]"
            )
            self.lines.put_nowait(None)

    def _restart_countdown(self) -> None:
        if self.countdown is not None:
            self.countdown.cancel()
        self.countdown = asyncio.create_task(self._count_down())

    async def _count_down(self) -> None:
        """Print the time left: every minute, every 10 s in the last minute, then each second."""
        while self.duel is not None:
            _, start, ends = self.duel
            now = time.time()
            if now < start:
                console.out.print(f"[bold yellow]⏱ duel starts in {math.ceil(start - now)}s[/]")
                await asyncio.sleep(min(1.0, start - now))
                continue
            left = ends - now
            if left <= 0:
                console.out.print("[bold yellow]⏱ time is up (waiting for the server's timeout)[/]")
                return
            whole = math.ceil(left)
            console.out.print(f"[bold yellow]⏱ {whole // 60}:{whole % 60:02d} left[/]")
            step = 1 if left <= 10 else 10 if left <= 60 else 60
            next_mark = (math.ceil(left / step) - 1) * step
            await asyncio.sleep(max(left - next_mark, 0.05))

    # -- sessions ---------------------------------------------------------------------------

    def track(self, data: dict[str, Any]) -> None:
        """Keep `self.sessions` in step with a received frame.

        Frames per docs/protocol.md, "Server → client": `state` lists the pending and
        active sessions; `invite`/`invite_sent`/`start` add or update one; the ending
        frames remove it.
        """
        kind = data.get("type")
        if kind == "state" and isinstance(data.get("sessions"), list):
            self.sessions = {
                str(view["sessionId"]): dict(view)
                for view in data["sessions"]
                if isinstance(view, dict) and isinstance(view.get("sessionId"), str)
            }
            return
        session = data.get("sessionId")
        if not isinstance(session, str):
            return
        me = self.me.user_id if self.me else None
        view = self.sessions.setdefault(session, {"sessionId": session})
        if kind == "invite":
            view.update(userA=data.get("from"), userB=me, status="pending")
        elif kind == "invite_sent":
            view.update(userA=me, userB=data.get("to"), status="pending")
        elif kind == "start":
            view.update(status="active", userA=data.get("userA"), userB=data.get("userB"))
        elif kind in ENDED:
            self.sessions.pop(session, None)
        for key in ("expiresAt", "startAt", "endsAt"):
            if isinstance(data.get(key), str):
                view[key] = data[key]

    def describe(self, view: dict[str, Any]) -> str:
        """One session as `state` lists it: the whole id, status, the other user, deadline."""
        me = self.me.user_id if self.me else None
        other = view.get("userB") if view.get("userA") == me else view.get("userA")
        name = self.names_by_id.get(str(other), str(other)) if other else "?"
        status = str(view.get("status", "?"))
        if status == "pending":
            role = "you invited" if view.get("userA") == me else "invited by"
            until = f"expires {view.get('expiresAt', '?')}"
        else:
            role = "dueling"
            until = f"ends {view.get('endsAt', '?')}"
        return f"{view['sessionId']}  {status}  {role} {name}  {until}"

    def current(self, verb: str) -> str | None:
        """The session `verb` acts on when no id is given (None: none that fits)."""
        me = self.me.user_id if self.me else None
        views = list(self.sessions.values())
        if verb == "stop":
            candidates = [v for v in views if v.get("status") == "active"]
            candidates = candidates or [
                v for v in views if v.get("status") == "pending" and v.get("userA") == me
            ]
        else:  # accept / reject answer an invite to me
            candidates = [v for v in views if v.get("status") == "pending" and v.get("userB") == me]
        return str(candidates[-1]["sessionId"]) if candidates else None

    def expand(self, given: str) -> str | list[str] | None:
        """The known id `given` is, or is the start of; a list when several match."""
        prefix = given.rstrip("…").lower()
        matches = [s for s in self.sessions if s.lower().startswith(prefix)]
        if prefix in matches or len(matches) == 1:
            return prefix if prefix in matches else matches[0]
        return matches or None

    async def refresh_sessions(self, timeout_s: float = 5.0) -> None:
        """Ask the server for `state` and wait for the answer (it updates `sessions`)."""
        assert self.sock is not None
        self._state_requests += 1
        request_id = f"duelctl-state-{self._state_requests}"
        body = {"action": "state", "requestId": request_id}
        await self.send_text(json.dumps(body, separators=(",", ":")))
        await self.sock.wait_for(
            lambda f: f.type == "state" and (f.data or {}).get("requestId") == request_id,
            timeout_s,
        )

    async def session_for(self, verb: str, given: str | None) -> str | None:
        """The session id to send for `verb`, or None after saying why there is none."""
        if given is not None:
            found = self.expand(given)
            if found is None:  # perhaps a session this connection has not heard of yet
                await self.refresh_sessions()
                found = self.expand(given)
            if isinstance(found, list):
                console.warn(f"{given!r} matches several sessions: {', '.join(found)}")
                return None
            return found or given.rstrip("…")  # unknown here: the server will say
        chosen = self.current(verb)
        if chosen is None:
            await self.refresh_sessions()
            chosen = self.current(verb)
        if chosen is None:
            what = "active duel or invite of yours" if verb == "stop" else "invite to you"
            console.warn(f"no {what} to {verb}; `state` lists your sessions")
        return chosen

    # -- outgoing ---------------------------------------------------------------------------

    async def resolve_user(self, name: str) -> str:
        """A username's userId from /online; an unknown name is sent as given (maybe an id)."""
        assert self.me is not None
        users = await fetch_online(self.endpoints.http_url, self.me.token)
        for user in users:
            if str(user.get("username", "")).lower() == name.lower():
                self.names_by_id[str(user.get("userId"))] = str(user.get("username"))
                return str(user.get("userId"))
        console.warn(f"{name} is not online; sending it as a user id")
        return name

    async def handle(self, line: str) -> bool:
        """Act on one typed line; False means quit."""
        text = line.strip()
        if not text:
            return True
        if text in ("quit", "exit"):
            return False
        if text in ("help", "?"):
            console.err.print(HELP)
            return True
        if text.startswith(("{", "[")) or text.startswith("send "):
            await self.send_text(text.removeprefix("send ").strip())
            return True
        try:
            words = tokenize(text)
        except ValueError as exc:
            console.warn(str(exc))
            return True
        verb, args = words[0], words[1:]
        options = {k: unquote(v)[0] for k, _, v in (a.partition("=") for a in args if "=" in a)}
        plain = [a for a in args if "=" not in a]
        body: dict[str, Any]
        if verb == "online":
            await self.show_online()
            return True
        if verb == "invite":
            if not plain:
                console.warn("invite whom? e.g. `invite bob`")
                return True
            body = {"action": "invite", "to": await self.resolve_user(plain[0])}
        elif verb in ("accept", "reject", "stop"):
            session = await self.session_for(verb, plain[0] if plain else None)
            if session is None:
                return True
            if verb == "stop":
                body = {"action": "stop", "sessionId": session}
            else:
                body = {"action": "response", "sessionId": session, "accept": verb == "accept"}
        elif verb in ("ping", "state"):
            body = {"action": verb}
        else:
            console.warn(f"unknown command {verb!r}; type help")
            return True
        if "requestId" in options:
            body["requestId"] = options["requestId"]
        await self.send_text(json.dumps(body, separators=(",", ":")))
        return True

    async def send_text(self, text: str) -> None:
        assert self.sock is not None
        try:
            await self.sock.send_text(text)
        except ConnectionError as exc:
            console.warn(str(exc))
            return
        console.out.print(f"[cyan]→[/] {escape(text)}", soft_wrap=True)

    async def show_online(self) -> None:
        from duelctl.client.online import online_table

        assert self.me is not None
        users = await fetch_online(self.endpoints.http_url, self.me.token)
        for user in users:
            self.names_by_id[str(user.get("userId"))] = str(user.get("username"))
        console.out.print(online_table(users))

    # -- main loop ---------------------------------------------------------------------------

    def _read_lines(self, loop: asyncio.AbstractEventLoop) -> None:
        prompt = f"[bold]{escape(self.username)}>[/] "
        interactive = sys.stdin.isatty()
        while True:
            line: str | None
            try:
                line = console.err.input(prompt) if interactive else sys.stdin.readline()
            except (EOFError, KeyboardInterrupt):
                line = None
            if line is None or (not interactive and line == ""):  # EOF
                loop.call_soon_threadsafe(self.lines.put_nowait, None)
                return
            loop.call_soon_threadsafe(self.lines.put_nowait, line)

    async def _drain(self, quiet_s: float = 1.0, cap_s: float = 5.0) -> None:
        """After piped input ends, wait for replies still on their way (until 1 s of quiet)."""
        assert self.sock is not None
        deadline = time.monotonic() + cap_s
        seen = len(self.sock.frames)
        while time.monotonic() < deadline and self.sock.is_open:
            await asyncio.sleep(quiet_s)
            if len(self.sock.frames) == seen:
                return
            seen = len(self.sock.frames)

    async def run(self) -> int:
        self.me = await self.tokens.identity(self.username)
        try:
            self.sock = await DuelSocket.open(
                self.endpoints.websocket_url,
                self.me.token,
                self.username,
                on_frame=self.on_frame,
                on_close=self.on_close,
            )
        except HandshakeRefused as exc:
            raise AuthRejected(
                f"{self.endpoints.websocket_url} refused {self.username}'s token "
                f"(HTTP {exc.status} {exc.body.strip()})"
            ) from None
        self.names_by_id[self.me.user_id] = self.me.username or self.username
        console.err.print(
            f"[green]connected[/] as [bold]{escape(self.me.username or self.username)}[/] "
            f"[dim]({self.me.user_id}) to {self.endpoints.websocket_url} — type help[/]"
        )
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_lines, args=(loop,), daemon=True).start()
        try:
            while True:
                line = await self.lines.get()
                if line is None:
                    break
                try:
                    if not await self.handle(line):
                        break
                except DuelctlError as exc:
                    console.warn(str(exc))
            if not sys.stdin.isatty() and not self.server_closed:
                await self._drain()
        finally:
            if self.countdown is not None:
                self.countdown.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.countdown
            await self.sock.close()
        if self.server_closed:
            raise TargetUnreachable("the server closed the connection")
        return 0
