"""Virtual time end to end: `duelctl up --clock virtual` with the template's own timers.

A 60-second invite and a 10-minute duel run out on a virtual stack with the same frames,
in the same order, and the same `endReason` as on the real-clock stack with compressed
timers (the session fixture `stack`); `duelctl clock` moves the clock and refuses to move
it backwards. The scenarios are the built-in ones `duelctl simulate` plays, driven by the
scenario engine exactly as the CLI drives them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from duelctl.scenario.builtin import builtin_scenarios
from duelctl.scenario.engine import KEEPALIVE_ID, Result
from duelctl.scenario.play import PlayOptions, isolated_users, play
from duelctl.targets import Target
from duelctl.testing import local_stack
from duelctl_endpoints import Endpoints
from tests.conftest import ROOT, TEMPLATE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def virtual_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, Path]]:
    """`duelctl up --clock virtual` with the template's default timers (60 s, 600 s, 3 s)."""
    workdir = tmp_path_factory.mktemp("virtual")
    with local_stack(workdir, template=TEMPLATE, args=["--clock", "virtual"]) as stack:
        yield stack.endpoints, workdir / ".duelctl" / "local.json"


async def play_builtin(name: str, endpoints: Endpoints) -> Result:
    target = Target(name="local", endpoints=endpoints, path=None, parameters=None)
    (result,) = await play(
        builtin_scenarios(name),
        target,
        users=isolated_users,
        options=PlayOptions(),
        on_result=lambda r: None,
    )
    assert result.passed, result.failure
    return result


def frames(result: Result) -> dict[str, list[str]]:
    """The frame types each connection received, in order (the protocol orders frames
    per connection, not across users); the runner's own keep-alive pongs aside."""
    seen: dict[str, list[str]] = {}
    for e in result.events:
        if e.kind == "recv" and e.data and e.data.get("requestId") != KEEPALIVE_ID:
            seen.setdefault(e.who, []).append(str(e.data.get("type")))
    return seen


def end_reason(endpoints: Endpoints, result: Result) -> str:
    session_id = next(
        e.data["sessionId"]
        for e in result.events
        if e.kind == "recv" and e.data and "sessionId" in e.data
    )
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoints.aws_endpoint_url,
        region_name=endpoints.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    item: dict[str, Any] = ddb.get_item(
        TableName=endpoints.sessions_table, Key={"sessionId": {"S": session_id}}
    )["Item"]
    return str(item["endReason"]["S"])


@pytest.mark.parametrize(("name", "reason", "timer_s"), [("no-response", "no_response", 60)])
async def test_a_default_invite_runs_out_as_on_a_real_clock(
    virtual_stack: tuple[Endpoints, Path], stack: Endpoints, name: str, reason: str, timer_s: int
) -> None:
    endpoints, _ = virtual_stack
    virtual = await play_builtin(name, endpoints)
    real = await play_builtin(name, stack)
    assert virtual.clock == "virtual" and real.clock == "real"
    assert frames(virtual) == frames(real)
    assert end_reason(endpoints, virtual) == end_reason(stack, real) == reason
    assert virtual.duration_s >= timer_s  # the template's own timer ran, in stack time


async def test_a_default_duel_runs_out_as_on_a_real_clock(
    virtual_stack: tuple[Endpoints, Path], stack: Endpoints
) -> None:
    endpoints, _ = virtual_stack
    virtual = await play_builtin("timeout", endpoints)
    real = await play_builtin("timeout", stack)
    assert frames(virtual) == frames(real)
    assert frames(virtual)["bob"][:3] == ["invite", "start", "timeout"]
    assert end_reason(endpoints, virtual) == end_reason(stack, real) == "timeout"
    start = next(e for e in virtual.events if e.data and e.data.get("type") == "start")
    assert start.data is not None and start.data["durationSeconds"] == 600
    # The runner kept its sockets alive over the 10 minutes, as a real client does.
    assert any(e.data and e.data.get("requestId") == KEEPALIVE_ID for e in virtual.events)


def duelctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUELCTL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(":")
    return subprocess.run(
        [sys.executable, "-m", "duelctl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_duelctl_clock_moves_forward_and_refuses_backwards(
    virtual_stack: tuple[Endpoints, Path],
) -> None:
    endpoints, path = virtual_stack
    shown = duelctl("clock", "--json", "--endpoints", str(path), cwd=path.parent)
    assert shown.returncode == 0, shown.stderr
    before = json.loads(shown.stdout)
    assert before["mode"] == "virtual"

    moved = duelctl("clock", "advance", "90s", "--json", "--endpoints", str(path), cwd=path.parent)
    assert moved.returncode == 0, moved.stderr
    after = json.loads(moved.stdout)
    # 90 s from the moment the request arrived; real time flowed meanwhile as well.
    assert after["now_ms"] >= before["now_ms"] + 90_000
    assert after["offset_s"] == pytest.approx(before["offset_s"] + 90, abs=5)

    back = duelctl(
        "clock", "set", "2001-01-01T00:00:00Z", "--endpoints", str(path), cwd=path.parent
    )
    assert back.returncode == 2
    lines = back.stderr.strip().splitlines()
    assert len(lines) == 1 and "only moves forward" in lines[0]
    again = json.loads(duelctl("clock", "--json", "--endpoints", str(path), cwd=path.parent).stdout)
    assert again["offset_s"] >= after["offset_s"]
    assert endpoints.clock == "virtual" and endpoints.clock_url


def test_a_real_clock_stack_says_so(stack: Endpoints) -> None:
    """The endpoints file names every local stack's clock; a real one cannot be moved."""
    import urllib.error
    import urllib.request

    assert stack.clock == "real" and stack.clock_url
    with urllib.request.urlopen(stack.clock_url, timeout=10) as response:
        assert json.loads(response.read())["mode"] == "real"
    request = urllib.request.Request(
        stack.clock_url + "/advance", data=b'{"seconds": 5}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 409
