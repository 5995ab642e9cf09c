"""The Lambda Invoke API, so `boto3.client("lambda").invoke(...)` works unchanged locally.

Handlers get `AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:<http_port>` (TEAM.md decision 2),
so their boto3 `invoke` calls land here: `POST /2015-03-31/functions/{name}/invocations`.

AWS behaviour copied (Lambda API reference, "Invoke"; docs/aws-behaviour.md §13):
- `RequestResponse` (default): 200 with the function's JSON result; a handler error is
  still 200, with `X-Amz-Function-Error: Unhandled` and the error object as payload;
  `X-Amz-Executed-Version: $LATEST`; `X-Amz-Log-Type: Tail` adds `X-Amz-Log-Result`
  (base64 of the last 4 KB of the log).
- `Event`: 202, empty body, the function runs in the background; a function error
  (timeout and crash included) is retried twice, 1 and then 2 minutes later on the
  stack's clock ("How Lambda handles errors and retries with asynchronous invocation").
- `DryRun`: 204, nothing runs.
- Unknown function: 404, `x-amzn-ErrorType: ResourceNotFoundException`,
  `{"Type": "User", "message": "Function not found: arn:aws:lambda:..."}`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import traceback
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.runner.base import FunctionRunner, Invocation

PATH_PREFIX = "/2015-03-31/functions/"
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

# AWS: a failed asynchronous invocation runs twice more, one minute and then two minutes
# later (Lambda developer guide, "How Lambda handles errors and retries with asynchronous
# invocation"; docs/aws-behaviour.md §13, §17).
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)
# AWS quotas: 6 MB synchronous request payload, 1 MB asynchronous (Lambda quotas page).
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024
LOG_TAIL_BYTES = 4096

NameResolver = Callable[[str], str | None]
"""Function name, ARN or partial ARN -> logical id, None when unknown."""


class LambdaApiError(Exception):
    """An Invoke API error with AWS's status and `x-amzn-ErrorType`."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type

    def response(self, request_id: str) -> web.Response:
        """The one place an Invoke error becomes HTTP (botocore reads the header's type)."""
        body = json.dumps({"Type": "User", "message": str(self)})
        return web.Response(
            status=self.status,
            text=body,
            content_type="application/json",
            headers={"x-amzn-ErrorType": self.error_type, "x-amzn-RequestId": request_id},
        )


def function_name_from_path(raw_path: str) -> str | None:
    """The decoded `{name}` of `/2015-03-31/functions/{name}/invocations`, else None."""
    match = _INVOKE_PATH.match(raw_path.split("?", 1)[0])
    return unquote(match.group("name")) if match else None


class LambdaInvokeApi:
    """Serves Lambda's Invoke operation over HTTP for the template's functions."""

    def __init__(
        self,
        runner: FunctionRunner,
        resolve: NameResolver,
        *,
        region: str,
        account_id: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._runner = runner
        self._clock = clock  # waits between retries of a failed `Event` invocation
        self._resolve = resolve
        self._region = region
        self._account_id = account_id
        self._background: set[asyncio.Task[Invocation | None]] = set()

    @staticmethod
    def matches(raw_path: str) -> bool:
        """True for any path under `/2015-03-31/functions/`."""
        return raw_path.startswith(PATH_PREFIX)

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes for a standalone app."""
        return [web.route("*", "/2015-03-31/functions/{tail:.*}", self.handle)]

    @property
    def pending(self) -> int:
        """How many `Event` invocations are still running."""
        return len(self._background)

    def function_arn(self, name: str) -> str:
        """The ARN AWS names in its not-found message: the given ARN, or one built from it."""
        if name.startswith("arn:"):
            return name
        if ":function:" in name:  # partial ARN "123456789012:function:name"
            return f"arn:aws:lambda:{self._region}:{name}"
        return f"arn:aws:lambda:{self._region}:{self._account_id}:function:{name}"

    def _lookup(self, name: str, qualifier: str | None) -> str:
        logical_id = self._resolve(name)
        if logical_id is None and name.endswith(":$LATEST"):
            qualifier = qualifier or "$LATEST"
            name = name[: -len(":$LATEST")]
            logical_id = self._resolve(name)
        if logical_id is None or qualifier not in (None, "", "$LATEST"):
            arn = self.function_arn(name)
            if qualifier:
                arn = f"{arn}:{qualifier}"
            raise LambdaApiError(404, "ResourceNotFoundException", f"Function not found: {arn}")
        return logical_id

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one Invoke request; never raises for API errors."""
        request_id = str(uuid.uuid4())
        try:
            return await self._invoke(request, request_id)
        except LambdaApiError as exc:
            return exc.response(request_id)

    async def _invoke(self, request: web.Request, request_id: str) -> web.Response:
        payload = await request.read()  # always drained, so the connection stays reusable
        name = function_name_from_path(request.raw_path)
        if name is None or request.method != "POST":
            raise LambdaApiError(404, "UnknownOperationException", "Unknown operation")
        logical_id = self._lookup(name, request.query.get("Qualifier"))
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            raise LambdaApiError(
                400,
                "InvalidParameterValueException",
                f"Unsupported invocation type: {invocation_type}",
            )
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            raise LambdaApiError(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
            )
        event = self._parse_payload(payload)
        headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        if invocation_type == "DryRun":
            return web.Response(status=204, headers=headers)
        if invocation_type == "Event":
            task = asyncio.create_task(self._run_event(logical_id, event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return web.Response(status=202, headers={"x-amzn-RequestId": request_id})

        invocation = await self._runner.invoke(logical_id, event)
        if not invocation.ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            tail = invocation.logs.encode("utf-8")[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode("ascii")
        try:
            body = json.dumps(invocation.result)
        except (TypeError, ValueError):
            # AWS: a result that cannot be serialized is Runtime.MarshalError
            # (docs/aws-behaviour.md §13).
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = json.dumps(
                {
                    "errorMessage": "Unable to marshal response",
                    "errorType": "Runtime.MarshalError",
                    "requestId": invocation.request_id,
                    "stackTrace": [],
                }
            )
        return web.Response(status=200, text=body, content_type="application/json", headers=headers)

    @staticmethod
    def _parse_payload(payload: bytes) -> Any:
        # AWS: an empty payload reaches the handler as {} (inferred from the console/CLI).
        if not payload.strip():
            return {}
        try:
            return json.loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            raise LambdaApiError(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
            ) from exc

    async def _run_event(self, logical_id: str, event: Any) -> Invocation | None:
        """Run one `Event` invocation with AWS's retries; failures are logged, never
        raised (nobody awaits it). Returns the last attempt."""
        delays = iter(ASYNC_RETRY_DELAYS_S)
        while True:
            try:
                invocation = await self._runner.invoke(logical_id, event)
            except Exception:
                emit(
                    SERVICE,
                    f"async invoke of {logical_id} failed",
                    level=logging.ERROR,
                    traceback=traceback.format_exc(),
                )
                return None
            if invocation.ok:
                return invocation
            delay = next(delays, None)
            emit(
                SERVICE,
                f"async invoke of {logical_id} ended with {invocation.outcome}"
                + (f"; retry in {delay:g} s" if delay is not None else "; no retries left"),
                level=logging.WARNING,
                function=logical_id,
                request_id=invocation.request_id,
            )
            if delay is None:
                return invocation
            await self._clock.sleep_until(self._clock.now() + delay)

    async def wait_idle(self) -> None:
        """Wait until every `Event` invocation accepted so far has finished."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Give `Event` invocations `timeout_s` to finish, then cancel the rest."""
        if self._background:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_idle(), timeout_s)
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
