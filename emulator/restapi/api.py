"""One REST API (v1) served locally: route, authorize, invoke through the runner, respond.

`respond` is the socketless entry point (an `HttpRequest` in, an `HttpResult` out);
`handle` is the aiohttp adapter `HttpServer` mounts. A REST API's URL carries its stage
(`https://{id}.execute-api.{region}.amazonaws.com/{stage}/items/42`), so locally it is
`http://127.0.0.1:PORT/{stage}/items/42`: `stage_path` strips the stage, the rest is
matched against the API's resources. Routing reuses the HTTP API's precedence (a
literal segment beats `{param}`, which beats `{proxy+}`; an exact method beats `ANY`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from aiohttp import web

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.httpapi.api import answer
from emulator.httpapi.event import HttpRequest
from emulator.httpapi.keys import KeyProvider
from emulator.httpapi.response import BadLambdaResponse, HttpResult
from emulator.httpapi.routing import match_route
from emulator.logs import SERVICE, caller_name, emit
from emulator.restapi.authorizer import Authorizers, Request
from emulator.restapi.event import (
    method_arn,
    new_extended_id,
    new_request_id,
    proxy_event,
    query_maps,
    request_context,
    trace_id,
)
from emulator.restapi.response import (
    BAD_GATEWAY,
    FORBIDDEN,
    MISSING_TOKEN,
    TIMED_OUT,
    proxy_response,
)
from emulator.runner.base import FunctionRunner, Invocation
from emulator.template.model import HttpRoute, RestApi, RestRoute

_ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


@dataclass(frozen=True, slots=True)
class RestMatch:
    """The method a request selected, with its path parameters (encoded, as REST passes them)."""

    route: RestRoute
    path_parameters: MappingProxyType[str, str]


class RestApiHandler:
    """Serves one template `RestApi` the way API Gateway's REST API does."""

    def __init__(
        self,
        api: RestApi,
        runner: FunctionRunner,
        keys: KeyProvider,
        *,
        region: str,
        account_id: str,
        clock: Clock = SYSTEM_CLOCK,
        request_ids: Callable[[], str] = new_request_id,
    ) -> None:
        self.api = api
        self._runner = runner
        self._region = region
        self._account_id = account_id
        self._clock = clock
        self._request_ids = request_ids
        self._authorizers = Authorizers(runner, keys, region=region, clock=clock)
        # The HTTP API's matcher works on its own route type; REST methods map back by key.
        self._by_key = {(r.method, r.path): r for r in api.routes}
        self._routes = tuple(HttpRoute(r.method, r.path, r.function, None) for r in api.routes)
        self._late: set[asyncio.Task[Invocation]] = set()

    @property
    def api_id(self) -> str:
        return self.api.api_id

    def stage_path(self, raw_path: str) -> str | None:
        """The path after `/{stage}` ("/" for the stage itself), None if it names another stage."""
        prefix = f"/{self.api.stage}"
        if raw_path == prefix:
            return "/"
        if raw_path.startswith(prefix + "/"):
            return raw_path[len(prefix) :]
        return None

    def match(self, method: str, stage_path: str) -> RestMatch | None:
        """The method `method stage_path` selects, None when API Gateway would answer 403."""
        path = stage_path.split("?", 1)[0]
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]  # a trailing slash names the same resource (unverified)
        found = match_route(self._routes, method, _encoded(path))
        if found is None:
            return None
        route = self._by_key[(found.route.method, found.route.path)]
        return RestMatch(route, MappingProxyType(dict(found.path_parameters)))

    def _methods_at(self, stage_path: str) -> list[str]:
        """Every method declared on the resource `stage_path` names (for CORS preflight)."""
        methods: set[str] = set()
        for method in _ALL_METHODS:
            found = self.match(method, stage_path)
            if found is not None:
                route_method = found.route.method
                methods.update(_ALL_METHODS if route_method == "ANY" else (route_method,))
        return sorted(methods)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp adapter around `respond`."""
        return await answer(request, self.respond)

    async def respond(self, request: HttpRequest) -> HttpResult:
        """Route, authorize, invoke and map one request; never raises for API outcomes."""
        request_id, extended_id = self._request_ids(), new_extended_id()
        now_ms = self._clock.now_ms()
        result = await self._respond(request, request_id, extended_id, now_ms)
        headers = (
            *result.headers,
            ("x-amzn-RequestId", request_id),
            ("x-amz-apigw-id", extended_id),
            ("X-Amzn-Trace-Id", trace_id(now_ms)),
        )
        return HttpResult(result.status, headers, result.body)

    async def _respond(
        self, request: HttpRequest, request_id: str, extended_id: str, now_ms: int
    ) -> HttpResult:
        stage_path = self.stage_path(request.raw_path)
        if stage_path is None:
            return FORBIDDEN
        method = request.method.upper()
        if method == "OPTIONS" and self.api.cors is not None:
            found = self.match(method, stage_path)
            if found is None or found.route.method == "ANY":
                preflight = self._preflight(stage_path)
                if preflight is not None:
                    return preflight
        found = self.match(method, stage_path)
        if found is None:
            return MISSING_TOKEN
        route = found.route
        context = request_context(
            self.api,
            route,
            request,
            stage_path=stage_path,
            region=self._region,
            account_id=self._account_id,
            request_id=request_id,
            extended_id=extended_id,
            now_ms=now_ms,
        )
        event = proxy_event(
            self.api,
            route,
            found.path_parameters,
            request,
            stage_path=stage_path,
            context=context,
            region=self._region,
            now_ms=now_ms,
        )
        label = f"{route.method} {route.path}"
        if route.authorizer is not None:
            query, _ = query_maps(request.raw_query)
            verdict = await self._authorizers.authorize(
                route.authorizer,
                Request(
                    method_arn=method_arn(
                        self.api, self._region, self._account_id, method, stage_path
                    ),
                    headers=tuple(request.headers),
                    query=query or {},
                    stage_variables=self.api.stage_variables,
                    context=context,
                    event=event,
                ),
            )
            if isinstance(verdict, HttpResult):
                emit(
                    SERVICE,
                    f"{label}: {verdict.status} from authorizer {route.authorizer.name}",
                    level=logging.DEBUG,
                    api=self.api_id,
                )
                return verdict
            event["requestContext"]["authorizer"] = verdict
        return await self._integrate(route, event, label, request)

    async def _integrate(
        self, route: RestRoute, event: dict[str, Any], label: str, request: HttpRequest
    ) -> HttpResult:
        invoke = self._runner.invoke(route.function, event, route=label)
        task = asyncio.create_task(invoke)
        done, _ = await asyncio.wait({task}, timeout=route.timeout_ms / 1000)
        if task not in done:
            # AWS: API Gateway gives up at the integration timeout; the function runs on.
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return TIMED_OUT
        try:
            invocation = task.result()
        except Exception:
            emit(
                SERVICE,
                f"{label}: runner failed",
                level=logging.ERROR,
                api=self.api_id,
                traceback=traceback.format_exc(),
            )
            return BAD_GATEWAY
        if not invocation.ok:
            return BAD_GATEWAY
        try:
            return proxy_response(
                invocation.result,
                binary_media_types=self.api.binary_media_types,
                request_headers=request.headers,
            )
        except (BadLambdaResponse, TypeError, ValueError) as exc:
            emit(
                SERVICE,
                f"{label}: malformed Lambda proxy response ({exc}); 502",
                level=logging.WARNING,
                api=self.api_id,
                user=caller_name(event["requestContext"].get("authorizer")),
            )
            return BAD_GATEWAY

    def _preflight(self, stage_path: str) -> HttpResult | None:
        """AWS SAM Cors: the OPTIONS method SAM adds to every path, a mock integration."""
        assert self.api.cors is not None
        methods = self._methods_at(stage_path)
        if not methods:
            return None
        headers = dict(self.api.cors)
        headers.setdefault("Access-Control-Allow-Methods", ",".join(sorted({*methods, "OPTIONS"})))
        return HttpResult(200, (("Content-Type", "application/json"), *headers.items()), b"")

    async def aclose(self) -> None:
        """Cancel invocations still running past their integration timeout."""
        for task in list(self._late):
            task.cancel()
        for task in list(self._late):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _encoded(path: str) -> str:
    """Keep `%xx` in path parameters: REST passes them encoded, the shared matcher decodes."""
    return path.replace("%", "%25")


__all__ = ["RestApiHandler", "RestMatch"]
