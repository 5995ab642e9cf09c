"""REST APIs on the stack's HTTP origin: `/{stage}/...` beside @connections and the HTTP API."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest

from emulator.http_server import HttpServer
from emulator.httpapi.keys import StaticKeyProvider
from emulator.management.errors import Gone
from emulator.management.port import ConnectionInfo
from emulator.runner.base import Invocation
from emulator.template.model import (
    Function,
    HttpApi,
    HttpRoute,
    RestApi,
    RestRoute,
    Route,
    Template,
    WebSocketApi,
)

REGION, ACCOUNT = "us-east-1", "123456789012"


def function(logical_id: str) -> Function:
    return Function(
        logical_id=logical_id,
        name=f"app-{logical_id}",
        handler="app.handler",
        runtime="python3.12",
        code_root=Path("/nonexistent"),
        timeout_s=3,
        memory_mb=128,
        environment=MappingProxyType({}),
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:app-{logical_id}",
    )


def rest(logical_id: str, api_id: str, stage: str, *paths: str) -> RestApi:
    routes = tuple(RestRoute("GET", path, "Fn", None, "abc123") for path in paths)
    return RestApi(logical_id, api_id, stage, routes)


TEMPLATE = Template(
    path=Path("/nonexistent/template.yaml"),
    stack_name="app",
    region=REGION,
    account_id=ACCOUNT,
    parameters=MappingProxyType({}),
    functions=MappingProxyType({"Fn": function("Fn")}),
    websocket_apis=(
        WebSocketApi(
            "Socket",
            "wsapi00001",
            "ws",
            "Prod",
            "$request.body.action",
            MappingProxyType({"$default": Route("$default", "Fn")}),
            None,
        ),
    ),
    http_apis=(
        HttpApi("Http", "httpapi001", "$default", (HttpRoute("GET", "/{proxy+}", "Fn", None),)),
    ),
    tables=MappingProxyType({}),
    queues=MappingProxyType({}),
    user_pools=MappingProxyType({}),
    user_pool_clients=MappingProxyType({}),
    event_sources=(),
    outputs=MappingProxyType({}),
    rest_apis=(
        rest("First", "restapi001", "Prod", "/a"),
        rest("Second", "restapi002", "Prod", "/b"),
        rest("Other", "restapi003", "v1", "/c"),
    ),
)


class Runner:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append((function, event))
        context = event.get("requestContext", {})
        answer = {"api": context.get("apiId"), "kind": "rest" if "resource" in event else "http"}
        return Invocation(function, "r", "ok", {"statusCode": 200, "body": str(answer)}, 1.0)


class NoConnections:
    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        raise Gone(connection_id)

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        raise Gone(connection_id)

    async def delete_connection(self, connection_id: str) -> None:
        raise Gone(connection_id)


@pytest.fixture
async def origin() -> AsyncIterator[tuple[str, Runner]]:
    runner = Runner()
    server = HttpServer(
        dataclasses.replace(TEMPLATE),
        runner=runner,
        gateways={"wsapi00001": NoConnections()},
        keys=StaticKeyProvider({}),
    )
    async with server:
        yield server.url, runner


async def get(url: str, host: str | None = None) -> tuple[int, str]:
    headers = {"Host": host} if host else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_stage_prefix_routes_to_the_rest_api_that_has_the_path(
    origin: tuple[str, Runner],
) -> None:
    """Two REST APIs share stage Prod: each path goes to the one that declares it."""
    url, _ = origin
    assert await get(f"{url}/Prod/a") == (200, "{'api': 'restapi001', 'kind': 'rest'}")
    assert await get(f"{url}/Prod/b") == (200, "{'api': 'restapi002', 'kind': 'rest'}")
    assert await get(f"{url}/v1/c") == (200, "{'api': 'restapi003', 'kind': 'rest'}")
    status, text = await get(f"{url}/Prod/zzz")
    assert (status, text) == (403, '{"message":"Missing Authentication Token"}')


async def test_other_paths_keep_their_owners(origin: tuple[str, Runner]) -> None:
    """@connections under the same stage, and the HTTP API for paths without a REST stage."""
    url, _ = origin
    status, text = await get(f"{url}/Prod/@connections/AAAAAAAAAAAAAAA=")
    assert status == 410, text  # the @connections API answered, not a REST API
    assert await get(f"{url}/anything") == (200, "{'api': 'httpapi001', 'kind': 'http'}")


async def test_the_apis_own_host_name_reaches_it(origin: tuple[str, Runner]) -> None:
    """Host {apiId}.execute-api... (as through the TLS proxy) picks the REST API by id."""
    url, _ = origin
    host = f"restapi002.execute-api.{REGION}.amazonaws.com"
    assert await get(f"{url}/Prod/b", host=host) == (200, "{'api': 'restapi002', 'kind': 'rest'}")
    status, text = await get(f"{url}/Prod/a", host=host)
    assert (status, text) == (403, '{"message":"Missing Authentication Token"}')
