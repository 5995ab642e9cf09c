"""HttpServer composition: one port serving @connections, HTTP API, Lambda Invoke, files."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import aiohttp
import boto3
import jwt
import pytest
from aiohttp import web
from botocore.config import Config
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from emulator.http_server import HttpServer
from emulator.httpapi.keys import StaticKeyProvider
from emulator.management.errors import Gone
from emulator.management.port import ConnectionInfo, ConnectionPort
from emulator.proxy.certs import ensure_certificates
from emulator.proxy.connect import ConnectProxy, aws_route
from emulator.runner.base import Invocation
from emulator.template.model import (
    Function,
    HttpApi,
    HttpRoute,
    JwtAuthorizer,
    Route,
    Template,
    UserPool,
    WebSocketApi,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
WS_ID, HTTP_ID = "wsapi00001", "httpapi001"
POOL_ID = "us-east-1_AbCdEf123"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
CLIENT = "26charclientid000000000000"
CONN = "BFaT_fALIAMCKug="
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [{**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}]}


def function(logical_id: str) -> Function:
    name = f"duel-{logical_id}-X1"
    return Function(
        logical_id=logical_id,
        name=name,
        handler="handlers.x.handle",
        runtime="python3.12",
        code_root=Path("/nonexistent"),
        timeout_s=10,
        memory_mb=256,
        environment=MappingProxyType({}),
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
    )


def template(user_pools: Mapping[str, UserPool] | None = None) -> Template:
    auth = JwtAuthorizer("CognitoJwt", "$request.header.Authorization", ISSUER, (CLIENT,))
    functions = {fid: function(fid) for fid in ("OnlineFunction", "EchoFunction")}
    return Template(
        path=Path("/nonexistent/template.yaml"),
        stack_name="duel",
        region=REGION,
        account_id=ACCOUNT,
        parameters=MappingProxyType({}),
        functions=MappingProxyType(functions),
        websocket_apis=(
            WebSocketApi(
                logical_id="WebSocketApi",
                api_id=WS_ID,
                name="duel-ws",
                stage="local",
                route_selection_expression="$request.body.action",
                routes=MappingProxyType({"$default": Route("$default", "EchoFunction")}),
                authorizer=None,
            ),
        ),
        http_apis=(
            HttpApi(
                "HttpApi",
                HTTP_ID,
                "$default",
                (HttpRoute("GET", "/online", "OnlineFunction", auth),),
            ),
        ),
        tables=MappingProxyType({}),
        queues=MappingProxyType({}),
        user_pools=MappingProxyType(dict(user_pools or {})),
        user_pool_clients=MappingProxyType({}),
        event_sources=(),
        outputs=MappingProxyType({}),
    )


@dataclass
class FakeRunner:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append((function, event))
        if function == "OnlineFunction":
            claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
            return Invocation(function, "r", "ok", {"users": [], "me": claims["username"]}, 1.0)
        return Invocation(function, "r", "ok", {"echo": event}, 1.0)


@dataclass
class MemoryPort:
    posted: list[bytes] = field(default_factory=list)

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        if connection_id != CONN:
            raise Gone()
        self.posted.append(data)

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        if connection_id != CONN:
            raise Gone()
        return ConnectionInfo(1_767_225_600_000, 1_767_225_600_000, "127.0.0.1", None)

    async def delete_connection(self, connection_id: str) -> None:
        raise Gone()


@dataclass
class Served:
    server: HttpServer
    runner: FakeRunner
    port: MemoryPort
    static: Path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    static = tmp_path / "web"
    static.mkdir()
    (static / "index.html").write_text("<h1>duel</h1>")
    (static / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    runner = FakeRunner()
    port = MemoryPort()

    def connections(api_id: str) -> ConnectionPort | None:
        return port if api_id == WS_ID else None

    server = HttpServer(
        template(),
        runner=runner,
        gateways=connections,
        keys=StaticKeyProvider({ISSUER: JWKS}),
        static_dir=static,
    )
    await server.start()
    try:
        yield Served(server, runner, port, static)
    finally:
        await server.aclose()


def token() -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "client_id": CLIENT, "username": "alice", "exp": now + 60}
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})


def boto(
    service: Literal["apigatewaymanagementapi", "lambda"], endpoint_url: str, **kwargs: Any
) -> Any:
    config = kwargs.pop("config", Config(retries={"max_attempts": 1}))
    client = boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
        **kwargs,
    )
    _CLIENTS.append(client)
    return client


_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Close every boto3 client a test made, so no pooled socket outlives it."""
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


async def test_management_api_by_stage(served: Served) -> None:
    """management_url `http://127.0.0.1:PORT/local` works for boto3; another stage is 403."""
    api = boto("apigatewaymanagementapi", f"{served.server.url}/local")
    await asyncio.to_thread(api.post_to_connection, ConnectionId=CONN, Data=b"hi")
    assert served.port.posted == [b"hi"]
    wrong = boto("apigatewaymanagementapi", f"{served.server.url}/prod")
    with pytest.raises(wrong.exceptions.ForbiddenException):
        await asyncio.to_thread(wrong.post_to_connection, ConnectionId=CONN, Data=b"x")


