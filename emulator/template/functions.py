"""Lambda functions: AWS::Serverless::Function, AWS::Lambda::Function, and SAM events.

A function becomes a `Function` the process runner can start: a python3.x runtime, a
handler string, and a local code directory that goes on `sys.path`. Anything the
emulator could not run the same way (inline code, S3 artifacts, container images,
layers published outside the template) is refused at load with what to do instead. SAM
events are turned into pending event sources, HTTP and REST routes and schedules that
the loader wires up once every resource is known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from emulator.template.errors import TemplateError
from emulator.template.intrinsics import Resolver, as_text
from emulator.template.layers import LocalLayer, function_layers
from emulator.template.model import Function, frozen_map
from emulator.template.physical import (
    SAM_FUNCTION,
    PhysicalIds,
    Props,
    RawResource,
    to_bool,
    to_int,
)

# AWS: Lambda's managed Python runtimes the emulator can stand in for.
RUNTIME_RE = re.compile(r"python3\.(?:[89]|1[0-4])")

# AWS: reserved environment variables Lambda refuses to let a function set
# (Lambda developer guide, "Defined runtime environment variables").
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
_ENV_KEY_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")

_IGNORED_EVENT_REASONS = {
    "CloudWatchEvent": "EventBridge event patterns are not emulated; invoke the function directly",
    "EventBridgeRule": "EventBridge event patterns are not emulated; invoke the function directly",
}
# Event types the emulator drives (the rest are listed in Template.ignored).
_DRIVEN_EVENTS = frozenset({"SQS", "DynamoDB", "HttpApi", "Api", "Schedule", "ScheduleV2"})


@dataclass(frozen=True, slots=True)
class PendingSource:
    """An event source mapping whose source ARN still has to be matched to a resource."""

    logical_id: str
    label: str
    kind: Literal["sqs", "dynamodb"]
    source_arn: str
    function: str
    batch_size: int
    enabled: bool
    report_batch_item_failures: bool
    filter_patterns: tuple[str, ...]
    starting_position: str | None
    maximum_retry_attempts: int | None
    maximum_batching_window_s: int


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """A SAM `Api`, `Schedule` or `ScheduleV2` event, resolved, for its own builder."""

    logical_id: str  # AWS SAM: {Function}{EventName}
    label: str
    type: str
    function: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingHttpRoute:
    """A SAM HttpApi event; `api_id` None means SAM's implicit ServerlessHttpApi."""

    label: str
    api_id: str | None
    method: str
    path: str
    function: str
    authorizer: str | None  # authorizer name, "NONE", or None = the API's default


# ---------------------------------------------------------------------- functions


