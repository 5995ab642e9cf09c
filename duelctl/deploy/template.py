"""template.yaml as CloudFormation receives it: CodeUri in S3, parameters checked here.

The template is read with the emulator's CloudFormation YAML loader (short tags become
their long form) and sent as JSON, unchanged except for CodeUri: every
`AWS::Serverless::Function` whose code is a local directory gets the `s3://` URI of its
uploaded zip, as `sam package` would. The SAM transform itself stays in the template
for CloudFormation to run (CAPABILITY_AUTO_EXPAND).

Functions are grouped by (code directory, runtime, architecture): one zip per group,
because vendored wheels differ per runtime and instruction set.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duelctl.deploy.errors import DeployTemplateError
from duelctl.deploy.package import Platform
from duelctl.errors import UsageError

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
# AWS: TemplateBody is limited to 51,200 bytes; larger templates go through S3
# (CloudFormation User Guide, "CloudFormation quotas").
TEMPLATE_BODY_LIMIT = 51_200
DEFAULT_ARCHITECTURE = "x86_64"  # AWS: Lambda's default (Lambda API reference, Architectures)


@dataclass(frozen=True, slots=True)
class CodeBundle:
    """Functions sharing one code zip: same source directory, runtime and architecture."""

    source: Path
    platform: Platform
    functions: tuple[str, ...]


def load_document(path: Path) -> dict[str, Any]:
    """Parse the template; a missing file or bad YAML is a one-line DeployTemplateError."""
    from emulator.template.errors import TemplateError
    from emulator.template.yaml_tags import load_yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise DeployTemplateError(f"{path}: cannot read the template ({exc.strerror})") from None
    try:
        document = load_yaml(text, str(path))
    except TemplateError as exc:  # "PATH, line N: problem; fix the YAML syntax"
        raise DeployTemplateError(str(exc)) from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise DeployTemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return document


def _functions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.setdefault("Properties", {})
        for logical_id, resource in document["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == SERVERLESS_FUNCTION
    }


def _globals(document: dict[str, Any]) -> dict[str, Any]:
    section = document.get("Globals") or {}
    function = section.get("Function") if isinstance(section, dict) else None
    return function if isinstance(function, dict) else {}


def _local_code_uri(value: Any) -> str | None:
    if isinstance(value, str) and not value.startswith("s3://"):
        return value
    return None


def _literal(logical_id: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise DeployTemplateError(
            f"{logical_id} ({SERVERLESS_FUNCTION}): {key} must be a literal string to package "
            f"the code (got {json.dumps(value)})"
        )
    return value


def code_bundles(document: dict[str, Any], template_dir: Path) -> list[CodeBundle]:
    """The zips to build: each local CodeUri with the runtime and architecture it runs on."""
    defaults = _globals(document)
    groups: dict[tuple[Path, Platform], list[str]] = {}
    for logical_id, props in _functions(document).items():
        if props.get("PackageType", defaults.get("PackageType")) == "Image":
            continue
        if "InlineCode" in props:
            continue
        code_uri = _local_code_uri(props.get("CodeUri", defaults.get("CodeUri")))
        if code_uri is None:
            continue
        runtime = _literal(logical_id, "Runtime", props.get("Runtime", defaults.get("Runtime")))
        architectures = props.get(
            "Architectures", defaults.get("Architectures", [DEFAULT_ARCHITECTURE])
        )
        if not isinstance(architectures, list) or len(architectures) != 1:
            raise DeployTemplateError(
                f"{logical_id} ({SERVERLESS_FUNCTION}): Architectures must list exactly one"
            )
        architecture = _literal(logical_id, "Architectures", architectures[0])
        source = (template_dir / code_uri).resolve()
        if not source.is_dir():
            raise DeployTemplateError(
                f"{logical_id} ({SERVERLESS_FUNCTION}): CodeUri {code_uri!r} is not a directory "
                f"next to the template ({source})"
            )
        groups.setdefault((source, Platform(runtime, architecture)), []).append(logical_id)
    return [
        CodeBundle(source=source, platform=platform, functions=tuple(sorted(ids)))
        for (source, platform), ids in sorted(groups.items(), key=lambda kv: str(kv[0]))
    ]


def with_code_uris(
    document: dict[str, Any], bundles: list[CodeBundle], uris: Mapping[CodeBundle, str]
) -> dict[str, Any]:
    """A copy of the template whose local CodeUris point at the uploaded zips.

    When every function that takes CodeUri from Globals lands in one zip, Globals is
    rewritten in place (the smallest change); otherwise each function gets its own.
    """
    result = copy.deepcopy(document)
    functions = _functions(result)
    defaults = _globals(result)
    uri_of = {fid: uris[bundle] for bundle in bundles for fid in bundle.functions}
    from_globals = {fid for fid in uri_of if "CodeUri" not in functions[fid]}
    global_uris = {uri_of[fid] for fid in from_globals}
    for fid, uri in uri_of.items():
        if fid not in from_globals or len(global_uris) > 1:
            functions[fid]["CodeUri"] = uri
    if from_globals:
        if len(global_uris) == 1:
            defaults["CodeUri"] = global_uris.pop()
        else:
            defaults.pop("CodeUri", None)
    return result


def stage_parameters(
    document: dict[str, Any], stage: str, overrides: Mapping[str, str]
) -> dict[str, str]:
    """Every declared parameter's value: template default, override, StageName = stage.

    They are checked here with CloudFormation's rules (AllowedPattern, Min/MaxValue, ...)
    so a bad value fails before anything is uploaded. All values are sent explicitly:
    a parameter not overridden gets the template default, not the stack's previous
    value, so the command line alone says what is deployed.
    """
    from emulator.template.errors import TemplateError
    from emulator.template.parameters import resolve_parameters

    if "StageName" in overrides and overrides["StageName"] != stage:
        raise DeployTemplateError(
            "--parameter-overrides StageName: the stage comes from --stage; drop the override"
        )
    declared = document.get("Parameters") or {}
    if "StageName" not in declared:
        raise DeployTemplateError(
            "the template declares no StageName parameter; duelctl deploy sets it to --stage"
        )
    try:
        resolved = resolve_parameters(declared, {**overrides, "StageName": stage})
    except TemplateError as exc:
        raise DeployTemplateError(str(exc)) from None
    return {name: parameter.value for name, parameter in resolved.items()}


# AWS: an SQS queue name is 1-80 characters, `.fifo` included (SQS API reference,
# CreateQueue QueueName).
MAX_QUEUE_NAME = 80
_STACK_NAME = "${AWS::StackName}"


def check_queue_names(document: dict[str, Any], stack: str, stage: str) -> None:
    """Refuse a stage whose stack name would make a QueueName longer than SQS allows.

    Names of the form `!Sub "${AWS::StackName}-suffix"` are resolved here, so a long
    stage is one line before any AWS call, not a rollback minutes into the deploy.
    """
    longest: tuple[int, str] | None = None
    for logical_id, resource in (document.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::SQS::Queue":
            continue
        name = (resource.get("Properties") or {}).get("QueueName")
        text = name.get("Fn::Sub") if isinstance(name, dict) else name
        if not isinstance(text, str) or "${" in text.replace(_STACK_NAME, ""):
            continue
        resolved = text.replace(_STACK_NAME, stack)
        if len(resolved) > MAX_QUEUE_NAME and (longest is None or len(resolved) > longest[0]):
            longest = (len(resolved), logical_id)
    if longest is not None:
        room = MAX_QUEUE_NAME - (longest[0] - len(stage))
        raise UsageError(
            f"stage name too long ({len(stage)} characters): queue {longest[1]} would be "
            f"named with {longest[0]} characters and SQS allows {MAX_QUEUE_NAME}; use a "
            f"stage of at most {room} characters"
        )


def table_outputs(document: dict[str, Any]) -> tuple[str, ...]:
    """The Outputs whose value is a table's name (`!Ref` of a table): the endpoints file's
    `tables`, as `duelctl up` finds them in its template (docs/protocol.md)."""
    resources = document.get("Resources") or {}
    tables = {
        logical_id
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") in TABLE_TYPES
    }
    outputs = document.get("Outputs")
    return tuple(
        key
        for key, output in (outputs.items() if isinstance(outputs, dict) else ())
        if isinstance(output, dict)
        and isinstance(output.get("Value"), dict)
        and output["Value"].get("Ref") in tables
    )


def template_json(document: dict[str, Any]) -> str:
    """The template as CloudFormation receives it: compact JSON, key order kept."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def has_sam_transform(document: dict[str, Any]) -> bool:
    transform = document.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names
