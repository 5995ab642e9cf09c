"""`duelctl up --faults SPEC`: the panel, the endpoints file's `faults` key, the counts
route, the shutdown summary, and one-line usage errors."""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from duelctl.cli import app
from duelctl.serve import endpoints_panel
from duelctl.testing import start_stack
from duelctl_endpoints import Endpoints
from tests.conftest import FAST_PARAMS, TEMPLATE

ENDPOINTS = Endpoints(
    target="local",
    region="us-east-1",
    stage="local",
    websocket_url="ws://127.0.0.1:4100/local",
    management_url="http://127.0.0.1:4101/local",
    http_url="http://127.0.0.1:4101",
    aws_endpoint_url="http://127.0.0.1:4102",
    user_pool_id=None,
    user_pool_client_id=None,
    connections_table=None,
    sessions_table=None,
)


def panel(endpoints: Endpoints) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(
        endpoints_panel(endpoints, {}, Path("/t/template.yaml"), Path("local.json"))
    )
    return " ".join(buffer.getvalue().split())


def test_the_panel_shows_spec_seed_and_the_counts_route() -> None:
    faults = {
        "spec": "sqs-duplicate=0.25",
        "seed": 42,
        "counts": {"sqs-duplicate": 0},
        "url": "http://127.0.0.1:4101/_duelctl/faults",
    }
    text = panel(dataclasses.replace(ENDPOINTS, faults=faults))
    assert (
        "Faults sqs-duplicate=0.25 seed 42 counts: GET http://127.0.0.1:4101/_duelctl/faults"
        in (text)
    )
    assert "Faults" not in panel(ENDPOINTS)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["up", "--faults", "sqs-dupe"], "--faults: unknown fault 'sqs-dupe'"),
        (["up", "--faults", "lambda-crash=2"], "at most 1"),
        (["up", "--faults-seed", "3"], "--faults-seed needs --faults SPEC"),
        (["run", "x.yaml", "--faults", "gone-window"], "gone-window needs a value"),
        (["simulate", "a", "b", "--faults", ""], "empty"),
    ],
)
def test_a_bad_spec_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.output


@pytest.mark.e2e
def test_up_publishes_the_faults_and_sums_them_up_at_shutdown(tmp_path: Path) -> None:
    stack = start_stack(
        tmp_path,
        template=TEMPLATE,
        parameters=FAST_PARAMS,
        args=["--faults", "lambda-crash=1,ddb-throttle=0.5", "--faults-seed", "5"],
    )
    try:
        endpoints = json.loads((tmp_path / ".duelctl" / "local.json").read_text())
        faults = endpoints["faults"]
        assert faults["spec"] == "ddb-throttle=0.5,lambda-crash=1" and faults["seed"] == 5
        assert faults["counts"] == {"ddb-throttle": 0, "lambda-crash": 0}
        # Every invocation crashes (AWS: Runtime.ExitError, `X-Amz-Function-Error`).
        invoke = urllib.request.Request(
            endpoints["http_url"] + "/2015-03-31/functions/OnlineFunction/invocations",
            data=b"{}",
            method="POST",
        )
        with urllib.request.urlopen(invoke, timeout=30) as response:
            assert response.headers["X-Amz-Function-Error"] == "Unhandled"
            assert json.loads(response.read())["errorType"] == "Runtime.ExitError"
        current = get(faults["url"])
    finally:
        stack.stop()
    log = (tmp_path / "up.log").read_text()
    assert "fault mode: ddb-throttle=0.5,lambda-crash=1 (seed 5)" in log
    assert "faults fired: ddb-throttle" in log and "(seed 5)" in log
    assert current["spec"] == faults["spec"] and current["counts"]["lambda-crash"] == 1


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
