"""Fixtures for deploy tests: a moto server on 127.0.0.1, AWS env pointing at it, a project.

No AWS account is reachable here, so `duelctl deploy` runs against moto server
(S3, CloudFormation, IAM, STS, and the services the stack's resources live in) through
the `AWS_ENDPOINT_URL` knob boto3 honours natively: the code under test is the same
that talks to AWS.

What moto 5.2.1 cannot do, and what these fixtures do about it. Nothing here makes a
failure look like success; each gap is named and the tests assert around it:

1. moto runs no SAM transform (nor any macro). Deploys use `--expand-locally`, which
   expands the template with aws-sam-translator before sending it.
2. moto's CloudFormation has no provider for these resource types; it skips them with a
   warning yet lists them as CREATE_COMPLETE with no type and no physical id:
   MOTO_CANNOT_CREATE below. For three of them (`UserPool`, `UserPoolClient`,
   `ApiGatewayV2::Api`), `moto_providers` registers test-only providers that create
   the resource in moto's own cognito-idp / apigatewayv2 backends, so the stack's
   outputs carry real moto ids (and `duelctl token` can sign users into the deployed
   pool). The other five stay uncreated, and `test_deploy.py` asserts that they are.
   Even with all of them, moto would not route a WebSocket frame to a Lambda: the
   runtime behaviour of a deployed stage is not tested here.
3. moto executes a change set without refreshing the stack's output map, so a stack
   created by a change set never shows Outputs (AWS always does). `moto_providers`
   rebuilds the output map after moto's execute_change_set.
4. moto executes change sets synchronously and never fails or rolls back
   ("TODO: handle execution errors and implement rollback" in its models.py), and it
   never leaves a stack in *_IN_PROGRESS. The error tests arrange those states in
   moto's backend (see test_errors.py), with the event shapes CloudFormation uses.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from duelctl.commands.deploy import register

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"

MOTO_CANNOT_CREATE = (
    "AWS::CloudWatch::Alarm",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
)
PROVIDED_HERE = ("AWS::ApiGatewayV2::Api", "AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient")
LEFT_UNCREATED = tuple(t for t in MOTO_CANNOT_CREATE if t not in PROVIDED_HERE)


@dataclass(frozen=True)
class Moto:
    url: str

    def client(self, service: str) -> Any:
        make: Any = boto3.client  # typed per service name; these tests pass names as str
        return make(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    # werkzeug would bind its request log to whatever stderr is current at the first
    # request, which inside CliRunner is a buffer closed right after.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield Moto(url=f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def aws_env(moto_server: Moto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Moto:
    """boto3's standard chain sees test credentials and the moto endpoint, nothing else."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return moto_server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of template.yaml and lambdas/ as the working directory.

    A copy, so other work on lambdas/ cannot change the zip between two deploys of a test.
    """
    work = tmp_path / "app"
    work.mkdir()
    shutil.copy(ROOT / "template.yaml", work / "template.yaml")
    shutil.copytree(
        ROOT / "lambdas", work / "lambdas", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def stage() -> str:
    """A stage name no other test uses (moto's state is shared by the whole process)."""
    return f"t{uuid.uuid4().hex[:8]}"


# -- the CLI, as the lead registers it ------------------------------------------------------


def cli_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_show_locals=False)

    @app.callback()
    def root() -> None:
        """duelctl (deploy commands only)."""

    register(app)
    return app


@pytest.fixture
def duelctl() -> Any:
    """Run `duelctl ARGS...` (deploy/destroy registered via register()) and return the result."""
    app = cli_app()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args))

    return invoke


# -- what moto lacks (module docstring, items 2 and 3) ----------------------------------------


class _UserPool:
    """AWS::Cognito::UserPool, created in moto's cognito-idp backend."""

    def __init__(self, pool: Any, region: str) -> None:
        self.pool = pool
        self.region = region
        self.physical_resource_id = pool.id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _UserPool:
        from moto.cognitoidp.models import cognitoidp_backends

        props = dict(cloudformation_json.get("Properties", {}))
        name = props.pop("UserPoolName", resource_name)
        pool = cognitoidp_backends[account_id][region_name].create_user_pool(name, props)
        return cls(pool, region_name)

    def get_cfn_attribute(self, name: str) -> str:
        values = {
            "Arn": self.pool.arn,
            "ProviderName": f"cognito-idp.{self.region}.amazonaws.com/{self.pool.id}",
            "ProviderURL": f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool.id}",
        }
        return values[name]

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cognitoidp.models import cognitoidp_backends

        cognitoidp_backends[account_id][region_name].delete_user_pool(self.pool.id)


