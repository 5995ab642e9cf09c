"""The plain-text chat sample (tests/apps/chat) through `duelctl up --template template.yml`.

What it proves: a SAM template.yml with raw AWS::ApiGatewayV2 resources (`Target: !Join
[/, [integrations, !Ref Integ]]`, `!Sub ...${Fn.Arn}/invocations`), Globals, DynamoDBCrud
policy templates and Lambda permissions runs unchanged; text frames reach `$default`;
handlers build the @connections endpoint from the event's domainName and stage; the table
has CloudFormation's generated name; three `lambda_function.py` modules stay apart; an
older runtime gets its one-line note.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.apps.harness import (
    LOCAL_PYTHON,
    AppStack,
    Opener,
    client_factory,
    generated_name,
    running_app,
    runtime_note,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppStack]:
    with running_app(tmp_path_factory, "chat", "template.yml", {"StageName": "Prod"}) as app:
        yield app


@pytest.fixture
async def clients() -> AsyncIterator[Opener]:
    async with client_factory() as opener:
        yield opener


async def stored_connections(chat: AppStack, count: int, timeout: float = 10.0) -> list[str]:
    """The table's connection ids once there are exactly `count` ($disconnect is async)."""
    table = chat.endpoints["connections_table"]
    dynamodb = chat.aws("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        items: list[dict[str, Any]] = dynamodb.scan(TableName=table)["Items"]
        if len(items) == count:
            return [item["connectionId"]["S"] for item in items]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(items)} connections stored, expected {count}")
        await asyncio.sleep(0.05)


async def test_plain_text_reaches_every_connection(chat: AppStack, clients: Opener) -> None:
    """A text frame goes to $default and comes back, byte for byte, on every connection."""
    a, b, c = await clients(chat), await clients(chat), await clients(chat)
    text = "héllo from a — plain text, no JSON ✓"
    await a.send(text)
    assert [await a.text(), await b.text(), await c.text()] == [text] * 3
    await b.send('{"action": "nobody-routes-this", "n": 1}')
    expected = '{"action": "nobody-routes-this", "n": 1}'
    assert [await a.text(), await b.text(), await c.text()] == [expected] * 3


async def test_table_has_the_generated_name_and_follows_connections(
    chat: AppStack, clients: Opener
) -> None:
    """The handlers' table is `chat-ConnectionsTable-XXXX`; $connect/$disconnect keep it."""
    table = chat.endpoints["connections_table"]
    assert generated_name("chat", "ConnectionsTable").fullmatch(table)
    assert table in chat.aws("dynamodb").list_tables()["TableNames"]
    await stored_connections(chat, 0)
    a, b = await clients(chat), await clients(chat)
    await stored_connections(chat, 2)
    await b.close()
    await stored_connections(chat, 1)
    await a.send("only a is left")
    assert await a.text() == "only a is left"
    await a.silence(0.3)


async def test_every_function_runs_from_its_own_folder(chat: AppStack, clients: Opener) -> None:
    """Three lambda_function.py modules (connect/, disconnect/, message/) each run their own."""
    a = await clients(chat)
    await a.send("ping")
    assert await a.text() == "ping"
    await a.close()
    log = await chat.wait_for_log("OnDisconnectFunction $disconnect")
    for function in ("OnConnectFunction", "MessageFunction", "OnDisconnectFunction"):
        assert f"{function} " in log
    assert "Runtime.ImportModuleError" not in log
    assert "Runtime.HandlerNotFound" not in log


async def test_older_runtime_runs_on_the_local_python_with_a_note(
    chat: AppStack, clients: Opener
) -> None:
    """python3.9 in the template runs here, with one note line when the versions differ."""
    a = await clients(chat)
    await a.send("ready?")
    assert await a.text() == "ready?"  # MessageFunction's worker is up, so its note is out
    await a.close()
    await chat.wait_for_log("OnDisconnectFunction $disconnect")
    log = chat.log()
    for function, runtime in (
        ("OnDisconnectFunction", "python3.9"),
        ("MessageFunction", "python3.12"),
    ):
        note = runtime_note(runtime)
        assert log.count(note) == (0 if runtime == LOCAL_PYTHON else 1), function
