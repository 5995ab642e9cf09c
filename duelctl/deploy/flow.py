"""`deploy` and `destroy` from start to end: the order of steps and what each decides.

Everything that can be refused without changing anything (stage name, template,
parameters, credentials, bucket, stack state) is checked before the first line of
progress, so those failures are exactly one line. Then: package and upload the code,
create and show the change set, execute it, follow the events to a terminal state,
explain a failure, and write `.duelctl/STAGE.json` from the stack's outputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from duelctl.deploy import artifacts, package
from duelctl.deploy import stack as cfn_stack
from duelctl.deploy.aws import Aws, open_session
from duelctl.deploy.errors import DeployFailed, StackBusy, StackNotFound
from duelctl.deploy.package import PipRunner
from duelctl.deploy.stack import NoChanges, Poll
from duelctl.deploy.template import (
    TEMPLATE_BODY_LIMIT,
    CodeBundle,
    check_queue_names,
    code_bundles,
    load_document,
    stage_parameters,
    table_outputs,
    template_json,
    with_code_uris,
)
from duelctl.deploy.view import DeployView
from duelctl.errors import UsageError
from duelctl.targets import endpoints_path
from duelctl_endpoints import Endpoints

BUILD_DIR = Path(".duelctl") / "build"


@dataclass(frozen=True, slots=True)
class DeployOptions:
    """Everything `duelctl deploy` takes (see the command's --help)."""

    stage: str
    template: Path
    region: str | None = None
    profile: str | None = None
    s3_bucket: str | None = None
    resolve_s3: bool = False
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    execute: bool = True
    vendor_dependencies: bool = True  # False: sources only (tests, offline)
    expand_locally: bool = False  # run the SAM transform here (moto has none)
    cwd: Path = field(default_factory=Path.cwd)  # where .duelctl/ lives


@dataclass(frozen=True, slots=True)
class DeployResult:
    """How a deploy ended: deployed, nothing to change, or change set left for review."""

    outcome: Literal["deployed", "unchanged", "change_set"]
    stack: str
    stack_id: str | None
    change_set_id: str | None
    endpoints: Endpoints | None
    endpoints_file: Path | None


@dataclass(frozen=True, slots=True)
class DestroyOptions:
    stage: str
    region: str | None = None
    profile: str | None = None
    cwd: Path = field(default_factory=Path.cwd)


def _check_updatable(stack: Mapping[str, Any] | None, name: str, stage: str, cfn: Any) -> None:
    if stack is None:
        return
    status = str(stack["StackStatus"])
    if cfn_stack.is_busy(status):
        raise StackBusy(
            f"stack {name} is {status}: another deploy or destroy is running; wait for it to "
            "finish, then deploy again"
        )
    if status in cfn_stack.NOT_UPDATABLE:
        why = cfn_stack.NOT_UPDATABLE[status]
        cause = cfn_stack.first_failure(cfn_stack.recent_events(cfn, str(stack["StackId"])), name)
        detail = f" (first failure: {cfn_stack.describe_failure(cause)})" if cause else ""
        fix = (
            f"run `aws cloudformation continue-update-rollback --stack-name {name}`"
            if status == "UPDATE_ROLLBACK_FAILED"
            else f"remove it with `duelctl destroy --stage {stage}`"
        )
        raise DeployFailed(f"stack {name} is {status}: {why}{detail}; {fix}, then deploy again")


def _bucket(options: DeployOptions, aws: Aws, s3: Any) -> tuple[str, bool]:
    """The artifact bucket, checked; and whether it (the managed one) must be created."""
    if options.s3_bucket:
        artifacts.check_bucket(aws, s3, options.s3_bucket)
        return options.s3_bucket, False
    name = artifacts.managed_bucket_name(aws.account, aws.region)
    return name, not artifacts.managed_bucket_exists(aws, s3)


def _package(
    bundle: CodeBundle,
    options: DeployOptions,
    aws: Aws,
    s3: Any,
    bucket: str,
    view: DeployView,
    pip: PipRunner,
) -> str:
    """Build, upload and return the s3:// URI of one code zip."""
    deps: Path | None = None
    requirements = package.requirements_for(bundle.source)
    if options.vendor_dependencies and bundle.platform.python_version is not None and requirements:
        deps, cached = package.vendor_dependencies(
            requirements, bundle.platform, options.cwd / BUILD_DIR / "deps", pip=pip
        )
        how = "cached" if cached else "downloaded"
        view.info(
            f"dependencies for {bundle.platform.runtime}/{bundle.platform.architecture} "
            f"({how}): {' '.join(requirements)}"
        )
    code = package.build_zip(bundle.source, deps)
    uploaded = artifacts.upload(s3, bucket, code.s3_key, code.data, code.sha256)
    where = f"s3://{bucket}/{code.s3_key}"
    size = f"{len(code.data) / 1024:.0f} KiB, {code.files} files"
    view.step(
        f"code {bundle.source.name}/ -> {where} ({size}"
        + (")" if uploaded else ", already uploaded)")
    )
    return where


def _template_argument(body: str, aws: Aws, s3: Any, bucket: str) -> dict[str, str]:
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    import hashlib

    digest = hashlib.sha256(body.encode()).hexdigest()
    key = f"duelctl/{digest}.template.json"
    artifacts.upload(s3, bucket, key, body.encode(), digest)
    return {"TemplateURL": artifacts.object_url(bucket, aws.region, key)}


def write_endpoints(endpoints: Endpoints, cwd: Path) -> Path:
    """Write `.duelctl/STAGE.json` (docs/protocol.md); returns its path."""
    path = endpoints_path(endpoints.target, cwd)
    endpoints.write(path)
    return path


def _outputs_file(
    cfn: Any, stack_id: str, options: DeployOptions, aws: Aws, tables: tuple[str, ...]
) -> tuple[Endpoints, Path]:
    described = cfn_stack.describe_stack(cfn, stack_id)
    outputs = (described or {}).get("Outputs") or []
    endpoints = cfn_stack.endpoints_from_outputs(options.stage, aws.region, outputs, tables)
    return endpoints, write_endpoints(endpoints, options.cwd)


def run_deploy(
    options: DeployOptions,
    *,
    view: DeployView | None = None,
    poll: Poll | None = None,
    pip: PipRunner = package.run_pip,
) -> DeployResult:
    """Deploy the template as stack `duelctl-STAGE`; see the module docstring for the steps."""
    view = view or DeployView()
    poll = poll or Poll()
    name = cfn_stack.stack_name(options.stage)
    if options.s3_bucket and options.resolve_s3:
        raise UsageError("--s3-bucket and --resolve-s3 exclude each other; pass one")
    if not options.s3_bucket and not options.resolve_s3:
        raise UsageError(
            "the code zip needs an S3 bucket: pass --s3-bucket BUCKET, or --resolve-s3 for "
            "a managed one (duelctl-artifacts-ACCOUNT-REGION)"
        )
    document = load_document(options.template)
    check_queue_names(document, name, options.stage)
    parameters = stage_parameters(document, options.stage, options.parameter_overrides)
    bundles = code_bundles(document, options.template.parent)
    tables = table_outputs(document)

    aws = open_session(region=options.region, profile=options.profile)
    cfn = aws.client("cloudformation")
    s3 = aws.client("s3")
    existing = cfn_stack.describe_stack(cfn, name)
    _check_updatable(existing, name, options.stage, cfn)
    bucket, create_bucket = _bucket(options, aws, s3)

    view.step(f"deploying {name} to account {aws.account} in {aws.region}")
    if create_bucket:
        artifacts.create_managed_bucket(aws, s3)
        view.step(f"created the artifact bucket s3://{bucket}")
    uris = {b: _package(b, options, aws, s3, bucket, view, pip) for b in bundles}
    packaged = with_code_uris(document, bundles, uris)
    if options.expand_locally:
        from duelctl.deploy.expand import expand_sam

        packaged = expand_sam(packaged, parameters, aws)
        view.info("SAM transform expanded locally (--expand-locally)")
    template = _template_argument(template_json(packaged), aws, s3, bucket)

    kind = "UPDATE" if existing and existing["StackStatus"] != cfn_stack.REVIEW else "CREATE"
    try:
        change_set_id, stack_id = cfn_stack.create_change_set(
            cfn,
            stack=name,
            change_set_type=kind,
            template=template,
            parameters=parameters,
            tags={"duelctl:stage": options.stage},
        )
        changes = cfn_stack.wait_change_set(cfn, change_set_id, poll)
    except NoChanges as exc:
        if existing is None:  # CloudFormation never says this for a new stack
            raise DeployFailed(
                f"CloudFormation found nothing to create for {name}: {exc}"
            ) from None
        view.step(f"No changes to deploy: {name} is up to date")
        endpoints, path = _outputs_file(cfn, str(existing["StackId"]), options, aws, tables)
        view.info(f"endpoints: {path}")
        return DeployResult("unchanged", name, str(existing["StackId"]), None, endpoints, path)
    view.change_set(cfn_stack.change_rows(changes), kind)
    if not options.execute:
        view.step(
            f"change set created, not executed (--no-execute): {change_set_id}; execute it "
            f"with `aws cloudformation execute-change-set --change-set-name {change_set_id}`"
        )
        return DeployResult("change_set", name, stack_id, change_set_id, None, None)

    feed = cfn_stack.EventFeed(cfn, stack_id)
    cfn_stack.execute_change_set(cfn, change_set_id)
    with _interrupt_hint(view, name), view.follow(f"{kind.lower()} {name}") as on_event:
        status, events = cfn_stack.wait_stack(cfn, stack_id, feed, on_event, poll)
    if status not in cfn_stack.SUCCESS:
        cause = cfn_stack.first_failure(events, name)
        hint = (
            f"fix the cause, run `duelctl destroy --stage {options.stage}`, then deploy again"
            if status in cfn_stack.NOT_UPDATABLE
            else "CloudFormation restored the previous version; fix the cause and deploy again"
        )
        view.failure(name, status, cause, hint)
        raise DeployFailed(f"stack {name} {status}: {cfn_stack.describe_failure(cause)}")
    endpoints, path = _outputs_file(cfn, stack_id, options, aws, tables)
    view.summary(endpoints, path, name)
    return DeployResult("deployed", name, stack_id, change_set_id, endpoints, path)


@contextlib.contextmanager
def _interrupt_hint(view: DeployView, name: str) -> Iterator[None]:
    """On Ctrl-C while following, say that the stack operation itself goes on."""
    try:
        yield
    except KeyboardInterrupt:
        view.info(f"stopped following; CloudFormation carries on with {name} without us")
        raise


def run_destroy(
    options: DestroyOptions,
    *,
    confirm: Callable[[str], bool],
    view: DeployView | None = None,
    poll: Poll | None = None,
) -> str:
    """Delete stack `duelctl-STAGE` and its endpoints file; returns the stack id.

    The artifact bucket stays: its content-addressed zips may serve other stages.
    """
    view = view or DeployView()
    poll = poll or Poll()
    name = cfn_stack.stack_name(options.stage)
    aws = open_session(region=options.region, profile=options.profile)
    cfn = aws.client("cloudformation")
    existing = cfn_stack.describe_stack(cfn, name)
    if existing is None:
        raise StackNotFound(
            f"no stack {name} in account {aws.account}, {aws.region}: nothing to destroy "
            "(check --region / --profile)"
        )
    status = str(existing["StackStatus"])
    stack_id = str(existing["StackId"])
    if cfn_stack.is_busy(status) and status != "DELETE_IN_PROGRESS":
        raise StackBusy(f"stack {name} is {status}; wait for it to finish, then destroy it")
    if status != "DELETE_IN_PROGRESS":
        question = (
            f"Delete stack {name} in {aws.account}/{aws.region} with all its data "
            "(tables, user pool, users)?"
        )
        if not confirm(question):
            raise UsageError("not confirmed; nothing was deleted")
        feed = cfn_stack.EventFeed(cfn, stack_id)
        cfn_stack.delete_stack(cfn, stack_id)
    else:
        feed = cfn_stack.EventFeed(cfn, stack_id)
    with _interrupt_hint(view, name), view.follow(f"delete {name}") as on_event:
        final, events = cfn_stack.wait_stack(cfn, stack_id, feed, on_event, poll)
    if final != "DELETE_COMPLETE":
        cause = cfn_stack.first_failure(events, name)
        view.failure(
            name, final, cause, "fix the cause (e.g. a non-empty resource) and destroy again"
        )
        raise DeployFailed(f"stack {name} {final}: {cfn_stack.describe_failure(cause)}")
    path = endpoints_path(options.stage, options.cwd)
    removed = path.exists()
    path.unlink(missing_ok=True)
    view.step(f"deleted {name}" + (f"; removed {path}" if removed else ""))
    return stack_id
