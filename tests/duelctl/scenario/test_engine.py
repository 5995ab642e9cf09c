"""The scenario engine over real sockets, against the scripted server and real moto Cognito."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from duelctl.client.auth import CognitoTokens
from duelctl.scenario.clock import Connection, RealTime
from duelctl.scenario.engine import MISSING, Result, ScenarioRunner, get_path, same_value
from duelctl.scenario.parse import parse_scenarios

HEADER = "users: [alice, bob]\nsteps:\n"


async def play(server, steps: str, *, header: str = HEADER, **kwargs) -> Result:
    (scenario,) = parse_scenarios(header + steps, "t.yaml")
    tokens = CognitoTokens(server.endpoints)
    usernames = kwargs.pop(
        "usernames", {"alice": "alice-eng", "bob": "bob-eng", "carol": "carol-eng"}
    )
    runner = ScenarioRunner(scenario, server.endpoints, tokens, usernames=usernames, **kwargs)
    return await runner.run()


FULL_DUEL = """\
  - connect alice#2
  - alice: invite bob requestId=r1
  - expect alice, alice#2: invite_sent requestId=r1 to=$bob toUsername=$bob.username as sent
  - expect bob: invite from=$alice !requestId sessionId=$sent.sessionId expiresAt=$sent.expiresAt
  - bob: accept
  - expect alice, bob, alice#2: start userA=$alice userB=$bob same=sessionId,startAt,endsAt as start
  - alice#2: state
  - expect alice#2: state sessions.len=1 sessions.0.status=active sessions.0.endsAt=$start.endsAt
  - expect nothing for alice within 100ms
  - wait until endsAt
  - expect alice, bob: timeout sessionId=$session within 2s
"""


async def test_a_passing_scenario_records_a_timeline(duel_server) -> None:
    """Every step holds: the result passes and the timeline shows sends and receipts."""
    result = await play(duel_server, FULL_DUEL)
    assert result.failure is None, result.failure
    assert result.passed and result.steps_run == 11
    assert result.users == {"alice": "alice-eng", "bob": "bob-eng"}
    assert set(result.user_ids) == {"alice", "bob"}
    kinds = [(e.who, e.kind) for e in result.events]
    assert ("alice", "connect") in kinds and ("alice#2", "connect") in kinds
    sends = [e for e in result.events if e.kind == "send"]
    assert sends[0].data == {"action": "invite", "to": result.user_ids["bob"], "requestId": "r1"}
    assert sends[1].data is not None and sends[1].data["action"] == "response"
    assert sends[1].data["accept"] is True
    received = [
        e.data["type"] for e in result.events if e.kind == "recv" and e.who == "bob" and e.data
    ]
    assert received == ["invite", "start", "timeout"]
    assert [e.t_ms for e in result.events] == sorted(e.t_ms for e in result.events)
    assert result.to_json()["passed"] is True


async def test_a_missing_frame_fails_at_its_line_with_what_arrived(duel_server) -> None:
    """The failure names file:line, what was expected and the frames that did arrive."""
    result = await play(
        duel_server,
        "  - alice: invite bob\n  - expect bob: invite\n  - bob: reject\n"
        "  - expect alice: start within 300ms\n  - alice: ping\n",
    )
    failure = result.failure
    assert failure is not None and not result.passed
    assert str(failure.where) == "t.yaml:6"
    assert failure.step == "expect alice: start within 300ms"
    assert "alice received no matching start within 0.3s" in failure.message
    assert failure.expected == "start within 0.3s"
    assert any('"type": "rejected"' in line for line in failure.received), failure.received
    assert result.steps_run == 3  # the ping after the failure never ran
    assert not any(e.kind == "send" and e.data == {"action": "ping"} for e in result.events)


async def test_a_field_mismatch_is_shown_next_to_the_frame(duel_server) -> None:
    """A frame of the right type with a wrong field shows which check failed and why."""
    result = await play(
        duel_server, "  - alice: invite bob\n  - expect bob: invite from=$bob within 300ms\n"
    )
    assert result.failure is not None
    assert "(= " in result.failure.expected  # the reference's value is spelled out
    (line,) = [r for r in result.failure.received if '"invite"' in r]
    assert "[from: expected" in line and "got" in line


async def test_same_fields_must_match_across_receivers(duel_server) -> None:
    """`same=` fails when the receivers' frames disagree on a field."""
    result = await play(
        duel_server,
        "  - alice: invite bob\n  - expect alice, bob: any same=type within 1s\n",
    )
    assert result.failure is not None
    assert result.failure.message == "type differs between alice, bob"


