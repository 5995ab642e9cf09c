"""`duelctl bench` end to end: an embedded stack in a child process, real users, real sockets.

No timing is asserted (speed is measured in bench/, not in tests): only the JSON shape
the issue fixes for CI, and that every expected frame arrived exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from duelctl.commands.bench import register

SUMMARY_KEYS = {"p50", "p95", "p99", "max"}
LATENCIES = ("connect_ms", "invite_ms", "start_ms", "stop_ms", "ping_ms")


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A group, so `bench` is invoked by name as in duelctl."""

    register(app)
    return app


def invoke(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cwd / "cache"))
    result = CliRunner().invoke(make_app(), ["bench", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.mark.bench
def test_small_run_against_an_embedded_stack_is_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pairs for three seconds: the issue's JSON keys, duels played, nothing lost."""
    code, out = invoke(
        ["--pairs", "2", "--duration", "3", "--json", "--seed", "7"], tmp_path, monkeypatch
    )
    data = json.loads(out)
    for key in LATENCIES:
        assert set(data[key]) == SUMMARY_KEYS
    assert data["connect_ms"]["p50"] is not None
    assert data["duels"] >= 1
    assert data["lost"] == 0
    assert data["duplicated"] == 0
    assert data["errors"] == {}
    assert data["unexpected"] == {}
    assert isinstance(data["ready_s"], float) and data["ready_s"] > 0
    assert isinstance(data["client_cpu"], float)
    assert data["connections"] == 4
    assert data["clean"] is True
    assert code == 0
    assert not (tmp_path / ".duelctl").exists()  # the embedded stack wrote nothing here


@pytest.mark.bench
def test_idle_connections_ping_back_to_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--pairs 0 --idle N --idle-ping 0 is a pure ping load, every pong accounted for."""
    code, out = invoke(
        ["--pairs", "0", "--idle", "2", "--idle-ping", "0", "--duration", "2", "--json"],
        tmp_path,
        monkeypatch,
    )
    data = json.loads(out)
    assert code == 0
    assert data["duels"] == 0
    assert data["pings"] > 0
    assert data["ping_ms"]["max"] is not None
    assert (data["lost"], data["duplicated"]) == (0, 0)


def write_endpoints(path: Path, target: str, host: str) -> None:
    path.write_text(
        json.dumps(
            {
                "target": target,
                "region": "us-east-1",
                "stage": "prod",
                "websocket_url": f"wss://{host}/prod",
                "management_url": f"https://{host}/prod",
                "http_url": f"https://{host}",
                "aws_endpoint_url": None,
                "user_pool_id": "us-east-1_abcdefghi",
                "user_pool_client_id": "abcdefghijklmnopqrstuvwxyz",
                "connections_table": "c",
                "sessions_table": "s",
            }
        )
    )


def test_a_local_endpoints_file_pointing_elsewhere_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load only goes to loopback, or to a deployed stage named by its endpoints file."""
    endpoints = tmp_path / "elsewhere.json"
    write_endpoints(endpoints, "local", "10.1.2.3")
    code, _ = invoke(
        ["--endpoints", str(endpoints), "--pairs", "1", "--duration", "1"], tmp_path, monkeypatch
    )
    assert code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--pairs", "0"],
        ["--pairs", "100000"],
        ["--duration", "0"],
        ["--duration", "100000"],
        ["--reject-share", "0.7", "--timeout-share", "0.7"],
        ["--hold", "-1"],
    ],
)
def test_runs_are_bounded_in_count_and_time(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out-of-range shapes are usage errors before anything starts."""
    code, _ = invoke(args, tmp_path, monkeypatch)
    assert code == 2


def test_users_help_shows_the_whole_line_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: rich markup took `[password]` for a style tag and cut the help short."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out = invoke(["--help"], tmp_path, monkeypatch)
    assert code == 0
    assert "'username [password]' per line" in out


def test_a_missing_template_is_one_error_line_before_any_stack_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: installed outside the checkout, the bundled template was missing and the
    embedded stack's child printed its traceback; now the parent checks first, as `up`."""
    missing = tmp_path / "nowhere" / "template.yaml"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        make_app(), ["bench", "--embedded", "--template", str(missing), "--burst", "1"]
    )
    assert result.exit_code == 2
    assert "no such template file" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
