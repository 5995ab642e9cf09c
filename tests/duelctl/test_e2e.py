"""duelctl end to end: real subprocesses, the real emulator, real handlers, real sockets.

These start embedded stacks (or `duelctl up`) exactly as a developer or CI would, so
they need the emulator runtime and the Lambda handlers in place.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from duelctl.testing import start_stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.e2e


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DUELCTL_")}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    base["COLUMNS"] = "200"
    return base


def duelctl(
    *args: str, cwd: Path, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "duelctl.cli", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        check=False,
    )


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def test_simulate_all_passes_on_an_embedded_stack(tmp_path: Path) -> None:
    """`simulate --scenario all` without `up` starts a fast stack and every flow holds."""
    proc = duelctl(
        "simulate", "alice", "bob", "--scenario", "all", "--json", cwd=tmp_path, timeout=240
    )
    assert proc.returncode == 0, explain(proc)
    payload = json.loads(proc.stdout)
    names = [s["name"] for s in payload["scenarios"]]
    assert names == ["accept-stop", "reject", "no-response", "timeout", "disconnect", "withdraw"]
    assert all(s["passed"] for s in payload["scenarios"]), explain(proc)
    assert "starting an embedded stack" in proc.stderr
    assert not (tmp_path / ".duelctl" / "local.json").exists()


def test_every_example_passes_with_a_junit_report(tmp_path: Path) -> None:
    """examples/ runs green against an embedded stack; the report has one testcase each."""
    report = tmp_path / "report.xml"
    proc = duelctl(
        "run", str(EXAMPLES), "--embedded", "--junit", str(report), cwd=tmp_path, timeout=420
    )
    assert proc.returncode == 0, explain(proc)
    cases = ET.parse(report).getroot().findall("./testsuite/testcase")
    assert len(cases) == len(list(EXAMPLES.glob("*.yaml")))
    assert all(c.find("failure") is None for c in cases)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`duelctl up` as a real subprocess with a long duel and a short lead."""
    stack = start_stack(
        tmp_path,
        parameters={"StartLeadSeconds": "1", "InviteTimeoutSeconds": "30"},
        args=["--no-reload"],
        env=env(),
        timeout_s=90,
    )
    try:
        yield stack.proc, tmp_path
    finally:
        if stack.proc.poll() is None:  # the tests stop it themselves, and check how
            stack.proc.kill()
            stack.proc.wait(10)


def test_up_serves_clients_and_cleans_up_on_sigterm(
    up: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """up writes local.json, serves token/online/connect/simulate/run, and SIGTERM removes it."""
    proc, cwd = up
    endpoints = json.loads((cwd / ".duelctl" / "local.json").read_text())
    for key in (
        "websocket_url",
        "management_url",
        "http_url",
        "aws_endpoint_url",
        "user_pool_id",
        "user_pool_client_id",
        "connections_table",
        "sessions_table",
    ):
        assert endpoints[key], key
    assert endpoints["target"] == "local"
    side = json.loads((cwd / ".duelctl" / "local.stack.json").read_text())
    assert side["parameters"]["StartLeadSeconds"] == "1"
    assert side["parameters"]["DuelSeconds"] == "600"

    token = duelctl("token", "alice", cwd=cwd)
    assert token.returncode == 0, explain(token)
    claims = jwt.decode(token.stdout.strip(), options={"verify_signature": False})
    assert claims["cognito:username"] == "alice"

    # alice stays connected (stdin open) while bob asks who is online.
    alice = subprocess.Popen(
        [sys.executable, "-m", "duelctl.cli", "connect", "alice"],
        cwd=cwd,
        env=env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        users: list[dict[str, str]] = []
        for _ in range(50):
            online = duelctl("online", "--as", "bob", "--json", cwd=cwd)
            assert online.returncode == 0, explain(online)
            users = json.loads(online.stdout)["users"]
            if users:
                break
            time.sleep(0.2)
        assert [(u["username"], u["status"]) for u in users] == [("alice", "idle")]
        out, err = alice.communicate("ping requestId=hello\nstate\n", timeout=60)
    finally:
        if alice.poll() is None:
            alice.kill()
    assert alice.returncode == 0, err
    assert "pong" in out and "requestId=hello" in out and "state" in out

    simulated = duelctl("simulate", "carol", "dave", cwd=cwd)
    assert simulated.returncode == 0, explain(simulated)
    assert "starting an embedded stack" not in simulated.stderr  # it used the running stack

    # The examples name no timers of their own: one without a timer wait runs here too.
    ran = duelctl("run", str(EXAMPLES / "accept_stop.yaml"), cwd=cwd)
    assert ran.returncode == 0, explain(ran)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not (cwd / ".duelctl" / "local.json").exists()
    assert not (cwd / ".duelctl" / "local.stack.json").exists()
    log = (cwd / "up.log").read_text()
    assert "InviteFunction" in log  # one log line per invocation
    assert "Traceback" not in log

    after = duelctl("token", "alice", cwd=cwd)
    assert after.returncode == 3


def test_up_on_a_busy_port_is_exit_5(tmp_path: Path) -> None:
    """A --port already taken is one line and exit 5, and no endpoints file is left."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = duelctl("up", "--no-reload", "--port", str(port), cwd=tmp_path, timeout=90)
    assert proc.returncode == 5, explain(proc)
    assert f"port {port} is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / ".duelctl" / "local.json").exists()


def test_up_logs_read_as_people_and_ctrl_c_exits_130(
    up: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """Names not UUIDs, a refused token as one denial, one runtime note; Ctrl-C is 130."""
    proc, cwd = up
    token = duelctl("token", "carol", cwd=cwd)
    assert token.returncode == 0, explain(token)
    endpoints = json.loads((cwd / ".duelctl" / "local.json").read_text())
    denied = subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio, sys, websockets\n"
            "async def go():\n"
            "    try:\n"
            "        async with websockets.connect(sys.argv[1] + '?token=garbage'):\n"
            "            pass\n"
            "    except websockets.InvalidStatus as exc:\n"
            "        print(exc.response.status_code)\n"
            "asyncio.run(go())\n",
            endpoints["websocket_url"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
    )
    assert denied.stdout.strip() == "401", denied.stderr
    talked = duelctl("connect", "carol", cwd=cwd, stdin="ping\n")
    assert talked.returncode == 0, explain(talked)

    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(60) == 130
    log = (cwd / "up.log").read_text()
    assert "PingFunction ping user=carol" in log
    assert "connected carol" in log
    denials = [line for line in log.splitlines() if "denied 401" in line]
    assert len(denials) == 1, log
    assert "AuthorizerFunction denied 401 refusing connection:" in denials[0]
    assert "authorizer raised Unauthorized" not in log  # the gateway's refusal, folded in
    assert "Exception: Unauthorized" not in log  # no traceback for a normal answer
    assert log.count("runs on the local Python") <= 1
    assert "runs on local Python" not in log  # the per-function form
    assert " ? " not in log
    assert not (cwd / ".duelctl" / "local.json").exists()


def test_ctrl_c_while_up_is_starting_stops_it_with_130(tmp_path: Path) -> None:
    """Ctrl-C during start-up aborts the start: exit 130, nothing left behind."""
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "duelctl.cli", "up", "--no-reload"],
            cwd=tmp_path,
            env=env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 90
        while "service:" not in log_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log_path.read_text()
    assert "interrupted while starting" in text or "stopped" in text, text
    assert "internal error" not in text and "forced shutdown" not in text
    assert not (tmp_path / ".duelctl" / "local.json").exists()
