"""The immutable model of a SAM/CloudFormation template, as the emulator needs it.

`load_template` (load.py) builds one `Template` from YAML plus parameter overrides,
with every intrinsic already resolved; nothing downstream reads YAML or sees `!Ref`.
Hot reload builds a new `Template` and swaps it in, so every field is frozen and every
mapping is a `MappingProxyType`.

Physical ids are fixed at load time, the way CloudFormation would have named things,
so the model never needs a second pass after provisioning (see `PhysicalIds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal


def frozen_map(data: Mapping[str, object] | None = None) -> Mapping[str, object]:
    """A read-only copy: the model must not share a live dict with anyone."""
    return MappingProxyType(dict(data or {}))


EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Function:
    """One Lambda function (AWS::Serverless::Function or AWS::Lambda::Function)."""

    logical_id: str
    name: str  # FunctionName, or CloudFormation-style "{stack}-{logical}-{suffix}"
    handler: str  # "handlers.invite.handle"
    runtime: str  # "python3.12"
    code_root: Path  # absolute directory that goes on sys.path (CodeUri)
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, str]  # template variables only; the runner adds AWS's own
    arn: str
    policies: tuple[Mapping[str, object], ...] = ()  # parsed, not enforced
    # Layer directories for the import path, after code_root, in lookup order: every
    # layer's python/lib/python3.x/site-packages, then every python/, the last-listed
    # layer first (AWS: Lambda unpacks layers into /opt in order, a later file wins).
    layers: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """A WebSocket route; `function` is the integration's Lambda (None = no integration)."""

    key: str  # "$connect", "$disconnect", "$default", "invite", ...
    function: str | None  # logical id of the target Function
    # AWS: only a route with RouteResponseSelectionExpression "$default" sends the
    # integration's body back to the client (API Gateway dev guide, "route responses").
    returns_response: bool = False


@dataclass(frozen=True, slots=True)
class RequestAuthorizer:
    """A REQUEST Lambda authorizer on $connect."""

    logical_id: str
    function: str  # logical id of the authorizer Function
    # e.g. ("route.request.querystring.token",); AWS: any missing one -> 401, not invoked
    identity_sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebSocketApi:
    logical_id: str
    api_id: str  # 10 lowercase alphanumerics, as API Gateway assigns
    name: str
    stage: str
    route_selection_expression: str  # "$request.body.action"
    routes: Mapping[str, Route]  # by route key
    authorizer: RequestAuthorizer | None  # the one on $connect, if any

    def domain_name(self, region: str) -> str:
        return f"{self.api_id}.execute-api.{region}.amazonaws.com"


@dataclass(frozen=True, slots=True)
class JwtAuthorizer:
    """An HTTP API JWT authorizer (Cognito or any OIDC issuer)."""

    name: str
    identity_source: str  # "$request.header.Authorization"
    issuer: str
    audience: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HttpRoute:
    method: str  # "GET", or "ANY"
    path: str  # "/online", may hold "{proxy+}" or "{name}"
    function: str  # logical id
    authorizer: JwtAuthorizer | None


@dataclass(frozen=True, slots=True)
class HttpApi:
    logical_id: str
    api_id: str
    stage: str  # "$default" for SAM's default HttpApi
    routes: tuple[HttpRoute, ...]


@dataclass(frozen=True, slots=True)
class RestAuthorizer:
    """A REST API (v1) authorizer: a Lambda TOKEN/REQUEST one, or a Cognito user pool."""

    name: str
    kind: Literal["TOKEN", "REQUEST", "COGNITO_USER_POOLS"]
    function: str | None  # logical id of the authorizer Function (Lambda kinds)
    # "method.request.header.Authorization", "method.request.querystring.k",
    # "stageVariables.v", "context.c"; TOKEN and Cognito read exactly one header.
    identity_sources: tuple[str, ...]
    ttl_s: int = 300  # result caching (AWS default 300 s; 0 = no caching)
    validation_expression: str | None = None  # TOKEN: a regex the token must match
    user_pool_ids: tuple[str, ...] = ()  # COGNITO_USER_POOLS: the pools whose tokens pass
    scopes: tuple[str, ...] = ()  # COGNITO_USER_POOLS: access-token scopes (empty = id token)


@dataclass(frozen=True, slots=True)
class RestRoute:
    """A method on a resource of a REST API, integrated with a Lambda proxy."""

    method: str  # "GET", or "ANY"
    path: str  # resource path: "/", "/items/{id}", "/{proxy+}"
    function: str  # logical id
    authorizer: RestAuthorizer | None
    resource_id: str  # 6 lowercase alnum (the root resource: 10), as API Gateway assigns
    timeout_ms: int = 29000  # AWS: integration timeout, 50..29000 ms (SAM TimeoutInMillis)


