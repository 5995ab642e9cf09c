"""The clock control API on the stack's HTTP origin: read the clock, move it, wait on it.

Routes (all JSON; the protocol is described in README "Virtual time" and in full in
docs/protocol.md, "Clock control"):

- `GET /_duelctl/clock` -> `{"mode", "now", "now_ms", "offset_s", ...}` on any stack.
- `POST /_duelctl/clock/advance {"seconds"}` and `POST /_duelctl/clock/set {"time"}`:
  move a virtual clock forward, through everything due on the way; 200 with the new
  clock, 400 for a time in the past, 409 on a real clock, 503 if the stack never got
  quiet within `max_s` (default 30 s).
- `POST /_duelctl/clock/clients {"name"}` -> 201 `{"client", "lease_s"}`: a client that
  steps through a scenario; time never jumps while it is registered and not waiting.
- `POST /_duelctl/clock/clients/{id}/wait {"until_ms", "connections", "max_s"}` ->
  `{"reason", "now", "now_ms", "offset_s", "connections"}`: wait until `until_ms` on the
  stack's clock or until the stack sends something on one of `connections`.
- `DELETE /_duelctl/clock/clients/{id}` -> 204.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator.clock import Clock
from emulator.virtual.advancer import Advancer, Backwards, UnknownClient
from emulator.virtual.peers import ClientConnection

PREFIX = "/_duelctl/clock"
NOT_VIRTUAL = (
    "this stack runs on the real clock; start it with `duelctl up --clock virtual` to move time"
)


def iso(epoch_s: float) -> str:
    """A wire time: `2026-01-01T00:00:00.000Z` (docs/protocol.md's format)."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """Epoch seconds of an ISO 8601 time; naive times are UTC. ValueError if malformed."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class BadRequest(Exception):
    """The request cannot be served; the message is the 400's body."""


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{key} must be a number")
    return float(value)


def _connections(raw: object) -> list[ClientConnection]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("connections must be a list")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest("each connection is an object {port, sent, received, open}")
        try:
            out.append(
                ClientConnection(
                    port=int(item["port"]),
                    sent=int(item.get("sent", 0)),
                    received=int(item.get("received", 0)),
                    open=bool(item.get("open", True)),
                )
            )
        except (KeyError, TypeError, ValueError):
            raise BadRequest("each connection needs an integer port") from None
    return out


class ClockApi:
    """Serves `/_duelctl/clock*`; `advancer` is None on a real-clock stack."""

    def __init__(self, clock: Clock, advancer: Advancer | None = None) -> None:
        self.clock = clock
        self.advancer = advancer

    @staticmethod
    def matches(raw_path: str) -> bool:
        path = raw_path.split("?", 1)[0]
        return path == PREFIX or path.startswith(PREFIX + "/")

    def state(self) -> dict[str, Any]:
        now = self.clock.now()
        body: dict[str, Any] = {
            "mode": "virtual" if self.advancer is not None else "real",
            "now": iso(now),
            "now_ms": int(now * 1000),
            "offset_s": round(getattr(self.clock, "offset", 0.0), 3),
        }
        if self.advancer is not None:
            body.update(self.advancer.status())
        return body

    async def handle(self, request: web.Request) -> web.Response:
        parts = [p for p in request.path[len(PREFIX) :].split("/") if p]
        try:
            body = await self._body(request)
            return await self._route(request.method, parts, body)
        except BadRequest as exc:
            return web.json_response({"message": str(exc)}, status=400)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if request.method not in ("POST", "PUT"):
            return {}
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    async def _route(self, method: str, parts: list[str], body: dict[str, Any]) -> web.Response:
        if not parts:
            if method not in ("GET", "HEAD"):
                return _error(405, "use GET")
            return web.json_response(self.state(), headers={"Cache-Control": "no-store"})
        advancer = self.advancer
        known = parts[0] in ("advance", "set", "clients")
        if not known:
            return _error(404, f"no clock route {'/'.join(parts)!r}")
        if advancer is None:
            return _error(409, NOT_VIRTUAL)
        if parts in (["advance"], ["set"]):
            if method != "POST":
                return _error(405, "use POST")
            return await self._move(advancer, parts[0], body)
        if parts == ["clients"] and method == "POST":
            name = body.get("name", "")
            client = advancer.register(str(name)[:100])
            return web.json_response({"client": client, "lease_s": 30}, status=201)
        if len(parts) == 2 and method == "DELETE":
            found = advancer.unregister(parts[1])
            return web.Response(status=204) if found else _error(404, "no such client")
        if len(parts) == 3 and parts[2] == "wait" and method == "POST":
            return await self._wait(advancer, parts[1], body)
        return _error(405, "unsupported method for this clock route")

    async def _move(self, advancer: Advancer, how: str, body: dict[str, Any]) -> web.Response:
        now = self.clock.now()
        if how == "advance":
            seconds = _number(body, "seconds")
            if seconds < 0:
                raise BadRequest(
                    f"time only moves forward: cannot go back {-seconds:g}s "
                    f"(the stack's clock is at {iso(now)})"
                )
            target = now + seconds
        else:
            text = body.get("time")
            if not isinstance(text, str):
                raise BadRequest('give the new time as {"time": "2026-01-01T12:00:00Z"}')
            try:
                target = parse_iso(text)
            except ValueError:
                raise BadRequest(f"not an ISO 8601 time: {text!r}") from None
        max_s = _number(body, "max_s") if "max_s" in body else 30.0
        try:
            reached = await advancer.advance_to(target, max_s=max_s)
        except Backwards:
            raise BadRequest(
                f"time only moves forward: {iso(target)} is before the stack's clock "
                f"({iso(self.clock.now())})"
            ) from None
        if not reached:
            why = advancer.not_quiet() or "it did not get quiet"
            return _error(
                503,
                f"the stack did not get quiet within {max_s:g}s ({why}); "
                f"its clock is at {iso(self.clock.now())}",
            )
        return web.json_response(self.state())

    async def _wait(self, advancer: Advancer, client: str, body: dict[str, Any]) -> web.Response:
        until = _number(body, "until_ms") / 1000
        conns = _connections(body.get("connections"))
        max_s = _number(body, "max_s") if "max_s" in body else 20.0
        try:
            reason = await advancer.wait(client, until=until, connections=conns, max_s=max_s)
        except UnknownClient:
            return _error(404, f"unknown client {client!r} (register again)")
        now = self.clock.now()
        seen = []
        for conn in conns:
            peer = advancer.probe.peer(conn.port)
            if peer is not None:
                seen.append(
                    {
                        "port": conn.port,
                        "frames_to_client": peer.sent,
                        "frames_from_client": peer.received,
                        "open": peer.open,
                    }
                )
        return web.json_response(
            {
                "reason": reason,
                "now": iso(now),
                "now_ms": int(now * 1000),
                "offset_s": getattr(self.clock, "offset", 0.0),
                "connections": seen,
            }
        )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


__all__ = ["PREFIX", "ClockApi", "iso", "parse_iso"]
