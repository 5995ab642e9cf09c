"""Verify Cognito user-pool JWTs against the pool's JWKS (docs/aws-behaviour.md §11).

`verify_token` is pure (key set and `now` passed in) so every rejection reason is
testable offline; `JwksKeySource` fetches the key set once per warm container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

# AWS: Cognito signs with RS256 only; anything else (HS256, none) is a forgery attempt.
ALGORITHM = "RS256"
REFRESH_COOLDOWN_S = 30.0
_USERNAME_CLAIM = {"id": "cognito:username", "access": "username"}
_AUDIENCE_CLAIM = {"id": "aud", "access": "client_id"}


class InvalidToken(Exception):
    """The token must not be trusted; the message says why (for logs, never for clients)."""


class UnknownKey(InvalidToken):
    """The token's `kid` is not in the key set (maybe rotated: refresh once and retry)."""


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str  # sub
    username: str  # cognito:username (ID token) or username (access token)
    token_use: str


def verify_token(
    token: str, keys: jwt.PyJWKSet, *, issuer: str, client_id: str, now: float
) -> Identity:
    """Check signature (RS256, known kid), exact iss, exp > now, token_use, aud/client_id."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as err:
        raise InvalidToken(f"malformed token: {err}") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise UnknownKey("token has no kid")
    try:
        key = keys[kid]
    except KeyError:
        raise UnknownKey(f"unknown kid {kid!r}") from None
    if key.key_type != "RSA":
        raise InvalidToken(f"key {kid!r} is not an RSA key")
    try:
        # Claims are checked below against the injected `now`; PyJWT checks the signature.
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[ALGORITHM],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.PyJWTError as err:
        raise InvalidToken(f"signature check failed: {err}") from None

    if claims.get("iss") != issuer:
        raise InvalidToken(f"issuer {claims.get('iss')!r} is not {issuer!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidToken("exp missing or not a number")
    if exp <= now:
        raise InvalidToken("token expired")
    token_use = claims.get("token_use")
    if token_use not in _USERNAME_CLAIM:
        raise InvalidToken(f"token_use {token_use!r} is neither id nor access")
    audience_claim = _AUDIENCE_CLAIM[token_use]
    if claims.get(audience_claim) != client_id:
        raise InvalidToken(f"{audience_claim} is not this pool's app client")
    sub = claims.get("sub")
    username = claims.get(_USERNAME_CLAIM[token_use])
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("sub missing")
    if not isinstance(username, str) or not username:
        raise InvalidToken(f"{_USERNAME_CLAIM[token_use]} missing")
    return Identity(user_id=sub, username=username, token_use=token_use)


class KeySource(Protocol):
    def keys(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        """The current key set; `refresh` asks for a fresh fetch (may be rate limited)."""
        ...


class JwksKeySource:
    """The pool's JWKS over HTTPS, cached for the life of the warm container.

    A forced refresh (unknown kid) happens at most once per cooldown, so tokens with
    made-up kids cannot turn every authorizer call into a fetch.
    """

    def __init__(self, url: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        # PyJWKClient honours HTTPS_PROXY and SSL_CERT_FILE through urllib's defaults.
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=3600, timeout=5)
        self._monotonic = monotonic
        self._last_refresh: float | None = None
        self._lock = threading.Lock()

    def keys(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        with self._lock:
            now = self._monotonic()
            last = self._last_refresh
            if refresh and last is not None and now - last < REFRESH_COOLDOWN_S:
                refresh = False
            if refresh:
                self._last_refresh = now
            return self._client.get_jwk_set(refresh=refresh)


def authenticate(
    token: str, source: KeySource, *, issuer: str, client_id: str, now: float
) -> Identity:
    """`verify_token` against the source's keys, refreshing them once for an unknown kid."""
    try:
        return verify_token(token, source.keys(), issuer=issuer, client_id=client_id, now=now)
    except UnknownKey:
        keys = source.keys(refresh=True)
        return verify_token(token, keys, issuer=issuer, client_id=client_id, now=now)
