"""The CLI surface: help with examples, exit codes, one-line errors, stdout vs stderr."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from duelctl import cli
from duelctl.app import STATE, app, spread_overrides
from duelctl.commands import simulate

COMMANDS = ("up", "token", "simulate", "run", "online", "connect")
runner = CliRunner()


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs in an empty working directory (no .duelctl/ unless it writes one)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(STATE, "debug", False)
    monkeypatch.delenv("DUELCTL_USER", raising=False)
    yield tmp_path


def invoke(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command: str) -> None:
    """`duelctl CMD --help` exits 0 and shows examples."""
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples" in result.stdout
    assert f"duelctl {command}" in result.stdout


def test_top_level_help_lists_commands_and_exit_codes() -> None:
    """`duelctl --help` lists every command and documents the exit codes."""
    result = invoke("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.stdout
    assert "Exit codes" in result.stdout


@pytest.mark.parametrize(
    "args",
    [("token", "alice"), ("online",), ("connect", "alice"), ("token", "alice", "-t", "local")],
)
def test_no_stack_running_is_exit_3_with_one_line(args: tuple[str, ...]) -> None:
    """Client commands without a local stack say so in one line and exit 3."""
    line = one_error_line(invoke(*args), 3)
    assert line == (
        "error: no local stack running (no .duelctl/local.json here); start one with `duelctl up`"
    )


def test_a_left_over_endpoints_file_is_no_stack(in_tmp: Path) -> None:
    """An endpoints file whose ports do not answer counts as no stack running."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    (in_tmp / ".duelctl").mkdir()
    (in_tmp / ".duelctl" / "local.json").write_text(
        json.dumps(
            {
                "target": "local",
                "region": "us-east-1",
                "stage": "local",
                "websocket_url": f"ws://127.0.0.1:{dead}/local",
                "http_url": f"http://127.0.0.1:{dead}",
                "aws_endpoint_url": "http://127.0.0.1:1",
            }
        )
    )
    line = one_error_line(invoke("token", "alice"), 3)
    assert "left over from a stack that stopped" in line


def test_unknown_stage_is_exit_3_and_names_the_file() -> None:
    """A stage without an endpoints file points at deploy and --endpoints."""
    line = one_error_line(invoke("online", "--target", "staging"), 3)
    assert ".duelctl/staging.json missing" in line


def test_bad_endpoints_file_is_bad_input(in_tmp: Path) -> None:
    """A malformed endpoints file is exit 2, naming the file."""
    (in_tmp / "e.json").write_text('{"target": "local"}')
    line = one_error_line(invoke("token", "alice", "--endpoints", "e.json"), 2)
    assert "e.json" in line and "lacks 'region'" in line


def test_a_bad_scenario_file_is_one_line_with_its_line_number(in_tmp: Path) -> None:
    """Validation runs before any stack: a typo is exit 2 with file:line."""
    (in_tmp / "ok.yaml").write_text("users: [a]\nsteps: [wait 1ms]\n")
    (in_tmp / "bad.yaml").write_text("users: [alice]\nsteps:\n  - alice: invite bob\n")
    line = one_error_line(invoke("run", "ok.yaml", "bad.yaml"), 2)
    assert (
        line
        == "error: bad.yaml:3: unknown user 'bob'; declare it under users/offline, or use id=..."
    )


def test_run_without_files_is_a_usage_error() -> None:
    """`duelctl run` needs at least one file."""
    assert invoke("run").exit_code == 2
    line = one_error_line(invoke("run", "missing.yaml"), 2)
    assert "missing.yaml: no such file or directory" in line


def test_simulate_needs_two_different_users() -> None:
    """ALICE and BOB must differ."""
    line = one_error_line(invoke("simulate", "alice", "ALICE"), 2)
    assert "two different users" in line


def test_embedded_excludes_target() -> None:
    """--embedded starts a local stack, so --target staging makes no sense with it."""
    line = one_error_line(invoke("simulate", "a", "b", "--embedded", "--target", "staging"), 2)
    assert "--embedded" in line


