"""$connect authorizer: Allow for a pool token, exactly `Unauthorized` for anything else."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters import deps as deps_module
from adapters.config import Config
from adapters.deps import Deps
from emulator.local_auth import sign_in_local_user

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/$connect"


class StaticKeys:
    """A key source that never touches the network; can be made to fail."""

    def __init__(self, keys: dict[str, Any] | None) -> None:
        self._keys = keys

    def keys(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        if self._keys is None:
            raise jwt.PyJWKClientConnectionError("JWKS endpoint unreachable")
        return jwt.PyJWKSet.from_dict(self._keys)


@pytest.fixture
def install(aws_env, clock) -> Iterator[Callable[[dict[str, Any] | None], None]]:
    """Install Deps whose key source serves the given JWKS (None: unreachable)."""

    def install_keys(keys: dict[str, Any] | None) -> None:
        source = StaticKeys(keys)
        deps_module.install(Deps(Config.from_env(os.environ), clock=clock, key_source=source))

    yield install_keys
    deps_module.install(None)


def jwks() -> dict[str, Any]:
    return {"keys": [{**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}]}


def token(clock, **overrides: Any) -> str:
    payload = {
        "sub": "u-alice",
        "iss": Config.from_env(os.environ).issuer,
        "aud": os.environ["USER_POOL_CLIENT_ID"],
        "token_use": "id",
        "cognito:username": "alice",
        "exp": clock.now // 1000 + 3600,
        **overrides,
    }
    return jwt.encode(payload, KEY, algorithm="RS256", headers={"kid": "k1"})


def authorizer_event(event, token_value: str | None) -> dict[str, Any]:
    raw = event("websocket_authorizer")
    if token_value is None:
        raw.pop("queryStringParameters")
        raw.pop("multiValueQueryStringParameters")
    else:
        raw["queryStringParameters"] = {"token": token_value}
        raw["multiValueQueryStringParameters"] = {"token": [token_value]}
    return raw


def handle(event: dict[str, Any]) -> dict[str, Any]:
    from handlers import authorizer

    return authorizer.handle(event, None)


def assert_unauthorized(event: dict[str, Any]) -> None:
    with pytest.raises(Exception) as refused:
        handle(event)
    assert type(refused.value) is Exception and str(refused.value) == "Unauthorized"


def test_valid_token_is_allowed_for_the_method_arn(install, clock, event) -> None:
    """Allow on the event's methodArn; principal and context carry userId and username."""
    install(jwks())
    assert handle(authorizer_event(event, token(clock))) == {
        "principalId": "u-alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
            ],
        },
        "context": {"userId": "u-alice", "username": "alice"},
    }


@pytest.mark.parametrize(
    "overrides",
    [{"exp": 0}, {"aud": "other"}, {"iss": "https://evil.example"}, {"token_use": "refresh"}],
)
def test_bad_tokens_are_unauthorized(install, clock, event, overrides) -> None:
    """Expired, foreign or wrong-use tokens raise exactly Exception('Unauthorized') (401)."""
    install(jwks())
    assert_unauthorized(authorizer_event(event, token(clock, **overrides)))


def test_expiry_uses_the_injected_clock(install, clock, event) -> None:
    """A token is refused from its exp on, measured by the handler's clock."""
    install(jwks())
    raw = authorizer_event(event, token(clock))
    clock.advance(3599)
    handle(raw)
    clock.advance(1)
    assert_unauthorized(raw)


def test_missing_token_is_unauthorized(install, clock, event) -> None:
    """No ?token= (or an empty one) is 401."""
    install(jwks())
    assert_unauthorized(authorizer_event(event, None))
    assert_unauthorized(authorizer_event(event, ""))


def test_unreachable_jwks_is_an_error_not_a_denial(install, clock, event) -> None:
    """A JWKS outage is the authorizer failing (AWS answers 500), not bad credentials (401).

    AWS: only an exception whose message is exactly "Unauthorized" is a 401; any other
    failure of the authorizer is a 500 (docs/aws-behaviour.md §4).
    """
    install(None)
    with pytest.raises(Exception) as failed:
        handle(authorizer_event(event, token(clock)))
    assert str(failed.value) != "Unauthorized"
    assert isinstance(failed.value, jwt.PyJWKClientConnectionError)


def test_garbage_tokens_are_unauthorized_not_errors(install, clock, event) -> None:
    """Tokens that are not JWTs at all, or signed by an unknown key, are denied (401)."""
    install(jwks())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode({"sub": "x"}, other, algorithm="RS256", headers={"kid": "nope"})
    for bad in ("not-a-jwt", "a.b.c", "\u00e9\u00e9", foreign):
        assert_unauthorized(authorizer_event(event, bad))


def test_moto_cognito_tokens_pass(aws, install, clock, event, monkeypatch) -> None:
    """Real pool tokens (moto's Cognito) verify against that pool's JWKS at the AWS URL."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="duelctl-users")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="duelctl", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    result = sign_in_local_user(cognito, pool, client, "alice", password="Secret123!")
    monkeypatch.setenv("USER_POOL_ID", pool)
    monkeypatch.setenv("USER_POOL_CLIENT_ID", client)
    config = Config.from_env(os.environ)
    pool_jwks = requests.get(config.jwks_url, timeout=5).json()  # answered in-process by moto
    issued = jwt.decode(result["IdToken"], options={"verify_signature": False})
    clock.now = int(issued["iat"]) * 1000
    install(pool_jwks)
    sub = cognito.admin_get_user(UserPoolId=pool, Username="alice")["UserAttributes"]
    user_id = next(a["Value"] for a in sub if a["Name"] == "sub")
    for kind in ("IdToken", "AccessToken"):
        allowed = handle(authorizer_event(event, result[kind]))
        assert allowed["context"] == {"userId": user_id, "username": "alice"}
