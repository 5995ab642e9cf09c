"""The newsroom sample (tests/apps/newsroom) through `duelctl up --template template.yaml`.

What it proves: a REST API (AWS::Serverless::Api with Api events, payload format 1.0) is
served at `http_url/{stage}` beside the WebSocket API, and a REST handler reaches every
WebSocket reader through @connections; a REQUEST authorizer keyed on a header allows,
denies and refuses like API Gateway; stage variables, `{proxy+}`, multi-value maps and
the gateway's own errors come through; a layer's python/ directory is importable by the
three functions that list it and by no other; SAM's implicit ServerlessRestApi, its Prod
stage, a function's generated role and an event's generated permission resolve in
`!Sub`/`!Ref`/`!GetAtt`; the `$connect` integration's `Sec-WebSocket-Protocol` header is
the 101's subprotocol, and only then.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.apps.harness import APPS, AppStack, run_up, running_app

pytestmark = pytest.mark.e2e

PROTOCOL = Subprotocol("newsdesk.v1")


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppStack]:
    with running_app(tmp_path_factory, "newsroom", "template.yaml", {}) as app:
        yield app


def request(
    app: AppStack,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    """One request to the stack's HTTP origin: (status, headers by lower-case name, body).

    http.client sends header names exactly as given (urllib would capitalize them).
    """
    origin = urlsplit(app.endpoints["http_url"])
    connection = http.client.HTTPConnection(origin.hostname or "", origin.port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        grouped: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            grouped.setdefault(name.lower(), []).append(value)
        return response.status, grouped, payload
    finally:
        connection.close()


async def call(app: AppStack, *args: Any, **kwargs: Any) -> tuple[int, dict[str, list[str]], bytes]:
    return await asyncio.to_thread(request, app, *args, **kwargs)


@pytest.fixture
async def readers(newsroom: AppStack) -> AsyncIterator[list[ClientConnection]]:
    opened: list[ClientConnection] = []
    yield opened
    for ws in opened:
        await ws.close()


async def reader(
    app: AppStack, opened: list[ClientConnection], query: str = ""
) -> ClientConnection:
    ws = await connect(app.websocket_url + query, subprotocols=[Subprotocol("chat.v0"), PROTOCOL])
    opened.append(ws)
    return ws


async def test_rest_publish_reaches_every_websocket_reader(
    newsroom: AppStack, readers: list[ClientConnection]
) -> None:
    """POST /v1/stories (editor key) posts the story to each reader via @connections."""
    first, second = await reader(newsroom, readers), await reader(newsroom, readers)
    status, headers, body = await call(
        newsroom,
        "POST",
        "/v1/stories",
        {"headline": "Bridge reopens"},
        {"X-Newsroom-Key": "editor-ann"},
    )
    assert status == 201, body
    assert json.loads(body)["editor"] == "ann"
    assert json.loads(body)["told"] >= 2
    assert headers["x-story-tag"] == ["breaking", "metro"]  # multiValueHeaders
    assert headers["content-type"] == ["application/json"]
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-amzn-requestid"][0])
    expected = {"type": "story", "headline": "Bridge reopens", "editor": "ann", "desk": "metro"}
    for ws in (first, second):
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == expected


async def test_header_keyed_authorizer_allows_denies_and_refuses(newsroom: AppStack) -> None:
    """No key: 401; unknown key (raises Unauthorized): 401; Deny: 403; no Allow: 403."""
    story = {"headline": "x"}
    status, headers, body = await call(newsroom, "POST", "/v1/stories", story)
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert headers["x-amzn-errortype"] == ["UnauthorizedException"]
    status, _, body = await call(newsroom, "POST", "/v1/stories", story, {"X-Newsroom-Key": "?"})
    assert status == 401
    status, _, body = await call(
        newsroom, "GET", "/v1/stories/7", headers={"X-Newsroom-Key": "revoked"}
    )
    assert (status, json.loads(body)) == (
        403,
        {"Message": "User is not authorized to access this resource with an explicit deny"},
    )
    status, _, body = await call(
        newsroom, "POST", "/v1/stories", story, {"X-Newsroom-Key": "intern-bo"}
    )
    assert (status, json.loads(body)) == (
        403,
        {"Message": "User is not authorized to access this resource"},
    )
    status, _, body = await call(
        newsroom, "GET", "/v1/stories/7", headers={"X-Newsroom-Key": "intern-bo"}
    )
    assert status == 200, body
    seen = json.loads(body)
    assert seen["context"]["authorizer"]["principalId"] == "intern-bo"
    assert seen["context"]["authorizer"]["editor"] == "bo"
    assert isinstance(seen["context"]["authorizer"]["integrationLatency"], int)


async def test_rest_event_is_payload_format_1_0(newsroom: AppStack) -> None:
    """{proxy+}, encoded path parameters, multi-value maps, stage variables, null body."""
    status, _, body = await call(
        newsroom,
        "GET",
        "/v1/archive/2026/jan%20uary?tag=a&tag=b&page=2",
        headers={"X-Edition": "late", "x-lower": "kept"},
    )
    assert status == 200, body
    seen = json.loads(body)
    api_id = seen["context"]["apiId"]
    assert seen["resource"] == "/archive/{proxy+}"
    assert seen["path"] == "/archive/2026/jan%20uary"
    assert seen["httpMethod"] == "GET"
    assert seen["pathParameters"] == {"proxy": "2026/jan%20uary"}
    assert seen["queryStringParameters"] == {"tag": "b", "page": "2"}
    assert seen["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "page": ["2"]}
    assert seen["stageVariables"] == {"desk": "metro"}
    assert {"X-Edition", "x-lower", "Host", "X-Forwarded-For"} <= set(seen["headerNames"])
    assert seen["multiValueHeaders"]["Host"] == [f"{api_id}.execute-api.us-east-1.amazonaws.com"]
    assert (seen["body"], seen["isBase64Encoded"]) == (None, False)
    context = seen["context"]
    assert context["path"] == "/v1/archive/2026/jan%20uary"
    assert (context["stage"], context["resourcePath"]) == ("v1", "/archive/{proxy+}")
    assert re.fullmatch(r"[0-9a-f-]{36}", context["requestId"])
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["cognitoIdentityId"] is None
    assert "authorizer" not in context  # Auth: {Authorizer: NONE}


async def test_api_gateway_errors(newsroom: AppStack) -> None:
    """Unknown route 403 Missing Authentication Token; malformed proxy response 502."""
    status, headers, body = await call(newsroom, "GET", "/v1/nothing-here")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    assert headers["x-amzn-errortype"] == ["MissingAuthenticationTokenException"]
    status, _, body = await call(newsroom, "DELETE", "/v1/broken")  # resource, other method
    assert status == 403
    status, _, body = await call(newsroom, "GET", "/v1/broken")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    await newsroom.wait_for_log("malformed Lambda proxy response")


async def test_implicit_resources_resolve_and_serve(newsroom: AppStack) -> None:
    """ServerlessRestApi (stage Prod) serves /Prod/health; its id, stage, role, permission."""
    status, _, body = await call(newsroom, "GET", "/Prod/health")
    assert status == 200, body
    seen = json.loads(body)
    implicit_id = re.fullmatch(
        r"https://([a-z0-9]{10})\.execute-api\.us-east-1\.amazonaws\.com/Prod/health",
        seen["HEALTH_URL"],
    )
    assert implicit_id is not None, seen
    assert re.fullmatch(
        r"https://[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com/v1/stories",
        seen["STORIES_URL"],
    )
    assert seen["IMPLICIT_STAGE"] == "Prod"
    assert seen["stage"] == "Prod"
    assert re.fullmatch(
        r"arn:aws:iam::123456789012:role/newsroom-PublishFunctionRole-[A-Z0-9]{12}",
        seen["PUBLISH_ROLE"],
    )
    assert seen["PUBLISH_PERMISSION"].startswith("newsroom-PublishFunctionPublishPermissionv1-")
    # The API's own host name reaches it too, as through the TLS proxy.
    host = f"{implicit_id.group(1)}.execute-api.us-east-1.amazonaws.com"
    status, _, _ = await call(newsroom, "GET", "/Prod/health", headers={"Host": host})
    assert status == 200


async def test_layer_is_on_the_path_of_its_functions_only(newsroom: AppStack) -> None:
    """ReaderConnect/ReaderDisconnect/Publish import `newsdesk`; StoryFunction cannot."""
    status, _, body = await call(newsroom, "GET", "/v1/archive/any")
    assert json.loads(body)["hasLayer"] is False
    status, _, body = await call(
        newsroom, "POST", "/v1/stories", {"headline": "Layer"}, {"X-Newsroom-Key": "editor-cy"}
    )
    assert status == 201, body  # publish.py imports newsdesk from the layer
    log = newsroom.log()
    assert "ImportError" not in log and "ModuleNotFoundError" not in log


async def test_subprotocol_is_answered_only_when_connect_returns_it(
    newsroom: AppStack, readers: list[ClientConnection]
) -> None:
    """The 101 names newsdesk.v1 when $connect returns it; none with ?legacy=1; else 400."""
    ws = await reader(newsroom, readers)
    assert ws.subprotocol == PROTOCOL
    assert ws.response is not None
    assert ws.response.headers.get_all("Sec-WebSocket-Protocol") == [PROTOCOL]
    legacy = await reader(newsroom, readers, "?legacy=1")
    assert legacy.subprotocol is None
    assert legacy.response is not None
    assert legacy.response.headers.get_all("Sec-WebSocket-Protocol") == []
    with pytest.raises(InvalidStatus) as refused:
        await connect(newsroom.websocket_url, subprotocols=[Subprotocol("chat.v0")])
    assert refused.value.response.status_code == 400
    assert refused.value.response.body == b"speak newsdesk.v1"


async def test_a_published_layer_is_refused_naming_its_arn(tmp_path: Path) -> None:
    """A layer ARN from outside the template stops `duelctl up` with one line, exit 2."""
    template = APPS / "newsroom" / "refused" / "published-layer.yaml"
    proc = run_up(template, tmp_path)
    out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    lines = err.decode().splitlines()
    assert proc.returncode == 2, (out, err)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"error: {template}: HealthFunction (AWS::Serverless::Function): layer "
        "arn:aws:lambda:us-east-1:017000801446:layer:SharedTools:40 is not declared"
    )