class _UserPoolClient:
    """AWS::Cognito::UserPoolClient, created in moto's cognito-idp backend."""

    def __init__(self, pool_id: str, client_id: str) -> None:
        self.pool_id = pool_id
        self.physical_resource_id = client_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _UserPoolClient:
        from moto.cognitoidp.models import cognitoidp_backends

        props = dict(cloudformation_json.get("Properties", {}))
        pool_id = props.pop("UserPoolId")
        secret = bool(props.pop("GenerateSecret", False))
        backend = cognitoidp_backends[account_id][region_name]
        client = backend.create_user_pool_client(pool_id, secret, props)
        return cls(pool_id, client.id)

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cognitoidp.models import cognitoidp_backends

        pools = cognitoidp_backends[account_id][region_name].user_pools
        if self.pool_id in pools:  # deleting the pool took its clients along
            pools[self.pool_id].clients.pop(self.physical_resource_id, None)


class _Api:
    """AWS::ApiGatewayV2::Api (the API object only), created in moto's apigatewayv2 backend.

    An HTTP API from SAM carries its routes in an OpenAPI Body; they are not imported.
    """

    def __init__(self, api: Any) -> None:
        self.api = api
        self.physical_resource_id = api.api_id

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _Api:
        from moto.apigatewayv2.models import apigatewayv2_backends

        props = cloudformation_json.get("Properties", {})
        body = props.get("Body") or {}
        api = apigatewayv2_backends[account_id][region_name].create_api(
            api_key_selection_expression=props.get("ApiKeySelectionExpression"),
            cors_configuration=props.get("CorsConfiguration"),
            description=props.get("Description"),
            disable_schema_validation=props.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=props.get("DisableExecuteApiEndpoint"),
            name=props.get("Name") or body.get("info", {}).get("title") or resource_name,
            protocol_type=props.get("ProtocolType", "HTTP"),
            route_selection_expression=props.get("RouteSelectionExpression"),
            tags=props.get("Tags") or {},
            version=props.get("Version"),
        )
        return cls(api)

    def get_cfn_attribute(self, name: str) -> str:
        return {"ApiId": self.api.api_id, "ApiEndpoint": self.api.api_endpoint}[name]

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.apigatewayv2.models import apigatewayv2_backends

        apigatewayv2_backends[account_id][region_name].delete_api(self.api.api_id)


PROVIDERS: dict[str, type] = {
    "AWS::Cognito::UserPool": _UserPool,
    "AWS::Cognito::UserPoolClient": _UserPoolClient,
    "AWS::ApiGatewayV2::Api": _Api,
}


@pytest.fixture
def moto_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fill moto gaps 2 (three providers) and 3 (outputs after a change set); undone after."""
    import moto.cloudformation.parsing as parsing
    from moto.cloudformation.models import CloudFormationBackend

    assert set(PROVIDERS) == set(PROVIDED_HERE)
    native = parsing.get_model_map
    missing = [t for t in MOTO_CANNOT_CREATE if t in native()]
    assert not missing, f"moto now supports {missing}: update MOTO_CANNOT_CREATE"
    monkeypatch.setattr(parsing, "get_model_map", lambda: {**native(), **PROVIDERS})

    execute = CloudFormationBackend.execute_change_set

    def execute_and_refresh_outputs(
        self: Any, change_set_name: str, stack_name: str | None = None
    ) -> None:
        execute(self, change_set_name, stack_name)
        stack = self.stacks[self.describe_change_set(change_set_name).stack_id]
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", execute_and_refresh_outputs)


def cfn_backend() -> Any:
    """moto's in-process CloudFormation state (the server runs in this process)."""
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[ACCOUNT][REGION]
