"""Shared pieces of the gateway tests: a WebSocket API model and a fake FunctionRunner.

The fake runner maps function logical ids to Python callables (sync or async) and turns
their return values / exceptions into `Invocation`s the way the real runner does, so the
gateway is exercised without subprocess workers.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from emulator.runner.base import Invocation
from emulator.template.model import Function, RequestAuthorizer, Route, WebSocketApi

REGION = "us-east-1"
ACCOUNT = "123456789012"
API_ID = "a1b2c3d4e5"
STAGE = "prod"
METHOD_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/$connect"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"

Handler = Callable[[dict[str, Any]], Any]


class HandlerTimeout(Exception):
    """Raise from a fake handler to make the invocation a Lambda timeout."""


class FakeRunner:
    """A FunctionRunner that calls Python callables by function logical id."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.duration_ms = 3.0
        self._changed = asyncio.Event()
        self._count = 0

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self._count += 1
        request_id = f"req-{self._count}"
        self.calls.append((function, copy.deepcopy(dict(event))))
        self._changed.set()
        handler = self.handlers[function]
        try:
            result = handler(dict(event))
            if inspect.isawaitable(result):
                result = await result
        except HandlerTimeout:
            return Invocation(
                function,
                request_id,
                "timeout",
                {"errorMessage": "Task timed out after 3.00 seconds"},
                3000.0,
            )
        except Exception as exc:
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": request_id,
                "stackTrace": [],
            }
            return Invocation(function, request_id, "error", error, self.duration_ms)
        return Invocation(function, request_id, "ok", result, self.duration_ms)

    def events(self, function: str) -> list[dict[str, Any]]:
        return [event for name, event in self.calls if name == function]

    async def wait_for(self, function: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait until `function` was invoked `count` times; return its events."""
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            while len(self.events(function)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events(function)


def make_function(logical_id: str) -> Function:
    return Function(
        logical_id=logical_id,
        name=f"duel-{logical_id}",
        handler=f"handlers.{logical_id.lower()}.handle",
        runtime="python3.12",
        code_root=Path("/nonexistent"),
        timeout_s=3,
        memory_mb=128,
        environment=MappingProxyType({}),
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:duel-{logical_id}",
    )


ROUTES = {
    "$connect": Route("$connect", "ConnectFn"),
    "$disconnect": Route("$disconnect", "DisconnectFn"),
    "$default": Route("$default", "DefaultFn"),
    "chat": Route("chat", "ChatFn"),
    "echo": Route("echo", "EchoFn", returns_response=True),
    "boom": Route("boom", "BoomFn"),
    "post": Route("post", "PostFn"),
}
AUTHORIZER = RequestAuthorizer("ConnectAuthorizer", "AuthFn", ("route.request.querystring.token",))


def make_api(
    *,
    routes: Mapping[str, Route] = ROUTES,
    authorizer: RequestAuthorizer | None = AUTHORIZER,
) -> WebSocketApi:
    return WebSocketApi(
        logical_id="WebSocketApi",
        api_id=API_ID,
        name="duel-ws",
        stage=STAGE,
        route_selection_expression="$request.body.action",
        routes=MappingProxyType(dict(routes)),
        authorizer=authorizer,
    )


FUNCTIONS = {
    name: make_function(name)
    for name in (
        "AuthFn",
        "ConnectFn",
        "DisconnectFn",
        "DefaultFn",
        "ChatFn",
        "EchoFn",
        "BoomFn",
        "PostFn",
    )
}


def policy(effect: str, resource: str | list[str], user: str = "u1") -> dict[str, Any]:
    return {
        "principalId": user,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"userId": user, "n": 1, "ok": True},
    }


def authorize(event: dict[str, Any]) -> Any:
    """A REQUEST authorizer keyed on ?token=: `good-<user>` allows, others misbehave."""
    token = event["queryStringParameters"]["token"]
    if token.startswith("good-"):
        return policy("Allow", METHOD_ARN, user=token.removeprefix("good-"))
    if token == "deny":
        return policy("Deny", METHOD_ARN)
    if token == "rest-style":
        return policy("Allow", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/*/*")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "crash":
        raise ValueError("kaboom")
    if token == "timeout":
        raise HandlerTimeout()
    return "not a policy"


def on_connect(event: dict[str, Any]) -> Any:
    """$connect: `?status=N` answers statusCode N, `?raise=1` raises."""
    query = event.get("queryStringParameters") or {}
    if "raise" in query:
        raise RuntimeError("connect failed")
    return {"statusCode": int(query.get("status", "200")), "body": query.get("body", "")}


def default_handlers() -> dict[str, Handler]:
    def boom(event: dict[str, Any]) -> Any:
        raise RuntimeError("handler bug")

    return {
        "AuthFn": authorize,
        "ConnectFn": on_connect,
        "DisconnectFn": lambda event: {"statusCode": 200},
        "DefaultFn": lambda event: {"statusCode": 200, "body": "default"},
        "ChatFn": lambda event: {"statusCode": 200, "body": "discarded"},
        "EchoFn": lambda event: {"statusCode": 200, "body": "echo:" + event["body"]},
        "BoomFn": boom,
        "PostFn": lambda event: {"statusCode": 200},
    }


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner(default_handlers())
