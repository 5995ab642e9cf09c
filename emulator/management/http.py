"""The @connections management API over HTTP: parse, pick the API, call the port, map errors.

URL shape (docs/aws-behaviour.md §5): `/{stage}/@connections/{connectionId}`. botocore sends the `@`
literally and percent-encodes the id (`=` -> `%3D`); awscurl sends `%40connections`. Both
spellings are accepted and every path segment is decoded on its own, so an encoded `/` in an
id can never split it.

The WebSocket API a request addresses comes from the Host header when the request came
through the TLS proxy (`{apiId}.execute-api.{region}.amazonaws.com`) and from the stage alone
for plain `http://127.0.0.1:PORT/{stage}/@connections/...` (the endpoints file's
`management_url`). Choosing is the caller's job: `Resolver(api_id, stage)` returns the
`ConnectionPort` of the matching API, or None for a wrong API or stage, which AWS answers
with 403 ForbiddenException.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from emulator.logs import SERVICE, emit
from emulator.management.errors import BadRequest, Forbidden, ManagementError, PayloadTooLarge
from emulator.management.port import ConnectionInfo, ConnectionPort

Resolver = Callable[[str | None, str], ConnectionPort | None]
"""(api id from the Host header or None, stage from the path) -> the API's port, or None."""

# AWS: PostToConnection Data is limited to 128 KB; botocore does not check it
# (docs/aws-behaviour.md §5).
MAX_POST_BYTES = 128 * 1024

_API_HOST = re.compile(
    r"^(?P<api>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?::\d+)?$", re.IGNORECASE
)


def api_id_from_host(host: str | None) -> str | None:
    """The API id of an `{apiId}.execute-api.{region}.amazonaws.com[:port]` Host, else None."""
    if not host:
        return None
    match = _API_HOST.match(host.strip())
    return match.group("api").lower() if match else None


@dataclass(frozen=True, slots=True)
class ConnectionsPath:
    """The decoded parts of `/{stage}/@connections/{connectionId}`."""

    stage: str
    connection_id: str


def parse_connections_path(raw_path: str) -> ConnectionsPath | None:
    """Parse a raw request target; None unless it is `/{stage}/(@|%40)connections/{id}`.

    Segments are split on the raw path and decoded one by one, so `%40` and `@` are the
    same and an id's `%3D` becomes `=` (docs/aws-behaviour.md §5).
    """
    path = raw_path.split("?", 1)[0]
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "" or unquote(parts[2]) != "@connections":
        return None
    stage = unquote(parts[1])
    if not stage:
        return None
    return ConnectionsPath(stage=stage, connection_id=unquote(parts[3]))


def to_response(exc: ManagementError) -> web.Response:
    """The one place a ManagementError becomes HTTP: status, `x-amzn-ErrorType`, JSON body.

    botocore reads the error code from `x-amzn-ErrorType`, so `except
    client.exceptions.GoneException` works only with that header (docs/aws-behaviour.md §5).
    """
    return web.Response(status=exc.status, body=exc.body(), headers=exc.headers())


def iso_ms(epoch_ms: int) -> str:
    """`2026-01-01T00:00:00.000Z`: GetConnection's wire timestamps are ISO-8601."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def connection_json(info: ConnectionInfo) -> dict[str, Any]:
    """GetConnection's body with AWS's lower-camel wire keys.

    AWS: boto3 maps `connectedAt`/`identity`/`lastActiveAt` to `ConnectedAt`/...;
    capitalised wire keys are silently dropped and the result is `{}` (docs/aws-behaviour.md §5).
    """
    identity: dict[str, str] = {"sourceIp": info.source_ip}
    if info.user_agent is not None:
        identity["userAgent"] = info.user_agent
    return {
        "connectedAt": iso_ms(info.connected_at_ms),
        "identity": identity,
        "lastActiveAt": iso_ms(info.last_active_at_ms),
    }


class ManagementApi:
    """Serves PostToConnection, GetConnection and DeleteConnection for every WebSocket API.

    Socket work is the port's; this class only parses, resolves and maps errors, so it
    can sit behind the TLS proxy (Host names the API) or be called directly (stage does).
    """

    def __init__(self, resolve: Resolver, *, max_post_bytes: int = MAX_POST_BYTES) -> None:
        self._resolve = resolve
        self._max_post_bytes = max_post_bytes

    @staticmethod
    def matches(raw_path: str) -> bool:
        """True when the path is an @connections URL (either spelling)."""
        return parse_connections_path(raw_path) is not None

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes for a standalone app; the router decodes `%40` before matching."""
        return [web.route("*", "/{stage}/@connections/{connection_id:.*}", self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one @connections request; never raises for API errors."""
        try:
            return await self._dispatch(request)
        except ManagementError as exc:
            emit(
                SERVICE,
                f"@connections {request.method} -> {exc.status} {exc.error_type}",
                level=logging.DEBUG,
                path=request.raw_path,
            )
            return to_response(exc)
        except Exception:
            # A bug in the port, not an API outcome: AWS's generic 500, traceback logged.
            emit(
                SERVICE,
                f"@connections {request.method} failed",
                level=logging.ERROR,
                path=request.raw_path,
                traceback=traceback.format_exc(),
            )
            body = json.dumps({"message": "Internal server error"}).encode()
            return web.Response(
                status=500,
                body=body,
                headers={
                    "x-amzn-ErrorType": "InternalServerErrorException",
                    "Content-Type": "application/json",
                },
            )

    async def _dispatch(self, request: web.Request) -> web.Response:
        target = parse_connections_path(request.raw_path)
        if target is None:
            raise Forbidden("Forbidden")
        port = self._resolve(api_id_from_host(request.host), target.stage)
        if port is None:
            # AWS: a wrong API or stage in the URL is 403 ForbiddenException (docs/aws-behaviour.md
            # §5).
            raise Forbidden("Forbidden")
        if not target.connection_id:
            raise BadRequest("Invalid connectionId")  # AWS: malformed id (unverified)
        connection_id = target.connection_id
        if request.method == "POST":
            data = await request.read()
            if len(data) > self._max_post_bytes:
                raise PayloadTooLarge("Request entity too large")
            await port.post_to_connection(connection_id, data)
            # AWS: 200 with an empty body (docs/aws-behaviour.md §5).
            return web.Response(status=200)
        if request.method == "GET":
            info = port.get_connection(connection_id)
            return web.json_response(connection_json(info))
        if request.method == "DELETE":
            await port.delete_connection(connection_id)
            return web.Response(status=204)
        raise Forbidden("Forbidden")