@dataclass(frozen=True, slots=True)
class RestApi:
    """A REST API (v1): an AWS::Serverless::Api or SAM's implicit ServerlessRestApi."""

    logical_id: str
    api_id: str
    stage: str  # "Prod" for SAM's implicit API; the URL's first path segment
    routes: tuple[RestRoute, ...]
    stage_variables: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    binary_media_types: tuple[str, ...] = ()  # "image/png", "*/*", ...
    # AWS SAM Cors: the OPTIONS preflight answer's Access-Control-* headers, by header
    # name, values unquoted; None = no preflight methods.
    cors: Mapping[str, str] | None = None

    def domain_name(self, region: str) -> str:
        return f"{self.api_id}.execute-api.{region}.amazonaws.com"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A function on a schedule: SAM Schedule/ScheduleV2, Events::Rule, Scheduler::Schedule."""

    logical_id: str  # the rule or schedule resource (SAM: "{Function}{Event}")
    name: str  # physical name; `duelctl schedule fire NAME` takes it or the logical id
    arn: str  # the rule's / schedule's ARN (the event's `resources`)
    expression: str  # "rate(5 minutes)" or "cron(0 12 * * ? *)"
    function: str  # logical id of the target Function
    kind: Literal["rule", "scheduler"]  # EventBridge rule or EventBridge Scheduler
    enabled: bool = True
    input: str | None = None  # the target's constant Input (JSON text), else None
    input_path: str | None = None  # rule targets: JSONPath into the scheduled event
    timezone: str = "UTC"  # scheduler: ScheduleExpressionTimezone (cron and at)


@dataclass(frozen=True, slots=True)
class KeyAttr:
    name: str
    type: Literal["S", "N", "B"]


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    hash_key: KeyAttr
    range_key: KeyAttr | None
    projection: Mapping[str, object]  # {"ProjectionType": "ALL"} etc.


@dataclass(frozen=True, slots=True)
class Table:
    logical_id: str
    name: str
    arn: str
    hash_key: KeyAttr
    range_key: KeyAttr | None
    global_indexes: tuple[Index, ...]
    local_indexes: tuple[Index, ...]
    ttl_attribute: str | None  # set only when TimeToLiveSpecification.Enabled
    stream_view_type: str | None  # "NEW_AND_OLD_IMAGES", ... or None (no stream)
    stream_arn: str | None  # the emulator's stable stand-in; moto's real one is looked up


@dataclass(frozen=True, slots=True)
class Queue:
    logical_id: str
    name: str
    url: str  # "https://sqs.{region}.amazonaws.com/{account}/{name}" as AWS returns
    arn: str
    fifo: bool
    delay_seconds: int
    visibility_timeout_s: int
    message_retention_s: int
    redrive_target: str | None  # logical id of the DLQ
    max_receive_count: int | None


@dataclass(frozen=True, slots=True)
class UserPool:
    logical_id: str
    pool_id: str  # "{region}_{9 alphanumerics}", chosen at load (see PhysicalIds)
    name: str
    arn: str
    properties: Mapping[str, object]  # resolved CloudFormation properties


@dataclass(frozen=True, slots=True)
class UserPoolClient:
    logical_id: str
    client_id: str  # 26 lowercase alphanumerics, chosen at load
    pool: str  # logical id of its UserPool
    name: str
    explicit_auth_flows: tuple[str, ...]
    generate_secret: bool


@dataclass(frozen=True, slots=True)
class EventSource:
    """An event source mapping: a queue or a table stream feeding a function."""

    logical_id: str
    kind: Literal["sqs", "dynamodb"]
    source: str  # logical id of the Queue or Table
    function: str  # logical id of the Function
    batch_size: int
    enabled: bool
    report_batch_item_failures: bool
    filter_patterns: tuple[str, ...]  # JSON strings, as in FilterCriteria.Filters[].Pattern
    starting_position: str | None = None  # dynamodb: "LATEST" | "TRIM_HORIZON"
    maximum_retry_attempts: int | None = None  # dynamodb; None = retry until the record expires
    maximum_batching_window_s: int = 0


@dataclass(frozen=True, slots=True)
class Output:
    key: str
    value: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Template:
    """Everything the emulator runs, resolved. Build one with `load_template`."""

    path: Path  # the template file
    stack_name: str
    region: str
    account_id: str
    parameters: Mapping[str, str]  # resolved values (defaults + overrides), as strings
    functions: Mapping[str, Function]  # by logical id
    websocket_apis: tuple[WebSocketApi, ...]
    http_apis: tuple[HttpApi, ...]
    tables: Mapping[str, Table]
    queues: Mapping[str, Queue]
    user_pools: Mapping[str, UserPool]
    user_pool_clients: Mapping[str, UserPoolClient]
    event_sources: tuple[EventSource, ...]
    outputs: Mapping[str, Output]
    ignored: tuple[str, ...] = field(default=())  # "LogicalId (Type)" the emulator skips
    rest_apis: tuple[RestApi, ...] = ()
    schedules: tuple[Schedule, ...] = ()

    def function(self, logical_id: str) -> Function:
        return self.functions[logical_id]

    def function_by_name(self, name: str) -> Function | None:
        """Look a function up by physical name or ARN, as Lambda's Invoke API does."""
        for fn in self.functions.values():
            if name in (fn.name, fn.arn, fn.logical_id):
                return fn
        return None
