"""template.yaml: lints, transforms with SAM, grants no wildcard actions, names real handlers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
LAMBDAS = ROOT / "lambdas"


def parsed() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


class NoManagedPolicies(ManagedPolicyLoader):
    """The template names no managed policies by name, so IAM is never asked (no network)."""

    def __init__(self) -> None:
        super().__init__(iam_client=None)  # type: ignore[arg-type]

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The CloudFormation SAM would deploy, with code at an S3 URI as `sam package` leaves it."""
    template = parsed()
    template["Globals"]["Function"]["CodeUri"] = "s3://duelctl-artifacts/lambdas.zip"
    for resource in functions(template).values():
        if "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = "s3://duelctl-artifacts/lambdas.zip"
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        return transform(template, {}, NoManagedPolicies())
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


@pytest.mark.slow  # cfn-lint loads every resource spec: ~2.5 s
def test_cfn_lint_passes() -> None:
    """cfn-lint reports nothing."""
    beside_python = Path(sys.executable).parent / "cfn-lint"
    cfn_lint = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    assert cfn_lint is not None, "cfn-lint is not installed"
    result = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_transforms_every_function(transformed: dict[str, Any]) -> None:
    """Each Serverless::Function becomes a Lambda function with a role."""
    resources = transformed["Resources"]
    for name in functions(parsed()):
        assert resources[name]["Type"] == "AWS::Lambda::Function"
        assert resources[f"{name}Role"]["Type"] == "AWS::IAM::Role"


def test_no_wildcard_actions(transformed: dict[str, Any]) -> None:
    """No IAM statement grants an action with a `*` in it."""
    actions: list[str] = []
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                granted = statement["Action"]
                actions.extend([granted] if isinstance(granted, str) else granted)
    assert actions, "no inline policies found"
    assert [a for a in actions if "*" in a] == []


def test_every_handler_module_defines_handle() -> None:
    """Each Handler names a module under lambdas/ that imports cold, without any AWS env."""
    handlers = sorted({f["Properties"]["Handler"] for f in functions(parsed()).values()})
    assert len(handlers) == 12
    for handler in handlers:
        module = handler.rpartition(".")[0]
        assert (LAMBDAS / (module.replace(".", "/") + ".py")).is_file(), handler
    # A fresh interpreter with the code root first on sys.path, like a Lambda cold start,
    # and no AWS settings: importing a handler must not need them.
    probe = (
        "import importlib, json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "names = json.loads(sys.argv[2])\n"
        "bad = [n for n in names if not callable(getattr(importlib.import_module("
        "n.rpartition('.')[0]), n.rpartition('.')[2], None))]\n"
        "sys.exit(json.dumps(bad) if bad else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(LAMBDAS), json.dumps(handlers)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The resources a WebSocket deployment snapshots (API Gateway developer guide, "Deploy
# WebSocket APIs": routes, integrations and authorizers need a redeployment).
DEPLOYED_TYPES = frozenset(
    {
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::RouteResponse",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::IntegrationResponse",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGatewayV2::Model",
    }
)


def routes_digest(template: dict[str, Any]) -> str:
    """A short digest of every route-level resource of the WebSocket API, as written."""
    snapshot = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] in DEPLOYED_TYPES
        and resource["Properties"].get("ApiId") == {"Ref": "WebSocketApi"}
    }
    assert snapshot
    text = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def test_a_route_change_redeploys_the_websocket_api() -> None:
    """The Deployment's logical id ends with a digest of the routes, integrations and
    authorizer, and depends on every route: change one and CloudFormation creates a new
    Deployment (a redeploy) and moves the stage to it, as SAM does for REST APIs.

    An AWS::ApiGatewayV2::Deployment is a snapshot taken when it is created; updating it
    (Description) takes no new one, so a fixed logical id would keep serving old routes.
    """
    template = parsed()
    resources = template["Resources"]
    deployments = [n for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Deployment"]
    expected = f"WebSocketDeployment{routes_digest(template)}"
    assert deployments == [expected], (
        f"routes changed: rename {deployments[0]} to {expected} in template.yaml"
    )
    routes = sorted(n for n, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Route")
    assert sorted(resources[expected]["DependsOn"]) == routes
    assert resources["WebSocketStage"]["Properties"]["DeploymentId"] == {"Ref": expected}


def test_routes_digest_sees_a_route_change() -> None:
    """Renaming a route key, or retargeting its integration, changes the digest."""
    template = parsed()
    before = routes_digest(template)
    changed = json.loads(json.dumps(template))
    changed["Resources"]["PingRoute"]["Properties"]["RouteKey"] = "keepalive"
    assert routes_digest(changed) != before
    changed = json.loads(json.dumps(template))
    changed["Resources"]["PingIntegration"]["Properties"]["IntegrationUri"] = "elsewhere"
    assert routes_digest(changed) != before
