"""HttpApiHandler over a real socket: route, authorize, invoke a fake runner, respond."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from emulator.clock import FakeClock
from emulator.httpapi.api import HttpApiHandler
from emulator.httpapi.event import HttpRequest
from emulator.httpapi.keys import StaticKeyProvider
from emulator.runner.base import Invocation
from emulator.template.model import HttpApi, HttpRoute, JwtAuthorizer

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123"
CLIENT = "26charclientid000000000000"
AUTH = JwtAuthorizer("CognitoJwt", "$request.header.Authorization", ISSUER, (CLIENT,))
API = HttpApi(
    "HttpApi",
    "h7x9k2m4p1",
    "$default",
    (
        HttpRoute("GET", "/online", "OnlineFunction", AUTH),
        HttpRoute("ANY", "/open/{proxy+}", "OpenFunction", None),
    ),
)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {"keys": [{**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}]}


def sign(clock: FakeClock, **claims: Any) -> str:
    payload = {
        "sub": "u-1",
        "iss": ISSUER,
        "client_id": CLIENT,
        "username": "alice",
        "token_use": "access",
        "iat": int(clock.now()),
        "exp": int(clock.now()) + 60,
        **claims,
    }
    return jwt.encode(payload, KEY, algorithm="RS256", headers={"kid": "k1"})


@dataclass
class FakeRunner:
    """Records invokes and answers with `reply(function, event)`."""

    reply: Callable[[str, Mapping[str, Any]], Any] = lambda fn, ev: {"users": []}
    outcome: str = "ok"
    gate: asyncio.Event | None = None
    calls: list[tuple[str, Mapping[str, Any], str | None]] = field(default_factory=list)

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append((function, event, route))
        if self.gate is not None:
            await self.gate.wait()
        return Invocation(function, "r-1", self.outcome, self.reply(function, event), 1.0)  # type: ignore[arg-type]


@dataclass
class Served:
    runner: FakeRunner
    handler: HttpApiHandler
    clock: FakeClock
    url: str


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    runner = FakeRunner()
    clock = FakeClock()
    handler = HttpApiHandler(
        API,
        runner,
        StaticKeyProvider({ISSUER: JWKS}),
        region="us-east-1",
        account_id="123456789012",
        clock=clock,
        integration_timeout_s=0.2,
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Served(runner, handler, clock, f"http://127.0.0.1:{app_runner.addresses[0][1]}")
    finally:
        if runner.gate is not None:
            runner.gate.set()
        await app_runner.cleanup()
        await handler.aclose()


async def test_authorized_get_online_invokes_with_claims(served: Served) -> None:
    """A valid token reaches the function with string claims; its dict comes back as JSON."""
    tok = sign(served.clock)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{served.url}/online", headers={"Authorization": f"Bearer {tok}"}) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.json() == {"users": []}
    [(function, event, route)] = served.runner.calls
    assert (function, route) == ("OnlineFunction", "GET /online")
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["username"] == "alice"
    assert claims["exp"] == str(int(served.clock.now()) + 60)
    assert event["requestContext"]["domainName"] == "h7x9k2m4p1.execute-api.us-east-1.amazonaws.com"
    assert event["requestContext"]["timeEpoch"] == served.clock.now_ms()


async def test_bad_or_missing_token_is_401_and_not_invoked(served: Served) -> None:
    """No token, or an expired one, is 401 Unauthorized with a www-authenticate header."""
    expired = sign(served.clock)
    served.clock.advance(61)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{served.url}/online") as resp:
            assert resp.status == 401
            assert await resp.text() == '{"message":"Unauthorized"}'
            assert resp.headers["www-authenticate"] == "Bearer"
        headers = {"Authorization": expired}
        async with session.get(f"{served.url}/online", headers=headers) as resp:
            assert resp.status == 401
            assert 'error_description="the token has expired"' in resp.headers["www-authenticate"]
    assert served.runner.calls == []


async def test_no_route_is_404(served: Served) -> None:
    """A path no route matches is 404 {"message":"Not Found"}."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{served.url}/online") as resp,
    ):
        assert resp.status == 404
        assert await resp.text() == '{"message":"Not Found"}'


async def test_structured_response_and_path_parameters(served: Served) -> None:
    """An open greedy route passes path parameters and body; statusCode/headers/cookies apply."""
    served.runner.reply = lambda fn, ev: {
        "statusCode": 201,
        "headers": {"x-seen": ev["pathParameters"]["proxy"]},
        "cookies": ["a=1", "b=2"],
        "body": ev["body"].upper(),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{served.url}/open/x/y?k=v", data=b"hello", headers={"Content-Type": "text/plain"}
        ) as resp,
    ):
        assert resp.status == 201
        assert resp.headers["x-seen"] == "x/y"
        assert resp.headers.getall("Set-Cookie") == ["a=1", "b=2"]
        assert await resp.read() == b"HELLO"
    event = served.runner.calls[0][1]
    assert event["rawQueryString"] == "k=v"
    assert event["routeKey"] == "ANY /open/{proxy+}"
    assert "authorizer" not in event["requestContext"]


async def test_function_error_is_500(served: Served) -> None:
    """A handler error is 500 Internal Server Error."""
    served.runner.outcome = "error"
    served.runner.reply = lambda fn, ev: {"errorMessage": "boom", "errorType": "ValueError"}
    async with aiohttp.ClientSession() as session, session.get(f"{served.url}/open/a") as resp:
        assert resp.status == 500
        assert await resp.text() == '{"message":"Internal Server Error"}'


async def test_integration_timeout_is_503(served: Served) -> None:
    """A function still running at the integration timeout gives 503; it keeps running."""
    served.runner.gate = asyncio.Event()
    async with aiohttp.ClientSession() as session, session.get(f"{served.url}/open/a") as resp:
        assert resp.status == 503
        assert await resp.text() == '{"message":"Service Unavailable"}'
    assert len(served.runner.calls) == 1


async def test_named_stage_prefixes_paths() -> None:
    """With a named stage, routes are matched below `/{stage}`; rawPath keeps the prefix."""
    staged = HttpApi("Api", "abcdefghij", "prod", (HttpRoute("GET", "/ping", "Ping", None),))
    runner = FakeRunner(reply=lambda fn, ev: ev["rawPath"])
    handler = HttpApiHandler(
        staged, runner, StaticKeyProvider({}), region="us-east-1", account_id="123456789012"
    )
    assert handler.match("GET", "/ping") is None
    request = HttpRequest("GET", "/prod/ping", "", (), b"", "127.0.0.1")
    result = await handler.respond(request)
    assert (result.status, result.body) == (200, b'"/prod/ping"')
    assert runner.calls[0][1]["requestContext"]["stage"] == "prod"
