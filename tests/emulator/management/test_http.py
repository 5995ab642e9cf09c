"""The @connections API over real sockets, driven by unmodified boto3."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from botocore.config import Config

from emulator.management.errors import Gone, PayloadTooLarge
from emulator.management.http import (
    MAX_POST_BYTES,
    ManagementApi,
    api_id_from_host,
    connection_json,
    iso_ms,
    parse_connections_path,
    to_response,
)
from emulator.management.port import ConnectionInfo, ConnectionPort


@dataclass
class MemoryPort:
    """A ConnectionPort over dicts: what the gateway would do, minus the sockets."""

    connections: dict[str, ConnectionInfo] = field(default_factory=dict)
    posted: list[tuple[str, bytes]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        if connection_id not in self.connections:
            raise Gone()
        self.posted.append((connection_id, data))

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        try:
            return self.connections[connection_id]
        except KeyError:
            raise Gone() from None

    async def delete_connection(self, connection_id: str) -> None:
        if self.connections.pop(connection_id, None) is None:
            raise Gone()
        self.deleted.append(connection_id)


@dataclass
class Served:
    port: MemoryPort
    base_url: str
    lookups: list[tuple[str | None, str]]


API_ID = "a1b2c3d4e5"
STAGE = "local"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """The @connections routes of one WebSocket API (stage "local") on a free port."""
    port = MemoryPort()
    lookups: list[tuple[str | None, str]] = []

    def resolve(api_id: str | None, stage: str) -> ConnectionPort | None:
        lookups.append((api_id, stage))
        if stage == STAGE and api_id in (None, API_ID):
            return port
        return None

    app = web.Application()
    app.add_routes(ManagementApi(resolve).routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = runner.addresses[0][1]
    try:
        yield Served(port, f"http://127.0.0.1:{http_port}", lookups)
    finally:
        await runner.cleanup()


CONN = "BFaT_fALIAMCKug="
INFO = ConnectionInfo(
    connected_at_ms=1_767_225_600_123,
    last_active_at_ms=1_767_225_660_456,
    source_ip="203.0.113.7",
    user_agent="wscat/6",
)


_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Close every boto3 client a test made, so no pooled socket outlives it."""
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


def client(base_url: str, stage: str = "local") -> Any:
    api = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{base_url}/{stage}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    _CLIENTS.append(api)
    return api


async def test_post_to_connection_delivers_the_raw_data(served: Served) -> None:
    """PostToConnection hands the body to the port with the id decoded from %3D."""
    served.port.connections[CONN] = INFO
    api = client(served.base_url)
    response = await asyncio.to_thread(api.post_to_connection, ConnectionId=CONN, Data=b'{"a":1}')
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert served.port.posted == [(CONN, b'{"a":1}')]
    assert served.lookups[-1] == (None, "local")


async def test_gone_is_caught_as_gone_exception(served: Served) -> None:
    """An unknown id raises GoneException, not a bare ClientError "410"."""
    api = client(served.base_url)
    with pytest.raises(api.exceptions.GoneException) as info:
        await asyncio.to_thread(api.post_to_connection, ConnectionId=CONN, Data=b"x")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


async def test_oversized_data_is_payload_too_large(served: Served) -> None:
    """Data over 128 KB is refused with PayloadTooLargeException; exactly 128 KB passes."""
    served.port.connections[CONN] = INFO
    api = client(served.base_url)
    await asyncio.to_thread(api.post_to_connection, ConnectionId=CONN, Data=b"a" * MAX_POST_BYTES)
    with pytest.raises(api.exceptions.PayloadTooLargeException):
        await asyncio.to_thread(
            api.post_to_connection, ConnectionId=CONN, Data=b"a" * (MAX_POST_BYTES + 1)
        )
    assert [len(data) for _, data in served.port.posted] == [MAX_POST_BYTES]


async def test_get_connection_fields_parse_in_boto3(served: Served) -> None:
    """GetConnection's wire keys come back as boto3's ConnectedAt, Identity, LastActiveAt."""
    served.port.connections[CONN] = INFO
    api = client(served.base_url)
    result = await asyncio.to_thread(api.get_connection, ConnectionId=CONN)
    assert result["ConnectedAt"] == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert result["LastActiveAt"] == datetime(2026, 1, 1, 0, 1, 0, 456000, tzinfo=UTC)
    assert result["Identity"] == {"SourceIp": "203.0.113.7", "UserAgent": "wscat/6"}


