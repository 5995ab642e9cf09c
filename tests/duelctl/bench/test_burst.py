"""`duelctl bench --burst N` end to end: an embedded stack in a child process, real sockets.

Counts only, no timing (speed is measured in bench/, not in tests). The invite timeout
is raised to 10 s so a busy test machine cannot turn queueing into expired accepts,
which would be a figure for bench/, not a failure of the burst's bookkeeping.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from duelctl.commands.bench import register

SUMMARY_KEYS = {"p50", "p95", "p99", "max"}
PHASES = ("invite_sent_ms", "invite_ms", "start_ms", "stop_ms", "timeout_late_ms")


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A group, so `bench` is invoked by name as in duelctl."""

    register(app)
    return app


def invoke(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cwd / "cache"))
    result = CliRunner().invoke(make_app(), ["bench", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.bench
def test_a_burst_of_five_pairs_twice_starts_and_ends_every_duel_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 pairs x 2 rounds, 2 of 5 left to run out: every pair started both times, the
    rest stopped, run-outs timed out, every frame exactly once, nothing unexpected."""
    code, out, _ = invoke(
        [
            "--burst",
            "5",
            "--rounds",
            "2",
            "--run-out-share",
            "0.4",
            "--parameter-overrides",
            "InviteTimeoutSeconds=10",
            "DuelSeconds=3",
            "--seed",
            "3",
            "--json",
        ],
        tmp_path,
        monkeypatch,
    )
    data = json.loads(out)
    assert data["mode"] == "burst"
    for key in (*PHASES, "connect_ms"):
        assert set(data[key]) == SUMMARY_KEYS
        assert data[key]["p50"] is not None, key
    assert (data["pairs"], data["rounds"], data["connections"]) == (5, 2, 10)
    assert data["started"] == 10
    assert (data["stopped"], data["ran_out"], data["stop_lost_race"]) == (6, 4, 0)
    assert (data["expired_accepts"], data["failed"]) == (0, 0)
    assert (data["lost"], data["duplicated"], data["late"]) == (0, 0, 0)
    assert data["errors"] == {}
    assert data["unexpected"] == {}
    # invite_sent + invite + 2 start + 2 stop/timeout per pair and round; the client
    # sent invite + accept (+ stop unless the duel ran out).
    assert data["frames_in"] == 6 * 10
    assert data["frames_out"] == 3 * 6 + 2 * 4
    assert data["timers"] == {"invite_timeout_s": 10.0, "duel_s": 3.0, "start_lead_s": 1.0}
    assert [r["run_out_pairs"] for r in data["per_round"]] == [2, 2]
    assert [r["started"] for r in data["per_round"]] == [5, 5]
    assert data["clean"] is True
    assert code == 0
    assert not (tmp_path / ".duelctl").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--burst", "2", "--duration", "3"], "--duration only apply to the steady mode"),
        (["--rounds", "2"], "--rounds only apply with --burst"),
        (["--burst", "2", "--run-out-share", "1.5"], "--run-out-share must be in 0..1"),
        (["--burst", "2", "--rounds", "1000"], "--rounds must be between"),
    ],
)
def test_burst_options_are_checked_before_anything_starts(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Options of the other mode, or out of bounds, are one-line usage errors (exit 2)."""
    code, _, err = invoke(args, tmp_path, monkeypatch)
    assert code == 2
    assert message in " ".join(err.split())


def test_parameter_overrides_are_refused_for_a_stack_that_already_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running stack keeps its timers: overriding them there is a usage error."""
    endpoints = tmp_path / "local.json"
    endpoints.write_text("{}")
    code, _, err = invoke(
        ["--burst", "1", "--endpoints", str(endpoints), "--parameter-overrides", "DuelSeconds=4"],
        tmp_path,
        monkeypatch,
    )
    assert code == 2
    assert "--parameter-overrides" in err