def build_function(
    props: Props,
    ids: PhysicalIds,
    template_dir: Path,
    layers: Mapping[str, LocalLayer] | None = None,
) -> Function:
    """A runnable `Function` from a SAM or raw Lambda function resource.

    `layers` are the template's own layers by ARN; any other layer refuses the load.
    """
    resource = props.resource
    label = props.label
    if (props.text("PackageType") or "Zip") != "Zip" or props.has("ImageUri"):
        raise TemplateError(
            f"{label}: container image functions are not emulated; use a python3.x runtime "
            "with local code (PackageType: Zip)"
        )
    if resource.type == SAM_FUNCTION:
        if props.has("InlineCode"):
            raise TemplateError(
                f"{label}: InlineCode cannot be run locally; move the code into a directory "
                "and point CodeUri at it"
            )
        code = props.get("CodeUri")
        code_key = "CodeUri"
        if code is None:
            code = "."  # SAM CLI's default: the template's own directory
    else:
        code = props.get("Code")
        code_key = "Code"
        if isinstance(code, dict):
            if "ZipFile" in code:
                raise TemplateError(
                    f"{label}: Code.ZipFile (inline code) cannot be run locally; put the code "
                    "in a directory and set Code to its path"
                )
            raise TemplateError(
                f"{label}: Code points at an S3 object or image, which the emulator cannot "
                "fetch; set Code to the local source directory (as for `aws cloudformation "
                "package`)"
            )
        if code is None:
            raise TemplateError(f"{label}: Code is required; set it to the local code directory")
    code_root = _code_root(label, code_key, code, template_dir)
    runtime = props.required_text("Runtime", "set e.g. Runtime: python3.12 (or in Globals)")
    if RUNTIME_RE.fullmatch(runtime) is None:
        raise TemplateError(
            f"{label}: Runtime {runtime} is not supported; the emulator runs only Python "
            "handlers (python3.8 to python3.14), so port this function to Python or try it "
            "on AWS"
        )
    handler = props.required_text("Handler", "set e.g. Handler: handlers.invite.handle")
    module, _, func = handler.rpartition(".")
    if not module or not func:
        raise TemplateError(
            f"{label}: Handler {handler!r} must be 'module.function' (e.g. "
            "handlers.invite.handle); fix it"
        )
    layer_dirs = function_layers(props, runtime, layers or {})
    # AWS: Lambda defaults are 3 s and 128 MB; limits 1..900 s and 128..10240 MB.
    timeout = props.integer("Timeout", 3, 1, 900)
    memory = props.integer("MemorySize", 128, 128, 10240)
    environment = _environment(props)
    policies: tuple[Any, ...] = ()
    if resource.type == SAM_FUNCTION:
        policies = parse_policies(props.raw("Policies"), ids.resolver, label)
    return Function(
        logical_id=resource.logical_id,
        name=ids.name(resource),
        handler=handler,
        runtime=runtime,
        code_root=code_root,
        timeout_s=timeout,
        memory_mb=memory,
        environment=MappingProxyType(environment),
        arn=ids.function_arn(resource),
        policies=policies,
        layers=layer_dirs,
    )


def _code_root(label: str, key: str, code: Any, template_dir: Path) -> Path:
    if isinstance(code, dict):
        raise TemplateError(
            f"{label}: {key} points at S3 ({', '.join(code)}), which the emulator cannot "
            f"fetch; set {key} to the local source directory"
        )
    text = as_text(code, label, key)
    if "://" in text:
        raise TemplateError(
            f"{label}: {key} {text} is not a local path; set {key} to the source directory"
        )
    root = (template_dir / text).resolve()
    if root.is_file():
        raise TemplateError(
            f"{label}: {key} {text} is a file; the emulator needs the unpacked source "
            "directory, so point it there"
        )
    if not root.is_dir():
        raise TemplateError(
            f"{label}: {key} {text} does not exist ({root}); create the directory or fix "
            "the path (relative to the template)"
        )
    return root


def _environment(props: Props) -> dict[str, str]:
    env = props.mapping("Environment")
    variables = env.get("Variables") or {}
    if not isinstance(variables, dict):
        raise TemplateError(f"{props.label}: Environment.Variables must be a mapping; fix it")
    out: dict[str, str] = {}
    for key, value in variables.items():
        if _ENV_KEY_RE.fullmatch(key) is None:
            raise TemplateError(
                f"{props.label}: environment variable name {key!r} is invalid (letters, "
                "digits and _, starting with a letter); rename it"
            )
        if key in RESERVED_ENV:
            raise TemplateError(
                f"{props.label}: environment variable {key} is reserved by Lambda and cannot "
                "be set; rename it"
            )
        out[key] = as_text(value, props.label, f"Environment.Variables.{key}")
    return out


def parse_policies(raw: Any, resolver: Resolver, label: str) -> tuple[Any, ...]:
    """SAM `Policies` as frozen records; recorded for reference, never enforced.

    Each is {"Kind": "managed", "Arn"}, {"Kind": "template", "Template", "Parameters"}
    (SAM policy templates such as DynamoDBCrudPolicy) or {"Kind": "inline", "Document"}.
    """
    if raw is None:
        return ()
    value = resolver.resolve_lenient(raw, label)
    entries = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for entry in entries:
        if isinstance(entry, str):
            arn = entry if entry.startswith("arn:") else f"arn:aws:iam::aws:policy/{entry}"
            out.append(frozen_map({"Kind": "managed", "Arn": arn}))
        elif isinstance(entry, dict) and "Statement" in entry:
            out.append(frozen_map({"Kind": "inline", "Document": deep_freeze(entry)}))
        elif isinstance(entry, dict) and len(entry) == 1:
            ((template, parameters),) = entry.items()
            out.append(
                frozen_map(
                    {
                        "Kind": "template",
                        "Template": template,
                        "Parameters": deep_freeze(parameters or {}),
                    }
                )
            )
        else:
            raise TemplateError(
                f"{label}: Policies entry {entry!r} is not a managed policy name/ARN, a policy "
                "template ({Name: {...}}) or a policy document ({Statement: [...]}); fix it"
            )
    return tuple(out)


