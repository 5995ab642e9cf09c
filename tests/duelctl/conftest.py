"""Fixtures for duelctl tests that do not need the emulator runtime.

- `cognito`: a real moto server (threaded, 127.0.0.1, free port) with one user pool and
  app client, so token acquisition runs the real boto3 calls.
- `duel_server`: a small scripted WebSocket server speaking enough of the protocol
  (invite, response, stop, ping, state, timeout, errors) to exercise the scenario engine
  and the CLI over real sockets. It is not the backend: the backend's behaviour is
  tested end to end in test_e2e.py against the real emulator.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import jwt
import pytest
from moto.server import ThreadedMotoServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from duelctl_endpoints import Endpoints


@dataclass(frozen=True)
class Cognito:
    url: str
    pool_id: str
    client_id: str


@pytest.fixture(scope="session")
def cognito() -> Iterator[Cognito]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pool = client.create_user_pool(PoolName="duelctl-test")["UserPool"]["Id"]
    app = client.create_user_pool_client(
        UserPoolId=pool,
        ClientName="cli",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    yield Cognito(url=url, pool_id=pool, client_id=app)
    server.stop()


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class ScriptedDuelServer:
    """Enough of the duel protocol to drive the engine; timers are fixed and short."""

    lead_s: float = 0.2
    duel_s: float = 0.5
    conns: dict[ServerConnection, tuple[str, str]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)

    @staticmethod
    def claims(request: Request) -> dict[str, Any] | None:
        token = parse_qs(urlsplit(request.path).query).get("token", [None])[0]
        if token is None:
            return None
        try:
            return dict(jwt.decode(token, options={"verify_signature": False}))
        except jwt.PyJWTError:
            return None

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        claims = self.claims(request)
        if claims is None:
            return conn.respond(401, "Unauthorized\n")
        if str(claims.get("cognito:username", "")).startswith("banned"):
            return conn.respond(403, "Forbidden\n")  # stands in for an authorizer Deny
        return None

    async def send_user(self, user_id: str, frame: dict[str, Any]) -> None:
        for conn, (uid, _) in list(self.conns.items()):
            if uid == user_id:
                await conn.send(json.dumps(frame))

    def username(self, user_id: str) -> str:
        return next((name for uid, name in self.conns.values() if uid == user_id), "")

    async def handler(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        claims = self.claims(conn.request) or {}
        self.conns[conn] = (str(claims["sub"]), str(claims.get("cognito:username", "")))
        try:
            async for message in conn:
                await self.on_message(conn, str(message))
        finally:
            del self.conns[conn]

    async def on_message(self, conn: ServerConnection, text: str) -> None:
        self.received.append(text)
        me, _ = self.conns[conn]
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            await conn.send(json.dumps({"type": "error", "code": "bad_request", "message": "x"}))
            return
        rid = {"requestId": body["requestId"]} if "requestId" in body else {}
        action = body.get("action")
        now = datetime.now(UTC)
        if action == "ping":
            expire = iso(now + timedelta(hours=1))
            await conn.send(json.dumps({"type": "pong", "expireAt": expire, **rid}))
        elif action == "state":
            mine = [s for s in self.sessions.values() if me in (s["userA"], s["userB"])]
            await conn.send(json.dumps({"type": "state", "sessions": mine, **rid}))
        elif action == "invite":
            to = body["to"]
            sid = str(uuid.uuid4())
            expires = iso(now + timedelta(seconds=60))
            self.sessions[sid] = {"sessionId": sid, "userA": me, "userB": to, "status": "pending"}
            await self.send_user(
                me,
                {
                    "type": "invite_sent",
                    "sessionId": sid,
                    "to": to,
                    "toUsername": self.username(to),
                    "expiresAt": expires,
                    **rid,
                },
            )
            await self.send_user(
                to,
                {
                    "type": "invite",
                    "sessionId": sid,
                    "from": me,
                    "fromUsername": self.username(me),
                    "expiresAt": expires,
                },
            )
        elif action in ("response", "stop") and (
            self.sessions.get(body.get("sessionId"), {}).get("status") == "stopped"
            or (action == "response" and self.sessions[body["sessionId"]]["status"] != "pending")
        ):
            await conn.send(
                json.dumps({"type": "error", "code": "invalid_state", "message": "late"})
            )
        elif action == "response":
            session = self.sessions[body["sessionId"]]
            users = (session["userA"], session["userB"])
            if body["accept"]:
                start = now + timedelta(seconds=self.lead_s)
                ends = start + timedelta(seconds=self.duel_s)
                frame = {
                    "type": "start",
                    "sessionId": session["sessionId"],
                    "userA": users[0],
                    "userB": users[1],
                    "startAt": iso(start),
                    "endsAt": iso(ends),
                    "durationSeconds": self.duel_s,
                }
                session.update(status="active", startAt=iso(start), endsAt=iso(ends))
                asyncio.get_running_loop().call_later(
                    self.lead_s + self.duel_s,
                    lambda: asyncio.ensure_future(self.time_out(session["sessionId"])),
                )
            else:
                frame = {"type": "rejected", "sessionId": session["sessionId"], "by": me}
                session["status"] = "stopped"
            for uid in users:
                await self.send_user(uid, frame)
        elif action == "stop":
            session = self.sessions[body["sessionId"]]
            session["status"] = "stopped"
            for uid in (session["userA"], session["userB"]):
                await self.send_user(
                    uid, {"type": "stop", "sessionId": session["sessionId"], "by": me}
                )
        else:
            await conn.send(
                json.dumps({"type": "error", "code": "unknown_action", "message": "?", **rid})
            )

    async def time_out(self, sid: str) -> None:
        session = self.sessions[sid]
        if session["status"] == "active":
            session["status"] = "stopped"
            for uid in (session["userA"], session["userB"]):
                await self.send_user(uid, {"type": "timeout", "sessionId": sid})


@dataclass
class RunningDuelServer:
    endpoints: Endpoints
    server: ScriptedDuelServer
    file: Path


@pytest.fixture
def duel_server(cognito: Cognito, tmp_path: Path) -> Iterator[RunningDuelServer]:
    """The scripted server on its own loop in a thread; endpoints written to a file."""
    script = ScriptedDuelServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with serve(
            script.handler, "127.0.0.1", 0, process_request=script.process_request
        ) as srv:
            box["port"] = srv.sockets[0].getsockname()[1]
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    ready.wait(10)
    port = box["port"]
    endpoints = Endpoints(
        target="local",
        region="us-east-1",
        stage="local",
        websocket_url=f"ws://127.0.0.1:{port}/local",
        management_url=f"http://127.0.0.1:{port}/local",
        http_url=f"http://127.0.0.1:{port}",
        aws_endpoint_url=cognito.url,
        user_pool_id=cognito.pool_id,
        user_pool_client_id=cognito.client_id,
        connections_table="c",
        sessions_table="s",
    )
    file = tmp_path / "endpoints.json"
    endpoints.write(file)
    yield RunningDuelServer(endpoints=endpoints, server=script, file=file)
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
