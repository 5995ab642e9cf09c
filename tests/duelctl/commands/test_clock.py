"""`duelctl clock`: durations, the one-line description, and finding the clock API."""

from __future__ import annotations

from pathlib import Path

import pytest

from duelctl.commands.clock import clock_url, describe, parse_duration
from duelctl.errors import StackNotRunning, UsageError
from duelctl_endpoints import Endpoints


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("10m") == 600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2d") == 172800
    assert parse_duration("45") == 45
    for bad in ("", "ten", "5x", "1h 30m", "m5"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_description_names_the_mode_and_the_lead() -> None:
    line = describe({"mode": "virtual", "now": "2026-01-01T00:10:00.000Z", "offset_s": 3725.0})
    assert line == "2026-01-01T00:10:00.000Z  (virtual clock, 1h 2m 5.0s ahead of real time)"
    assert describe({"mode": "real", "now": "2026-01-01T00:00:00.000Z", "offset_s": 0}) == (
        "2026-01-01T00:00:00.000Z  (real clock)"
    )


def endpoints(**changes: object) -> Endpoints:
    base = Endpoints(
        target="local",
        region="us-east-1",
        stage="local",
        websocket_url="ws://127.0.0.1:1/local",
        management_url="http://127.0.0.1:2/local",
        http_url="http://127.0.0.1:2",
        aws_endpoint_url="http://127.0.0.1:3",
        user_pool_id=None,
        user_pool_client_id=None,
        connections_table=None,
        sessions_table=None,
        clock="virtual",
        clock_url="http://127.0.0.1:2/_duelctl/clock",
    )
    return Endpoints(**{**base.to_json(), **changes})


def test_the_clock_api_comes_from_the_endpoints_file(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    endpoints().write(path)
    assert clock_url(path) == "http://127.0.0.1:2/_duelctl/clock"
    endpoints(target="prod", clock=None, clock_url=None).write(path)
    with pytest.raises(UsageError, match="local stacks only"):
        clock_url(path)
    with pytest.raises(StackNotRunning):
        clock_url(tmp_path / "missing.json")
