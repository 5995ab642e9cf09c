"""The fan-out sample (tests/apps/fanout) through `duelctl up --template template.yaml`.

What it proves: `$connect` hands the welcome to another function with an asynchronous
Lambda invoke (the emulator's Invoke API, reached through AWS_ENDPOINT_URL_LAMBDA); a
route posts to every connection; an SQS-triggered and a DynamoDB-Streams-triggered
function post too; a synchronous invoke returns the result or the function's error;
Globals.CodeUri, `!Sub` in both forms, `!Join`, `!Select`/`!Split`, `!If`/Conditions,
pseudo parameters and FunctionName resolve as CloudFormation would; tables and the queue
carry generated names.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.apps.harness import AppStack, Client, Opener, client_factory, generated_name, running_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppStack]:
    with running_app(tmp_path_factory, "fanout", "template.yaml", {"StageName": "dev"}) as app:
        yield app


@pytest.fixture
async def clients() -> AsyncIterator[Opener]:
    async with client_factory() as opener:
        yield opener


async def joined(clients: Opener, app: AppStack) -> tuple[Client, str]:
    """A new connection and its id, once WelcomeFunction has greeted it."""
    client = await clients(app)
    welcome = await client.expect("welcome")
    return client, welcome["connectionId"]


async def test_connect_is_welcomed_by_an_asynchronously_invoked_function(
    fanout: AppStack, clients: Opener
) -> None:
    """$connect invokes WelcomeFunction (Event); it posts once the connection exists."""
    client, connection_id = await joined(clients, fanout)
    assert re.fullmatch(r"[A-Za-z0-9_=-]{16}", connection_id)
    deadline = time.monotonic() + 10
    while re.search(r"WelcomeFunction \d+ms ok", fanout.log()) is None:  # no route: Invoke API
        assert time.monotonic() < deadline, fanout.log()[-2000:]
        await asyncio.sleep(0.05)
    await client.silence(0.3)


async def test_newcomers_are_announced_from_the_table_stream(
    fanout: AppStack, clients: Opener
) -> None:
    """The connections table's stream (INSERT filter) tells the others who joined."""
    a, a_id = await joined(clients, fanout)
    b, b_id = await joined(clients, fanout)
    assert (await a.expect("joined", connectionId=b_id))["connectionId"] == b_id
    # b may still hear about a (the stream is polled), but never about itself.
    heard = [json.loads(frame) for frame in await b.drain(0.5)]
    assert all(frame["type"] == "joined" for frame in heard), heard
    assert b_id not in {frame["connectionId"] for frame in heard}
    assert a_id != b_id


async def test_sendmessage_posts_to_every_connection(fanout: AppStack, clients: Opener) -> None:
    """The route scans the table and posts to each connection, the sender included."""
    a, a_id = await joined(clients, fanout)
    b, _ = await joined(clients, fanout)
    await a.send({"action": "sendmessage", "data": "hello everyone"})
    for client in (a, b):
        frame = await client.expect("message")
        assert frame == {"type": "message", "from": a_id, "data": "hello everyone"}


async def test_notify_goes_through_the_queue_to_every_connection(
    fanout: AppStack, clients: Opener
) -> None:
    """NotifyFunction queues the notice; the SQS-triggered NoticeFunction posts it."""
    a, _ = await joined(clients, fanout)
    b, _ = await joined(clients, fanout)
    await b.send({"action": "notify", "text": "maintenance at noon"})
    for client in (a, b):
        assert await client.expect("notice") == {"type": "notice", "text": "maintenance at noon"}
    await fanout.wait_for_log("NoticeFunction ")


async def test_count_invokes_the_counter_synchronously(fanout: AppStack, clients: Opener) -> None:
    """RequestResponse returns the counter's result; a raise comes back as FunctionError."""
    a, _ = await joined(clients, fanout)
    for expected in (1, 2):
        await a.send({"action": "count", "counter": "clicks"})
        frame = await a.expect("count")
        assert frame == {"type": "count", "counter": "clicks", "value": expected}
    await a.send({"action": "count"})
    assert await a.expect("count_error") == {"type": "count_error", "errorType": "ValueError"}
    table = next(
        name
        for name in fanout.aws("dynamodb").list_tables()["TableNames"]
        if generated_name("fanout", "CountersTable").fullmatch(name)
    )
    item = fanout.aws("dynamodb").get_item(TableName=table, Key={"counter": {"S": "clicks"}})
    assert item["Item"]["value"] == {"N": "2"}


async def test_info_shows_what_the_template_resolved(fanout: AppStack, clients: Opener) -> None:
    """The route response carries intrinsics, pseudo parameters and Globals as resolved."""
    a, _ = await joined(clients, fanout)
    await a.send({"action": "info"})
    info = await a.first(lambda frame: "STACK" in frame)
    dynamodb, sqs = fanout.aws("dynamodb"), fanout.aws("sqs")
    tables = dynamodb.list_tables()["TableNames"]
    connections = fanout.endpoints["connections_table"]
    counters = next(t for t in tables if generated_name("fanout", "CountersTable").fullmatch(t))
    queue_urls: list[str] = sqs.list_queues()["QueueUrls"]
    assert generated_name("fanout", "ConnectionsTable").fullmatch(connections)
    assert connections in tables
    assert any(url.endswith("/" + info["QUEUE_NAME"]) for url in queue_urls)
    assert generated_name("fanout", "NotifyQueue").fullmatch(info["QUEUE_NAME"])
    assert info == {
        "STACK": "fanout",
        "ACCOUNT": "123456789012",
        "PARTITION": "aws",
        "URL_SUFFIX": "amazonaws.com",
        "QUEUE_NAME": info["QUEUE_NAME"],
        "QUEUE_REGION": "us-east-1",
        "COUNTER_NAME": "fanout-counter",
        "TABLES": f"{connections},{counters}",
        "LOG_LEVEL": "DEBUG",
        "MANAGEMENT_ENDPOINT": info["MANAGEMENT_ENDPOINT"],
        "CONNECTIONS_TABLE": connections,
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": info["AWS_LAMBDA_FUNCTION_NAME"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "remaining_ms": info["remaining_ms"],
    }
    assert re.fullmatch(
        r"https://[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com/dev",
        info["MANAGEMENT_ENDPOINT"],
    )
    assert generated_name("fanout", "InfoFunction").fullmatch(info["AWS_LAMBDA_FUNCTION_NAME"])
    assert 0 < info["remaining_ms"] <= 10_000  # Globals Timeout: 10


async def test_lambda_invoke_api_serves_named_functions(fanout: AppStack) -> None:
    """boto3's lambda.invoke reaches FunctionName-named functions, sync and async."""
    lambda_client = fanout.aws("lambda", endpoint_url=fanout.endpoints["http_url"])
    response = lambda_client.invoke(
        FunctionName="fanout-counter", Payload=json.dumps({"counter": "direct"})
    )
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read()) == {"counter": "direct", "value": 1}
    failed = lambda_client.invoke(FunctionName="fanout-counter", Payload=b"{}")
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "ValueError"
    queued = lambda_client.invoke(
        FunctionName="fanout-counter",
        InvocationType="Event",
        Payload=json.dumps({"counter": "async"}),
    )
    assert queued["StatusCode"] == 202
    table = next(
        name
        for name in fanout.aws("dynamodb").list_tables()["TableNames"]
        if generated_name("fanout", "CountersTable").fullmatch(name)
    )
    item: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while "Item" not in item and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        item = fanout.aws("dynamodb").get_item(TableName=table, Key={"counter": {"S": "async"}})
    assert item["Item"]["value"] == {"N": "1"}
