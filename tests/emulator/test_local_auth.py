"""The web client's local sign-in against a real moto server (no mocks)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from duelctl_endpoints import Endpoints
from emulator.local_auth import (
    LocalAuthError,
    LocalWebApi,
    create_user,
    issue_local_token,
    local_cognito,
    token_endpoint,
    web_config,
)
from emulator.services.moto_server import MotoServer

REGION = "us-east-1"
# template.yaml's UserPool policy (moto's default policy would refuse the local password).
TEMPLATE_PASSWORD_POLICY = {
    "PasswordPolicy": {
        "MinimumLength": 8,
        "RequireLowercase": False,
        "RequireNumbers": False,
        "RequireSymbols": False,
        "RequireUppercase": False,
    }
}


@dataclass(frozen=True)
class Pool:
    aws_url: str
    pool_id: str
    client_id: str


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """A moto server (a thread of this process: plain moto, no child) with one pool and an
    app client that allows admin password auth."""
    with MotoServer(mode="thread") as server:
        idp = local_cognito(server.url, REGION)
        pool_id = idp.create_user_pool(
            PoolName=f"web-{uuid.uuid4().hex[:8]}",
            Policies=TEMPLATE_PASSWORD_POLICY,
        )["UserPool"]["Id"]
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="web",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        yield Pool(server.url, pool_id, client_id)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_new_user_is_created_and_signed_in(pool: Pool) -> None:
    """A first sign-in creates the user and returns a pool token naming it."""
    name = _name("ada")
    result = await issue_local_token(pool.aws_url, pool.pool_id, pool.client_id, REGION, name)
    claims = jwt.decode(result["idToken"], options={"verify_signature": False})
    assert result["username"] == name == claims["cognito:username"]
    assert result["userId"] == claims["sub"]
    assert claims["token_use"] == "id"
    assert claims["aud"] == pool.client_id
    assert claims["iss"].endswith(f"/{pool.pool_id}")


async def test_second_sign_in_keeps_the_same_user(pool: Pool) -> None:
    """Signing in again returns a token for the same `sub`, not a new user."""
    name = _name("bo")
    first = await issue_local_token(pool.aws_url, pool.pool_id, pool.client_id, REGION, name)
    second = await issue_local_token(pool.aws_url, pool.pool_id, pool.client_id, REGION, name)
    assert first["userId"] == second["userId"]


async def test_user_made_elsewhere_with_other_password_can_sign_in(pool: Pool) -> None:
    """A user another tool created with its own password still gets a token."""
    name = _name("cy")
    create_user(local_cognito(pool.aws_url, REGION), pool.pool_id, name, "some-other-pass")
    result = await issue_local_token(pool.aws_url, pool.pool_id, pool.client_id, REGION, name)
    assert result["username"] == name


@pytest.mark.parametrize("bad", ["", "two words", "tab\there", "x" * 129])
async def test_bad_username_is_refused_before_cognito(pool: Pool, bad: str) -> None:
    """A name Cognito would refuse raises LocalAuthError with status 400."""
    with pytest.raises(LocalAuthError) as info:
        await issue_local_token(pool.aws_url, pool.pool_id, pool.client_id, REGION, bad)
    assert info.value.status == 400


async def test_endpoint_answers_token_json(pool: Pool) -> None:
    """POST /_local/token's body handler answers 200 with the token dict."""
    name = _name("di")
    status, body = await token_endpoint(
        json.dumps({"username": name}).encode(),
        aws_url=pool.aws_url,
        pool_id=pool.pool_id,
        client_id=pool.client_id,
        region=REGION,
    )
    assert status == 200
    assert set(body) == {"idToken", "userId", "username"}
    assert body["username"] == name


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[]", b'{"user": "x"}', b'{"username": 7}', b'{"username": "a b"}']
)
async def test_endpoint_answers_400_with_message(pool: Pool, raw: bytes) -> None:
    """A malformed body or name gets 400 and a readable message."""
    status, body = await token_endpoint(
        raw,
        aws_url=pool.aws_url,
        pool_id=pool.pool_id,
        client_id=pool.client_id,
        region=REGION,
    )
    assert status == 400
    assert isinstance(body["message"], str) and body["message"]