def test_up_refuses_a_second_stack_in_the_same_directory(in_tmp: Path) -> None:
    """While a stack answers at .duelctl/local.json, `up` exits 5 instead of starting another."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        (in_tmp / ".duelctl").mkdir()
        (in_tmp / ".duelctl" / "local.json").write_text(
            json.dumps(
                {
                    "target": "local",
                    "region": "us-east-1",
                    "stage": "local",
                    "websocket_url": f"ws://127.0.0.1:{port}/local",
                    "http_url": f"http://127.0.0.1:{port}",
                    "aws_endpoint_url": "http://x",
                }
            )
        )
        line = one_error_line(invoke("up"), 5)
    assert "a local stack already runs here" in line


def test_up_with_a_missing_template_is_bad_input() -> None:
    """A template that does not exist is exit 2 naming it."""
    line = one_error_line(invoke("up", "--template", "nope.yaml"), 2)
    assert "nope.yaml: no such template file" in line


def test_bugs_are_one_line_exit_70_and_tracebacks_with_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected exception is reported as a bug; --debug lets the traceback through."""
    from duelctl.commands import token

    def broken(*args: object, **kwargs: object) -> str:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(token, "run_token", broken)
    line = one_error_line(invoke("token", "alice"), 70)
    assert line.startswith("internal error: ZeroDivisionError: boom")
    assert "--debug" in line
    result = invoke("--debug", "token", "alice")
    assert isinstance(result.exception, ZeroDivisionError)


def test_spread_overrides_accepts_sam_cli_forms() -> None:
    """Several KEY=VALUE words after one flag become one flag each; other forms pass through."""
    assert spread_overrides(["--parameter-overrides", "A=1", "B=2", "--port", "5"]) == [
        "--parameter-overrides",
        "A=1",
        "--parameter-overrides",
        "B=2",
        "--port",
        "5",
    ]
    assert spread_overrides(["--parameter-overrides", "A=1 B=2", "-v"]) == [
        "--parameter-overrides",
        "A=1 B=2",
        "-v",
    ]
    assert spread_overrides(["--parameter-overrides=A=1", "B=2"]) == [
        "--parameter-overrides=A=1",
        "--parameter-overrides",
        "B=2",
    ]
    assert spread_overrides(["--parameter-overrides", "A=1", "--parameter-overrides", "B=2"]) == [
        "--parameter-overrides",
        "A=1",
        "--parameter-overrides",
        "B=2",
    ]


def test_bad_parameter_overrides_are_bad_input() -> None:
    """An override without = is exit 2 with the loader's explanation."""
    line = one_error_line(invoke("up", "--parameter-overrides", "DuelSeconds"), 2)
    assert line.startswith("error: --parameter-overrides:") and "KEY=VALUE" in line


# -- against the scripted server and real moto Cognito ------------------------------------------


def test_token_prints_one_jwt_and_creates_the_user_once(duel_server) -> None:
    """`duelctl token` prints exactly one line: an ID token whose username is the user."""
    first = invoke("token", "Zed", "--endpoints", str(duel_server.file))
    assert first.exit_code == 0, first.stderr
    assert first.stdout.count("\n") == 1
    claims = jwt.decode(first.stdout.strip(), options={"verify_signature": False})
    assert claims["token_use"] == "id" and claims["cognito:username"].lower() == "zed"
    again = invoke("token", "Zed", "--endpoints", str(duel_server.file))
    assert again.exit_code == 0
    claims2 = jwt.decode(again.stdout.strip(), options={"verify_signature": False})
    assert claims2["sub"] == claims["sub"]


PASSING = """\
users: [alice, bob]
steps:
  - alice: invite bob
  - expect bob: invite from=$alice
  - bob: reject
  - expect alice, bob: rejected by=$bob
"""
FAILING = """\
name: expects a start
users: [alice, bob]
steps:
  - alice: invite bob
  - expect bob: start within 200ms
"""