async def test_delete_connection_then_gone(served: Served) -> None:
    """DeleteConnection answers 204 and the id is gone afterwards."""
    served.port.connections[CONN] = INFO
    api = client(served.base_url)
    response = await asyncio.to_thread(api.delete_connection, ConnectionId=CONN)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert served.port.deleted == [CONN]
    with pytest.raises(api.exceptions.GoneException):
        await asyncio.to_thread(api.get_connection, ConnectionId=CONN)


async def test_wrong_stage_is_forbidden(served: Served) -> None:
    """A stage no WebSocket API has is 403 ForbiddenException."""
    served.port.connections[CONN] = INFO
    api = client(served.base_url, stage="prod")
    with pytest.raises(api.exceptions.ForbiddenException):
        await asyncio.to_thread(api.post_to_connection, ConnectionId=CONN, Data=b"x")
    assert served.port.posted == []


async def test_percent_encoded_at_sign_is_accepted(served: Served) -> None:
    """awscurl's `%40connections` spelling reaches the same connection."""
    served.port.connections[CONN] = INFO
    url = f"{served.base_url}/local/%40connections/BFaT_fALIAMCKug%3D"
    async with (
        aiohttp.ClientSession() as session,
        session.post(aiohttp.client.URL(url, encoded=True), data=b"hi") as response,
    ):
        assert response.status == 200
        assert await response.read() == b""
    assert served.port.posted == [(CONN, b"hi")]


async def test_host_header_selects_the_api(served: Served) -> None:
    """Through the proxy the Host names the API; another API id is forbidden."""
    served.port.connections[CONN] = INFO
    url = f"{served.base_url}/local/@connections/BFaT_fALIAMCKug%3D"
    async with aiohttp.ClientSession() as session:
        host = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
        async with session.get(url, headers={"Host": host}) as response:
            assert response.status == 200
            assert await response.json() == connection_json(INFO)
        other = "zzzzzzzzzz.execute-api.us-east-1.amazonaws.com"
        async with session.get(url, headers={"Host": other}) as response:
            assert response.status == 403
            assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert (API_ID, "local") in served.lookups
    assert ("zzzzzzzzzz", "local") in served.lookups


async def test_port_bug_is_a_generic_500(served: Served) -> None:
    """An unexpected exception from the port becomes AWS's generic 500, not a crash."""

    def broken(connection_id: str) -> ConnectionInfo:
        raise RuntimeError("bug")

    served.port.get_connection = broken  # type: ignore[method-assign]
    url = f"{served.base_url}/local/@connections/abc"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 500
        assert response.headers["x-amzn-ErrorType"] == "InternalServerErrorException"


def test_to_response_carries_status_type_and_message() -> None:
    """to_response sets the status, x-amzn-ErrorType and a JSON message body."""
    response = to_response(Gone())
    assert response.status == 410
    assert response.headers["x-amzn-ErrorType"] == "GoneException"
    assert response.body is not None
    assert json.loads(bytes(response.body)) == {"message": None}  # type: ignore[arg-type]
    too_large = to_response(PayloadTooLarge("Request entity too large"))
    assert too_large.status == 413
    assert too_large.headers["x-amzn-ErrorType"] == "PayloadTooLargeException"


def test_parse_connections_path_accepts_both_spellings() -> None:
    """`@` and `%40` parse alike; the id is decoded; other paths are not @connections."""
    expected = ("local", "ab=")
    for raw in ("/local/@connections/ab%3D", "/local/%40connections/ab%3D?x=1"):
        parsed = parse_connections_path(raw)
        assert parsed is not None
        assert (parsed.stage, parsed.connection_id) == expected
    assert parse_connections_path("/local/connections/ab") is None
    assert parse_connections_path("/online") is None
    assert parse_connections_path("/local/@connections/a/b") is None


def test_api_id_from_host() -> None:
    """Only execute-api host names carry an API id; ports are ignored."""
    assert api_id_from_host("a1b2c3d4e5.execute-api.us-east-1.amazonaws.com") == "a1b2c3d4e5"
    assert api_id_from_host("a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com:443") == "a1b2c3d4e5"
    assert api_id_from_host("127.0.0.1:8080") is None
    assert api_id_from_host("sqs.us-east-1.amazonaws.com") is None
    assert api_id_from_host(None) is None


def test_iso_ms_keeps_milliseconds() -> None:
    """Wire timestamps are ISO-8601 UTC with milliseconds."""
    assert iso_ms(1_767_225_600_007) == "2026-01-01T00:00:00.007Z"
