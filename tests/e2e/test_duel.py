"""The duel over the real local stack: real sockets, real JWTs, real moto, real timers."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.e2e


async def test_invite_accept_stop(users: Any, open_tab: Any) -> None:
    """Two users play invite, accept and stop, each frame arriving once with shared times."""
    alice, bob = users("alice"), users("bob")
    a, b = await open_tab(alice), await open_tab(bob)
    await a.send(action="invite", to=bob.user_id, requestId="r1")
    sent = await a.expect("invite_sent")
    got = await b.expect("invite")
    assert sent["requestId"] == "r1" and "requestId" not in got
    assert sent["expiresAt"] == got["expiresAt"]
    assert got["from"] == alice.user_id and got["fromUsername"] == alice.username
    await b.send(action="response", sessionId=got["sessionId"], accept=True)
    start_a, start_b = await a.expect("start"), await b.expect("start")
    assert start_a == start_b
    assert start_a["userA"] == alice.user_id and start_a["userB"] == bob.user_id
    await a.send(action="stop", sessionId=sent["sessionId"])
    assert (await a.expect("stop"))["by"] == alice.user_id
    assert (await b.expect("stop"))["by"] == alice.user_id
    await b.expect_silence(0.5)


async def test_invite_without_answer_ends_as_no_response(users: Any, open_tab: Any) -> None:
    """An unanswered invite ends on the SQS timer with no_response to both users."""
    alice, bob = users("alice"), users("bob")
    a, b = await open_tab(alice), await open_tab(bob)
    await a.send(action="invite", to=bob.user_id)
    session_id = (await a.expect("invite_sent"))["sessionId"]
    await b.expect("invite")
    assert (await a.expect("no_response", timeout=15))["sessionId"] == session_id
    assert (await b.expect("no_response", timeout=15))["sessionId"] == session_id
    await b.send(action="response", sessionId=session_id, accept=True)
    assert (await b.expect("error"))["code"] == "invalid_state"


async def test_duel_runs_out_with_timeout(users: Any, open_tab: Any) -> None:
    """An accepted duel that nobody stops ends with exactly one timeout frame each."""
    alice, bob = users("alice"), users("bob")
    a, b = await open_tab(alice), await open_tab(bob)
    await a.send(action="invite", to=bob.user_id)
    await a.expect("invite_sent")
    invite = await b.expect("invite")
    await b.send(action="response", sessionId=invite["sessionId"], accept=True)
    await a.expect("start")
    await b.expect("start")
    await a.expect("timeout", timeout=20)
    await b.expect("timeout", timeout=20)
    await a.expect_silence(0.5)


async def test_reject(users: Any, open_tab: Any) -> None:
    """A rejected invite sends rejected, naming the invitee, to both users."""
    alice, bob = users("alice"), users("bob")
    a, b = await open_tab(alice), await open_tab(bob)
    await a.send(action="invite", to=bob.user_id)
    await a.expect("invite_sent")
    invite = await b.expect("invite")
    await b.send(action="response", sessionId=invite["sessionId"], accept=False)
    assert (await a.expect("rejected"))["by"] == bob.user_id
    assert (await b.expect("rejected"))["by"] == bob.user_id


async def test_every_error_code_through_the_gateway(users: Any, open_tab: Any) -> None:
    """Each protocol error code reaches the sender with its requestId and changes nothing."""
    alice, bob, carol = users("alice"), users("bob"), users("carol")
    offline = users("dave")
    a, b, c = await open_tab(alice), await open_tab(bob), await open_tab(carol)

    async def error_for(tab: Any, text: str) -> str:
        await tab.send_raw(text)
        frame = await tab.expect("error")
        return str(frame["code"])

    assert await error_for(a, "not json") == "bad_request"
    assert await error_for(a, json.dumps({"action": "dance"})) == "unknown_action"
    assert await error_for(a, json.dumps({"action": "invite"})) == "bad_request"
    self_invite = json.dumps({"action": "invite", "to": alice.user_id})
    assert await error_for(a, self_invite) == "self_invite"
    assert (
        await error_for(a, json.dumps({"action": "invite", "to": offline.user_id}))
        == "user_offline"
    )
    await a.send(action="invite", to=bob.user_id)
    session_id = (await a.expect("invite_sent"))["sessionId"]
    await b.expect("invite")
    assert await error_for(c, json.dumps({"action": "invite", "to": bob.user_id})) == "user_busy"
    stop_other = json.dumps({"action": "stop", "sessionId": session_id})
    assert await error_for(c, stop_other) == "not_found"
    answer_own = json.dumps({"action": "response", "sessionId": session_id, "accept": True})
    assert await error_for(a, answer_own) == "forbidden"
    assert await error_for(b, stop_other) == "forbidden"
    await b.send(action="response", sessionId=session_id, accept=False)
    await a.expect("rejected")
    await b.expect("rejected")
    assert await error_for(b, answer_own) == "invalid_state"

    await a.send(action="ping", requestId="p-1")
    pong = await a.expect("pong")
    assert pong["requestId"] == "p-1" and pong["expireAt"].endswith("Z")
    await c.expect_silence(0.3)


async def test_frames_reach_every_tab_of_a_user(users: Any, open_tab: Any) -> None:
    """An invite reaches both of bob's tabs; the inviter's tabs all get invite_sent."""
    alice, bob = users("alice"), users("bob")
    a1, a2 = await open_tab(alice), await open_tab(alice)
    b1, b2 = await open_tab(bob), await open_tab(bob)
    await a1.send(action="invite", to=bob.user_id, requestId="multi")
    assert (await a1.expect("invite_sent"))["requestId"] == "multi"
    await a2.expect("invite_sent")
    first, second = await b1.expect("invite"), await b2.expect("invite")
    assert first == second


async def test_state_resumes_after_reconnect(users: Any, open_tab: Any) -> None:
    """A user who reconnects during a duel gets it back from state."""
    alice, bob = users("alice"), users("bob")
    a, b = await open_tab(alice), await open_tab(bob)
    await a.send(action="invite", to=bob.user_id)
    await a.expect("invite_sent")
    invite = await b.expect("invite")
    await b.send(action="response", sessionId=invite["sessionId"], accept=True)
    start = await b.expect("start")
    await b.close()
    b2 = await open_tab(bob)
    await b2.send(action="state", requestId="s")
    state = await b2.expect("state")
    assert state["requestId"] == "s"
    [view] = state["sessions"]
    assert view["sessionId"] == invite["sessionId"] and view["status"] == "active"
    assert view["endsAt"] == start["endsAt"]


async def test_handshake_refusals(stack: Any, users: Any) -> None:
    """No token gives 401, a forged token 401; the socket never opens."""
    with pytest.raises(InvalidStatus) as no_token:
        await connect(stack.websocket_url)
    assert no_token.value.response.status_code == 401
    alice = users("alice")
    forged = alice.token[:-4] + ("AAAA" if not alice.token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidStatus) as bad:
        await connect(f"{stack.websocket_url}?token={forged}")
    assert bad.value.response.status_code == 401


def _online(stack: Any, token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(f"{stack.http_url}/online")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_online_lists_live_users_with_status(stack: Any, users: Any, open_tab: Any) -> None:
    """GET /online lists the other live users once, with their duel status."""
    alice, bob = users("alice"), users("bob")
    await open_tab(alice)
    await open_tab(alice)
    b = await open_tab(bob)
    status, body = await asyncio.to_thread(_online, stack, bob.token)
    assert status == 200
    names = [u["username"] for u in body["users"]]
    assert alice.username in names and names.count(alice.username) == 1
    assert bob.username not in names
    assert body["users"][names.index(alice.username)]["status"] == "idle"
    await b.send(action="invite", to=alice.user_id)
    await b.expect("invite_sent")
    status, body = await asyncio.to_thread(_online, stack, bob.token)
    entry = next(u for u in body["users"] if u["username"] == alice.username)
    assert entry["status"] == "invited"
    assert await asyncio.to_thread(_online, stack, None) == (401, {"message": "Unauthorized"})


async def test_management_api_with_unmodified_boto3(stack: Any, users: Any, open_tab: Any) -> None:
    """boto3's apigatewaymanagementapi posts, raises GoneException and 413 as on AWS."""
    alice = users("alice")
    a = await open_tab(alice)
    await a.send(action="state")
    await a.expect("state")
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.management_url,
        region_name=stack.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(client.exceptions.GoneException):
        await asyncio.to_thread(
            client.post_to_connection, ConnectionId="AAAAAAAAAAAAAAA=", Data=b"{}"
        )
    with pytest.raises(client.exceptions.PayloadTooLargeException):
        await asyncio.to_thread(
            client.post_to_connection, ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x" * 131073
        )