async def test_lambda_invoke_api(served: Served) -> None:
    """The Lambda Invoke API resolves template function names."""
    client = boto("lambda", served.server.url)
    result = await asyncio.to_thread(
        client.invoke, FunctionName="duel-EchoFunction-X1", Payload=b'{"a": 1}'
    )
    assert json.loads(result["Payload"].read()) == {"echo": {"a": 1}}
    assert served.runner.calls == [("EchoFunction", {"a": 1})]


async def test_http_api_static_and_not_found(served: Served) -> None:
    """GET /online needs a token; `/` and assets are files; the rest is AWS's 404."""
    url = served.server.url
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token()}"}
        async with session.get(f"{url}/online", headers=headers) as resp:
            assert resp.status == 200
            assert await resp.json() == {"users": [], "me": "alice"}
        async with session.get(f"{url}/online") as resp:
            assert resp.status == 401
        async with session.get(f"{url}/") as resp:
            assert (resp.status, await resp.text()) == (200, "<h1>duel</h1>")
        async with session.get(f"{url}/app.js") as resp:
            assert (resp.status, await resp.text()) == (200, "console.log(1)")
        for missing in ("/nope", "/%2E%2E/secret.txt"):
            async with session.get(f"{url}{missing}") as resp:
                assert resp.status == 404, missing
                assert await resp.text() == '{"message":"Not Found"}'


async def test_host_header_dispatch(served: Served) -> None:
    """Host names the API: WebSocket id -> @connections, HTTP id -> HTTP API, else 403."""
    url = served.server.url
    async with aiohttp.ClientSession() as session:
        ws_host = {"Host": f"{WS_ID}.execute-api.{REGION}.amazonaws.com"}
        async with session.get(f"{url}/local/@connections/{CONN}", headers=ws_host) as resp:
            assert resp.status == 200
            assert (await resp.json())["identity"] == {"sourceIp": "127.0.0.1"}
        http_host = {
            "Host": f"{HTTP_ID}.execute-api.{REGION}.amazonaws.com",
            "Authorization": token(),
        }
        async with session.get(f"{url}/online", headers=http_host) as resp:
            assert resp.status == 200
        async with session.get(f"{url}/", headers=http_host) as resp:
            assert resp.status == 404  # static files are not part of the HTTP API
        other = {"Host": f"zzzzzzzzzz.execute-api.{REGION}.amazonaws.com"}
        async with session.get(f"{url}/online", headers=other) as resp:
            assert resp.status == 403
            assert await resp.text() == '{"message":"Forbidden"}'


async def test_through_the_tls_proxy(served: Served, tmp_path: Path) -> None:
    """AWS host names reach the right part via the proxy: @connections and GET /online."""
    certs = ensure_certificates(tmp_path / "certs")
    proxy = ConnectProxy(certs, aws_route(served.server.port, moto_port=1))
    await proxy.start()
    try:
        api = boto(
            "apigatewaymanagementapi",
            f"https://{WS_ID}.execute-api.{REGION}.amazonaws.com/local",
            verify=str(certs.ca),
            config=Config(proxies={"https": proxy.url}, retries={"max_attempts": 1}),
        )
        await asyncio.to_thread(api.post_to_connection, ConnectionId=CONN, Data=b"via proxy")
        assert served.port.posted == [b"via proxy"]
        context = ssl.create_default_context(cafile=str(certs.ca))
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"https://{HTTP_ID}.execute-api.{REGION}.amazonaws.com/online",
                headers={"Authorization": token()},
                proxy=proxy.url,
                ssl=context,
            ) as resp,
        ):
            assert resp.status == 200
            assert (await resp.json())["me"] == "alice"
        event = served.runner.calls[-1][1]
        assert event["headers"]["host"] == f"{HTTP_ID}.execute-api.{REGION}.amazonaws.com"
    finally:
        await proxy.aclose()


async def test_port_is_known_only_after_start() -> None:
    """`port` raises before start and is a real port after."""
    server = HttpServer.compose()
    with pytest.raises(RuntimeError):
        _ = server.port
    async with server:
        assert server.port > 0


async def test_default_keys_come_from_moto_for_template_pools(tmp_path: Path) -> None:
    """Without `keys`, JWKS are fetched from `aws_url` for the template's pools."""
    jwks_hits: list[str] = []

    async def serve_jwks(request: web.Request) -> web.Response:
        jwks_hits.append(request.match_info["pool"])
        return web.json_response(JWKS)

    app = web.Application()
    app.router.add_get("/{pool}/.well-known/jwks.json", serve_jwks)
    moto_like = web.AppRunner(app, access_log=None)
    await moto_like.setup()
    await web.TCPSite(moto_like, "127.0.0.1", 0).start()
    pool = UserPool("UserPool", POOL_ID, "duel-users", "arn:pool", MappingProxyType({}))
    server = HttpServer(
        template({"UserPool": pool}),
        runner=FakeRunner(),
        gateways={WS_ID: MemoryPort()},
        aws_url=f"http://127.0.0.1:{moto_like.addresses[0][1]}",
    )
    try:
        async with server, aiohttp.ClientSession() as session:
            headers = {"Authorization": token()}
            async with session.get(f"{server.url}/online", headers=headers) as resp:
                assert resp.status == 200
            mgmt = f"{server.url}/local/@connections/{CONN}"
            async with session.post(mgmt, data=b"x") as resp:
                assert resp.status == 200
    finally:
        await moto_like.cleanup()
    assert jwks_hits == [POOL_ID]
