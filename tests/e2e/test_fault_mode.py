"""Fault mode on the whole duel stack: gone-window, drop-disconnect and the faults route.

Each test runs an `Emulator` with the duel template on this test's event loop (the real
gateway, real handler workers, real moto), so it can see the gateway's fault state and
act exactly while a connection is held in its gone window.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import connect

from emulator.runtime import Emulator, EmulatorOptions
from emulator.template.load import load_template
from tests.e2e.conftest import Tab, User, _read, make_user

ROOT = Path(__file__).resolve().parents[2]
FAST = {"InviteTimeoutSeconds": "30", "DuelSeconds": "30", "StartLeadSeconds": "1"}


@pytest.fixture
def stack_factory(tmp_path: Path) -> Callable[[str], Emulator]:
    def make(faults: str) -> Emulator:
        template = load_template(ROOT / "template.yaml", FAST)
        options = EmulatorOptions(faults=faults, faults_seed=7, state_dir=tmp_path / "state")
        return Emulator(template, options=options)

    return make


async def open_tab(emu: Emulator, user: User) -> Tab:
    ws = await connect(f"{emu.endpoints.websocket_url}?token={user.token}")
    tab = Tab(user, ws)
    tab.reader = asyncio.create_task(_read(tab))
    return tab


def connection_ids(emu: Emulator, user: User) -> list[str]:
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=emu.endpoints.aws_endpoint_url,
        region_name=emu.endpoints.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    items = ddb.query(
        TableName=emu.endpoints.connections_table,
        KeyConditionExpression="userId = :u",
        ExpressionAttributeValues={":u": {"S": user.user_id}},
        ConsistentRead=True,
    )["Items"]
    return sorted(item["connectionId"]["S"] for item in items)


def faults_route(emu: Emulator, *connections: str) -> dict[str, Any]:
    faults = emu.endpoints.faults
    assert faults is not None
    query = "".join(f"&connection={c}" for c in connections).lstrip("&")
    url = faults["url"] + (f"?{query}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):  # a hang guard, not a timing assertion
        while not predicate():  # noqa: ASYNC110 - the gateway's state announces nothing
            await asyncio.sleep(0.01)


@pytest.fixture
async def tabs() -> AsyncIterator[list[Tab]]:
    opened: list[Tab] = []
    yield opened
    for tab in opened:
        await tab.close()


async def test_a_tab_in_its_gone_window_misses_the_invite_but_keeps_its_item(
    stack_factory: Callable[[str], Emulator], tabs: list[Tab]
) -> None:
    """Issue 14, defect 3 under the fault that shows it: the 410 of a connecting tab must
    not unregister it, so the frames after its handshake reach it."""
    async with stack_factory("gone-window=2s") as emu:
        assert emu.faults is not None
        alice, bob = make_user(emu.endpoints, "alice-gw"), make_user(emu.endpoints, "bob-gw")
        tabs += await asyncio.gather(open_tab(emu, alice), open_tab(emu, bob))
        second = asyncio.create_task(open_tab(emu, bob))
        await until(lambda: len(emu.faults.gateway.held) == 1)  # type: ignore[union-attr]
        [held] = emu.faults.gateway.held
        assert held in await asyncio.to_thread(connection_ids, emu, bob)  # $connect stored it
        await tabs[0].send(action="invite", to=bob.user_id)
        invite = await tabs[1].expect("invite")
        await tabs[0].expect("invite_sent")
        tabs.append(await second)
        assert emu.faults.counts["gone-window"] >= 1  # the post to the held tab was a 410
        assert held in await asyncio.to_thread(connection_ids, emu, bob)  # and kept its item
        await tabs[2].send(action="response", sessionId=invite["sessionId"], accept=True)
        for tab in tabs:
            start = await tab.expect("start")
            assert start["sessionId"] == invite["sessionId"]
        report = await asyncio.to_thread(faults_route, emu)
        assert report["spec"] == "gone-window=2000ms" and report["seed"] == 7
        assert report["counts"]["gone-window"] == emu.faults.counts["gone-window"]


async def test_a_dropped_disconnect_leaves_the_item_and_the_route_says_so(
    stack_factory: Callable[[str], Emulator],
) -> None:
    async with stack_factory("drop-disconnect=1") as emu:
        carol = make_user(emu.endpoints, "carol-dd")
        tab = await open_tab(emu, carol)
        [connection_id] = await asyncio.to_thread(connection_ids, emu, carol)
        await tab.close()
        await until(lambda: connection_id in emu.faults.gateway.disconnects)  # type: ignore[union-attr]
        report = await asyncio.to_thread(faults_route, emu, connection_id, "never-seen")
        assert report["disconnects"] == {connection_id: "dropped", "never-seen": None}
        assert report["counts"] == {"drop-disconnect": 1}
        # AWS: $disconnect is best effort; without it the item stays until its TTL.
        assert await asyncio.to_thread(connection_ids, emu, carol) == [connection_id]
