"""`duelctl deploy` / `destroy` end to end against moto server (see conftest for its gaps)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner

from duelctl_endpoints import Endpoints

from .conftest import ACCOUNT, LEFT_UNCREATED, REGION, Moto, cfn_backend

BUCKET = f"duelctl-artifacts-{ACCOUNT}-{REGION}"
MOTO_FLAGS = ("--resolve-s3", "--no-deps", "--expand-locally")

# A test that deploys through moto's CloudFormation takes 2-8 s: those are marked slow.
pytestmark = [
    pytest.mark.usefixtures("moto_providers"),
    # moto warns for each resource type it cannot create; the tests assert that instead.
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning"),
]


def ok(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return str(result.stderr)


def stack_resources(moto: Moto, name: str) -> list[dict[str, Any]]:
    return moto.client("cloudformation").describe_stack_resources(StackName=name)["StackResources"]


def expanded_types(moto: Moto, name: str) -> Counter[str]:
    body = moto.client("cloudformation").get_template(StackName=name)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    return Counter(r["Type"] for r in template["Resources"].values())


@pytest.mark.slow
def test_deploy_writes_endpoints_then_a_second_deploy_is_a_no_op(
    aws_env: Moto, project: Path, duelctl: Any
) -> None:
    """`deploy --stage test` writes .duelctl/test.json; deploying it again changes nothing."""
    stderr = ok(duelctl("deploy", "--stage", "test", *MOTO_FLAGS))
    assert "Change set (create)" in stderr
    assert "CREATE_COMPLETE" in stderr
    assert "deployed" in stderr

    file = project / ".duelctl" / "test.json"
    data = json.loads(file.read_text())
    assert set(data) == {f.name for f in fields(Endpoints)}
    endpoints = Endpoints.from_json(data)
    assert (endpoints.target, endpoints.stage, endpoints.region) == ("test", "test", REGION)
    assert endpoints.aws_endpoint_url is None

    # Every value names a resource that exists in moto.
    ws = re.fullmatch(
        r"wss://(\w+)\.execute-api\.us-east-1\.amazonaws\.com/test", endpoints.websocket_url
    )
    assert ws is not None, endpoints.websocket_url
    assert (
        endpoints.management_url
        == f"https://{ws.group(1)}.execute-api.us-east-1.amazonaws.com/test"
    )
    http = re.fullmatch(
        r"https://(\w+)\.execute-api\.us-east-1\.amazonaws\.com", endpoints.http_url
    )
    assert http is not None, endpoints.http_url
    apis = {a["ApiId"]: a for a in aws_env.client("apigatewayv2").get_apis()["Items"]}
    assert apis[ws.group(1)]["ProtocolType"] == "WEBSOCKET"
    assert apis[ws.group(1)]["Name"] == "duelctl-test-ws"
    assert apis[http.group(1)]["ProtocolType"] == "HTTP"
    cognito = aws_env.client("cognito-idp")
    client = cognito.describe_user_pool_client(
        UserPoolId=endpoints.user_pool_id, ClientId=endpoints.user_pool_client_id
    )["UserPoolClient"]
    assert client["ClientName"] == "duelctl-test-client"
    dynamodb = aws_env.client("dynamodb")
    assert endpoints.connections_table == "duelctl-test-connections"
    assert endpoints.sessions_table == "duelctl-test-sessions"
    for table in (endpoints.connections_table, endpoints.sessions_table):
        assert dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"

    types = expanded_types(aws_env, "duelctl-test")

    # The code zip is content-addressed in the managed bucket, and every function runs it.
    s3 = aws_env.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    zips = [k for k in keys if re.fullmatch(r"duelctl/[0-9a-f]{64}\.zip", k)]
    assert len(zips) == 1
    data_zip = s3.get_object(Bucket=BUCKET, Key=zips[0])["Body"].read()
    assert hashlib.sha256(data_zip).hexdigest() == zips[0][len("duelctl/") : -len(".zip")]
    names = zipfile.ZipFile(io.BytesIO(data_zip)).namelist()
    assert "handlers/connect.py" in names and "duel/machine.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    functions = [
        f
        for f in aws_env.client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith("duelctl-test-")
    ]
    assert len(functions) == types["AWS::Lambda::Function"] == 12
    code_sha = base64.b64encode(hashlib.sha256(data_zip).digest()).decode()
    assert {f["CodeSha256"] for f in functions} == {code_sha}
    assert {f["Runtime"] for f in functions} == {"python3.12"}

    # moto cannot create these (conftest, item 2): listed as resources without a type.
    resources = stack_resources(aws_env, "duelctl-test")
    typed = Counter(r["ResourceType"] for r in resources if r.get("ResourceType"))
    untyped = [r for r in resources if not r.get("ResourceType")]
    assert len(untyped) == sum(types[t] for t in LEFT_UNCREATED) > 0
    assert typed == Counter({t: n for t, n in types.items() if t not in LEFT_UNCREATED})

    # Redeploying the same sources and parameters: nothing to do, and the file comes back.
    events = len(
        aws_env.client("cloudformation").describe_stack_events(StackName="duelctl-test")[
            "StackEvents"
        ]
    )
    file.unlink()
    stderr = ok(duelctl("deploy", "--stage", "test", *MOTO_FLAGS))
    assert "No changes to deploy" in stderr
    assert "already uploaded" in stderr
    assert "Change set" not in stderr
    assert Endpoints.from_json(json.loads(file.read_text())) == endpoints
    after = aws_env.client("cloudformation").describe_stack_events(StackName="duelctl-test")
    assert len(after["StackEvents"]) == events


@pytest.mark.slow
def test_parameter_override_updates_the_stack(
    aws_env: Moto, project: Path, duelctl: Any, stage: str
) -> None:
    """A changed parameter produces an update change set and reaches the functions."""
    ok(duelctl("deploy", "--stage", stage, *MOTO_FLAGS))
    stderr = ok(
        duelctl(
            "deploy",
            "--stage",
            stage,
            *MOTO_FLAGS,
            "--parameter-overrides",
            "DuelSeconds=30",
            "InviteTimeoutSeconds=20",
        )
    )
    assert "Change set (update)" in stderr
    assert "UPDATE_COMPLETE" in stderr
    stack = aws_env.client("cloudformation").describe_stacks(StackName=f"duelctl-{stage}")
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Stacks"][0]["Parameters"]}
    assert (params["DuelSeconds"], params["InviteTimeoutSeconds"], params["StageName"]) == (
        "30",
        "20",
        stage,
    )
    invite = next(
        f
        for f in aws_env.client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith(f"duelctl-{stage}-InviteFunction")
    )
    # moto keeps the Number parameter's int here; AWS's environment values are strings.
    assert str(invite["Environment"]["Variables"]["DUEL_SECONDS"]) == "30"


@pytest.mark.slow
def test_no_execute_leaves_the_change_set_for_review(
    aws_env: Moto, project: Path, duelctl: Any, stage: str
) -> None:
    """--no-execute shows the change set and deploys nothing; a later deploy creates the stack."""
    stderr = ok(duelctl("deploy", "--stage", stage, *MOTO_FLAGS, "--no-execute"))
    assert "Change set (create)" in stderr and "not executed" in stderr
    cfn = aws_env.client("cloudformation")
    assert cfn.describe_stacks(StackName=f"duelctl-{stage}")["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )
    assert not (project / ".duelctl" / f"{stage}.json").exists()
    ok(duelctl("deploy", "--stage", stage, *MOTO_FLAGS))
    assert (project / ".duelctl" / f"{stage}.json").exists()


@pytest.mark.slow
def test_user_bucket_is_used_as_given(
    aws_env: Moto, project: Path, duelctl: Any, stage: str
) -> None:
    """--s3-bucket uploads the code to that bucket and creates no managed one."""
    bucket = f"my-artifacts-{stage}"
    aws_env.client("s3").create_bucket(Bucket=bucket)
    ok(duelctl("deploy", "--stage", stage, "--s3-bucket", bucket, "--no-deps", "--expand-locally"))
    keys = [o["Key"] for o in aws_env.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("duelctl/")


@pytest.mark.slow
def test_token_signs_a_user_into_the_deployed_pool(
    aws_env: Moto, project: Path, duelctl: Any, stage: str
) -> None:
    """After a deploy, `duelctl token USER --target STAGE` creates USER and prints its JWT."""
    from duelctl.cli import app

    ok(duelctl("deploy", "--stage", stage, *MOTO_FLAGS))
    endpoints = Endpoints.from_json(
        json.loads((project / ".duelctl" / f"{stage}.json").read_text())
    )
    result = CliRunner().invoke(
        app, ["token", "alice", "--target", stage, "--password", "Duel-Stage-Pw-1"]
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["cognito:username"] == "alice"
    assert claims["iss"].endswith(f"/{endpoints.user_pool_id}")
    assert claims["aud"] == endpoints.user_pool_client_id


@pytest.mark.slow
def test_destroy_deletes_the_stack_and_the_endpoints_file(
    aws_env: Moto, project: Path, duelctl: Any, stage: str
) -> None:
    """`destroy --yes` deletes stack and tables and removes .duelctl/STAGE.json; again: exit 3."""
    ok(duelctl("deploy", "--stage", stage, *MOTO_FLAGS))
    stderr = ok(duelctl("destroy", "--stage", stage, "--yes"))
    assert "DELETE_COMPLETE" in stderr
    assert not (project / ".duelctl" / f"{stage}.json").exists()
    tables = aws_env.client("dynamodb").list_tables()["TableNames"]
    assert f"duelctl-{stage}-connections" not in tables
    again = duelctl("destroy", "--stage", stage, "--yes")
    assert again.exit_code == 3
    assert again.stderr.strip().splitlines() == [
        f"error: no stack duelctl-{stage} in account {ACCOUNT}, {REGION}: nothing to destroy "
        "(check --region / --profile)"
    ]
    assert cfn_backend() is not None


@pytest.mark.slow
def test_a_template_over_the_body_limit_goes_through_s3(
    aws_env: Moto, project: Path, duelctl: Any, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above TemplateBody's size limit the template is uploaded and passed as TemplateURL."""
    import duelctl.deploy.flow as flow

    monkeypatch.setattr(flow, "TEMPLATE_BODY_LIMIT", 1_000)
    ok(duelctl("deploy", "--stage", stage, *MOTO_FLAGS))
    s3 = aws_env.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    templates = [k for k in keys if k.endswith(".template.json")]
    bodies = [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in templates]
    stack = aws_env.client("cloudformation").get_template(StackName=f"duelctl-{stage}")
    deployed = stack["TemplateBody"]
    assert (deployed if isinstance(deployed, dict) else json.loads(deployed)) in bodies
    assert (project / ".duelctl" / f"{stage}.json").exists()


