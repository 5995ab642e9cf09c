"""Routing beyond execute-api: other hosts tunnelled untouched, Lambda to the Invoke API.

A deployed function reaches any host on the internet, so a handler calling a third-party
API over https must work locally: the proxy passes such CONNECTs through (it does not
terminate their TLS), and the trust bundle keeps the public roots next to the local CA.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from emulator.http_server import HttpServer
from emulator.lambda_api import LambdaInvokeApi
from emulator.proxy.certs import CertPaths, ensure_certificates, public_roots
from emulator.proxy.connect import ConnectProxy, aws_route
from emulator.runner.base import Invocation


def nowhere(host: str) -> None:
    """A route that claims no host, so every CONNECT is someone else's."""
    return None


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A plain TCP echo server standing in for a host on the internet."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
def certs(tmp_path: Path) -> CertPaths:
    return ensure_certificates(tmp_path / "certs")


async def connect_through(
    proxy: ConnectProxy, target: str
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    return head, reader, writer


async def test_other_hosts_are_tunnelled_untouched(certs: CertPaths, echo_port: int) -> None:
    """With passthrough, bytes go to the real host and back as sent: no TLS in between."""
    async with ConnectProxy(certs, nowhere, passthrough=True) as proxy:
        head, reader, writer = await connect_through(proxy, f"127.0.0.1:{echo_port}")
        assert head.startswith(b"HTTP/1.1 200 ")
        sent = b"\x16\x03\x01 not a TLS handshake the proxy would answer"
        writer.write(sent)
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(len(sent)), 5) == sent
        writer.close()


async def test_unreachable_other_host_gets_bad_gateway(certs: CertPaths) -> None:
    """A host that does not answer gets 502, as for a dead local backend."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    async with ConnectProxy(certs, nowhere, passthrough=True) as proxy:
        head, _, writer = await connect_through(proxy, f"127.0.0.1:{closed}")
        assert head.startswith(b"HTTP/1.1 502 ")
        writer.close()


async def test_without_passthrough_other_hosts_are_refused(
    certs: CertPaths, echo_port: int
) -> None:
    """The default stays closed: 403 and nothing is opened."""
    async with ConnectProxy(certs, nowhere) as proxy:
        head, _, writer = await connect_through(proxy, f"127.0.0.1:{echo_port}")
        assert head.startswith(b"HTTP/1.1 403 ")
        writer.close()


def test_trust_bundle_holds_the_local_ca_and_the_public_roots(certs: CertPaths) -> None:
    """The bundle is the local CA followed by every default root, and loads as a CA file."""
    roots = public_roots()
    assert roots.count(b"-----BEGIN CERTIFICATE-----") > 1  # certifi or the system bundle
    bundle = certs.trust_bundle.read_bytes()
    assert bundle == certs.ca.read_bytes().rstrip(b"\n") + b"\n" + roots
    context = ssl.create_default_context(cafile=str(certs.trust_bundle))
    subjects = [str(cert["subject"]) for cert in context.get_ca_certs()]
    assert any("duelctl local CA" in subject for subject in subjects)
    assert len(subjects) > 1


def test_trust_bundle_is_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    """A second start leaves an up-to-date bundle alone and repairs a damaged one."""
    first = ensure_certificates(tmp_path)
    stamp = first.trust_bundle.stat().st_mtime_ns
    again = ensure_certificates(tmp_path)
    assert again.trust_bundle.stat().st_mtime_ns == stamp
    first.trust_bundle.write_bytes(b"damaged")
    ensure_certificates(tmp_path)
    assert first.trust_bundle.read_bytes().startswith(first.ca.read_bytes().rstrip(b"\n"))


def test_lambda_endpoint_goes_to_the_emulators_invoke_api() -> None:
    """`lambda.{region}.amazonaws.com` is served by the HTTP server, not moto."""
    route = aws_route(http_port=1111, moto_port=2222)
    assert route("lambda.us-east-1.amazonaws.com") == ("127.0.0.1", 1111)
    assert route("lambda.eu-west-3.amazonaws.com") == ("127.0.0.1", 1111)
    assert route("lambda-url.us-east-1.amazonaws.com") == ("127.0.0.1", 2222)
    assert route("x.lambda.us-east-1.amazonaws.com") == ("127.0.0.1", 2222)


class EchoRunner:
    """A FunctionRunner that answers with the function and event it was given."""

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        return Invocation(function, "req-1", "ok", {"function": function, "event": event}, 1.0)


async def test_boto3_lambda_on_the_real_host_reaches_the_invoke_api(certs: CertPaths) -> None:
    """A lambda client on lambda.us-east-1.amazonaws.com, via the proxy, invokes locally."""
    api = LambdaInvokeApi(
        EchoRunner(),
        lambda name: "Fn" if name == "my-fn" else None,
        region="us-east-1",
        account_id="123456789012",
    )
    async with HttpServer.compose(lambda_api=api) as http:
        route = aws_route(http_port=http.port, moto_port=1)
        async with ConnectProxy(certs, route) as proxy:
            client = boto3.client(
                "lambda",
                endpoint_url="https://lambda.us-east-1.amazonaws.com",
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
                verify=str(certs.ca),
                config=Config(proxies={"https": proxy.url}, retries={"max_attempts": 1}),
            )
            with closing(client):
                response = await asyncio.to_thread(
                    client.invoke, FunctionName="my-fn", Payload=b'{"n": 1}'
                )
                payload = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200
    assert payload == {"function": "Fn", "event": {"n": 1}}