def test_run_reports_pass_and_fail_with_exit_codes_and_junit(duel_server, in_tmp: Path) -> None:
    """One passing and one failing file: exit 1, the failure at file:line, a JUnit report."""
    (in_tmp / "pass.yaml").write_text(PASSING)
    (in_tmp / "fail.yaml").write_text(FAILING)
    result = invoke(
        "run",
        "pass.yaml",
        "fail.yaml",
        "--endpoints",
        str(duel_server.file),
        "--junit",
        "out/report.xml",
    )
    assert result.exit_code == 1, result.stderr
    out = result.stdout
    assert "PASS pass" in out and "FAIL expects a start" in out
    assert "fail.yaml:5: expect bob: start within 200ms" in out
    assert "expected: start within 0.2s" in out
    assert "1 passed, 1 failed" in out
    root = ET.parse(in_tmp / "out" / "report.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["pass", "expects a start"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and "fail.yaml:5" in (failure.get("message") or "")


def test_run_json_goes_to_stdout_alone(duel_server, in_tmp: Path) -> None:
    """--json writes only JSON to stdout; the human verdict goes to stderr."""
    (in_tmp / "pass.yaml").write_text(PASSING)
    result = invoke("run", "pass.yaml", "--endpoints", str(duel_server.file), "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["passed"] is True
    (scenario,) = payload["scenarios"]
    assert scenario["name"] == "pass" and scenario["failure"] is None
    assert scenario["users"]["alice"].startswith("alice-")  # isolated per run
    assert any(
        e["kind"] == "recv" and e["frame"]["type"] == "rejected" for e in scenario["timeline"]
    )
    assert "PASS pass" in result.stderr


@pytest.mark.parametrize("name", ["accept-stop", "reject", "withdraw", "timeout", "disconnect"])
def test_simulate_shows_a_timeline_and_a_verdict(duel_server, name: str) -> None:
    """Built-in scenarios run through the same engine; the timeline names both users."""
    result = invoke(
        "simulate", "ann", "ben", "--scenario", name, "--endpoints", str(duel_server.file)
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"PASS {name}" in result.stdout
    assert "ann" in result.stdout and "ben" in result.stdout  # the real users in the timeline
    assert "@ben" in result.stdout  # user ids shown as names
    assert "→" in result.stdout and "←" in result.stdout


def test_simulate_fails_with_exit_1_when_an_expectation_breaks(duel_server) -> None:
    """no-response cannot finish against a server whose invites last 60 s: exit 1 with reasons."""
    result = invoke(
        "simulate",
        "ann",
        "ben",
        "--scenario",
        "no-response",
        "--endpoints",
        str(duel_server.file),
        "--max-wait",
        "2",
    )
    assert result.exit_code == 1
    assert "FAIL no-response" in result.stdout
    assert "<builtin:no-response>:" in result.stdout


def test_connect_sends_typed_actions_and_prints_frames(duel_server) -> None:
    """Piped lines become actions; replies print; unknown commands are not sent."""
    result = runner.invoke(
        app,
        ["connect", "cara", "--endpoints", str(duel_server.file)],
        input='ping requestId=p1\nstate\n{"action":"dance"}\nfrobnicate\naccept\nquit\n',
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert '→ {"action":"ping","requestId":"p1"}' in out
    assert "← pong" in out and "requestId=p1" in out
    assert "← state sessions=[]" in out
    assert "← error code=unknown_action" in out
    assert "unknown command 'frobnicate'" in result.stderr
    assert "no invite to you to accept" in result.stderr  # after asking the server
    sent = duel_server.server.received
    assert sent == [
        '{"action":"ping","requestId":"p1"}',
        '{"action":"state"}',
        '{"action":"dance"}',
        '{"action":"state","requestId":"duelctl-state-1"}',
    ]


def test_connect_with_a_refused_token_is_auth_rejected(duel_server) -> None:
    """A handshake the server refuses is exit 4 with the status, not a traceback."""
    result = runner.invoke(app, ["connect", "banned-user", "--endpoints", str(duel_server.file)])
    line = one_error_line(result, 4)
    assert "refused banned-user's token (HTTP 403 Forbidden)" in line


# -- the command line as a shell sees it (main(): what the installed script runs) -----------


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("simulate", "alice"), "error: missing argument 'BOB' (see `duelctl simulate --help`)"),
        (("up", "--nope"), "error: no such option: --nope (see `duelctl up --help`)"),
        (("frobnicate",), "error: no such command 'frobnicate' (see `duelctl --help`)"),
    ],
)
def test_usage_mistakes_are_one_error_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    """Like every other mistake: one `error:` line naming where to read more, no box."""
    code, out, err = run_main(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.strip() == expected


def test_a_bad_option_value_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "up", "--port", "abc")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: invalid value for '--port'") and "╭" not in err


def test_version_from_the_script_and_from_python_m() -> None:
    """`duelctl --version` and `python -m duelctl --version` print the installed version."""
    import subprocess
    import sys

    import duelctl

    for command in (
        [sys.executable, "-c", "from duelctl.cli import main; main()", "--version"],
        [sys.executable, "-m", "duelctl", "--version"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"duelctl {duelctl.version()}\n"
    assert duelctl.__version__ == duelctl.version() != "0+unknown"


@pytest.mark.parametrize("command", ["up", "token", "simulate", "run", "online", "connect"])
def test_help_names_values_not_python_types(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """--help shows `--port PORT`, not `<int range> [0<=x<=65535]`, `<bool>` or `<str>`."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_main(capsys, command, "--help")
    assert code == 0
    for placeholder in ("<int", "<float", "<bool>", "<str>", "<list", "<file>", "<path>", "x>="):
        assert placeholder not in out, (placeholder, out)
    if command == "up":
        assert "--port" in out and "PORT" in out and "--http-port" in out


def test_a_miscapitalised_target_suggests_local() -> None:
    line = one_error_line(invoke("token", "alice", "--target", "Local"), 2)
    assert line == "error: unknown target 'Local'; did you mean 'local'?"


def test_a_misspelt_stage_suggests_the_one_that_exists(in_tmp: Path) -> None:
    (in_tmp / ".duelctl").mkdir()
    (in_tmp / ".duelctl" / "staging.json").write_text("{}")
    line = one_error_line(invoke("online", "--target", "stagin"), 3)
    assert line.endswith("did you mean 'staging'?")


def test_a_taken_http_port_names_it_and_its_flag_before_starting() -> None:
    """The port check comes first: nothing starts (no service lines), one line, exit 5."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("up", "--http-port", str(port), "--template", "missing.yaml")
    line = one_error_line(result, 5)
    assert line == (
        f"error: port {port} is already in use; pick another with --http-port (0 = any free port)"
    )


@pytest.mark.parametrize(("flag", "value"), [("--port", "70000"), ("--http-port", "-1")])
def test_a_port_out_of_range_is_bad_input(flag: str, value: str) -> None:
    line = one_error_line(invoke("up", flag, value), 2)
    assert line.startswith(f"error: {flag} {value}:")


def test_a_negative_max_wait_is_bad_input() -> None:
    line = one_error_line(invoke("simulate", "a", "b", "--max-wait", "-1"), 2)
    assert line.startswith("error: --max-wait -1.0:")


def test_a_misspelt_scenario_parameter_is_blamed_on_the_scenario_line(in_tmp: Path) -> None:
    """Not on template.yaml: the scenario file and the key's line, with the right name."""
    (in_tmp / "typo.yaml").write_text(
        "name: typo\nusers: [alice]\nparameters:\n  DuelSeconds: 5\n  StartLeadSecond: 1\n"
        "steps:\n  - alice: ping\n"
    )
    line = one_error_line(invoke("run", "typo.yaml", "--embedded"), 2)
    assert line.startswith(
        "error: typo.yaml:5: unknown parameter 'StartLeadSecond' "
        "(did you mean 'StartLeadSeconds'?); the template (template.yaml) declares"
    )


def test_the_scenario_choices_are_the_built_in_scenarios() -> None:
    """`simulate` names them without parsing them (start-up time); they must stay the same."""
    from duelctl.scenario.builtin import NAMES

    assert simulate.SCENARIO_NAMES == NAMES


def test_simulate_help_states_the_timers_an_embedded_stack_runs_with() -> None:
    """The built-ins name no parameters, so an embedded stack runs the compressed timers."""
    from duelctl.scenario.builtin import BUILTIN
    from duelctl.scenario.parse import parse_scenarios
    from duelctl.stack import FAST_PARAMETERS

    doc = " ".join((simulate.simulate.__doc__ or "").split())
    for text in BUILTIN.values():
        (scenario,) = parse_scenarios(text, "<builtin>")
        merged = {**FAST_PARAMETERS, **scenario.parameters}
        assert ", ".join(f"{k}={v}" for k, v in merged.items()) in doc
