"""Two players duel in real browsers against `duelctl up` (compressed timers)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3

from emulator.local_auth import create_user, local_cognito

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or fail under DUELCTL_REQUIRE_BROWSER=1)
    expect = None  # type: ignore[assignment]
else:
    expect.set_options(timeout=10_000)  # a Lambda cold start can take a few seconds

Player = Any  # conftest.Player: one browser context and page, plus helpers
NewPlayer = Callable[..., Player]


def unique(name: str) -> str:
    """A username no other test uses (the stack lives for the whole run)."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def sign_in(player: Player) -> None:
    """Type the username on the sign-in form and wait for the lobby."""
    player.testid("username-input").fill(player.name)
    player.testid("signin-button").click()
    expect(player.testid("lobby")).to_be_visible()
    expect(player.testid("current-user")).to_have_text(player.name)
    expect(player.testid("connection-status")).to_have_attribute("data-status", "open")


def row_of(player: Player, other: Player, status: str = "idle") -> Any:
    """`other`'s row in `player`'s online list, once it shows `status`."""
    row = player.page.locator(
        f'[data-testid="online-user"][data-username="{other.name}"][data-status="{status}"]'
    )
    expect(row).to_be_visible()
    return row


def invite(inviter: Player, invitee: Player) -> None:
    """`inviter` invites `invitee` from the lobby; both see the invite with a countdown."""
    row_of(inviter, invitee).get_by_test_id("invite-button").click()
    expect(inviter.testid("waiting")).to_be_visible()
    expect(inviter.testid("waiting-peer")).to_have_text(invitee.name)
    expect(invitee.testid("invite-modal")).to_be_visible()
    expect(invitee.testid("invite-from")).to_have_text(inviter.name)


def remaining(player: Player) -> int:
    return int(player.testid("timer").get_attribute("data-remaining-seconds"))


def countdown(player: Player, test_id: str) -> int:
    return int(player.testid(test_id).get_attribute("data-seconds"))


def both_running(a: Player, b: Player) -> None:
    for player in (a, b):
        expect(player.page.locator('[data-testid="session"][data-phase="running"]')).to_be_visible()


def assert_same_time(a: Player, b: Player, duel_s: int) -> tuple[int, int]:
    """Both timers show the same remaining seconds, give or take one."""
    left_a, left_b = remaining(a), remaining(b)
    assert 0 < left_a <= duel_s + 1 and 0 < left_b <= duel_s + 1, (left_a, left_b)
    assert abs(left_a - left_b) <= 1, f"{a.name} shows {left_a}s, {b.name} shows {left_b}s"
    return left_a, left_b


def end_state(player: Player, reason: str, by: str, title: str) -> None:
    card = player.testid("end-state")
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-reason", reason)
    expect(card).to_have_attribute("data-by", by)
    expect(player.testid("end-title")).to_have_text(title)


def back_to_lobby(*players: Player) -> None:
    for player in players:
        player.testid("back-to-lobby").click()
        expect(player.testid("lobby")).to_be_visible()


def test_invite_accept_synchronized_timers_stop(new_player: NewPlayer, web_stack: Any) -> None:
    """Accepting starts one timer on both screens; the invitee's stop ends it for both."""
    alice, bob = new_player(unique("alice")), new_player(unique("bob"))
    expect(alice.testid("signin-form")).to_be_visible()
    alice.shot("01-signin")
    sign_in(alice)
    sign_in(bob)
    row_of(alice, bob)
    alice.shot("02-lobby")

    invite(alice, bob)
    # Whole seconds from clocks synchronized to within half a second: +1 at most.
    assert 0 < countdown(bob, "invite-countdown") <= web_stack.invite_timeout_s + 1
    assert 0 < countdown(alice, "waiting-countdown") <= web_stack.invite_timeout_s + 1
    alice.shot("03-waiting")
    bob.shot("04-invite-modal")

    bob.testid("accept-button").click()
    expect(alice.testid("session")).to_be_visible()
    expect(bob.testid("session")).to_be_visible()
    expect(alice.testid("session-peer")).to_have_text(bob.name)
    expect(bob.testid("session-peer")).to_have_text(alice.name)
    both_running(alice, bob)
    assert_same_time(alice, bob, web_stack.duel_s)
    alice.page.wait_for_timeout(1200)  # let a second tick over, then compare again
    assert_same_time(alice, bob, web_stack.duel_s)
    alice.shot("05-session")
    bob.shot("05-session")

    bob.testid("stop-button").click()
    end_state(bob, "stopped", "me", "You stopped the duel")
    end_state(alice, "stopped", "peer", f"{bob.name} stopped the duel")
    alice.shot("06-end-stopped")
    bob.shot("06-end-stopped")

    back_to_lobby(alice, bob)
    row_of(alice, bob, "idle")  # statuses are back to idle: another duel can start