def deep_freeze(value: Any) -> Any:
    """Nested dicts -> MappingProxyType, lists -> tuples, so the model shares nothing live."""
    if isinstance(value, dict):
        return frozen_map({str(k): deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(v) for v in value)
    return value


# ---------------------------------------------------------------------- SAM events


def uses_implicit_http_api(resource: RawResource) -> bool:
    """True if a SAM function has an HttpApi event without ApiId (SAM's ServerlessHttpApi)."""
    events = resource.properties.get("Events")
    if resource.type != SAM_FUNCTION or not isinstance(events, dict):
        return False
    return any(
        isinstance(event, dict)
        and event.get("Type") == "HttpApi"
        and not (isinstance(event.get("Properties"), dict) and "ApiId" in event["Properties"])
        for event in events.values()
    )


def sam_events(
    props: Props, ignored: list[str]
) -> tuple[list[PendingSource], list[PendingHttpRoute], list[PendingEvent]]:
    """A SAM function's Events: SQS/DynamoDB sources, HttpApi routes, and the Api and
    schedule events their own builders take; others -> ignored."""
    sources: list[PendingSource] = []
    routes: list[PendingHttpRoute] = []
    others: list[PendingEvent] = []
    events = props.raw("Events")
    if events is None:
        return sources, routes, others
    if not isinstance(events, dict):
        raise TemplateError(f"{props.label}: Events must be a mapping of name to event; fix it")
    function = props.resource.logical_id
    for name, event in events.items():
        if not isinstance(event, dict) or not isinstance(event.get("Type"), str):
            raise TemplateError(f"{props.label}: event {name} needs a Type; add one")
        etype = event["Type"]
        # AWS SAM names the generated mapping {FunctionLogicalId}{EventName}.
        logical_id = f"{function}{name}"
        label = f"{props.label} event {name} ({etype})"
        if etype not in _DRIVEN_EVENTS:
            reason = _IGNORED_EVENT_REASONS.get(etype, f"{etype} events are not emulated")
            ignored.append(f"{logical_id} ({etype} event of {function}): {reason}")
            continue
        raw_props = event.get("Properties", {})
        values = props.resolver.resolve(raw_props, label)
        if not isinstance(values, dict):
            raise TemplateError(f"{label}: Properties must be a mapping; fix it")
        if etype == "HttpApi":
            routes.append(_http_api_event(label, function, values))
            continue
        if etype in ("Api", "Schedule", "ScheduleV2"):
            others.append(PendingEvent(logical_id, label, etype, function, values))
            continue
        kind: Literal["sqs", "dynamodb"] = "sqs" if etype == "SQS" else "dynamodb"
        arn_key = "Queue" if kind == "sqs" else "Stream"
        if not values.get(arn_key):
            raise TemplateError(f"{label}: {arn_key} is required; set it to the ARN")
        arn = as_text(values[arn_key], label, arn_key)
        sources.append(
            pending_source(
                logical_id, label, kind, arn, function, values.get, enabled_key="Enabled"
            )
        )
    return sources, routes, others


def _http_api_event(label: str, function: str, values: dict[str, Any]) -> PendingHttpRoute:
    if str(values.get("PayloadFormatVersion", "2.0")) != "2.0":
        raise TemplateError(
            f"{label}: PayloadFormatVersion {values['PayloadFormatVersion']} is not emulated; "
            "use 2.0 (the HTTP API default)"
        )
    api_id = values.get("ApiId")
    path = as_text(values.get("Path", "/$default"), label, "Path")
    method = as_text(values.get("Method", "ANY"), label, "Method").upper()
    if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
        method = "ANY"
    if path in ("/$default", "$default"):
        path, method = "$default", "ANY"
    elif not path.startswith("/"):
        raise TemplateError(f"{label}: Path {path!r} must start with '/'; fix it")
    auth = values.get("Auth") or {}
    authorizer = auth.get("Authorizer") if isinstance(auth, dict) else None
    return PendingHttpRoute(
        label=label,
        api_id=None if api_id is None else as_text(api_id, label, "ApiId"),
        method=method,
        path=path,
        function=function,
        authorizer=None if authorizer is None else as_text(authorizer, label, "Auth.Authorizer"),
    )


def pending_source(
    logical_id: str,
    label: str,
    kind: Literal["sqs", "dynamodb"],
    arn: str,
    function: str,
    get: Callable[[str], Any],
    *,
    enabled_key: str,
) -> PendingSource:
    """Shared settings of SAM SQS/DynamoDB events and raw EventSourceMappings.

    AWS defaults: BatchSize 10 for SQS and 100 for DynamoDB streams; DynamoDB's
    MaximumRetryAttempts -1 (retry until the record expires) (Lambda API reference,
    CreateEventSourceMapping).
    """
    sqs = kind == "sqs"
    batch = to_int(get("BatchSize"), label, "BatchSize", 10 if sqs else 100, 1, 10000)
    window = to_int(
        get("MaximumBatchingWindowInSeconds"), label, "MaximumBatchingWindowInSeconds", 0, 0, 300
    )
    if sqs and batch > 10 and window < 1:
        # AWS: SQS batches above 10 need MaximumBatchingWindowInSeconds >= 1.
        raise TemplateError(
            f"{label}: BatchSize {batch} needs MaximumBatchingWindowInSeconds of at least 1 "
            "for SQS; set it or lower BatchSize to 10"
        )
    response_types = get("FunctionResponseTypes") or []
    if not isinstance(response_types, list) or any(
        t != "ReportBatchItemFailures" for t in response_types
    ):
        raise TemplateError(
            f"{label}: FunctionResponseTypes {response_types!r} must be [] or "
            "[ReportBatchItemFailures]; fix it"
        )
    starting: str | None = None
    retries: int | None = None
    if not sqs:
        starting = as_text(get("StartingPosition") or "", label, "StartingPosition")
        if starting not in ("LATEST", "TRIM_HORIZON"):
            raise TemplateError(
                f"{label}: StartingPosition {starting or '(missing)'} is not valid for a "
                "DynamoDB stream; use LATEST or TRIM_HORIZON"
            )
        attempts = to_int(get("MaximumRetryAttempts"), label, "MaximumRetryAttempts", -1, -1, 10000)
        retries = None if attempts == -1 else attempts
    return PendingSource(
        logical_id=logical_id,
        label=label,
        kind=kind,
        source_arn=arn,
        function=function,
        batch_size=batch,
        enabled=to_bool(get(enabled_key), label, enabled_key, True),
        report_batch_item_failures=bool(response_types),
        filter_patterns=_filter_patterns(label, get("FilterCriteria")),
        starting_position=starting,
        maximum_retry_attempts=retries,
        maximum_batching_window_s=window,
    )


def _filter_patterns(label: str, criteria: Any) -> tuple[str, ...]:
    if criteria is None:
        return ()
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if not isinstance(filters, list):
        raise TemplateError(f"{label}: FilterCriteria needs Filters: [{{Pattern: ...}}]; fix it")
    patterns: list[str] = []
    for item in filters:
        pattern = item.get("Pattern") if isinstance(item, dict) else None
        if isinstance(pattern, dict):
            pattern = json.dumps(pattern)
        if not isinstance(pattern, str):
            raise TemplateError(f"{label}: each filter needs a Pattern JSON string; fix it")
        try:
            parsed = json.loads(pattern)
        except ValueError as exc:
            raise TemplateError(
                f"{label}: filter Pattern is not valid JSON ({exc}); fix the pattern"
            ) from None
        if not isinstance(parsed, dict):
            raise TemplateError(f"{label}: filter Pattern must be a JSON object; fix it")
        patterns.append(pattern)
    return tuple(patterns)
