"""Where JWT authorizers get an issuer's signing keys (its JWKS).

AWS fetches `{issuer}/.well-known/jwks.json` (for Cognito) and caches it. Locally the
issuer is still the real AWS URL (`https://cognito-idp.{region}.amazonaws.com/{poolId}`,
moto puts it in every token, docs/aws-behaviour.md §11), so `JwksKeyProvider` maps it to moto's
`{moto_url}/{poolId}/.well-known/jwks.json` instead of calling AWS. Tests pass a
`StaticKeyProvider` holding their own keys.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

import aiohttp
import jwt

from emulator.logs import SERVICE, emit


class KeyFetchError(Exception):
    """The issuer's JWKS could not be fetched or parsed."""


class KeyProvider(Protocol):
    async def key_for(self, issuer: str, kid: str) -> Any | None:
        """The public key `kid` of `issuer` (a pyjwt-usable key), None if unknown.

        Raises KeyFetchError when the key set cannot be obtained at all.
        """
        ...


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Public keys of a JWKS document by `kid`; keys without a kid or usable type are skipped."""
    keys: dict[str, Any] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise KeyFetchError("JWKS has no 'keys' list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry).key
        except jwt.PyJWTError:
            continue
    return keys


class StaticKeyProvider:
    """Keys known up front: `{issuer: JWKS document}`. For tests and offline issuers."""

    def __init__(self, jwks_by_issuer: Mapping[str, Mapping[str, Any]]) -> None:
        self._keys = {issuer: keys_from_jwks(doc) for issuer, doc in jwks_by_issuer.items()}

    async def key_for(self, issuer: str, kid: str) -> Any | None:
        return self._keys.get(issuer, {}).get(kid)


_COGNITO_ISSUER = re.compile(
    r"^https://cognito-idp\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<pool>[A-Za-z0-9_-]+)$"
)


def local_cognito_jwks_url(
    moto_url: str, pool_ids: Collection[str] | None = None
) -> Callable[[str], str | None]:
    """Map a Cognito issuer of a local pool to moto's JWKS URL; other issuers map to None.

    `pool_ids` limits the mapping to the template's pools (None = any Cognito issuer).
    moto server serves `/{poolId}/.well-known/jwks.json` without auth (docs/aws-behaviour.md §11).
    """
    base = moto_url.rstrip("/")

    def url_for(issuer: str) -> str | None:
        match = _COGNITO_ISSUER.match(issuer)
        if match is None:
            return None
        pool = match.group("pool")
        if pool_ids is not None and pool not in pool_ids:
            return None
        return f"{base}/{pool}/.well-known/jwks.json"

    return url_for


class JwksKeyProvider:
    """Fetches and caches each issuer's JWKS over HTTP; refetches on an unknown kid.

    A refetch for a missing kid happens at most once per `refresh_interval_s` per issuer,
    so a flood of tokens with a bogus kid cannot hammer the key endpoint.
    """

    def __init__(
        self,
        jwks_url: Callable[[str], str | None],
        *,
        refresh_interval_s: float = 30.0,
        fetch_timeout_s: float = 5.0,
    ) -> None:
        self._jwks_url = jwks_url
        self._refresh_interval_s = refresh_interval_s
        self._fetch_timeout_s = fetch_timeout_s
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0  # how many HTTP fetches were made (observability, tests)

    @classmethod
    def for_local_pools(
        cls, moto_url: str, pool_ids: Collection[str] | None = None
    ) -> JwksKeyProvider:
        """A provider reading local Cognito pools' keys from moto."""
        return cls(local_cognito_jwks_url(moto_url, pool_ids))

    async def key_for(self, issuer: str, kid: str) -> Any | None:
        url = self._jwks_url(issuer)
        if url is None:
            return None
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            cached = self._cache.get(issuer)
            if cached is not None:
                fetched_at, keys = cached
                fresh = time.monotonic() - fetched_at < self._refresh_interval_s
                if kid in keys or fresh:
                    return keys.get(kid)
            keys = await self._fetch(url)
            self._cache[issuer] = (time.monotonic(), keys)
            return keys.get(kid)

    async def _fetch(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        timeout = aiohttp.ClientTimeout(total=self._fetch_timeout_s)
        try:
            # trust_env=False: the emulator itself must never go through its own proxy.
            async with (
                aiohttp.ClientSession(timeout=timeout, trust_env=False) as session,
                session.get(url) as response,
            ):
                if response.status != 200:
                    raise KeyFetchError(f"GET {url} -> {response.status}")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise KeyFetchError(f"GET {url} failed: {exc}") from exc
        if not isinstance(document, dict):
            raise KeyFetchError(f"GET {url}: not a JWKS document")
        keys = keys_from_jwks(document)
        emit(SERVICE, f"fetched {len(keys)} signing key(s) from {url}", url=url)
        return keys
