"""The opening handshake as a step machine: path, identity sources, authorizer, `$connect`,
in AWS's order, and what each integration's answer means for the upgrade
(docs/aws-behaviour.md §3, §4)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from emulator.gateway.authorizer import (
    IDENTITY_SOURCE,
    MalformedAuthorizerResult,
    authorizer_block,
    policy_allows,
)
from emulator.gateway.connection import ClientRequest, Connection, Deployment
from emulator.gateway.events import (
    Event,
    authorizer_event,
    connect_event,
    query_maps,
    request_context,
)
from emulator.gateway.limits import MAX_AUTHORIZER_RESULT_BYTES
from emulator.runner.base import Invocation


def _json_message(message: str) -> str:
    return json.dumps({"message": message})


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer the upgrade request with `status` and `body`; the socket never opens."""

    status: int
    body: str
    why: str  # for the log line only

    @classmethod
    def unauthorized(cls, why: str) -> Refuse:
        return cls(401, _json_message("Unauthorized"), why)

    @classmethod
    def forbidden(cls, why: str) -> Refuse:
        return cls(403, _json_message("Forbidden"), why)

    @classmethod
    def internal(cls, status: int, why: str) -> Refuse:
        return cls(status, _json_message("Internal server error"), why)

    @classmethod
    def unavailable(cls, why: str) -> Refuse:
        """The gateway is shutting down (websockets itself answers 503 then)."""
        return cls(503, _json_message("Service Unavailable"), why)


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run `function` with `event` and feed the Invocation back to the handshake."""

    function: str
    event: Event
    label: str  # "authorizer" or "$connect", for logs


@dataclass(frozen=True, slots=True)
class Accept:
    """Complete the upgrade (101); the connection exists from now on.

    `subprotocol` is the `Sec-WebSocket-Protocol` the 101 carries: only what the
    `$connect` integration's response returned, never chosen by the gateway.
    """

    connection: Connection
    subprotocol: str | None = None


Step = Refuse | Invoke | Accept


def authorizer_verdict(
    deployment: Deployment, invocation: Invocation
) -> Refuse | Mapping[str, Any]:
    """Interpret a REQUEST authorizer's invocation: a Refuse, or the authorizer block.

    AWS (docs/aws-behaviour.md §4): raised "Unauthorized" -> 401; Deny or an Allow that does not
    cover methodArn -> 403; any other error, a timeout or malformed output -> 500.
    """
    if invocation.outcome == "error":
        result = invocation.result
        message = result.get("errorMessage") if isinstance(result, dict) else None
        if message == "Unauthorized":
            return Refuse.unauthorized("authorizer raised Unauthorized")
        return Refuse.internal(500, f"authorizer failed: {message}")
    if invocation.outcome == "timeout":
        return Refuse.internal(500, "authorizer timed out")
    result = invocation.result
    try:
        if not isinstance(result, dict):
            raise MalformedAuthorizerResult(f"result is {type(result).__name__}")
        if len(json.dumps(result).encode()) > MAX_AUTHORIZER_RESULT_BYTES:
            raise MalformedAuthorizerResult("result over 8 KB")
        block = authorizer_block(result, round(invocation.duration_ms))
        allowed = policy_allows(result, deployment.method_arn)
    except (MalformedAuthorizerResult, TypeError, ValueError) as exc:
        return Refuse.internal(500, f"malformed authorizer result: {exc}")
    if not allowed:
        return Refuse.forbidden("authorizer policy does not allow " + deployment.method_arn)
    return block


def connect_verdict(invocation: Invocation) -> Refuse | None:
    """Interpret the `$connect` integration: None to accept, else a Refuse.

    AWS: 2xx -> 101; any other statusCode -> that status; an exception -> 502 (timeout
    presumably the same) (docs/aws-behaviour.md §3). A result without statusCode is accepted
    (inferred: WebSocket integrations need no proxy response shape). The refusal body is
    the integration's `body` if it has one (unverified).
    """
    if not invocation.ok:
        return Refuse.internal(502, f"$connect {invocation.outcome}")
    result = invocation.result
    if not isinstance(result, dict) or "statusCode" not in result:
        return None
    raw = result["statusCode"]
    try:
        status = int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: json.loads reads Infinity
        return Refuse.internal(502, f"$connect returned statusCode {raw!r}")
    if isinstance(raw, bool) or not 200 <= status <= 599:
        return Refuse.internal(502, f"$connect returned statusCode {raw!r}")
    if status < 300:
        return None
    body = result.get("body")
    return Refuse(status, body if isinstance(body, str) else "", f"$connect returned {status}")


def connect_subprotocol(invocation: Invocation) -> str | None:
    """The `Sec-WebSocket-Protocol` a successful `$connect` response returns, else None.

    AWS: API Gateway answers the upgrade with a subprotocol only when the `$connect`
    integration's response carries the header (API Gateway dev guide, "Set up a $connect
    route that requires a WebSocket subprotocol"); a client that asked for one and gets
    none back (browsers) drops the connection. Header names are case-insensitive; a
    `multiValueHeaders` entry counts too (inferred).
    """
    result = invocation.result
    if not invocation.ok or not isinstance(result, dict):
        return None
    found: str | None = None
    for key in ("multiValueHeaders", "headers"):
        headers = result.get(key)
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            if not isinstance(name, str) or name.lower() != "sec-websocket-protocol":
                continue
            values = value if isinstance(value, list) else [value]
            text = ", ".join(str(v) for v in values if isinstance(v, str | int) and str(v))
            found = found or text or None
    return found


@dataclass(slots=True)
class Handshake:
    """One opening handshake as a step machine: path, identity sources, authorizer,
    `$connect`, in AWS's order.

    Drive it with `start()`, then `on_result(invocation)` for every Invoke step, until
    it returns Refuse or Accept. AWS keeps the upgrade pending until the authorizer and
    `$connect` have finished (docs/aws-behaviour.md §3).
    """

    deployment: Deployment
    request: ClientRequest
    connection: Connection
    request_id: str
    now_ms: int
    phase: Literal["new", "authorizer", "connect", "done"] = field(default="new")

    @classmethod
    def begin(
        cls,
        deployment: Deployment,
        request: ClientRequest,
        *,
        connection_id: str,
        request_id: str,
        now_ms: int,
    ) -> Handshake:
        conn = Connection(
            id=connection_id,
            connected_at_ms=now_ms,
            source_ip=request.source_ip,
            user_agent=request.header("User-Agent"),
            last_active_at_ms=now_ms,
        )
        return cls(deployment, request, conn, request_id, now_ms)

    def start(self) -> Step:
        if self.phase != "new":
            raise RuntimeError("handshake already started")
        stage = self.deployment.api.stage
        if self.request.path not in (f"/{stage}", f"/{stage}/"):
            # Any other path is not this stage; API Gateway answers 403 (inferred).
            return self._finish(Refuse.forbidden(f"no stage at path {self.request.path!r}"))
        authorizer = self.deployment.api.authorizer
        if authorizer is not None:
            for source in authorizer.identity_sources:
                if not self._identity_value(source):
                    # AWS: a missing identity source -> 401, authorizer not invoked (§4).
                    return self._finish(Refuse.unauthorized(f"missing identity source {source}"))
            self.phase = "authorizer"
            event = authorizer_event(
                self.deployment,
                self.request,
                self.connection,
                request_id=self.request_id,
                now_ms=self.now_ms,
            )
            return Invoke(authorizer.function, event, "authorizer")
        return self._connect_step()

    def on_result(self, invocation: Invocation) -> Step:
        if self.phase == "authorizer":
            verdict = authorizer_verdict(self.deployment, invocation)
            if isinstance(verdict, Refuse):
                return self._finish(verdict)
            self.connection.authorizer = verdict
            return self._connect_step()
        if self.phase == "connect":
            refusal = connect_verdict(invocation)
            if refusal is not None:
                return self._finish(refusal)
            return self._finish(Accept(self.connection, connect_subprotocol(invocation)))
        raise RuntimeError(f"no invocation expected in phase {self.phase}")

    def _connect_step(self) -> Step:
        route = self.deployment.api.routes.get("$connect")
        if route is None or route.function is None:
            # AWS: a $connect integration is optional (docs/aws-behaviour.md §3).
            return self._finish(Accept(self.connection))
        self.phase = "connect"
        event = connect_event(
            self.deployment,
            self.request,
            self.connection,
            request_id=self.request_id,
            now_ms=self.now_ms,
        )
        return Invoke(route.function, event, "$connect")

    def _finish(self, step: Refuse | Accept) -> Step:
        self.phase = "done"
        return step

    def _identity_value(self, source: str) -> str | None:
        """The value of one identity source, or None if missing/empty (docs/aws-behaviour.md §4)."""
        match = IDENTITY_SOURCE.match(source)
        if match is None:
            return None
        kind, name = match.groups()
        value: Any = None
        if kind == "route.request.header":
            value = self.request.header(name)
        elif kind == "route.request.querystring":
            query = query_maps(self.request)
            value = query[0].get(name) if query is not None else None
        elif kind == "context":
            ctx = request_context(
                self.deployment,
                self.connection,
                route_key="$connect",
                event_type="CONNECT",
                request_id=self.request_id,
                now_ms=self.now_ms,
                with_authorizer=False,
            )
            value = ctx.get(name)
        # stageVariables: the model has none, so such a source is always missing.
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        return text or None
