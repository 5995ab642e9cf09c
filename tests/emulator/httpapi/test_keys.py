"""JWKS fetching and caching against a local JWKS server, and the Cognito issuer mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from emulator.httpapi.keys import (
    JwksKeyProvider,
    KeyFetchError,
    StaticKeyProvider,
    keys_from_jwks,
    local_cognito_jwks_url,
)

POOL = "us-east-1_AbCdEf123"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(kid: str) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": kid, "alg": "RS256"}


class JwksServer:
    """Serves `/{pool}/.well-known/jwks.json` like moto, counting requests."""

    def __init__(self) -> None:
        self.kids = ["k1"]
        self.hits = 0
        self.status = 200
        self.url = ""

    async def serve(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.status != 200:
            return web.Response(status=self.status)
        return web.json_response({"keys": [jwk(kid) for kid in self.kids]})


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    app = web.Application()
    app.router.add_get("/{pool}/.well-known/jwks.json", server.serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


async def test_keys_are_fetched_once_and_cached(jwks_server: JwksServer) -> None:
    """Two lookups of a known kid fetch the JWKS once."""
    provider = JwksKeyProvider.for_local_pools(jwks_server.url, {POOL})
    first = await provider.key_for(ISSUER, "k1")
    second = await provider.key_for(ISSUER, "k1")
    assert first is not None and second is first
    assert (provider.fetches, jwks_server.hits) == (1, 1)


async def test_unknown_kid_refetches_only_after_the_interval(jwks_server: JwksServer) -> None:
    """A new kid is picked up by a refetch, but not within the refresh interval."""
    throttled = JwksKeyProvider.for_local_pools(jwks_server.url)
    assert await throttled.key_for(ISSUER, "k1") is not None
    jwks_server.kids = ["k1", "k2"]
    assert await throttled.key_for(ISSUER, "k2") is None  # still within 30 s
    assert jwks_server.hits == 1
    eager = JwksKeyProvider(local_cognito_jwks_url(jwks_server.url), refresh_interval_s=0)
    assert await eager.key_for(ISSUER, "k1") is not None
    jwks_server.kids = ["k1", "k3"]
    assert await eager.key_for(ISSUER, "k3") is not None
    assert eager.fetches == 2


async def test_fetch_failure_raises(jwks_server: JwksServer) -> None:
    """A non-200 JWKS answer is a KeyFetchError."""
    jwks_server.status = 500
    provider = JwksKeyProvider.for_local_pools(jwks_server.url)
    with pytest.raises(KeyFetchError):
        await provider.key_for(ISSUER, "k1")


async def test_foreign_issuers_have_no_keys() -> None:
    """Issuers outside the local pools are never fetched."""
    provider = JwksKeyProvider.for_local_pools("http://127.0.0.1:9", {POOL})
    assert await provider.key_for("https://example.com/issuer", "k1") is None
    other_pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"
    assert await provider.key_for(other_pool, "k1") is None
    assert provider.fetches == 0


def test_local_cognito_url_mapping() -> None:
    """The AWS issuer maps to moto's JWKS path for the pool."""
    url_for = local_cognito_jwks_url("http://127.0.0.1:5000/")
    assert url_for(ISSUER) == f"http://127.0.0.1:5000/{POOL}/.well-known/jwks.json"
    assert url_for("https://login.example.com/") is None


async def test_static_provider_and_jwks_parsing() -> None:
    """StaticKeyProvider serves keys by issuer and kid; entries without kid are skipped."""
    no_kid = {k: v for k, v in jwk("x").items() if k != "kid"}
    assert list(keys_from_jwks({"keys": [jwk("a"), no_kid, "junk"]})) == ["a"]
    provider = StaticKeyProvider({ISSUER: {"keys": [jwk("a")]}})
    assert await provider.key_for(ISSUER, "a") is not None
    assert await provider.key_for(ISSUER, "b") is None
    with pytest.raises(KeyFetchError):
        keys_from_jwks({"nokeys": []})
