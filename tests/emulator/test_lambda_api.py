"""The local Lambda Invoke API, driven by unmodified boto3 over a real socket."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config

from emulator.lambda_api import LambdaInvokeApi, function_name_from_path
from emulator.runner.base import Invocation

ARN = "arn:aws:lambda:us-east-1:123456789012:function:duel-Echo-ABC"
NAMES = {"duel-Echo-ABC": "EchoFunction", ARN: "EchoFunction", "EchoFunction": "EchoFunction"}


@dataclass
class FakeRunner:
    """Echoes the event; `fail` makes it answer like a raising handler."""

    fail: bool = False
    gate: asyncio.Event | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        self.calls.append((function, event))
        if self.gate is not None:
            await self.gate.wait()
        self.finished.append(function)
        if self.fail:
            error = {
                "errorMessage": "boom",
                "errorType": "ValueError",
                "requestId": "r-1",
                "stackTrace": ['  File "h.py", line 1, in handle\n'],
            }
            return Invocation(function, "r-1", "error", error, 1.0, logs="oops\n")
        return Invocation(function, "r-1", "ok", {"echo": event}, 1.0, logs="hello log\n")


@dataclass
class Served:
    runner: FakeRunner
    api: LambdaInvokeApi
    client: Any


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    runner = FakeRunner()
    api = LambdaInvokeApi(runner, NAMES.get, region="us-east-1", account_id="123456789012")
    app = web.Application()
    app.add_routes(api.routes())
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, "127.0.0.1", 0)
    await site.start()
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{app_runner.addresses[0][1]}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    try:
        yield Served(runner, api, client)
    finally:
        client.close()
        if runner.gate is not None:
            runner.gate.set()
        await app_runner.cleanup()
        await api.aclose()


async def invoke(served: Served, **kwargs: Any) -> dict[str, Any]:
    """Invoke and read the streamed Payload (an unread body would pin the connection)."""

    def call() -> dict[str, Any]:
        result: dict[str, Any] = served.client.invoke(**kwargs)
        result["Payload"] = result["Payload"].read()
        return result

    return await asyncio.to_thread(call)


async def test_request_response_by_name_and_arn(served: Served) -> None:
    """RequestResponse returns the handler's JSON with status 200 and $LATEST, by name or ARN."""
    for name in ("duel-Echo-ABC", ARN):
        result = await invoke(served, FunctionName=name, Payload=b'{"n": 1}')
        assert result["StatusCode"] == 200
        assert result["ExecutedVersion"] == "$LATEST"
        assert "FunctionError" not in result
        assert json.loads(result["Payload"]) == {"echo": {"n": 1}}
    assert served.runner.calls == [("EchoFunction", {"n": 1})] * 2


async def test_handler_error_is_unhandled_with_the_error_payload(served: Served) -> None:
    """A raising handler is still 200, with FunctionError "Unhandled" and AWS's error object."""
    served.runner.fail = True
    result = await invoke(served, FunctionName="duel-Echo-ABC", Payload=b"{}")
    assert result["StatusCode"] == 200
    assert result["FunctionError"] == "Unhandled"
    payload = json.loads(result["Payload"])
    assert (payload["errorType"], payload["errorMessage"]) == ("ValueError", "boom")


async def test_log_tail_is_base64(served: Served) -> None:
    """LogType Tail returns the invocation's log output base64-encoded."""
    result = await invoke(served, FunctionName="duel-Echo-ABC", LogType="Tail")
    assert base64.b64decode(result["LogResult"]) == b"hello log\n"


async def test_empty_payload_is_an_empty_object(served: Served) -> None:
    """Invoking without a payload hands the handler {}."""
    await invoke(served, FunctionName="duel-Echo-ABC")
    assert served.runner.calls == [("EchoFunction", {})]


async def test_event_invocation_is_202_and_runs_in_background(served: Served) -> None:
    """Event answers 202 before the function finishes; the run completes afterwards."""
    served.runner.gate = asyncio.Event()
    result = await invoke(
        served, FunctionName="duel-Echo-ABC", InvocationType="Event", Payload=b'{"k": "v"}'
    )
    assert result["StatusCode"] == 202
    assert result["Payload"] == b""
    assert served.runner.finished == []
    assert served.api.pending == 1
    served.runner.gate.set()
    await served.api.wait_idle()
    assert served.runner.finished == ["EchoFunction"]
    assert served.runner.calls == [("EchoFunction", {"k": "v"})]


async def test_dry_run_is_204_and_runs_nothing(served: Served) -> None:
    """DryRun validates and answers 204 without invoking."""
    result = await invoke(served, FunctionName="duel-Echo-ABC", InvocationType="DryRun")
    assert result["StatusCode"] == 204
    assert served.runner.calls == []


async def test_unknown_function_is_resource_not_found(served: Served) -> None:
    """An unknown name is ResourceNotFoundException with AWS's message naming the ARN."""
    with pytest.raises(served.client.exceptions.ResourceNotFoundException) as info:
        await invoke(served, FunctionName="nope")
    error = info.value.response["Error"]
    assert error["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


async def test_unknown_qualifier_is_not_found_but_latest_is_fine(served: Served) -> None:
    """Qualifier $LATEST resolves; any other version is not found."""
    result = await invoke(served, FunctionName="duel-Echo-ABC", Qualifier="$LATEST")
    assert result["StatusCode"] == 200
    with pytest.raises(served.client.exceptions.ResourceNotFoundException) as info:
        await invoke(served, FunctionName="duel-Echo-ABC", Qualifier="7")
    assert info.value.response["Error"]["Message"].endswith("function:duel-Echo-ABC:7")


async def test_invalid_json_payload_is_rejected(served: Served) -> None:
    """A payload that is not JSON is InvalidRequestContentException and nothing runs."""
    with pytest.raises(served.client.exceptions.InvalidRequestContentException):
        await invoke(served, FunctionName="duel-Echo-ABC", Payload=b"{not json")
    assert served.runner.calls == []


def test_function_name_from_path_decodes() -> None:
    """The path's function name is percent-decoded (ARNs arrive with %3A)."""
    raw = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations"
    assert function_name_from_path(raw) == "arn:aws:lambda:us-east-1:1:function:f"
    assert function_name_from_path("/2015-03-31/functions/f") is None
