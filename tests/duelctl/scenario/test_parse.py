"""Scenario files: what parses, and bad files reported as file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from duelctl.errors import ScenarioFileError, UsageError
from duelctl.scenario.model import (
    Check,
    Connect,
    Disconnect,
    Expect,
    ExpectNothing,
    Ref,
    Send,
    Wait,
)
from duelctl.scenario.parse import collect_files, parse_duration, parse_scenarios, tokenize

GOOD = """\
name: demo
description: a bit of everything
parameters: {DuelSeconds: 5, InviteTimeoutSeconds: 2}
timeout: 2s
users: [alice, bob]
offline: [carol]
steps:
  - alice: invite bob requestId=r1
  - expect alice: invite_sent requestId=r1 to=$bob as sent
  - expect bob: invite from=$alice !requestId expiresAt=$sent.expiresAt within 500ms
  - bob: accept
  - expect alice, bob: start same=startAt,endsAt durationSeconds=$params.DuelSeconds
  - wait until endsAt
  - wait 1.5s
  - expect alice, bob: timeout within 10s
  - alice: stop session=$session
  - expect alice: error invalid_state
  - 'alice: send {"action": "dance"}'
  - alice: {send: {action: dance, n: 1}}
  - expect nothing for alice, bob within 1s
  - disconnect alice
  - connect alice
  - connect alice#2
  - connect carol token=garbage status=401
  - alice#2: state
  - expect alice#2: state sessions.len=0 sessions.0.status!=active
  - "expect bob: nothing within 200ms"
