"""`duelctl deploy` and `duelctl destroy`: a stage on AWS from template.yaml, boto3 only.

`register(app)` adds both commands to the CLI. Their bodies run inside `duelctl.app.guard`:
expected failures are one `error:` line and their exit code, bugs exit 70.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from duelctl.app import SpreadOverrides, examples, guard, help_text

StageOpt = Annotated[
    str,
    typer.Option(
        "--stage",
        "-s",
        help="Stage name: the stack is duelctl-STAGE, the endpoints go to .duelctl/STAGE.json.",
    ),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region (default: AWS_DEFAULT_REGION, the profile's region, or AWS_REGION).",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="AWS profile from ~/.aws (default: boto3's credential chain)."),
]


def deploy(
    stage: StageOpt,
    region: RegionOpt = None,
    s3_bucket: Annotated[
        str | None,
        typer.Option("--s3-bucket", help="Bucket for the code zip (same region as the stack)."),
    ] = None,
    resolve_s3: Annotated[
        bool,
        typer.Option(
            "--resolve-s3",
            help="Use (and create if needed) the bucket duelctl-artifacts-ACCOUNT-REGION.",
        ),
    ] = False,
    parameter_overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter-overrides",
            help="Template parameters, SAM CLI style: KEY=VALUE words, one quoted string, or "
            "the flag repeated. Parameters not given take the template's defaults.",
        ),
    ] = None,
    no_execute: Annotated[
        bool,
        typer.Option("--no-execute", help="Create and show the change set, but do not run it."),
    ] = False,
    profile: ProfileOpt = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            help="Template to deploy (default: ./template.yaml, else the bundled one).",
            dir_okay=False,
        ),
    ] = None,
    no_deps: Annotated[
        bool,
        typer.Option(
            "--no-deps",
            hidden=True,
            help="Zip the sources only, without vendored dependencies (tests, offline).",
        ),
    ] = False,
    expand_locally: Annotated[
        bool,
        typer.Option(
            "--expand-locally",
            hidden=True,
            help="Run the SAM transform here (aws-sam-translator), for endpoints without it.",
        ),
    ] = False,
) -> None:
    """Deploy template.yaml to AWS as stack duelctl-STAGE (boto3 only; no SAM or AWS CLI).

    Builds the functions' code zip (lambdas/ plus PyJWT and cryptography for Lambda's
    platform, reproducible), uploads it to S3 under its SHA-256, creates a change set
    with the SAM transform, shows it, executes it and follows the stack events live. A
    failure shows the first failed resource and its reason. On success the stack
    outputs go to [bold].duelctl/STAGE.json[/], so token, simulate, run, online and
    connect work with [bold]--target STAGE[/]. Nothing to change is a success.
    """
    from duelctl.deploy.flow import DeployOptions, run_deploy
    from duelctl.errors import UsageError
    from duelctl.targets import default_template
    from emulator.template.errors import TemplateError
    from emulator.template.parameters import parse_overrides

    try:
        overrides = parse_overrides(list(parameter_overrides or []))
    except TemplateError as exc:
        raise UsageError(f"--parameter-overrides: {exc}") from None
    options = DeployOptions(
        stage=stage,
        template=(template or default_template()).resolve(),
        region=region,
        profile=profile,
        s3_bucket=s3_bucket,
        resolve_s3=resolve_s3,
        parameter_overrides=overrides,
        execute=not no_execute,
        vendor_dependencies=not no_deps,
        expand_locally=expand_locally,
        cwd=Path.cwd(),
    )
    run_deploy(options)


def destroy(
    stage: StageOpt,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
) -> None:
    """Delete stack duelctl-STAGE (tables, user pool and all) and .duelctl/STAGE.json.

    Asks first unless --yes; without a terminal, --yes is required. The artifact bucket
    and its zips stay.
    """
    from duelctl.deploy.flow import DestroyOptions, run_destroy
    from duelctl.errors import UsageError

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("destroy deletes the stage's data; pass --yes to confirm")
        return typer.confirm(question, default=False, err=True)

    run_destroy(
        DestroyOptions(stage=stage, region=region, profile=profile, cwd=Path.cwd()),
        confirm=confirm,
    )


def register(app: typer.Typer) -> None:
    """Add `deploy` and `destroy` to `app` ."""
    app.command(
        "deploy",
        cls=SpreadOverrides,
        help=help_text(deploy.__doc__),
        epilog=examples(
            "duelctl deploy --stage dev --resolve-s3",
            "duelctl deploy --stage prod --s3-bucket my-artifacts --region eu-west-1",
            "duelctl deploy --stage dev --resolve-s3 --parameter-overrides DuelSeconds=120",
            "duelctl deploy --stage prod --resolve-s3 --no-execute --profile prod",
        ),
    )(guard(deploy))
    app.command(
        "destroy",
        help=help_text(destroy.__doc__),
        epilog=examples(
            "duelctl destroy --stage dev",
            "duelctl destroy --stage dev --yes --region eu-west-1",
        ),
    )(guard(destroy))
