"""The CONNECT proxy with real clients: botocore, boto3 via env vars, urllib and PyJWKClient."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from emulator.management.errors import Gone
from emulator.management.http import ManagementApi
from emulator.management.port import ConnectionInfo, ConnectionPort
from emulator.proxy.certs import CertPaths, ensure_certificates
from emulator.proxy.connect import ConnectProxy, aws_route, parse_connect_target

API_ID = "a1b2c3d4e5"
API_HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
POOL = "us-east-1_AbCdEf123"
JWKS_URL = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}/.well-known/jwks.json"
CONN = "BFaT_fALIAMCKug="
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class MemoryPort:
    """Just enough of a ConnectionPort: one live connection, posts recorded."""

    posted: list[bytes] = field(default_factory=list)

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        if connection_id != CONN:
            raise Gone()
        self.posted.append(data)

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        raise Gone()

    async def delete_connection(self, connection_id: str) -> None:
        raise Gone()


@dataclass
class Stack:
    proxy: ConnectProxy
    certs: CertPaths
    port: MemoryPort
    hosts: list[str]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A backend (management API + a moto-like JWKS path) behind the proxy."""
    port = MemoryPort()
    hosts: list[str] = []

    def resolve(api_id: str | None, stage: str) -> ConnectionPort | None:
        return port if (api_id, stage) == (API_ID, "local") else None

    @web.middleware
    async def record_host(request: web.Request, handler: Any) -> web.StreamResponse:
        hosts.append(request.host)
        response: web.StreamResponse = await handler(request)
        return response

    async def jwks(request: web.Request) -> web.Response:
        jwk = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
        return web.json_response({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]})

    app = web.Application(middlewares=[record_host])
    app.add_routes(ManagementApi(resolve).routes())
    app.router.add_get("/{pool}/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    backend_port = runner.addresses[0][1]

    certs = ensure_certificates(tmp_path / "certs")
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    base_route = aws_route(http_port=backend_port, moto_port=backend_port)

    def route(host: str) -> tuple[str, int] | None:
        if host == "dead.us-east-1.amazonaws.com":
            return "127.0.0.1", closed_port
        return base_route(host)

    proxy = ConnectProxy(certs, route)
    await proxy.start()
    try:
        yield Stack(proxy, certs, port, hosts)
    finally:
        await proxy.aclose()
        await runner.cleanup()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without proxy or AWS settings, plus `extra`."""
    drop = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ssl_cert_file")
    env = {
        k: v for k, v in os.environ.items() if k.lower() not in drop and not k.startswith("AWS_")
    }
    env.update(extra)
    return env


async def run_python(code: str, env: dict[str, str]) -> str:
    """Run `code` in a fresh interpreter (the loop keeps serving meanwhile); its stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(code),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_botocore_config_proxy_reaches_the_management_api(stack: Stack) -> None:
    """A botocore client with proxies + verify=ca posts through the tunnel, twice."""
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"https://{API_HOST}/local",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        verify=str(stack.certs.ca),
        config=Config(proxies={"https": stack.proxy.url}, retries={"max_attempts": 1}),
    )
    with closing(client):
        await asyncio.to_thread(client.post_to_connection, ConnectionId=CONN, Data=b"one")
        await asyncio.to_thread(client.post_to_connection, ConnectionId=CONN, Data=b"two")
        assert stack.port.posted == [b"one", b"two"]
        assert stack.hosts == [API_HOST, API_HOST]
        with pytest.raises(client.exceptions.GoneException):
            await asyncio.to_thread(client.post_to_connection, ConnectionId="other", Data=b"x")


async def test_boto3_with_env_vars_only(stack: Stack) -> None:
    """HTTPS_PROXY + AWS_CA_BUNDLE in the environment make plain boto3 code work unchanged."""
    code = f"""
        import boto3
        api = boto3.client("apigatewaymanagementapi",
                           endpoint_url="https://{API_HOST}/local")
        api.post_to_connection(ConnectionId="{CONN}", Data=b"from env")
        try:
            api.post_to_connection(ConnectionId="stale", Data=b"x")
        except api.exceptions.GoneException:
            print("gone")
    """
    env = clean_env(
        HTTPS_PROXY=stack.proxy.url,
        NO_PROXY="127.0.0.1,localhost",
        AWS_CA_BUNDLE=str(stack.certs.ca),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    assert (await run_python(code, env)).split() == ["gone"]
    assert stack.port.posted == [b"from env"]


async def test_urllib_and_pyjwkclient_with_env_vars(stack: Stack) -> None:
    """SSL_CERT_FILE + HTTPS_PROXY let urllib and PyJWKClient fetch the JWKS by its AWS URL."""
    code = f"""
        import json, urllib.request
        import jwt
        with urllib.request.urlopen("{JWKS_URL}") as response:
            print(json.load(response)["keys"][0]["kid"])
        print(jwt.PyJWKClient("{JWKS_URL}").get_signing_key("k1").key_id)
    """
    env = clean_env(
        HTTPS_PROXY=stack.proxy.url,
        NO_PROXY="127.0.0.1,localhost",
        SSL_CERT_FILE=str(stack.certs.ca),
    )
    assert (await run_python(code, env)).split() == ["k1", "k1"]
    assert stack.hosts == ["cognito-idp.us-east-1.amazonaws.com"] * 2


async def raw_exchange(stack: Stack, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.proxy.port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    return head


async def test_refused_and_unsupported_requests(stack: Stack) -> None:
    """Non-AWS hosts get 403, plain-HTTP proxying 405, a dead backend 502."""
    refused = await raw_exchange(stack, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 403 ")
    plain = await raw_exchange(stack, b"GET http://sqs.amazonaws.com/ HTTP/1.1\r\n\r\n")
    assert plain.startswith(b"HTTP/1.1 405 ")
    assert b"Allow: CONNECT" in plain
    dead = await raw_exchange(stack, b"CONNECT dead.us-east-1.amazonaws.com:443 HTTP/1.1\r\n\r\n")
    assert dead.startswith(b"HTTP/1.1 502 ")
    garbage = await raw_exchange(stack, b"CONNECT nonsense HTTP/1.1\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    assert stack.hosts == []


def test_aws_route_and_target_parsing() -> None:
    """execute-api goes to the HTTP server, other AWS hosts to moto, the rest nowhere."""
    route = aws_route(http_port=1111, moto_port=2222)
    assert route(API_HOST) == ("127.0.0.1", 1111)
    assert route("cognito-idp.us-east-1.amazonaws.com") == ("127.0.0.1", 2222)
    assert route("sts.amazonaws.com") == ("127.0.0.1", 2222)
    assert route("example.com") is None
    assert route("amazonaws.com.evil.net") is None
    assert parse_connect_target("Sqs.US-East-1.amazonaws.com.:443") == (
        "sqs.us-east-1.amazonaws.com",
        443,
    )
    assert parse_connect_target("[::1]:8443") == ("::1", 8443)
    assert parse_connect_target("nohost") is None