async def test_expect_nothing_fails_on_an_unexpected_frame(duel_server) -> None:
    """A frame that no step expected makes `expect nothing` fail, naming the frame."""
    result = await play(
        duel_server, "  - alice: invite bob\n  - expect nothing for bob within 1s\n"
    )
    assert result.failure is not None
    assert str(result.failure.where) == "t.yaml:4"
    assert any('"invite"' in line for line in result.failure.received)


async def test_refused_handshakes_are_expectations(duel_server) -> None:
    """token=none must be refused; an unexpected status is a failure."""
    ok = await play(
        duel_server,
        "  - connect alice#x token=none status=401\n  - connect alice#y token=garbage\n",
    )
    assert ok.passed, ok.failure
    assert [e.kind for e in ok.events if e.who.startswith("alice#")] == ["refused", "refused"]
    bad = await play(duel_server, "  - connect alice#x token=none status=403\n")
    assert bad.failure is not None
    assert bad.failure.message == "the handshake was refused with HTTP 401, not 403"


async def test_an_accepted_bad_token_is_a_failure(duel_server) -> None:
    """The scripted server does not check signatures, so a forged token opens: a failure."""
    result = await play(duel_server, "  - connect alice#f token=forged\n")
    assert result.failure is not None
    assert "was accepted; it must be refused" in result.failure.message


async def test_waits_longer_than_max_wait_fail_with_a_reason(duel_server) -> None:
    """A `wait until` past --max-wait fails at once and says the timers are too long."""
    result = await play(
        duel_server,
        "  - alice: invite bob\n  - expect bob: invite\n  - wait until expiresAt\n",
        header="parameters: {InviteTimeoutSeconds: 2}\n" + HEADER,
        stack_parameters={"InviteTimeoutSeconds": "60"},
        max_wait_s=5,
    )
    assert result.failure is not None
    assert "more than the 5s this run waits" in result.failure.message
    assert result.notes == [
        "the stack runs with InviteTimeoutSeconds=60, this scenario wants InviteTimeoutSeconds=2"
    ]
    assert any("InviteTimeoutSeconds=60" in line for line in result.failure.received)


async def test_a_session_is_needed_before_answering(duel_server) -> None:
    """`bob: accept` before any session id arrived is a failure explaining what to add."""
    result = await play(duel_server, "  - bob: accept\n")
    assert result.failure is not None
    assert "has seen no session id yet" in result.failure.message


async def test_raw_frames_go_out_verbatim(duel_server) -> None:
    """`send` writes its text unchanged, even when it is not JSON."""
    result = await play(
        duel_server,
        "  - alice: send not json\n  - expect alice: error bad_request\n"
        "  - alice: {send: {action: dance, requestId: q}}\n"
        "  - expect alice: error unknown_action requestId=q\n",
    )
    assert result.passed, result.failure
    assert "not json" in duel_server.server.received
    assert '{"action": "dance", "requestId": "q"}' in duel_server.server.received


def test_paths_and_loose_equality() -> None:
    """Field paths reach into lists; numbers compare with numeric strings, not booleans."""
    data = {"sessions": [{"status": "active"}], "n": 5}
    assert get_path(data, ("sessions", "0", "status")) == "active"
    assert get_path(data, ("sessions", "len")) == 1
    assert get_path(data, ("sessions", "3")) is MISSING
    assert get_path(data, ("nope",)) is MISSING
    assert same_value(5, "5") and same_value(5.0, 5) and same_value("a", "a")
    assert not same_value(True, 1) and not same_value(1, "x") and not same_value(None, "null")