def test_full_duel_runs_out_for_both(new_player: NewPlayer, web_stack: Any) -> None:
    """A duel nobody stops ends with "Time is up" on both screens."""
    carol, dave = new_player(unique("carol")), new_player(unique("dave"))
    sign_in(carol)
    sign_in(dave)
    invite(carol, dave)
    dave.testid("accept-button").click()
    both_running(carol, dave)
    assert_same_time(carol, dave, web_stack.duel_s)
    for player in (carol, dave):
        expect(player.testid("end-state")).to_be_visible(timeout=(web_stack.duel_s + 10) * 1000)
        end_state(player, "timeout", "", "Time is up!")
    carol.shot("01-end-timeout")


def test_reject_shows_who_declined(new_player: NewPlayer) -> None:
    """Declining ends the invite on both screens, naming who declined."""
    erin, frank = new_player(unique("erin")), new_player(unique("frank"))
    sign_in(erin)
    sign_in(frank)
    invite(erin, frank)
    frank.testid("reject-button").click()
    end_state(erin, "rejected", "peer", f"{frank.name} declined")
    end_state(frank, "rejected", "me", "Invite declined")
    expect(frank.testid("invite-modal")).to_have_count(0)
    erin.shot("01-end-rejected")
    frank.shot("01-end-rejected")
    back_to_lobby(erin, frank)


def test_unanswered_invite_expires_for_both(new_player: NewPlayer) -> None:
    """An invite nobody answers ends as "no response" on both screens."""
    gina, hank = new_player(unique("gina")), new_player(unique("hank"))
    sign_in(gina)
    sign_in(hank)
    invite(gina, hank)
    for player in (gina, hank):
        expect(player.testid("end-state")).to_be_visible(timeout=15_000)
    end_state(gina, "no_response", "", "No response")
    end_state(hank, "no_response", "", "Invite expired")
    expect(hank.testid("invite-modal")).to_have_count(0)
    gina.shot("01-end-no-response")
    hank.shot("01-end-no-response")


def test_inviter_withdraws(new_player: NewPlayer) -> None:
    """The inviter's withdraw closes the invitee's modal and says who withdrew."""
    ivy, jack = new_player(unique("ivy")), new_player(unique("jack"))
    sign_in(ivy)
    sign_in(jack)
    invite(ivy, jack)
    ivy.testid("withdraw-button").click()
    end_state(ivy, "withdrawn", "me", "Invite withdrawn")
    end_state(jack, "withdrawn", "peer", "Invite withdrawn")
    expect(jack.testid("end-detail")).to_contain_text(f"{ivy.name} withdrew")
    jack.shot("01-end-withdrawn")


def test_skewed_browser_clock_shows_server_time(new_player: NewPlayer, web_stack: Any) -> None:
    """A browser whose clock is 90 s fast shows the same remaining time as a correct one."""
    kim = new_player(unique("kim"))
    leo = new_player(unique("leo"), clock_skew_s=90)
    sign_in(kim)
    sign_in(leo)
    # The page measures the offset from the stack's Date headers (web/src/clock.ts).
    offset = leo.testid("clock-offset")
    expect(offset).to_have_attribute("data-synced", "true")
    invite(leo, kim)
    # Not "expired 87 s ago" (the browser's own clock), nor 93 s left.
    assert 0 < countdown(leo, "waiting-countdown") <= web_stack.invite_timeout_s + 1
    kim.testid("accept-button").click()
    both_running(kim, leo)
    assert_same_time(kim, leo, web_stack.duel_s)
    offset_ms = int(offset.get_attribute("data-offset-ms"))
    assert -91_500 < offset_ms < -88_500, offset_ms
    leo.shot("01-session-skewed")
    leo.testid("stop-button").click()
    end_state(kim, "stopped", "peer", f"{leo.name} stopped the duel")


def test_reload_resumes_the_running_duel(new_player: NewPlayer, web_stack: Any) -> None:
    """A reloaded page reconnects, asks `state`, and shows the same running timer."""
    mia, ned = new_player(unique("mia")), new_player(unique("ned"))
    sign_in(mia)
    sign_in(ned)
    invite(mia, ned)
    ned.testid("accept-button").click()
    both_running(mia, ned)
    ned.page.reload()
    expect(ned.testid("current-user")).to_have_text(ned.name)  # still signed in (this tab)
    both_running(mia, ned)
    assert_same_time(mia, ned, web_stack.duel_s)
    ned.shot("01-session-after-reload")
    ned.testid("stop-button").click()
    end_state(mia, "stopped", "peer", f"{ned.name} stopped the duel")


