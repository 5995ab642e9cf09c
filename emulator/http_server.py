"""The emulator's one HTTP server: @connections, HTTP APIs, Lambda Invoke and static files.

One aiohttp app on 127.0.0.1 (port 0 = a free port) with a single catch-all route;
`_dispatch` picks the component:

- Host `{apiId}.execute-api.{region}.amazonaws.com` (a request that came through the TLS
  proxy, or a client setting Host itself): a WebSocket API id -> the @connections API;
  an HTTP API id -> that HTTP API; any other id -> 403 `{"message":"Forbidden"}`.
- any other Host (`127.0.0.1:PORT`): `/{stage}/@connections/...` -> the @connections API;
  `/2015-03-31/functions/...` -> the Lambda Invoke API; `/{stage}/...` where a REST API
  (v1) has that stage -> the first such API that routes the path (else the first one's
  403 `Missing Authentication Token`), as a REST URL carries its stage; a path a (first)
  HTTP API routes -> that API; else a file of the static directory (`/` = index.html);
  else the HTTP API's 404 `{"message":"Not Found"}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.faults.api import FaultsApi
from emulator.httpapi.api import HttpApiHandler
from emulator.httpapi.keys import JwksKeyProvider, KeyProvider, StaticKeyProvider
from emulator.httpapi.response import NOT_FOUND, HttpResult, gateway_message
from emulator.lambda_api import LambdaInvokeApi
from emulator.local_auth import LocalWebApi
from emulator.logs import SERVICE, emit
from emulator.management.http import ManagementApi, api_id_from_host
from emulator.management.port import ConnectionPort
from emulator.restapi.api import RestApiHandler
from emulator.runner.base import FunctionRunner
from emulator.services.schedules import ScheduleApi
from emulator.template.model import Template
from emulator.virtual.control import ClockApi

# Larger than every limit the components enforce themselves (Lambda's 6 MB payload), so
# they, not aiohttp's generic 413, answer oversized requests with AWS's errors.
CLIENT_MAX_SIZE = 8 * 1024 * 1024

FORBIDDEN = gateway_message(403, "Forbidden")


def _response(result: HttpResult) -> web.Response:
    response = web.Response(status=result.status, body=result.body)
    for name, value in result.headers:
        response.headers.add(name, value)
    return response


class HttpServer:
    """Composes the HTTP-facing parts of the emulator behind one port.

    `HttpServer(template, runner=..., gateways=...)` wires everything for a template;
    `HttpServer.compose(...)` takes ready-made parts (tests, unusual set-ups).
    """

    rest_apis: tuple[RestApiHandler, ...]  # REST APIs (v1), served under /{stage}
    schedule_api: ScheduleApi | None  # /_duelctl/schedules (emulator/services/schedules.py)
    faults_api: FaultsApi | None  # /_duelctl/faults (emulator/faults/api.py)

    def __init__(
        self,
        template: Template,
        *,
        runner: FunctionRunner,
        gateways: Mapping[str, ConnectionPort] | Callable[[str], ConnectionPort | None],
        aws_url: str | None = None,
        keys: KeyProvider | None = None,
        clock: Clock = SYSTEM_CLOCK,
        static_dir: Path | None = None,
        local_web: LocalWebApi | None = None,
        clock_api: ClockApi | None = None,
        schedule_api: ScheduleApi | None = None,
        faults_api: FaultsApi | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Wire every HTTP-facing part for `template`.

        `gateways` gives the `ConnectionPort` of each WebSocket API by api id (a mapping,
        or a callable returning None while a gateway is not running). `keys` supplies the
        JWKS of the HTTP APIs' JWT authorizers; by default they come from moto at
        `aws_url` for the template's user pools (without either, every JWT is refused).
        `local_web` serves the web client's config.json and local sign-in (local stacks only).
        """
        connections = gateways.get if isinstance(gateways, Mapping) else gateways
        ws_apis = template.websocket_apis

        def resolve(api_id: str | None, stage: str) -> ConnectionPort | None:
            for api in ws_apis:
                if (api_id is None or api.api_id == api_id) and api.stage == stage:
                    return connections(api.api_id)
            return None

        def function_id(name: str) -> str | None:
            fn = template.function_by_name(name)
            return fn.logical_id if fn is not None else None

        if keys is None:
            pools = {pool.pool_id for pool in template.user_pools.values()}
            keys = (
                JwksKeyProvider.for_local_pools(aws_url, pools)
                if aws_url is not None
                else StaticKeyProvider({})
            )
        http_apis = [
            HttpApiHandler(
                api,
                runner,
                keys,
                region=template.region,
                account_id=template.account_id,
                clock=clock,
            )
            for api in template.http_apis
        ]
        self._init(
            management=ManagementApi(resolve),
            websocket_api_ids=[api.api_id for api in ws_apis],
            http_apis=http_apis,
            lambda_api=LambdaInvokeApi(
                runner,
                function_id,
                region=template.region,
                account_id=template.account_id,
                clock=clock,
            ),
            static_dir=static_dir,
            local_web=local_web,
            host=host,
            port=port,
            clock_api=clock_api,
        )
        self.rest_apis = tuple(
            RestApiHandler(
                api,
                runner,
                keys,
                region=template.region,
                account_id=template.account_id,
                clock=clock,
            )
            for api in template.rest_apis
        )
        self.schedule_api = schedule_api
        self.faults_api = faults_api

    @classmethod
    def compose(
        cls,
        *,
        management: ManagementApi | None = None,
        websocket_api_ids: Collection[str] = (),
        http_apis: Sequence[HttpApiHandler] = (),
        lambda_api: LambdaInvokeApi | None = None,
        static_dir: Path | None = None,
        local_web: LocalWebApi | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> HttpServer:
        """A server from ready-made parts; any part may be left out."""
        server = cls.__new__(cls)
        server._init(
            management=management,
            websocket_api_ids=websocket_api_ids,
            http_apis=http_apis,
            lambda_api=lambda_api,
            static_dir=static_dir,
            local_web=local_web,
            host=host,
            port=port,
        )
        return server

    def _init(
        self,
        *,
        management: ManagementApi | None,
        websocket_api_ids: Collection[str],
        http_apis: Sequence[HttpApiHandler],
        lambda_api: LambdaInvokeApi | None,
        static_dir: Path | None,
        local_web: LocalWebApi | None,
        host: str,
        port: int,
        clock_api: ClockApi | None = None,
    ) -> None:
        self.rest_apis = ()
        self.schedule_api = None
        self.faults_api = None
        self.management = management
        self.clock_api = clock_api  # /_duelctl/clock (emulator/virtual/control.py)
        self.local_web = local_web
        self.websocket_api_ids = frozenset(websocket_api_ids)
        self.http_apis = tuple(http_apis)
        self.lambda_api = lambda_api
        self.static_dir = static_dir.resolve() if static_dir is not None else None
        self._host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("HttpServer not started")
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the endpoints file's `http_url`."""
        return f"http://{self._host}:{self.port}"

    def build_app(self) -> web.Application:
        """The aiohttp application (one catch-all route, dispatch by Host and path)."""
        app = web.Application(client_max_size=CLIENT_MAX_SIZE)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self) -> None:
        """Bind and accept; returns once the port is known."""
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        emit(SERVICE, f"HTTP server listening on {self.url}", port=self._port)

    async def aclose(self) -> None:
        """Stop accepting, finish in-flight requests briefly, then stop background work."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.lambda_api is not None:
            await self.lambda_api.aclose()
        for api in self.http_apis:
            await api.aclose()
        for rest in self.rest_apis:
            await rest.aclose()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _http_api(self, api_id: str) -> HttpApiHandler | None:
        for api in self.http_apis:
            if api.api_id == api_id:
                return api
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        api_id = api_id_from_host(request.host)
        raw_path = request.raw_path
        if api_id is not None:
            if api_id in self.websocket_api_ids and self.management is not None:
                return await self.management.handle(request)
            http_api = self._http_api(api_id)
            if http_api is not None:
                return await http_api.handle(request)
            for rest in self.rest_apis:
                if rest.api_id == api_id:
                    return await rest.handle(request)
            emit(SERVICE, f"no API {api_id} for {request.host}", level=logging.DEBUG)
            return _response(FORBIDDEN)
        if self.management is not None and ManagementApi.matches(raw_path):
            return await self.management.handle(request)
        if self.faults_api is not None and FaultsApi.matches(raw_path):
            return await self.faults_api.handle(request)
        if self.clock_api is not None and ClockApi.matches(raw_path):
            return await self.clock_api.handle(request)
        if self.lambda_api is not None and LambdaInvokeApi.matches(raw_path):
            return await self.lambda_api.handle(request)
        if self.schedule_api is not None and ScheduleApi.matches(raw_path):
            return await self.schedule_api.handle(request)
        rest_api = self._rest_api_for(request.method, raw_path)
        if rest_api is not None:
            return await rest_api.handle(request)
        first = self.http_apis[0] if self.http_apis else None
        if first is not None and first.match(request.method, raw_path) is not None:
            return await first.handle(request)
        if self.local_web is not None and LocalWebApi.matches(raw_path):
            return await self.local_web.handle(request)
        static = self._static_file(request)
        if static is not None:
            return web.FileResponse(static)
        return _response(NOT_FOUND)

    def _rest_api_for(self, method: str, raw_path: str) -> RestApiHandler | None:
        """The REST API whose stage starts `raw_path` and that routes it (else the first)."""
        path = raw_path.split("?", 1)[0]
        staged = [rest for rest in self.rest_apis if rest.stage_path(path) is not None]
        for rest in staged:
            stage_path = rest.stage_path(path)
            if stage_path is not None and rest.match(method, stage_path) is not None:
                return rest
        return staged[0] if staged else None

    def _static_file(self, request: web.Request) -> Path | None:
        """The static file a GET/HEAD names (`/` -> index.html), None if absent or outside."""
        if self.static_dir is None or request.method not in ("GET", "HEAD"):
            return None
        relative = request.path.lstrip("/") or "index.html"
        candidate = (self.static_dir / relative).resolve()
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_relative_to(self.static_dir) or not candidate.is_file():
            return None
        return candidate
