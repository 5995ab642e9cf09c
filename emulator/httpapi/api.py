"""One HTTP API (v2) served locally: route, authorize, invoke through the runner, respond.

`respond` is the socketless entry point (an `HttpRequest` in, an `HttpResult` out); `handle`
is the thin aiohttp adapter `HttpServer` mounts. The pure parts live in routing, authorizer,
event and response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.httpapi.authorizer import JwtError, authorize
from emulator.httpapi.event import HttpRequest, http_event, joined_headers, new_request_id
from emulator.httpapi.keys import KeyProvider
from emulator.httpapi.response import (
    INTERNAL_SERVER_ERROR,
    NOT_FOUND,
    SERVICE_UNAVAILABLE,
    HttpResult,
    invocation_response,
    unauthorized,
)
from emulator.httpapi.routing import RouteMatch, match_route
from emulator.logs import SERVICE, emit
from emulator.runner.base import FunctionRunner, Invocation
from emulator.template.model import HttpApi

# AWS: HTTP API integrations time out after at most 30 s (API Gateway quotas), answered
# with 503; the Lambda itself keeps running (docs/aws-behaviour.md §12).
INTEGRATION_TIMEOUT_S = 30.0


class HttpApiHandler:
    """Serves one template `HttpApi` the way API Gateway's HTTP API does."""

    def __init__(
        self,
        api: HttpApi,
        runner: FunctionRunner,
        keys: KeyProvider,
        *,
        region: str,
        account_id: str,
        clock: Clock = SYSTEM_CLOCK,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        request_ids: Callable[[], str] = new_request_id,
    ) -> None:
        self.api = api
        self._runner = runner
        self._keys = keys
        self._region = region
        self._account_id = account_id
        self._clock = clock
        self._integration_timeout_s = integration_timeout_s
        self._request_ids = request_ids
        self._late: set[asyncio.Task[Invocation]] = set()  # invokes past the integration timeout

    @property
    def api_id(self) -> str:
        return self.api.api_id

    def stage_path(self, raw_path: str) -> str | None:
        """The path routes see: as-is for `$default`, else without `/{stage}` (None = not ours).

        AWS: a named stage is the first path segment of the invoke URL; `$default` has none.
        """
        if self.api.stage == "$default":
            return raw_path
        prefix = f"/{self.api.stage}"
        if raw_path == prefix:
            return "/"
        if raw_path.startswith(prefix + "/"):
            return raw_path[len(prefix) :]
        return None

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The route `method raw_path` selects, None when it would be a 404."""
        path = self.stage_path(raw_path.split("?", 1)[0])
        if path is None:
            return None
        return match_route(self.api.routes, method, path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp adapter around `respond`."""
        return await answer(request, self.respond)

    async def respond(self, request: HttpRequest) -> HttpResult:
        """Route, authorize, invoke and map one request; never raises for API outcomes."""
        match = self.match(request.method, request.raw_path)
        if match is None:
            return NOT_FOUND
        claims: dict[str, Any] | None = None
        if match.route.authorizer is not None:
            headers, _ = joined_headers(request.headers)
            try:
                claims = await authorize(
                    match.route.authorizer, headers, self._keys, now=self._clock.now()
                )
            except JwtError as exc:
                emit(
                    SERVICE,
                    f"{match.route_key}: 401 ({exc})",
                    level=logging.DEBUG,
                    api=self.api_id,
                )
                return unauthorized(exc.www_authenticate())
        event = http_event(
            self.api,
            match,
            request,
            region=self._region,
            account_id=self._account_id,
            request_id=self._request_ids(),
            now_ms=self._clock.now_ms(),
            claims=claims,
        )
        task = asyncio.create_task(
            self._runner.invoke(match.route.function, event, route=match.route_key)
        )
        done, _ = await asyncio.wait({task}, timeout=self._integration_timeout_s)
        if task not in done:
            # The function keeps running, as on AWS; keep the task referenced until it ends.
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return SERVICE_UNAVAILABLE
        try:
            invocation = task.result()
        except Exception:
            # The runner promises never to raise for handler failures; this is a bug.
            emit(
                SERVICE,
                f"{match.route_key}: runner failed",
                level=logging.ERROR,
                api=self.api_id,
                traceback=traceback.format_exc(),
            )
            return INTERNAL_SERVER_ERROR
        return invocation_response(invocation)

    async def aclose(self) -> None:
        """Cancel invocations still running past their integration timeout."""
        for task in list(self._late):
            task.cancel()
        for task in list(self._late):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def answer(
    request: web.Request, respond: Callable[[HttpRequest], Awaitable[HttpResult]]
) -> web.StreamResponse:
    """Serve an aiohttp request with a sans-I/O `respond` (HTTP API and REST API alike)."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    http_request = HttpRequest(
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=tuple((str(name), value) for name, value in request.headers.items()),
        body=await request.read(),
        source_ip=request.remote or "127.0.0.1",
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
    )
    result = await respond(http_request)
    response = web.Response(status=result.status, body=result.body)
    for name, value in result.headers:
        response.headers.add(name, value)
    return response
