"""Fixtures for the Lambda code: lambdas/ on sys.path, moto in-process, a fake clock, and a
recording stand-in for the @connections API.

Handlers are exercised through `adapters.deps.install`, the one seam they have: the
repositories, timer queue and notifier are the production classes talking to moto;
only the @connections poster (moto's is a stub that never says Gone, docs/aws-behaviour.md §14)
and the clock are replaced.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
EVENTS = ROOT / "tests" / "events"
TEMPLATE = ROOT / "template.yaml"
if str(LAMBDAS) not in sys.path:
    sys.path.insert(0, str(LAMBDAS))

from adapters import deps as deps_module  # noqa: E402
from adapters.config import Config  # noqa: E402
from adapters.deps import Deps  # noqa: E402
from adapters.notifier import ConnectionGone  # noqa: E402
from adapters.timer_queue import TimerQueue  # noqa: E402
from duel.timers import Timer, encode_timer  # noqa: E402

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
REGION = "us-east-1"
ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"
ROUTES = frozenset({"invite", "response", "stop", "ping", "state"})

ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "CONNECTIONS_TABLE": "duelctl-connections",
    "SESSIONS_TABLE": "duelctl-sessions",
    "TIMER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/duelctl-timers",
    "WEBSOCKET_MANAGEMENT_URL": ENDPOINT,
    "USER_POOL_ID": "us-east-1_AbCdEf123",
    "USER_POOL_CLIENT_ID": "26charclientid000000000000",
    "INVITE_TIMEOUT_SECONDS": "60",
    "DUEL_SECONDS": "600",
    "START_LEAD_SECONDS": "3",
    "CONNECTION_TTL_SECONDS": "3600",
}


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/<name>.json."""
    return json.loads((EVENTS / f"{name}.json").read_text())


class FakeClock:
    """Epoch milliseconds that move only when a test advances them."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now = now_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


class RecordingPoster:
    """Stands in for @connections: keeps every posted body; ids in `gone` answer 410.

    `after_post`, when set, runs after each successful post with the frame posted: a test
    runs another handler there to land it between two steps of the posting one, without
    threads.
    """

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []  # (endpoint, connection id, data)
        self.gone: set[str] = set()
        self.after_post: Callable[[dict[str, Any]], None] | None = None
        self._read: dict[str, int] = {}

    def for_endpoint(self, endpoint: str) -> _EndpointPoster:
        return _EndpointPoster(self, endpoint)

    def raw(self, connection_id: str) -> list[bytes]:
        return [data for _, conn, data in self.posts if conn == connection_id]

    def frames(self, connection_id: str) -> list[dict[str, Any]]:
        """Frames the connection got since the last call (a drain, like a client reading)."""
        received = self.raw(connection_id)
        start = self._read.get(connection_id, 0)
        self._read[connection_id] = len(received)
        return [json.loads(data) for data in received[start:]]


class _EndpointPoster:
    def __init__(self, recorder: RecordingPoster, endpoint: str) -> None:
        self._recorder = recorder
        self.endpoint = endpoint

    def post(self, connection_id: str, data: bytes) -> None:
        if _call_log:
            _call_log[-1].record("execute-api:ManageConnections", "WebSocketApi")
        if connection_id in self._recorder.gone:
            raise ConnectionGone(connection_id)
        self._recorder.posts.append((self.endpoint, connection_id, data))
        if self._recorder.after_post is not None:
            self._recorder.after_post(json.loads(data))


class SpyTimerQueue(TimerQueue):
    """The real queue adapter (moto SQS underneath) that also remembers what it sent."""

    def __init__(self, client: Any, queue_url: str) -> None:
        super().__init__(client, queue_url)
        self.sent: list[tuple[Timer, int]] = []  # (timer, DelaySeconds)

    def schedule(self, timer: Timer, now_ms: int) -> int:
        delay = super().schedule(timer, now_ms)
        self.sent.append((timer, delay))
        return delay


@functools.cache
def _template() -> Any:
    template, errors = decode(str(TEMPLATE))
    assert not errors, errors
    return template


def _template_table(logical_id: str) -> dict[str, Any]:
    props = _template()["Resources"][logical_id]["Properties"]
    params: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in props:
        params["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        view = props["StreamSpecification"]["StreamViewType"]
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    return params


def _stream_filters() -> list[str]:
    """The FilterCriteria patterns of the Sessions stream's event source in template.yaml."""
    function = _template()["Resources"]["SessionsStreamFunction"]["Properties"]
    (source,) = function["Events"].values()
    return [f["Pattern"] for f in source["Properties"]["FilterCriteria"]["Filters"]]