"""


def parse_one(text: str, path: str = "s.yaml"):
    (scenario,) = parse_scenarios(text, path)
    return scenario


def error_of(text: str) -> ScenarioFileError:
    with pytest.raises(ScenarioFileError) as info:
        parse_scenarios(text, "bad.yaml")
    return info.value


def test_a_full_scenario_parses_into_typed_steps() -> None:
    """Every step form parses into its step type with its line number."""
    s = parse_one(GOOD)
    assert s.name == "demo"
    assert s.parameters == {"DuelSeconds": "5", "InviteTimeoutSeconds": "2"}
    assert s.users == ("alice", "bob") and s.offline == ("carol",)
    assert s.timeout == 2.0
    invite = s.steps[0]
    assert isinstance(invite, Send)
    assert (invite.action, invite.to, invite.request_id) == ("invite", Ref("bob"), "r1")
    assert invite.where.line == 8 and str(invite.where) == "s.yaml:8"
    sent = s.steps[1]
    assert isinstance(sent, Expect) and sent.capture == "sent" and sent.within == 2.0
    assert Check(("to",), "eq", Ref("bob"), "to=$bob") in sent.checks
    invite_frame = s.steps[2]
    assert isinstance(invite_frame, Expect)
    assert invite_frame.within == 0.5
    assert Check(("requestId",), "absent", None, "!requestId") in invite_frame.checks
    assert Check(
        ("expiresAt",), "eq", Ref("sent", ("expiresAt",)), "expiresAt=$sent.expiresAt"
    ) in (invite_frame.checks)
    start = s.steps[4]
    assert isinstance(start, Expect)
    assert start.conns == ("alice", "bob") and start.same == ("startAt", "endsAt")
    assert isinstance(s.steps[5], Wait) and s.steps[5].until == Ref("latest", ("endsAt",))
    assert isinstance(s.steps[6], Wait) and s.steps[6].seconds == 1.5
    stop = s.steps[8]
    assert isinstance(stop, Send) and stop.session == Ref("session")
    error = s.steps[9]
    assert isinstance(error, Expect)
    assert error.checks == (Check(("code",), "eq", "invalid_state", "code=invalid_state"),)
    raw = s.steps[10]
    assert isinstance(raw, Send) and raw.raw == '{"action": "dance"}'
    mapped = s.steps[11]
    assert isinstance(mapped, Send) and mapped.raw == '{"action": "dance", "n": 1}'
    nothing = s.steps[12]
    assert isinstance(nothing, ExpectNothing) and nothing.conns == ("alice", "bob")
    assert isinstance(s.steps[13], Disconnect)
    assert isinstance(s.steps[15], Connect) and s.steps[15].conn == "alice#2"
    refused = s.steps[16]
    assert isinstance(refused, Connect) and (refused.token, refused.status) == ("garbage", 401)
    state = s.steps[18]
    assert isinstance(state, Expect)
    assert state.checks[1] == Check(
        ("sessions", "0", "status"), "ne", "active", "sessions.0.status!=active"
    )
    assert isinstance(s.steps[19], ExpectNothing) and s.steps[19].within == 0.2


def test_multi_line_steps_fold_into_one() -> None:
    """A long step may continue on indented lines (YAML folding)."""
    s = parse_one(
        "users: [alice, bob]\nsteps:\n  - alice: invite bob\n"
        "  - expect bob: invite from=$alice\n      fromUsername=$alice.username\n"
    )
    step = s.steps[1]
    assert isinstance(step, Expect) and len(step.checks) == 2


def test_literals_keep_their_types() -> None:
    """Numbers, booleans and quoted strings in checks keep the type written."""
    s = parse_one(
        "users: [a]\nsteps:\n  - expect a: any n=5 f=1.5 b=true z=null s=\"5\" t='x y' w=word\n"
    )
    step = s.steps[0]
    assert isinstance(step, Expect)
    assert [c.value for c in step.checks] == [5, 1.5, True, None, "5", "x y", "word"]


def test_several_documents_are_several_scenarios() -> None:
    """A file with YAML documents separated by --- holds one scenario per document."""
    text = "users: [a]\nsteps: [wait 1s]\n---\nname: two\nusers: [b]\nsteps: [wait 1s]\n"
    first, second = parse_scenarios(text, "x/multi.yaml")
    assert (first.name, second.name) == ("multi[1]", "two")
    assert second.line == 4


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("users: [alice]\nsteps:\n  - alice: invite bob\n", 3, "unknown user 'bob'"),
        ("users: [alice]\nsteps:\n  - alice: dance\n", 3, "unknown action 'dance'"),
        ("users: [alice]\nsteps:\n  - expect alice: invit\n", 3, "unknown frame type 'invit'"),
        ("users: [alice]\nsteps:\n  - expect alice: error no_such\n", 3, "unknown error code"),
        ("users: [alice]\nsteps:\n  - wait 2 hours\n", 3, "use `wait 2s`"),
        ("users: [alice]\nsteps:\n  - wait 2x\n", 3, "bad duration"),
        ("users: [alice]\nsteps:\n  - expect alice: pong within soon\n", 3, "bad duration"),
        ("users: [alice]\nsteps:\n  - alice#2: ping\n", 3, "'alice#2' is not connected"),
        ("users: [alice]\nsteps:\n  - disconnect alice\n  - alice: ping\n", 4, "not connected"),
        ("users: [alice]\nsteps:\n  - connect alice\n", 3, "already connected"),
        (
            "users: [alice]\nsteps:\n  - expect alice: pong x=$nope\n",
            3,
            "unknown reference '$nope'",
        ),
        ("users: [alice]\nsteps:\n  - expect alice: pong x=$params.X.Y\n", 3, "$params.NAME"),
        ("users: [alice]\nclock: fast\nsteps: [wait 1s]\n", 2, "`clock` is `real` or"),
        ("users: [alice]\nsteps:\n  - expect alice: pong same=x\n", 3, "several receivers"),
        ("users: [alice, bob]\nsteps:\n  - expect alice: stop by=alice\n", 3, "by=$alice"),
        ("users: [alice]\nsteps:\n  - alice: ping session=x\n", 3, "unexpected 'session=x'"),
        ("users: [alice]\nsteps:\n  - connect alice#2 token=maybe\n", 3, "token= takes"),
        ("users: [alice]\nsteps:\n  - connect alice#2 status=401\n", 3, "refused handshakes"),
        ('users: [alice]\nsteps:\n  - expect alice: pong x="open\n', 3, "unbalanced quote"),
        ("users: [alice]\nsteps:\n  - dance with bob\n", 3, "unknown step"),
        ("users: [alice]\nsteps:\n  - [1, 2]\n", 3, "a step is one line"),
        ("users: [alice]\nsteps:\n  - alice:\n", 3, "unknown action ''"),
        ("users: [alice]\nsteps: []\n", 2, "non-empty list"),
        ("users: [alice]\n", 1, "missing `steps:`"),
        ("steps: [wait 1s]\n", 1, "missing `users:`"),
        ("users: [alice, alice]\nsteps: [wait 1s]\n", 1, "listed twice"),
        ("users: [session]\nsteps: [wait 1s]\n", 1, "reserved"),
        ("users: [alice]\nsteps: [wait 1s]\nretries: 3\n", 3, "unknown key 'retries'"),
        ("users: [alice]\nsteps:\n  - alice: invite bob\n   bad: indent\n", 4, "not valid YAML"),
        ("- just\n- a list\n", 1, "a scenario is a mapping"),
        ("", 1, "empty file"),
        ('users: [a]\nsteps:\n  - a: send {"action": "x"}\n', 3, "needs quotes"),
    ],
)
def test_bad_files_name_the_line(text: str, line: int, fragment: str) -> None:
    """Each mistake is reported once, with the file and the line of the offending step."""
    err = error_of(text)
    assert err.line == line, str(err)
    assert fragment in str(err)
    assert str(err).startswith(f"bad.yaml:{line}: ")
    assert "\n" not in str(err)


def test_tokenize_keeps_quoted_words_together() -> None:
    """Quotes group words and stay on the token so values keep their string type."""
    assert tokenize("a=1 b=\"x y\" c='z w'  d") == ["a=1", 'b="x y"', "c='z w'", "d"]
    with pytest.raises(ValueError, match="unbalanced"):
        tokenize('a="b')


def test_durations() -> None:
    """Durations take ms, s, m or bare seconds."""
    assert [parse_duration(t) for t in ("500ms", "2s", "1.5s", "1m", "3")] == [0.5, 2, 1.5, 60, 3]
    with pytest.raises(ValueError):
        parse_duration("-1s")


def test_collect_files_expands_directories(tmp_path: Path) -> None:
    """Directories expand to their YAML files, sorted; a missing path is a usage error."""
    (tmp_path / "b.yaml").write_text("x")
    (tmp_path / "a.yml").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("x")
    assert [p.name for p in collect_files([tmp_path])] == ["a.yml", "b.yaml", "c.yaml"]
    with pytest.raises(UsageError, match="no such file"):
        collect_files([tmp_path / "missing.yaml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"no \*\.yaml"):
        collect_files([tmp_path / "empty"])
