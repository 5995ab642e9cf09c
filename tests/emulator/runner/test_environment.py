"""function_environment: AWS's reserved variables, the template's, the emulator's, nothing else."""

from __future__ import annotations

import os
import re

import pytest

from emulator.runner.environment import RUNTIME_DIR, function_environment

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_has_aws_reserved_variables(make_code, make_function) -> None:
    """Every variable of docs/aws-behaviour.md §13 the emulator can honour is set."""
    code = make_code({})
    fn = make_function(code, "handlers.invite.handle", runtime="python3.12", memory_mb=128)
    env = function_environment(fn, region="eu-west-1", account_id="123456789012", now=NOW)
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn.name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn.name}"
    assert re.fullmatch(r"2026/01/01/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["_HANDLER"] == "handlers.invite.handle"
    assert env["LAMBDA_TASK_ROOT"] == str(code)
    assert env["LAMBDA_RUNTIME_DIR"] == RUNTIME_DIR
    assert env["TZ"] == ":UTC"
    assert env["LANG"] == "en_US.UTF-8"
    assert env["PATH"]
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert "AWS_LAMBDA_FUNCTION_TIMEOUT" not in env


def test_each_environment_gets_its_own_log_stream(make_code, make_function) -> None:
    """Two workers of one function write to two log streams."""
    fn = make_function(make_code({}))
    first = function_environment(fn, region="us-east-1", account_id="1", now=NOW)
    second = function_environment(fn, region="us-east-1", account_id="1", now=NOW)
    assert first["AWS_LAMBDA_LOG_STREAM_NAME"] != second["AWS_LAMBDA_LOG_STREAM_NAME"]


def test_layering_template_then_aws_then_extra(make_code, make_function) -> None:
    """Template variables cannot override AWS's reserved ones; extra_env overrides all."""
    fn = make_function(
        make_code({}), environment={"TABLE": "Connections", "AWS_REGION": "mars-1", "X": "t"}
    )
    env = function_environment(
        fn,
        region="us-east-1",
        account_id="1",
        extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "X": "extra"},
    )
    assert env["TABLE"] == "Connections"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert env["X"] == "extra"


def test_parent_environment_is_not_inherited(
    make_code, make_function, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only interpreter basics come from the emulator's own environment."""
    monkeypatch.setenv("SECRET_OF_THE_SHELL", "x")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    env = function_environment(make_function(make_code({})), region="us-east-1", account_id="1")
    assert "SECRET_OF_THE_SHELL" not in env
    assert "AWS_PROFILE" not in env
    assert not [key for key in env if key.startswith("PYTHON")]
    assert env["PATH"] == os.environ["PATH"]
    # Lambda has no ~/.aws files: the developer's profiles must not leak into handlers.
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
