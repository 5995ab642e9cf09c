"""Targets: which endpoints file a command reads, and templates it would start."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import duelctl
from duelctl.errors import StackNotRunning, TargetUnreachable, UsageError
from duelctl.targets import (
    bundled_template,
    default_template,
    endpoints_path,
    local_stack_running,
    remove_local_endpoints,
    resolve_target,
    stack_info_path,
    write_local_endpoints,
)
from duelctl_endpoints import Endpoints


def endpoints_for(port: int, target: str = "local", local: bool = True) -> Endpoints:
    return Endpoints(
        target=target,
        region="eu-west-1",
        stage=target,
        websocket_url=f"ws://127.0.0.1:{port}/{target}",
        management_url=f"http://127.0.0.1:{port}/{target}",
        http_url=f"http://127.0.0.1:{port}",
        aws_endpoint_url="http://127.0.0.1:1" if local else None,
        user_pool_id="eu-west-1_abc",
        user_pool_client_id="client",
        connections_table="c",
        sessions_table="s",
    )


@pytest.fixture
def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def test_local_endpoints_round_trip_with_parameters(
    tmp_path: Path, listening: socket.socket
) -> None:
    """What `up` writes, clients read back: endpoints plus the stack's parameters."""
    port = listening.getsockname()[1]
    path = write_local_endpoints(
        endpoints_for(port), {"DuelSeconds": "5"}, Path("t.yaml"), tmp_path
    )
    assert path == tmp_path / ".duelctl" / "local.json"
    assert json.loads(path.read_text())["websocket_url"] == f"ws://127.0.0.1:{port}/local"
    assert "parameters" not in json.loads(path.read_text())  # the protocol's keys only
    target = resolve_target("local", path)
    assert target.endpoints == endpoints_for(port)
    assert target.parameters == {"DuelSeconds": "5"}
    assert target.is_local
    assert local_stack_running(tmp_path)
    remove_local_endpoints(path)
    assert not path.exists() and not stack_info_path(path).exists()
    remove_local_endpoints(path)  # a second removal is fine
    assert not local_stack_running(tmp_path)


def test_stage_targets_read_their_own_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage name reads .duelctl/STAGE.json and is not probed (it has no local ports)."""
    monkeypatch.chdir(tmp_path)
    endpoints_for(9, "prod", local=False).write(endpoints_path("prod"))
    target = resolve_target("prod")
    assert target.name == "prod" and not target.is_local and target.parameters is None


def test_missing_targets_raise_what_the_user_must_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No local file -> StackNotRunning; no stage file -> TargetUnreachable; bad names -> usage."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StackNotRunning, match="duelctl up"):
        resolve_target("local")
    with pytest.raises(TargetUnreachable, match="duelctl deploy --stage qa"):
        resolve_target("qa")
    with pytest.raises(UsageError, match="bad target"):
        resolve_target("../etc")
    with pytest.raises(UsageError, match="does not exist"):
        resolve_target("local", tmp_path / "nope.json")


def test_an_explicit_local_file_that_does_not_answer_is_unreachable(tmp_path: Path) -> None:
    """--endpoints naming a stopped local stack reports the dead address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    path = tmp_path / "e.json"
    endpoints_for(dead).write(path)
    with pytest.raises(TargetUnreachable, match=f"nothing listens on 127.0.0.1:{dead}"):
        resolve_target("local", path)


def test_template_lookup_prefers_the_working_directory(tmp_path: Path) -> None:
    """./template.yaml, then ./template.yml, then the template bundled with duelctl."""
    assert bundled_template() == Path(duelctl.__file__).resolve().parents[1] / "template.yaml"
    assert bundled_template().is_file()
    assert default_template(tmp_path) == bundled_template()
    (tmp_path / "template.yml").write_text("x")
    assert default_template(tmp_path) == tmp_path / "template.yml"
    (tmp_path / "template.yaml").write_text("x")
    assert default_template(tmp_path) == tmp_path / "template.yaml"
