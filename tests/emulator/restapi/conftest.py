"""Shared pieces of the REST API tests: a model, a fake runner and Cognito-style keys."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from emulator.httpapi.event import HttpRequest
from emulator.httpapi.keys import StaticKeyProvider
from emulator.runner.base import Invocation
from emulator.template.model import RestApi, RestAuthorizer, RestRoute

REGION = "us-east-1"
ACCOUNT = "123456789012"
API_ID = "r3st4p1id0"
POOL = "us-east-1_AbCdEf123"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
NOW = 1_767_225_600.0
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}


KEYS = StaticKeyProvider({ISSUER: jwks()})


def id_token(**claims: Any) -> str:
    payload: dict[str, Any] = {
        "sub": "u-1",
        "iss": ISSUER,
        "aud": "client",
        "token_use": "id",
        "cognito:username": "alice",
        "email_verified": True,
        "cognito:groups": ["admins", "editors"],
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 3600,
    }
    payload.update(claims)
    return jwt.encode(payload, KEY, algorithm="RS256", headers={"kid": "k1"})


class FakeRunner:
    """Calls Python callables by logical id; results and raises become Invocations."""

    def __init__(self, handlers: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append((function, copy.deepcopy(dict(event))))
        try:
            result = self.handlers[function](dict(event))
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return Invocation(function, f"req-{len(self.calls)}", "error", error, 2.0)
        return Invocation(function, f"req-{len(self.calls)}", "ok", result, 2.0)

    def events(self, function: str) -> list[dict[str, Any]]:
        return [event for name, event in self.calls if name == function]


TOKEN = RestAuthorizer(
    "Tok", "TOKEN", "AuthFn", ("method.request.header.Authorization",), 300, "t-.*"
)
KEYED = RestAuthorizer(
    "Keyed",
    "REQUEST",
    "AuthFn",
    ("method.request.header.X-Key", "method.request.querystring.team"),
    0,
)
USERS = RestAuthorizer(
    "Users",
    "COGNITO_USER_POOLS",
    None,
    ("method.request.header.Authorization",),
    user_pool_ids=(POOL,),
)


def make_api(**overrides: Any) -> RestApi:
    routes = (
        RestRoute("GET", "/", "ItemsFn", None, "rootid0000"),
        RestRoute("GET", "/items", "ItemsFn", TOKEN, "aaa111"),
        RestRoute("POST", "/items", "ItemsFn", None, "aaa111"),
        RestRoute("ANY", "/items/{id}", "ItemsFn", KEYED, "bbb222"),
        RestRoute("GET", "/me", "ItemsFn", USERS, "ccc333"),
        RestRoute("ANY", "/files/{proxy+}", "ItemsFn", None, "ddd444"),
        RestRoute("GET", "/slow", "SlowFn", None, "eee555", timeout_ms=50),
    )
    values: dict[str, Any] = {
        "logical_id": "Api",
        "api_id": API_ID,
        "stage": "dev",
        "routes": routes,
        "stage_variables": MappingProxyType({"color": "blue"}),
        "binary_media_types": ("image/png",),
        "cors": MappingProxyType({"Access-Control-Allow-Origin": "*"}),
    }
    values.update(overrides)
    return RestApi(**values)


def request(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest(
        method=method,
        raw_path=path,
        raw_query=query,
        headers=(("Host", "127.0.0.1:8080"), ("User-Agent", "test/1"), *headers),
        body=body,
        source_ip="10.0.0.7",
    )
