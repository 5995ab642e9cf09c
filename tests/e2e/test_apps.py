"""`duelctl up --template` refuses what it cannot run: one stderr line naming the resource.

The sample apps' own tests are test_apps_chat.py, test_apps_fanout.py and test_apps_lab.py;
here every template under tests/apps/bad/ is started as a user would start it, all at once,
and each must end at load with exit code 2 and a single `error:` line, never a traceback.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.apps.harness import APPS, run_up

pytestmark = pytest.mark.e2e

# template -> the resource label its error line must name (and a phrase of the reason)
REFUSED = {
    "nodejs.yaml": ("OnMessageFunction (AWS::Serverless::Function)", "Runtime nodejs20.x"),
    "topic.yaml": ("AlertsTopic (AWS::SNS::Topic)", "environment variable ALERTS_TOPIC_ARN"),
    "sam-websocket-api.yaml": ("ChatApi (AWS::Serverless::WebSocketApi)", "AWS::ApiGatewayV2"),
    "http-integration.yaml": (
        "ForwardIntegration (AWS::ApiGatewayV2::Integration)",
        "IntegrationType HTTP_PROXY",
    ),
    "header-routing.yaml": ("HeaderApi (AWS::ApiGatewayV2::Api)", "$request.body.<field>"),
    "inline-code.yaml": ("InlineFunction (AWS::Lambda::Function)", "Code.ZipFile"),
}
DEADLINE_S = 60.0


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every refused template started at once (each is a short-lived CLI process)."""
    procs = {
        name: run_up(APPS / "bad" / name, tmp_path_factory.mktemp(name.removesuffix(".yaml")))
        for name in REFUSED
    }
    results: dict[str, Outcome] = {}
    try:
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:  # it started a stack: that is the failure
                proc.kill()
                out, err = proc.communicate()
            results[name] = Outcome(proc.returncode, out.decode(), err.decode())
        yield results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("template", sorted(REFUSED))
def test_unsupported_template_fails_with_one_line(
    outcomes: dict[str, Outcome], template: str
) -> None:
    """The stack does not start; stderr is one error line naming the resource."""
    outcome = outcomes[template]
    label, reason = REFUSED[template]
    lines = outcome.stderr.splitlines()
    assert outcome.returncode == 2, outcome
    assert len(lines) == 1, outcome.stderr
    (line,) = lines
    assert line.startswith(f"error: {APPS / 'bad' / template}: {label}: "), line
    assert reason in line
    assert "; " in line  # what is wrong; then what to do
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert outcome.stdout == ""