@pytest.mark.parametrize("usernames", [None])
async def test_users_default_to_their_scenario_names(duel_server, usernames) -> None:
    """Without a username map, the scenario's names are the real usernames."""
    result = await play(
        duel_server, "  - alice: ping\n  - expect alice: pong\n", usernames=usernames
    )
    assert result.users == {"alice": "alice", "bob": "bob"}


async def test_a_failed_scenario_ends_the_sessions_it_opened(duel_server) -> None:
    """A run that fails mid-duel stops it (as the users would), so the users are free."""
    result = await play(
        duel_server,
        """\
  - alice: invite bob
  - expect bob: invite as inv
  - bob: accept
  - expect alice, bob: start
  - expect bob: rejected within 200ms
""",
    )
    assert not result.passed
    sessions = list(duel_server.server.sessions.values())
    assert len(sessions) == 1 and sessions[0]["status"] == "stopped"
    notes = [e.text for e in result.events if e.kind == "note"]
    assert any(n.startswith("ending active session") for n in notes)


async def test_a_failed_scenario_declines_an_invite_addressed_to_its_user(duel_server) -> None:
    """A pending invite is withdrawn by its inviter or declined by its invitee."""
    result = await play(
        duel_server,
        "  - alice: invite bob\n  - expect bob: invite\n  - expect alice: start within 100ms\n",
    )
    assert not result.passed
    (session,) = duel_server.server.sessions.values()
    assert session["status"] == "stopped"
    sent = [e.data for e in result.events if e.kind == "send" and e.data]
    # alice (the inviter) comes first and withdraws it; bob then finds nothing to end.
    assert {"action": "stop", "sessionId": session["sessionId"]} in sent


async def test_long_waits_keep_connections_alive_with_ping(duel_server, monkeypatch) -> None:
    """A connection quiet for KEEPALIVE_S during a wait gets a ping; its pong is not the
    scenario's (an `expect nothing` after it still holds)."""
    from duelctl.scenario import engine

    monkeypatch.setattr(engine, "KEEPALIVE_S", 0.2)
    result = await play(
        duel_server, "  - wait 500ms\n  - expect nothing for alice, bob within 100ms\n"
    )
    assert result.passed, result.failure
    pings = [e for e in result.events if e.kind == "send" and e.data and e.data["action"] == "ping"]
    assert {e.who for e in pings} == {"alice", "bob"}
    assert all(e.data and e.data["requestId"] == engine.KEEPALIVE_ID for e in pings)


async def test_params_not_named_by_the_scenario_come_from_the_stack(duel_server) -> None:
    """`$params.X` reads the stack's parameters when the scenario does not set X."""
    result = await play(
        duel_server,
        "  - alice: ping requestId=600\n  - expect alice: pong requestId=$params.DuelSeconds\n",
        stack_parameters={"DuelSeconds": "600"},
    )
    assert result.passed, result.failure
    failed = await play(duel_server, "  - alice: ping\n  - expect alice: pong x=$params.Nope\n")
    assert failed.failure is not None and "Nope" in failed.failure.message


class WatchedTime(RealTime):
    """Real time that says when the run starts a long wait (a scenario's `wait 30s`)."""

    def __init__(self) -> None:
        super().__init__()
        self.long_wait = asyncio.Event()

    async def wait(self, deadline: float, connections: Callable[[], Sequence[Connection]]) -> None:
        if deadline - self.now() > 10:
            self.long_wait.set()
        await super().wait(deadline, connections)


async def test_an_interrupted_scenario_ends_the_sessions_it_opened(duel_server) -> None:
    """Ctrl-C (the run's task cancelled) mid-wait still withdraws alice's invite."""
    time = WatchedTime()
    steps = "  - alice: invite bob\n  - expect bob: invite\n  - wait 30s\n"
    run = asyncio.create_task(play(duel_server, steps, stack_time=time))
    await asyncio.wait_for(time.long_wait.wait(), 20)  # into the wait
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    (session,) = duel_server.server.sessions.values()
    assert session["status"] == "stopped"