def _connection_ids(endpoints: dict[str, Any], username: str) -> list[str]:
    """The user's live connections, from the stack's Connections table (docs/protocol.md)."""
    dynamodb = boto3.client(
        "dynamodb",
        region_name=endpoints["region"],
        endpoint_url=endpoints["aws_endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    items = dynamodb.scan(
        TableName=endpoints["connections_table"],
        FilterExpression="username = :u",
        ExpressionAttributeValues={":u": {"S": username}},
    )["Items"]
    return [item["connectionId"]["S"] for item in items]


def test_dropped_socket_reconnects_and_resumes(new_player: NewPlayer, web_stack: Any) -> None:
    """When the server drops the socket mid-duel, the page reconnects and keeps the timer."""
    endpoints = web_stack.endpoints
    rae, sam = new_player(unique("rae")), new_player(unique("sam"))
    sign_in(rae)
    sign_in(sam)
    invite(rae, sam)
    sam.testid("accept-button").click()
    both_running(rae, sam)
    status = sam.testid("connection-status")
    expect(status).to_have_attribute("data-opens", "1")
    dropped = _connection_ids(endpoints, sam.name)
    assert dropped
    management = boto3.client(
        "apigatewaymanagementapi",
        region_name=endpoints["region"],
        endpoint_url=endpoints["management_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for connection_id in dropped:
        management.delete_connection(ConnectionId=connection_id)
    expect(status).to_have_attribute("data-opens", "2")
    expect(status).to_have_attribute("data-status", "open")
    assert set(_connection_ids(endpoints, sam.name)).isdisjoint(dropped)
    both_running(rae, sam)
    assert_same_time(rae, sam, web_stack.duel_s)
    sam.shot("01-session-after-reconnect")
    rae.testid("stop-button").click()
    end_state(sam, "stopped", "peer", f"{rae.name} stopped the duel")


def test_keepalive_ping_refreshes_the_connection(new_player: NewPlayer) -> None:
    """A minute on, the page pings; the pong's new expiry shows the server refreshed it."""
    tia = new_player(unique("tia"), fake_timers=True)
    sign_in(tia)
    status = tia.testid("connection-status")
    expect(status).to_have_attribute("data-expire-at", "")  # no ping yet
    tia.page.clock.fast_forward("01:05")  # past PING_MS (web/src/socket.ts)
    expect(status).not_to_have_attribute("data-expire-at", "")
    expire_at = datetime.fromisoformat(
        status.get_attribute("data-expire-at").replace("Z", "+00:00")
    )
    # ConnectionTtlSeconds (default 3600) from the server's now, which is real time: the
    # page's jump of a minute is the page's alone.
    assert 3000 < expire_at.timestamp() - time.time() <= 3600, expire_at
    expect(status).to_have_attribute("data-opens", "1")  # the same connection
    expect(status).to_have_attribute("data-status", "open")


def test_server_error_is_shown_readably(new_player: NewPlayer) -> None:
    """Inviting someone who is not online shows the server's `user_offline` as a sentence."""
    olga = new_player(unique("olga"))
    ghost = {"userId": str(uuid.uuid4()), "username": "ghost", "status": "idle"}

    # The list is a snapshot: by the time one clicks, that user may be gone. Make the
    # snapshot show a user the server has never seen.
    def stale_list(route: Any) -> None:
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"users": [ghost]}),
        )

    olga.page.route(re.compile(r".*/online$"), stale_list)
    sign_in(olga)
    olga.page.locator('[data-testid="online-user"][data-username="ghost"]').get_by_test_id(
        "invite-button"
    ).click()
    toast = olga.testid("toast")
    expect(toast).to_contain_text("Couldn't send the invite: ghost is no longer online.")
    expect(olga.testid("lobby")).to_be_visible()  # nothing changed, still in the lobby
    olga.shot("01-error-toast")


def test_bad_username_is_refused_with_a_message(new_player: NewPlayer) -> None:
    """A name Cognito would refuse gets the local sign-in's message on the form."""
    pat = new_player("pat")
    pat.testid("username-input").fill("two words")
    pat.testid("signin-button").click()
    expect(pat.testid("signin-error")).to_contain_text("spaces")
    expect(pat.testid("signin-form")).to_be_visible()
    pat.shot("01-signin-error")


def test_stage_sign_in_uses_the_password(new_player: NewPlayer, web_stack: Any) -> None:
    """With `local_auth: false` the page signs in by password against the Cognito API."""
    endpoints = web_stack.endpoints
    name, password = unique("quinn"), "correct-horse-battery"
    idp = local_cognito(endpoints["aws_endpoint_url"], endpoints["region"])
    create_user(idp, endpoints["user_pool_id"], name, password)
    # A deployed stage's config.json, except that Cognito is the local one.
    keys = ("target", "stage", "region", "websocket_url", "http_url", "user_pool_client_id")
    stage_config = {key: endpoints[key] for key in keys}
    stage_config |= {"local_auth": False, "cognito_url": endpoints["aws_endpoint_url"] + "/"}
    quinn = new_player(name, config=stage_config)

    expect(quinn.testid("password-input")).to_be_visible()
    expect(quinn.page.get_by_test_id("quick-user-alice")).to_have_count(0)
    quinn.testid("username-input").fill(name)
    quinn.testid("password-input").fill("wrong-password")
    quinn.testid("signin-button").click()
    expect(quinn.testid("signin-error")).to_have_text(
        "Couldn't sign in: Wrong username or password."
    )
    quinn.shot("01-signin-wrong-password")

    quinn.testid("password-input").fill(password)
    quinn.testid("signin-button").click()
    expect(quinn.testid("lobby")).to_be_visible()
    expect(quinn.testid("current-user")).to_have_text(name)
    expect(quinn.testid("connection-status")).to_have_attribute("data-status", "open")
    quinn.shot("02-lobby")
