"""AWS behaviours the emulator reproduces, observed from outside as a user would."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import connect

from duelctl.testing import local_stack
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def aws(stack: Any, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack.aws_endpoint_url,
        region_name=stack.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def management(stack: Any) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.management_url,
        region_name=stack.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def connection_ids(stack: Any, user_id: str) -> list[str]:
    items = aws(stack, "dynamodb").query(
        TableName=stack.connections_table,
        KeyConditionExpression="userId = :u",
        ExpressionAttributeValues={":u": {"S": user_id}},
    )["Items"]
    return [item["connectionId"]["S"] for item in items]


async def wait_for(predicate: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def test_ttl_removal_of_a_live_session_notifies_both(
    stack: Any, users: Any, open_tab: Any
) -> None:
    """A pending session whose TTL passes is reaped, streamed and ends as no_response."""
    alice, bob = users("alice"), users("bob")
    a, b = await open_tab(alice), await open_tab(bob)
    session_id = str(uuid.uuid4())
    past = int(time.time()) - 5
    aws(stack, "dynamodb").put_item(
        TableName=stack.sessions_table,
        Item={
            "sessionId": {"S": session_id},
            "userA": {"S": alice.user_id},
            "userB": {"S": bob.user_id},
            "status": {"S": "pending"},
            "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
            "expiresAt": {"S": "2026-11-25T12:01:00.000Z"},
            "expireAt": {"N": str(past)},
        },
    )
    assert (await a.expect("no_response", timeout=20))["sessionId"] == session_id
    assert (await b.expect("no_response", timeout=20))["sessionId"] == session_id


async def test_a_user_delete_is_not_a_ttl_removal(stack: Any, users: Any, open_tab: Any) -> None:
    """Deleting a session item by hand streams a REMOVE the TTL filter drops: no frame."""
    alice, bob = users("alice"), users("bob")
    a = await open_tab(alice)
    session_id = str(uuid.uuid4())
    db = aws(stack, "dynamodb")
    item = {
        "sessionId": {"S": session_id},
        "userA": {"S": alice.user_id},
        "userB": {"S": bob.user_id},
        "status": {"S": "pending"},
        "createdAt": {"S": "2026-11-25T12:00:00.000Z"},
        "expiresAt": {"S": "2026-11-25T12:01:00.000Z"},
        "expireAt": {"N": str(int(time.time()) + 3600)},
    }
    db.put_item(TableName=stack.sessions_table, Item=item)
    db.delete_item(TableName=stack.sessions_table, Key={"sessionId": {"S": session_id}})
    await a.expect_silence(1.5)


async def test_abrupt_drop_fires_disconnect(stack: Any, users: Any, open_tab: Any) -> None:
    """A client that vanishes without a close frame still gets its $disconnect."""
    alice = users("alice")
    tab = await open_tab(alice)
    await tab.send(action="ping")
    await tab.expect("pong")
    assert len(connection_ids(stack, alice.user_id)) == 1
    tab.ws.transport.abort()
    await wait_for(lambda: connection_ids(stack, alice.user_id) == [])


async def test_delete_connection_closes_the_socket(stack: Any, users: Any, open_tab: Any) -> None:
    """DeleteConnection via unmodified boto3 closes the socket and $disconnect cleans up."""
    alice = users("alice")
    tab = await open_tab(alice)
    await tab.send(action="ping")
    await tab.expect("pong")
    [conn_id] = connection_ids(stack, alice.user_id)
    info = await asyncio.to_thread(management(stack).get_connection, ConnectionId=conn_id)
    assert info["ConnectedAt"] <= info["LastActiveAt"]
    assert info["Identity"]["SourceIp"] == "127.0.0.1"
    await asyncio.to_thread(management(stack).delete_connection, ConnectionId=conn_id)
    await asyncio.wait_for(tab.ws.wait_closed(), 10)
    assert tab.ws.close_code == 1000
    await wait_for(lambda: connection_ids(stack, alice.user_id) == [])
    client = management(stack)
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(client.post_to_connection, ConnectionId=conn_id, Data=b"{}")


async def test_post_to_connection_reaches_the_client(stack: Any, users: Any, open_tab: Any) -> None:
    """A post through the management URL arrives as one text frame, byte for byte."""
    alice = users("alice")
    tab = await open_tab(alice)
    await tab.send(action="ping")
    await tab.expect("pong")
    [conn_id] = connection_ids(stack, alice.user_id)
    body = {"type": "custom", "text": "é" * 1000}
    await asyncio.to_thread(
        management(stack).post_to_connection,
        ConnectionId=conn_id,
        Data=json.dumps(body).encode(),
    )
    assert await tab.next() == body


@pytest.fixture
def reload_stack(tmp_path: Path) -> Any:
    """A stack with --reload over a private copy of the backend, so edits stay local."""
    app = tmp_path / "app"
    shutil.copytree(ROOT / "lambdas", app / "lambdas", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "template.yaml", app / "template.yaml")
    with local_stack(app, template=app / "template.yaml", args=["--reload"]) as stack:
        yield app, stack.endpoints


async def test_hot_reload_runs_edited_handler_code(reload_stack: Any, users: Any) -> None:
    """Editing a handler under --reload changes what the next message runs."""
    app, endpoints = reload_stack
    from tests.e2e.conftest import make_user

    alice = await asyncio.to_thread(make_user, endpoints, f"reload-{uuid.uuid4().hex[:6]}")
    async with connect(f"{endpoints.websocket_url}?token={alice.token}") as ws:
        await ws.send(json.dumps({"action": "dance"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["code"] == "unknown_action"
        handler = app / "lambdas" / "handlers" / "default.py"
        handler.write_text(
            handler.read_text()
            + "\n\n_original = handle\n\n\ndef handle(event, context):\n"
            + "    raise RuntimeError('edited')\n"
        )
        deadline = time.monotonic() + 20
        while True:
            await ws.send(json.dumps({"action": "dance"}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame.get("message") == "Internal server error":
                break
            assert time.monotonic() < deadline, "the edit was never picked up"
            await asyncio.sleep(0.3)
