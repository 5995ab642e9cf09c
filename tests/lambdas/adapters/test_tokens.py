"""Cognito JWT verification: every rejection reason, and the cached JWKS source."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters.tokens import (
    Identity,
    InvalidToken,
    JwksKeySource,
    UnknownKey,
    authenticate,
    verify_token,
)

NOW = 1_767_225_600.0
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
CLIENT = "26charclientid000000000000"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


JWKS = {"keys": [jwk(KEY, "k1")]}
KEYS = jwt.PyJWKSet.from_dict(JWKS)


def claims(token_use: str = "id", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "8f23cf1a-3e53-414c-8b8f-00035bb95687",
        "iss": ISSUER,
        "token_use": token_use,
        "iat": int(NOW) - 60,
        "auth_time": int(NOW) - 60,
        "exp": int(NOW) + 3600,
        "jti": "3b1c2f4e-0000-4000-8000-000000000000",
    }
    if token_use == "id":
        base.update({"aud": CLIENT, "cognito:username": "alice"})
    else:
        base.update({"client_id": CLIENT, "username": "alice", "scope": "openid"})
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: rsa.RSAPrivateKey = KEY, kid: str | None = "k1") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


def verify(token: str, now: float = NOW) -> Identity:
    return verify_token(token, KEYS, issuer=ISSUER, client_id=CLIENT, now=now)


def test_id_and_access_tokens_pass() -> None:
    """A pool ID token and access token both yield sub and the right username claim."""
    assert verify(sign(claims("id"))) == Identity(
        "8f23cf1a-3e53-414c-8b8f-00035bb95687", "alice", "id"
    )
    access = verify(sign(claims("access", username="bob")))
    assert (access.username, access.token_use) == ("bob", "access")


@pytest.mark.parametrize(
    ("reason", "token"),
    [
        ("bad signature", sign(claims(), key=OTHER_KEY)),
        ("tampered payload", tampered(sign(claims()), claims(sub="someone-else"))),
        ("wrong iss", sign(claims(iss=ISSUER + "x"))),
        ("iss with trailing slash", sign(claims(iss=ISSUER + "/"))),
        ("other pool", sign(claims(iss=ISSUER.replace("AbCdEf123", "ZzZzZz999")))),
        ("expired", sign(claims(exp=int(NOW) - 1))),
        ("expires right now", sign(claims(exp=int(NOW)))),
        ("no exp", sign(claims(exp=None))),
        ("exp not a number", sign(claims(exp="9999999999"))),
        ("refresh token_use", sign(claims(token_use="refresh"))),
        ("no token_use", sign(claims(token_use=None))),
        ("wrong aud", sign(claims(aud="someone-else"))),
        ("id token without aud", sign(claims(aud=None, client_id=CLIENT))),
        ("wrong client_id", sign(claims("access", client_id="someone-else"))),
        ("access token with only aud", sign(claims("access", client_id=None, aud=CLIENT))),
        ("no sub", sign(claims(sub=None))),
        ("no username", sign(claims(**{"cognito:username": None}))),
        ("not a jwt", "not-a-token"),
        ("empty", ""),
    ],
)
def test_rejections(reason: str, token: str) -> None:
    """Each way a token can be wrong is refused."""
    with pytest.raises(InvalidToken):
        verify(token)


def test_hs256_with_the_public_key_as_secret_is_refused() -> None:
    """The RS256/HS256 confusion attack fails: only RS256 is accepted."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    body = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims()).encode())
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = b64(hmac.new(public_pem, body.encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken, match="HS256"):
        verify(f"{body}.{signature}")


def test_alg_none_is_refused() -> None:
    """An unsigned token (alg none) is refused."""
    token = jwt.encode(claims(), key=None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(InvalidToken, match="none"):
        verify(token)


def test_unknown_or_missing_kid_is_unknown_key() -> None:
    """A kid that is not in the set (or no kid) asks for a key refresh."""
    with pytest.raises(UnknownKey):
        verify(sign(claims(), kid="k2"))
    with pytest.raises(UnknownKey):
        verify(sign(claims(), kid=None))


class FakeSource:
    def __init__(self, *sets: jwt.PyJWKSet) -> None:
        self.sets = list(sets)
        self.calls: list[bool] = []

    def keys(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        self.calls.append(refresh)
        return self.sets[min(len(self.calls) - 1, len(self.sets) - 1)]


def test_authenticate_refreshes_once_for_a_rotated_key() -> None:
    """A token signed with a newly rotated key passes after one refresh."""
    rotated = jwt.PyJWKSet.from_dict({"keys": [jwk(KEY, "k1"), jwk(OTHER_KEY, "k2")]})
    source = FakeSource(KEYS, rotated)
    token = sign(claims(), key=OTHER_KEY, kid="k2")
    identity = authenticate(token, source, issuer=ISSUER, client_id=CLIENT, now=NOW)
    assert identity.username == "alice" and source.calls == [False, True]


def test_authenticate_gives_up_after_one_refresh() -> None:
    """A kid unknown even after the refresh is refused."""
    source = FakeSource(KEYS, KEYS)
    with pytest.raises(UnknownKey):
        authenticate(sign(claims(), kid="k9"), source, issuer=ISSUER, client_id=CLIENT, now=NOW)
    assert source.calls == [False, True]


@pytest.fixture
def jwks_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A JWKS endpoint on 127.0.0.1 that counts its requests."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    hits: list[str] = []
    body = json.dumps(JWKS).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/pool/.well-known/jwks.json", hits
    server.shutdown()
    server.server_close()


def test_jwks_source_fetches_once_and_rate_limits_refreshes(jwks_server) -> None:
    """The key set is fetched once per container; forced refreshes at most every 30 s."""
    url, hits = jwks_server
    clock = [100.0]
    source = JwksKeySource(url, monotonic=lambda: clock[0])
    assert source.keys()["k1"].key_id == "k1"
    source.keys()
    assert len(hits) == 1
    source.keys(refresh=True)
    assert len(hits) == 2
    clock[0] += 10
    source.keys(refresh=True)  # within the cooldown: served from the cache
    assert len(hits) == 2
    clock[0] += 30
    source.keys(refresh=True)
    assert hits == ["/pool/.well-known/jwks.json"] * 3
