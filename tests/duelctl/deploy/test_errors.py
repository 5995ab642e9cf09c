"""Every way a deploy or destroy is refused: one clear line (or one screen) and its exit code.

moto cannot fail or roll back a stack, leave one in progress, or reject a change set
the way the hosted SAM transform does (conftest, item 4). Those tests put moto's
in-process backend into that state, with events shaped as CloudFormation writes them,
and check what duelctl makes of it; the rest runs unchanged against moto.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from duelctl.deploy.aws import aws_errors
from duelctl.deploy.errors import CredentialsError, DeployError

from .conftest import Moto, cfn_backend

MOTO_FLAGS = ("--resolve-s3", "--no-deps", "--expand-locally")

pytestmark = [
    pytest.mark.usefixtures("moto_providers", "project"),
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning"),
]


def one_line(result: Any, code: int) -> str:
    """The single stderr line of a refused command (nothing on stdout)."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and result.stdout == ""
    return str(lines[0])


def add_event(
    stack: Any, logical_id: str, rtype: str, status: str, reason: str | None = None
) -> None:
    """Append a stack event to moto's record, as CloudFormation would have written it."""
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id="",
            resource_type=rtype,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


ROLE_DENIED = (
    'Resource handler returned message: "User: arn:aws:iam::123456789012:user/dev is not '
    'authorized to perform: iam:CreateRole on resource: ConnectFunctionRole" '
    "(RequestToken: 5d1c, HandlerErrorCode: AccessDenied)"
)