class Aws:
    """moto's in-process AWS with the template's tables and timer queue."""

    def __init__(self) -> None:
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.streams = boto3.client("dynamodbstreams", region_name=REGION)
        for logical_id, env_name in (
            ("ConnectionsTable", "CONNECTIONS_TABLE"),
            ("SessionsTable", "SESSIONS_TABLE"),
        ):
            self.dynamodb.create_table(TableName=ENV[env_name], **_template_table(logical_id))
        self.queue_url = self.sqs.create_queue(QueueName="duelctl-timers")["QueueUrl"]

    def items(self, table: str) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=table)["Items"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler environment of template.yaml's Globals, and no real AWS endpoint."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
            monkeypatch.delenv(name)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


# Physical names in this environment -> the template's logical ids, for IAM resources.
_LOGICAL = {
    ENV["CONNECTIONS_TABLE"]: "ConnectionsTable",
    ENV["SESSIONS_TABLE"]: "SessionsTable",
    "duelctl-timers": "TimerQueue",
}


def _table(params: dict[str, Any]) -> str:
    name = _LOGICAL.get(str(params.get("TableName")), "?")
    return f"{name}/index" if params.get("IndexName") else name


class CallLog:
    """The IAM grants each handler's AWS calls need, as (handler module, action, resource).

    Filled by a botocore `before-parameter-build` hook (it sees the API parameters) and
    by the recording poster, so a test can hold every call against the function's
    policy in template.yaml. Resources are the template's logical ids
    (`SessionsTable/index` for its GSIs).
    """

    def __init__(self) -> None:
        self.handler: str | None = None
        self.grants: set[tuple[str, str, str]] = set()
        self.operations: list[tuple[str, str]] = []  # (handler, Operation), in call order

    @property
    def actions(self) -> set[tuple[str, str]]:
        return {(handler, action) for handler, action, _ in self.grants}

    def record(self, action: str, resource: str) -> None:
        if self.handler is not None:
            self.grants.add((self.handler, action, resource))

    def on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        prefix = model.service_model.endpoint_prefix
        if self.handler is not None:
            self.operations.append((self.handler, model.name))
        if model.name == "TransactWriteItems":
            # AWS: a transaction is authorized per item action (DynamoDB dev guide,
            # "Using IAM with DynamoDB transactions").
            for item in params.get("TransactItems", []):
                for kind, request in item.items():
                    self.record(f"dynamodb:{kind}Item", _table(request))
        elif model.name == "BatchGetItem":
            for table in params.get("RequestItems", {}):
                self.record("dynamodb:BatchGetItem", _table({"TableName": table}))
        elif prefix == "sqs":
            # A test breaks the queue by renaming it ("duelctl-timers-gone"): same grant.
            queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
            self.record(f"sqs:{model.name}", _LOGICAL.get(queue.removesuffix("-gone"), "?"))
        else:
            self.record(f"{prefix}:{model.name}", _table(params))


_call_log: list[CallLog] = []


def _on_call(**kwargs: Any) -> None:
    if _call_log:
        _call_log[-1].on_call(**kwargs)


@functools.cache
def _botocore_session() -> boto3.session.Session:
    """One boto3 session for the whole run, so service models are parsed once, not per test."""
    session = boto3.session.Session()
    session.events.register("before-parameter-build", _on_call)
    return session


@pytest.fixture
def aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        # mock_aws resets boto3's default session; handing it a warm one keeps every
        # boto3.client() call (the handlers' included) intercepted by moto, but fast.
        boto3.DEFAULT_SESSION = _botocore_session()
        resources = Aws()
        monkeypatch.setenv("TIMER_QUEUE_URL", resources.queue_url)
        yield resources


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def poster() -> RecordingPoster:
    return RecordingPoster()


@pytest.fixture
def deps(aws: Aws, clock: FakeClock, poster: RecordingPoster) -> Iterator[Deps]:
    """Production Deps over moto, with the fake clock and the recording poster, installed."""
    built = Deps(
        Config.from_env(os.environ),
        clock=clock,
        poster_factory=poster.for_endpoint,
        timers=SpyTimerQueue(aws.sqs, aws.queue_url),
    )
    deps_module.install(built)
    yield built
    deps_module.install(None)


class LambdaContext:
    """The fields of AWS's Python context object the handlers could touch (§13)."""

    function_name = "duelctl-test"
    function_version = "$LATEST"
    memory_limit_in_mb = "256"
    aws_request_id = "5b6f7a5e-1f3c-4b7e-9a1d-2c3e4f5a6b7c"

    def __init__(self) -> None:
        # What get_remaining_time_in_millis answers: a test makes an invocation run out of
        # time mid-way with a function of what has happened so far (e.g. posts made).
        self.remaining: Callable[[], int] = lambda: 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining()


class World:
    """Drive the handlers the way API Gateway, SQS and Streams would, over real event shapes."""

    def __init__(self, aws: Aws, deps: Deps, clock: FakeClock, poster: RecordingPoster) -> None:
        self.aws = aws
        self.deps = deps
        self.clock = clock
        self.poster = poster
        self.context = LambdaContext()
        self._identity: dict[str, tuple[str, str]] = {}
        self._connected_at: dict[str, int] = {}
        self._stream: str | None = None
        self.calls = CallLog()

    @staticmethod
    def handler(name: str) -> Any:
        return importlib.import_module(f"handlers.{name}")

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Run handlers.<name>.handle as Lambda would, noting the AWS calls it makes.

        May be called from inside another invocation (RecordingPoster.after_post): the
        calls made after it returns are the outer handler's again.
        """
        outer, self.calls.handler = self.calls.handler, name
        try:
            return self.handler(name).handle(event, self.context)
        finally:
            self.calls.handler = outer

    @property
    def timers(self) -> SpyTimerQueue:
        timers = self.deps.timers
        assert isinstance(timers, SpyTimerQueue)
        return timers

    def _authorizer(self, user_id: str, username: str) -> dict[str, Any]:
        return {"principalId": user_id, "userId": user_id, "username": username}

    def connect(self, user_id: str, username: str | None = None) -> str:
        """Open a connection for the user through the $connect handler; returns its id."""
        connection_id = uuid.uuid4().hex[:15] + "="
        username = username or user_id
        event = load_event("websocket_connect")
        event["requestContext"]["connectionId"] = connection_id
        event["requestContext"]["connectedAt"] = self.clock.now
        event["requestContext"]["authorizer"] = self._authorizer(user_id, username)
        assert self.invoke("connect", event) == {"statusCode": 200}
        self._identity[connection_id] = (user_id, username)
        self._connected_at[connection_id] = self.clock.now
        return connection_id

    def ws_event(self, connection_id: str, route: str, body: str | None) -> dict[str, Any]:
        user_id, username = self._identity[connection_id]
        event = load_event("websocket_message")
        event["requestContext"]["routeKey"] = route
        event["requestContext"]["connectionId"] = connection_id
        event["requestContext"]["connectedAt"] = self._connected_at[connection_id]
        event["requestContext"]["authorizer"] = self._authorizer(user_id, username)
        event["body"] = body
        return event

    def disconnect(self, connection_id: str) -> None:
        user_id, username = self._identity[connection_id]
        event = load_event("websocket_disconnect")
        event["requestContext"]["connectionId"] = connection_id
        event["requestContext"]["authorizer"] = self._authorizer(user_id, username)
        assert self.invoke("disconnect", event) == {"statusCode": 200}

    def send(self, connection_id: str, body: Any) -> None:
        """A client frame, routed like `$request.body.action` (docs/aws-behaviour.md §2)."""
        text = body if isinstance(body, str) else json.dumps(body)
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply: $default
            parsed = None
        action = parsed.get("action") if isinstance(parsed, dict) else None
        route = action if isinstance(action, str) and action in ROUTES else "$default"
        module = "default" if route == "$default" else route
        event = self.ws_event(connection_id, route, text)
        assert self.invoke(module, event) == {"statusCode": 200}

    def frames(self, connection_id: str) -> list[dict[str, Any]]:
        return self.poster.frames(connection_id)

    def invite(self, from_conn: str, to_user: str) -> str:
        """Send an invite that must succeed; returns the new session id."""
        self.send(from_conn, {"action": "invite", "to": to_user})
        sent = [f for f in self.frames(from_conn) if f["type"] == "invite_sent"]
        assert len(sent) == 1, sent
        return str(sent[0]["sessionId"])

    def sqs_event(self, *timers: Timer) -> dict[str, Any]:
        template = load_event("sqs_timer")["Records"][0]
        event_records = []
        for timer in timers:
            record = copy.deepcopy(template)
            record["messageId"] = str(uuid.uuid4())
            record["body"] = encode_timer(timer)
            event_records.append(record)
        return {"Records": event_records}

    def deliver(self, *timers: Timer) -> dict[str, Any]:
        """Deliver timer messages to the timers handler (SQS event source mapping)."""
        return self.invoke("timers", self.sqs_event(*timers))

    def last_timer(self) -> Timer:
        return self.timers.sent[-1][0]

    def stream(self) -> dict[str, Any] | None:
        """Feed new Sessions stream records that pass the template's FilterCriteria to the
        sessions_stream handler, as the event source mapping would; None if none pass.

        moto's stream has no TTL deletions (docs/aws-behaviour.md §14): tests send those by hand.
        """
        from emulator.services.patterns import matches_any, parse_patterns

        if self._stream is None:
            table = self.aws.dynamodb.describe_table(TableName=ENV["SESSIONS_TABLE"])["Table"]
            arn = table["LatestStreamArn"]
            shard = self.aws.streams.describe_stream(StreamArn=arn)["StreamDescription"]
            self._stream = self.aws.streams.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard["Shards"][0]["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
        page = self.aws.streams.get_records(ShardIterator=self._stream)
        self._stream = page["NextShardIterator"]
        patterns = parse_patterns(_stream_filters())
        passed = []
        for raw in page["Records"]:
            record = {
                "eventID": raw["eventID"],
                "eventName": raw["eventName"],
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    k: v for k, v in raw["dynamodb"].items() if k != "ApproximateCreationDateTime"
                },
            }
            if matches_any(patterns, record):
                passed.append(record)
        if not passed:
            return None
        return self.invoke("sessions_stream", {"Records": passed})


@pytest.fixture
def world(aws: Aws, deps: Deps, clock: FakeClock, poster: RecordingPoster) -> Iterator[World]:
    built = World(aws, deps, clock, poster)
    _call_log.append(built.calls)
    yield built
    _call_log.remove(built.calls)


@pytest.fixture
def event() -> Any:
    """`event(name)`: a fresh copy of a tests/events file."""
    return load_event