def test_help_lists_the_flags_and_examples(duelctl: Any) -> None:
    """`deploy --help` and `destroy --help` document their flags; test-only flags stay hidden."""
    deploy_help = duelctl("deploy", "--help")
    assert deploy_help.exit_code == 0
    for flag in ("--stage", "--region", "--s3-bucket", "--resolve-s3", "--parameter-overrides"):
        assert flag in deploy_help.stdout
    for flag in ("--no-execute", "--profile", "--template", "Examples", "duelctl deploy"):
        assert flag in deploy_help.stdout
    assert "--no-deps" not in deploy_help.stdout
    assert "--expand-locally" not in deploy_help.stdout
    destroy_help = duelctl("destroy", "--help")
    assert destroy_help.exit_code == 0
    assert "--yes" in destroy_help.stdout and "duelctl destroy" in destroy_help.stdout


@pytest.mark.slow  # pip install of lambdas/requirements.txt
def test_vendoring_installs_lambdas_requirements_txt(
    aws_env: Moto, project: Path, stage: str
) -> None:
    """pip gets exactly the lines of lambdas/requirements.txt, for Lambda's platform."""
    from duelctl.deploy.flow import DeployOptions, run_deploy
    from duelctl.deploy.view import DeployView

    commands: list[list[str]] = []

    def recording_pip(command: Any) -> None:
        commands.append(list(command))
        target = Path(command[command.index("--target") + 1])
        (target / "jwt").mkdir()
        (target / "jwt" / "__init__.py").write_text("# vendored\n")

    lines = (project / "lambdas" / "requirements.txt").read_text().splitlines()
    pinned = [line for line in lines if line and not line.startswith("#")]
    options = DeployOptions(
        stage=stage,
        template=project / "template.yaml",
        resolve_s3=True,
        execute=False,
        expand_locally=True,
        cwd=project,
    )
    result = run_deploy(options, view=DeployView(), pip=recording_pip)
    assert result.outcome == "change_set"
    (command,) = commands
    assert command[-len(pinned) :] == pinned
    assert "manylinux2014_x86_64" in command and "3.12" in command