async def test_endpoint_answers_502_when_cognito_is_unreachable(pool: Pool) -> None:
    """An unreachable local AWS endpoint is a 502 naming the failure, not a crash."""
    with MotoServer(mode="thread") as other:
        dead_url = other.url
    status, body = await token_endpoint(
        b'{"username": "eve"}',
        aws_url=dead_url,
        pool_id=pool.pool_id,
        client_id=pool.client_id,
        region=REGION,
    )
    assert status == 502
    assert "local Cognito failed" in body["message"]


def _endpoints(pool: Pool) -> Endpoints:
    return Endpoints(
        target="local",
        region=REGION,
        stage="local",
        websocket_url="ws://127.0.0.1:1111/local",
        management_url="http://127.0.0.1:2222/local",
        http_url="http://127.0.0.1:2222",
        aws_endpoint_url=pool.aws_url,
        user_pool_id=pool.pool_id,
        user_pool_client_id=pool.client_id,
        connections_table="c",
        sessions_table="s",
    )


@dataclass
class Site:
    url: str
    ready: dict[str, Endpoints]  # empty = the stack is still starting


@pytest.fixture
async def site(pool: Pool) -> AsyncIterator[Site]:
    """LocalWebApi behind a catch-all route, as the emulator's HTTP server mounts it."""
    ready: dict[str, Endpoints] = {"endpoints": _endpoints(pool)}
    api = LocalWebApi(lambda: ready.get("endpoints"))

    async def dispatch(request: web.Request) -> web.StreamResponse:
        if LocalWebApi.matches(request.raw_path):
            return await api.handle(request)
        return web.json_response({"message": "Not Found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield Site(str(server.make_url("")).rstrip("/"), ready)
    finally:
        await server.close()


def test_web_config_has_only_what_a_browser_needs(pool: Pool) -> None:
    """config.json carries the endpoint keys the page uses plus local_auth, nothing else."""
    body = web_config(_endpoints(pool))
    assert body == {
        "target": "local",
        "stage": "local",
        "region": REGION,
        "websocket_url": "ws://127.0.0.1:1111/local",
        "http_url": "http://127.0.0.1:2222",
        "user_pool_client_id": pool.client_id,
        "local_auth": True,
        "clock": "real",
    }
    virtual = web_config(dataclasses.replace(_endpoints(pool), clock="virtual"))
    assert virtual["clock"] == "virtual"


async def test_config_json_answers_with_the_request_origin(site: Site) -> None:
    """GET /config.json names the origin the page came from as http_url (same-origin)."""
    async with aiohttp.ClientSession() as http, http.get(f"{site.url}/config.json") as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        body = await resp.json()
    assert body["http_url"] == site.url
    assert body["local_auth"] is True
    assert body["websocket_url"] == "ws://127.0.0.1:1111/local"


async def test_local_token_route_signs_in(site: Site) -> None:
    """POST /_local/token returns a token for the name in the body."""
    name = _name("fay")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{site.url}/_local/token", json={"username": name}) as resp,
    ):
        assert resp.status == 200
        body = await resp.json()
    assert body["username"] == name


async def test_wrong_methods_and_early_requests_are_refused(site: Site) -> None:
    """Wrong methods get 405; before the stack is ready both routes answer 503."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{site.url}/_local/token") as resp:
            assert resp.status == 405
        async with http.post(f"{site.url}/config.json") as resp:
            assert resp.status == 405
        site.ready.clear()
        async with http.get(f"{site.url}/config.json") as resp:
            assert resp.status == 503
            assert (await resp.json())["message"]
