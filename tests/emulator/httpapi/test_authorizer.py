"""The HTTP API JWT authorizer: Cognito-style tokens signed with a test RSA key."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from emulator.httpapi.authorizer import JwtError, authorize, extract_token, verify_jwt
from emulator.httpapi.keys import KeyFetchError, StaticKeyProvider
from emulator.template.model import JwtAuthorizer

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
CLIENT = "26charclientid000000000000"
CONFIG = JwtAuthorizer("CognitoJwt", "$request.header.Authorization", ISSUER, (CLIENT,))
NOW = 1_767_225_600.0
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(key: rsa.RSAPrivateKey = KEY, kid: str = "k1") -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": kid, "alg": "RS256", "use": "sig"}]}


KEYS = StaticKeyProvider({ISSUER: jwks()})


def token(key: rsa.RSAPrivateKey = KEY, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    payload: dict[str, Any] = {
        "sub": "u-1",
        "iss": ISSUER,
        "token_use": "access",
        "client_id": CLIENT,
        "username": "alice",
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 3600,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


async def check(value: str | None, keys: Any = KEYS, now: float = NOW) -> dict[str, Any]:
    headers = {} if value is None else {"authorization": value}
    return await authorize(CONFIG, headers, keys, now=now)


async def reason(value: str | None, keys: Any = KEYS, now: float = NOW) -> str | None:
    with pytest.raises(JwtError) as info:
        await check(value, keys, now)
    return info.value.description


async def test_access_token_passes_with_or_without_bearer() -> None:
    """A valid access token passes by client_id, with or without `Bearer `."""
    tok = token()
    assert (await check(f"Bearer {tok}"))["username"] == "alice"
    assert (await check(tok))["sub"] == "u-1"
    assert (await check(f"bearer  {tok}"))["sub"] == "u-1"


async def test_id_token_passes_by_aud() -> None:
    """A valid ID token passes by aud (no client_id)."""
    tok = token(client_id=None, aud=CLIENT, token_use="id")
    assert (await check(tok))["aud"] == CLIENT


async def test_aud_wins_over_client_id() -> None:
    """With both claims AWS evaluates aud: a wrong aud fails despite a right client_id."""
    tok = token(aud="someone-else")
    assert await reason(tok) == "the token does not have a valid audience"


async def test_wrong_audience_and_issuer_fail() -> None:
    """client_id outside the audience list, or another issuer, is refused."""
    assert await reason(token(client_id="nope")) == "the token does not have a valid audience"
    assert await reason(token(iss=ISSUER + "x")) == "the token does not have a valid issuer"


async def test_time_claims_use_the_given_clock() -> None:
    """exp must be after now, nbf and iat before it; missing exp is refused."""
    tok = token(exp=int(NOW) + 60)
    assert (await check(tok, now=NOW + 59))["sub"] == "u-1"
    assert await reason(tok, now=NOW + 60) == "the token has expired"
    assert await reason(token(exp=None)) == "the token has expired"
    assert await reason(token(nbf=int(NOW) + 5)) == "the token is not valid yet"
    assert await reason(token(iat=int(NOW) + 5)) == "the token was issued in the future"


async def test_signature_kid_and_algorithm_are_checked() -> None:
    """A foreign key under a known kid, an unknown kid and HS256 are all refused."""
    assert await reason(token(key=OTHER_KEY)) == "the token signature is invalid"
    assert await reason(token(kid="k2")) == "the token's key id is not in the issuer's key set"
    hs = jwt.encode({"iss": ISSUER}, "secret-secret-secret-secret-1234", algorithm="HS256")
    assert await reason(hs) == "signing method HS256 is invalid"
    assert await reason("not-a-jwt") == "the token is malformed"


async def test_missing_token_has_no_description() -> None:
    """No Authorization header gives the bare `Bearer` challenge."""
    with pytest.raises(JwtError) as info:
        await check(None)
    assert info.value.www_authenticate() == "Bearer"
    assert await reason("Bearer ") is None


async def test_key_fetch_failure_is_unauthorized() -> None:
    """A key set that cannot be fetched refuses the token instead of crashing."""

    class Broken:
        async def key_for(self, issuer: str, kid: str) -> Any:
            raise KeyFetchError("down")

    assert await reason(token(), keys=Broken()) == "unable to fetch the issuer's signing keys"


def test_www_authenticate_matches_aws_format() -> None:
    """The challenge reads like AWS's documented one."""
    header = JwtError("the token does not have a valid audience").www_authenticate()
    assert header == (
        'Bearer scope="" error="invalid_token" '
        'error_description="the token does not have a valid audience"'
    )


def test_verify_jwt_returns_the_claims() -> None:
    """verify_jwt is pure: the same token and key give the decoded claims."""
    key = RSAAlgorithm.from_jwk(jwks()["keys"][0])
    claims = verify_jwt(token(), key, CONFIG, now=NOW)
    assert claims["client_id"] == CLIENT


def test_extract_token() -> None:
    """The Bearer prefix is optional and case-insensitive; blanks are no token."""
    assert extract_token("Bearer abc") == "abc"
    assert extract_token("abc") == "abc"
    assert extract_token("BEARER abc ") == "abc"
    assert extract_token("  ") is None
    assert extract_token(None) is None