def roll_back_on_execute(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Make moto's next change-set execution fail and roll back as CloudFormation does."""
    from moto.cloudformation.models import CloudFormationBackend

    def execute_and_roll_back(
        self: Any, change_set_name: str, stack_name: str | None = None
    ) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        s = "AWS::CloudFormation::Stack"
        if kind == "CREATE":
            add_event(stack, stack.name, s, "CREATE_IN_PROGRESS", "User Initiated")
            add_event(stack, "SessionsTable", "AWS::DynamoDB::Table", "CREATE_IN_PROGRESS")
            add_event(stack, "ConnectFunctionRole", "AWS::IAM::Role", "CREATE_IN_PROGRESS")
            add_event(stack, "ConnectFunctionRole", "AWS::IAM::Role", "CREATE_FAILED", ROLE_DENIED)
            add_event(
                stack,
                "SessionsTable",
                "AWS::DynamoDB::Table",
                "CREATE_FAILED",
                "Resource creation cancelled",
            )
            add_event(
                stack,
                stack.name,
                s,
                "ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to create: [SessionsTable, "
                "ConnectFunctionRole]. Rollback requested by user.",
            )
            add_event(stack, "SessionsTable", "AWS::DynamoDB::Table", "DELETE_COMPLETE")
            add_event(stack, stack.name, s, "ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"
        else:
            add_event(stack, stack.name, s, "UPDATE_IN_PROGRESS", "User Initiated")
            add_event(
                stack,
                "InviteFunction",
                "AWS::Lambda::Function",
                "UPDATE_FAILED",
                'Resource handler returned message: "Unzipped size must be smaller than '
                '262144000 bytes" (HandlerErrorCode: InvalidRequest)',
            )
            add_event(
                stack,
                stack.name,
                s,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to update: [InviteFunction].",
            )
            add_event(stack, stack.name, s, "UPDATE_ROLLBACK_COMPLETE")
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED"

    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", execute_and_roll_back)


# -- credentials, region, endpoint ------------------------------------------------------------


def test_missing_credentials(
    aws_env: Moto, duelctl: Any, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials anywhere in boto3's chain: exit 4 and how to configure them."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    line = one_line(duelctl("deploy", "--stage", stage, *MOTO_FLAGS), 4)
    assert line.startswith("error: no usable AWS credentials (Unable to locate credentials)")
    assert "aws configure" in line and "--profile" in line
    assert one_line(duelctl("destroy", "--stage", stage, "--yes"), 4) == line


def test_unknown_profile(aws_env: Moto, duelctl: Any, stage: str) -> None:
    """A --profile that no config file names is a usage error."""
    line = one_line(duelctl("deploy", "--stage", stage, "--profile", "nope", *MOTO_FLAGS), 2)
    assert "AWS profile 'nope' not found" in line


def client_error(code: str, message: str, operation: str) -> ClientError:
    """The exception botocore raises for an AWS error response (moto accepts any key)."""
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_refused_credentials_are_an_auth_error() -> None:
    """AWS's codes for bad or expired keys become exit-4 errors; other codes stay deploy errors."""
    for code in ("InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch"):
        expected = pytest.raises(CredentialsError, match=rf"AWS refused the credentials \({code}")
        with expected, aws_errors("checking"):
            raise client_error(code, "bad", "GetCallerIdentity")
    denied = pytest.raises(CredentialsError, match="not allowed while uploading: AccessDenied")
    with denied, aws_errors("uploading"):
        raise client_error("AccessDenied", "no", "PutObject")
    other = pytest.raises(DeployError, match="uploading failed: SlowDown: later")
    with other, aws_errors("uploading"):
        raise client_error("SlowDown", "later", "PutObject")


def test_no_region(
    aws_env: Moto, duelctl: Any, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither --region nor AWS_DEFAULT_REGION/AWS_REGION nor a profile region: exit 2."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    line = one_line(duelctl("deploy", "--stage", stage, *MOTO_FLAGS), 2)
    assert line.startswith("error: no AWS region: pass --region")


def test_unreachable_endpoint(
    aws_env: Moto, duelctl: Any, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listening at the AWS endpoint: exit 3, naming it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    line = one_line(duelctl("deploy", "--stage", stage, *MOTO_FLAGS), 3)
    assert line.startswith("error: cannot reach http://127.0.0.1:9")


# -- options and inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--no-deps",), "pass --s3-bucket BUCKET, or --resolve-s3"),
        (("--s3-bucket", "b", "--resolve-s3"), "--s3-bucket and --resolve-s3 exclude each other"),
        (("--resolve-s3", "--parameter-overrides", "DuelSeconds=0"), "is below MinValue 1"),
        (("--resolve-s3", "--parameter-overrides", "Nope=1"), "declares no such parameter"),
        (("--resolve-s3", "--parameter-overrides", "'DuelSeconds=5"), "No closing quotation"),
    ],
)
def test_bad_options(
    aws_env: Moto, duelctl: Any, stage: str, args: tuple[str, ...], message: str
) -> None:
    """Conflicting or missing bucket flags and bad parameters: exit 2 before any AWS call."""
    line = one_line(duelctl("deploy", "--stage", stage, *args), 2)
    assert message in line


def test_bad_stage_name(aws_env: Moto, duelctl: Any) -> None:
    """A stage that cannot name a stack (or is 'local') is refused."""
    assert "bad stage 'my_stage'" in one_line(
        duelctl("deploy", "--stage", "my_stage", *MOTO_FLAGS), 2
    )
    assert "'local' names the local stack" in one_line(duelctl("destroy", "--stage", "local"), 2)


def test_stage_too_long_for_a_queue_name(aws_env: Moto, duelctl: Any) -> None:
    """A stage that would make an SQS queue name longer than 80 characters: exit 2, one
    line, before any AWS call; the longest stage that fits passes that check."""
    # duelctl-STAGE-timers-dlq: 80 - len("duelctl-") - len("-timers-dlq") = 61.
    line = one_line(duelctl("deploy", "--stage", "s" * 62, *MOTO_FLAGS), 2)
    assert "SQS" in line and "80" in line and "at most 61" in line
    result = duelctl("deploy", "--stage", "s" * 61, *MOTO_FLAGS, "--no-execute")
    assert result.exit_code == 0, result.output


def test_a_failing_service_is_named_not_called_a_bug(
    aws_env: Moto, duelctl: Any, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint answering 500 with a body that is not an AWS error: exit 1, naming the
    call and what the service answered (issue 15), not "internal error ... a bug"."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        line = one_line(duelctl("deploy", "--stage", stage, *MOTO_FLAGS), 1)
    finally:
        server.shutdown()
        server.server_close()
    assert "sts:GetCallerIdentity" in line and "HTTP 500" in line
    assert "Internal Server Error" in line and "bug" not in line


class _Failing(http.server.BaseHTTPRequestHandler):
    """An AWS endpoint that fails every request with a plain-text 500."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"Internal Server Error"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST

    def log_message(self, *args: object) -> None:
        return None


def test_missing_bucket(aws_env: Moto, duelctl: Any, stage: str) -> None:
    """--s3-bucket naming no bucket: exit 2 with how to create one."""
    line = one_line(
        duelctl("deploy", "--stage", stage, "--s3-bucket", f"no-{stage}", "--no-deps"), 2
    )
    assert line == (
        f"error: S3 bucket 'no-{stage}' does not exist; create it in us-east-1 "
        f"(`aws s3 mb s3://no-{stage} --region us-east-1`) or use --resolve-s3"
    )


def test_bucket_in_another_region(aws_env: Moto, duelctl: Any, stage: str) -> None:
    """A bucket outside the deploy region would not serve Lambda: exit 2."""
    bucket = f"eu-{stage}"
    aws_env.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    line = one_line(duelctl("deploy", "--stage", stage, "--s3-bucket", bucket, "--no-deps"), 2)
    assert f"S3 bucket '{bucket}' is in eu-west-1 but the stack deploys to us-east-1" in line


# -- template errors --------------------------------------------------------------------------


def test_yaml_error(aws_env: Moto, duelctl: Any, stage: str, project: Path) -> None:
    """Broken YAML: exit 2, with file and line."""
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("  UserPool:\n", "  UserPool:\n bad: [\n", 1))
    line = one_line(duelctl("deploy", "--stage", stage, *MOTO_FLAGS), 2)
    assert line.startswith(f"error: {template}, line ")


def test_sam_transform_error(aws_env: Moto, duelctl: Any, stage: str, project: Path) -> None:
    """A template the SAM transform rejects (here: an event of an unknown type): exit 2."""
    template = project / "template.yaml"
    text = template.read_text().replace(
        "          Type: SQS\n", "          Type: Carrier-Pigeon\n", 1
    )
    template.write_text(text)
    result = duelctl("deploy", "--stage", stage, *MOTO_FLAGS)
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "error: SAM transform failed: Resource with id [TimersFunction] is invalid."
    )
    assert "Carrier-Pigeon" in last


def test_change_set_refused_by_cloudformation(
    aws_env: Moto, duelctl: Any, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change set CloudFormation fails (as the hosted transform can): exit 2; it is deleted."""
    from moto.cloudformation.models import CloudFormationBackend

    reason = (
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application "
        "Specification document. Number of errors found: 1. Resource with id [OnlineFunction] "
        "is invalid. Event with id [Online] is invalid. Api Event must reference an Api."
    )
    create = CloudFormationBackend.create_change_set

    def create_failed(self: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
        change_set_id, stack_id = create(self, *args, **kwargs)
        self.change_sets[change_set_id].status = "FAILED"
        self.change_sets[change_set_id].status_reason = reason
        return change_set_id, stack_id

    monkeypatch.setattr(CloudFormationBackend, "create_change_set", create_failed)
    result = duelctl("deploy", "--stage", stage, *MOTO_FLAGS)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: CloudFormation refused the change set: {reason}"
    )
    assert not [c for c in cfn_backend().change_sets.values() if c.stack_name == f"duelctl-{stage}"]


# -- stack states -----------------------------------------------------------------------------


def test_stack_in_progress(aws_env: Moto, duelctl: Any, stage: str) -> None:
    """Another operation still running on the stack: exit 1, and nothing is uploaded."""
    aws_env.client("cloudformation").create_stack(
        StackName=f"duelctl-{stage}",
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )
    stack = next(s for s in cfn_backend().stacks.values() if s.name == f"duelctl-{stage}")
    stack.status = "UPDATE_IN_PROGRESS"  # moto finishes every operation at once
    line = one_line(
        duelctl("deploy", "--stage", stage, "--s3-bucket", f"x-{stage}", "--no-deps"), 1
    )
    assert line == (
        f"error: stack duelctl-{stage} is UPDATE_IN_PROGRESS: another deploy or destroy is "
        "running; wait for it to finish, then deploy again"
    )
    assert "wait for it to finish" in one_line(duelctl("destroy", "--stage", stage, "--yes"), 1)


def test_failed_create_rolls_back_explains_and_needs_a_destroy(
    aws_env: Moto, duelctl: Any, stage: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rolled-back create shows the first failed resource; the next deploy says to destroy."""
    roll_back_on_execute(monkeypatch, "CREATE")
    result = duelctl("deploy", "--stage", stage, *MOTO_FLAGS)
    assert result.exit_code == 1, result.output
    screen = result.stderr
    assert "deploy failed" in screen and "ROLLBACK_COMPLETE" in screen
    assert "First failure" in screen and "ConnectFunctionRole" in screen
    assert "iam:CreateRole" in screen
    assert f"duelctl destroy --stage {stage}" in screen
    assert screen.strip().splitlines()[-1] == (
        f"error: stack duelctl-{stage} ROLLBACK_COMPLETE: ConnectFunctionRole (AWS::IAM::Role) "
        f"CREATE_FAILED: {ROLE_DENIED}"
    )
    assert not (project / ".duelctl" / f"{stage}.json").exists()

    line = one_line(duelctl("deploy", "--stage", stage, *MOTO_FLAGS), 1)
    assert line.startswith(
        f"error: stack duelctl-{stage} is ROLLBACK_COMPLETE: its first deploy failed and was "
        "rolled back, so it cannot be updated (first failure: ConnectFunctionRole"
    )
    assert line.endswith(f"remove it with `duelctl destroy --stage {stage}`, then deploy again")


@pytest.mark.slow  # a deploy, then a failing update, through moto: ~2-3 s
def test_failed_update_rolls_back_and_keeps_the_endpoints(
    aws_env: Moto, duelctl: Any, stage: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update CloudFormation rolled back: exit 1, the reason, and the old endpoints stay."""
    first = duelctl("deploy", "--stage", stage, *MOTO_FLAGS)
    assert first.exit_code == 0, first.output
    file = project / ".duelctl" / f"{stage}.json"
    before = file.read_text()
    roll_back_on_execute(monkeypatch, "UPDATE")
    result = duelctl(
        "deploy", "--stage", stage, *MOTO_FLAGS, "--parameter-overrides", "DuelSeconds=9"
    )
    assert result.exit_code == 1, result.output
    assert "CloudFormation restored the previous version" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: stack duelctl-{stage} UPDATE_ROLLBACK_COMPLETE: InviteFunction "
        '(AWS::Lambda::Function) UPDATE_FAILED: Resource handler returned message: "Unzipped '
        'size must be smaller than 262144000 bytes" (HandlerErrorCode: InvalidRequest)'
    )
    assert file.read_text() == before


def test_destroy_needs_confirmation_without_a_terminal(
    aws_env: Moto, duelctl: Any, stage: str
) -> None:
    """destroy without --yes and without a terminal to ask on: exit 2, nothing deleted."""
    ok = duelctl("deploy", "--stage", stage, *MOTO_FLAGS)
    assert ok.exit_code == 0, ok.output
    line = one_line(duelctl("destroy", "--stage", stage), 2)
    assert line == "error: destroy deletes the stage's data; pass --yes to confirm"
    stacks = aws_env.client("cloudformation").describe_stacks(StackName=f"duelctl-{stage}")
    assert stacks["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
