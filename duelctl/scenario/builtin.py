"""The scenarios `duelctl simulate` plays, written in the same format as `duelctl run` files.

One engine runs both; `simulate ALICE BOB` maps the roles alice and bob to the given
users. They name no parameters and their expectations avoid values that depend on them,
so they hold against any stack: an embedded one gets compressed timers on a real clock
and the template's own on a virtual one, and a `duelctl up --clock virtual` stack with
default timers plays `timeout` and `no-response` in moments. On a real-clock stack with
long timers those two take as long as the timers say (the runner refuses waits over
--max-wait); a run that fails ends the sessions it opened, so later runs start clean.
"""

from __future__ import annotations

from duelctl.scenario.model import Scenario
from duelctl.scenario.parse import parse_scenarios

USERS = """\
users: [alice, bob]
"""

INVITE = """\
  - alice: invite bob
  - expect alice: invite_sent to=$bob toUsername=$bob.username as sent
  - expect bob: invite from=$alice fromUsername=$alice.username
      sessionId=$sent.sessionId expiresAt=$sent.expiresAt
"""

START = """\
  - bob: accept
  - expect alice, bob: start userA=$alice userB=$bob same=sessionId,startAt,endsAt,durationSeconds
"""

BUILTIN: dict[str, str] = {
    "accept-stop": f"""\
name: accept-stop
description: alice invites bob, bob accepts, both get the same start, alice stops the duel.
{USERS}steps:
{INVITE}{START}  - alice: stop
  - expect alice, bob: stop by=$alice sessionId=$session
  - alice: stop
  - expect alice: error invalid_state
""",
    "reject": f"""\
name: reject
description: alice invites bob and bob declines.
{USERS}steps:
{INVITE}  - bob: reject
  - expect alice, bob: rejected by=$bob sessionId=$sent.sessionId
  - bob: accept
  - expect bob: error invalid_state
""",
    "no-response": f"""\
name: no-response
description: alice invites bob, nobody answers, the invite expires for both.
{USERS}steps:
{INVITE}  - wait until expiresAt
  - expect alice, bob: no_response sessionId=$sent.sessionId within 10s
  - bob: accept
  - expect bob: error invalid_state
""",
    "timeout": f"""\
name: timeout
description: the duel runs its full time and both get timeout at endsAt.
{USERS}steps:
{INVITE}{START}  - wait until endsAt
  - expect alice, bob: timeout sessionId=$sent.sessionId within 10s
  - alice: stop
  - expect alice: error invalid_state
""",
    "disconnect": f"""\
name: disconnect
description: >-
  alice drops during the duel; that ends nothing: she reconnects, resumes with state,
  and stops the duel.
{USERS}steps:
{INVITE}{START}  - disconnect alice
  - expect nothing for bob within 500ms
  - connect alice
  - alice: state requestId=resume
  - expect alice: state requestId=resume sessions.len=1
      sessions.0.sessionId=$sent.sessionId sessions.0.status=active
  - alice: stop
  - expect alice, bob: stop by=$alice
""",
    "withdraw": f"""\
name: withdraw
description: alice withdraws her invite before bob answers.
{USERS}steps:
{INVITE}  - alice: stop
  - expect alice, bob: stop by=$alice sessionId=$sent.sessionId
  - bob: accept
  - expect bob: error invalid_state
""",
}

NAMES = tuple(BUILTIN)


def builtin_scenarios(name: str) -> list[Scenario]:
    """The built-in scenario `name`, or all of them for "all"."""
    names = NAMES if name == "all" else (name,)
    return [parse_scenarios(BUILTIN[n], f"<builtin:{n}>")[0] for n in names]
