"""duelctl.testing: the stack harness tests, the bench and users' suites share.

A stack that starts is exercised by every e2e test (tests/conftest.py `stack`, the sample
apps, the browser tests); here, what a user sees when theirs cannot start.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from duelctl.errors import StackStartError
from duelctl.testing import local_stack, up_command


def test_up_command_runs_up_on_free_ports_with_the_given_options() -> None:
    command = up_command("t.yaml", {"A": "1", "B": "2"}, ["--no-reload"])
    assert command[:4] == [sys.executable, "-m", "duelctl", "up"]
    assert command[4:] == [
        "--port", "0", "--http-port", "0", "--template", "t.yaml", "--no-reload",
        "--parameter-overrides", "A=1", "B=2",
    ]  # fmt: skip


@pytest.mark.slow  # one `duelctl up` that exits: ~2 s of interpreter start-up
def test_a_stack_that_cannot_start_says_why_with_its_log(tmp_path: Path) -> None:
    with (
        pytest.raises(StackStartError, match="exited with") as failed,
        local_stack(tmp_path, template=tmp_path / "missing.yaml"),
    ):
        pass
    assert "missing.yaml" in str(failed.value)  # the log: `up` names the template
    assert not (tmp_path / ".duelctl" / "local.json").exists()
