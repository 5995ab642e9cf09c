"""Raw resources, typed property access, and the physical ids behind `Ref`/`Fn::GetAtt`.

`PhysicalIds` answers `Ref` and `Fn::GetAtt` for every resource the way CloudFormation
would after creating it: a function's `Ref` is its name, a queue's is its URL, a user
pool's is its id. Values are computed on first use, from the resource's own name
property or from `naming`, so they are deterministic and never need a second pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.template import naming
from emulator.template.errors import TemplateError
from emulator.template.intrinsics import NO_VALUE, Resolver, as_text

SAM_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_TYPES = frozenset({SAM_FUNCTION, LAMBDA_FUNCTION})
SAM_HTTP_API = "AWS::Serverless::HttpApi"
SAM_API = "AWS::Serverless::Api"
SAM_LAYER = "AWS::Serverless::LayerVersion"
LAMBDA_LAYER = "AWS::Lambda::LayerVersion"
LAYER_TYPES = frozenset({SAM_LAYER, LAMBDA_LAYER})
REST_API = "AWS::ApiGateway::RestApi"
REST_STAGE = "AWS::ApiGateway::Stage"
REST_DEPLOYMENT = "AWS::ApiGateway::Deployment"
EVENTS_RULE = "AWS::Events::Rule"
SCHEDULER_SCHEDULE = "AWS::Scheduler::Schedule"
LAMBDA_PERMISSION = "AWS::Lambda::Permission"
LAMBDA_ALIAS = "AWS::Lambda::Alias"
LAMBDA_VERSION = "AWS::Lambda::Version"
LAMBDA_URL = "AWS::Lambda::Url"
SAM_SIMPLE_TABLE = "AWS::Serverless::SimpleTable"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
DYNAMODB_GLOBAL_TABLE = "AWS::DynamoDB::GlobalTable"
TABLE_TYPES = frozenset({DYNAMODB_TABLE, DYNAMODB_GLOBAL_TABLE, SAM_SIMPLE_TABLE})
SQS_QUEUE = "AWS::SQS::Queue"
USER_POOL = "AWS::Cognito::UserPool"
USER_POOL_CLIENT = "AWS::Cognito::UserPoolClient"
V2_API = "AWS::ApiGatewayV2::Api"
V2_ROUTE = "AWS::ApiGatewayV2::Route"
V2_ROUTE_RESPONSE = "AWS::ApiGatewayV2::RouteResponse"
V2_INTEGRATION = "AWS::ApiGatewayV2::Integration"
V2_AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
V2_STAGE = "AWS::ApiGatewayV2::Stage"
V2_DEPLOYMENT = "AWS::ApiGatewayV2::Deployment"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
IAM_ROLE = "AWS::IAM::Role"

# Length of the random part of API Gateway ids, as API Gateway assigns them.
_ID_LENGTHS = {
    V2_AUTHORIZER: 6,
    V2_INTEGRATION: 7,
    V2_ROUTE: 7,
    V2_ROUTE_RESPONSE: 7,
    V2_DEPLOYMENT: 6,
    "AWS::ApiGatewayV2::Model": 6,
    "AWS::ApiGatewayV2::IntegrationResponse": 6,
    "AWS::ApiGatewayV2::ApiMapping": 6,
    REST_API: 10,
    SAM_API: 10,
    REST_DEPLOYMENT: 6,
    "AWS::ApiGateway::Resource": 6,
    "AWS::ApiGateway::Authorizer": 6,
}
# AWS: maximum physical name lengths (Lambda 64, IAM role 64, SQS 80, DynamoDB 255,
# EventBridge rules and schedules 64).
_NAME_LIMITS = {"function": 64, "role": 64, "queue": 80, "table": 255, "rule": 64, "other": 128}


@dataclass(frozen=True, slots=True)
class RawResource:
    """One entry of the Resources section, as written (Globals already merged for SAM)."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    condition: str | None = None
    implicit: bool = False  # generated the way SAM would (ServerlessHttpApi, {Fn}Role)

    @property
    def label(self) -> str:
        return f"{self.logical_id} ({self.type})"


@dataclass(slots=True)
class Props:
    """A resource's properties, each resolved on first access, with typed getters.

    Resolving per key (not the whole Properties block) means a property the emulator
    never reads cannot fail the load, exactly as it cannot affect the emulation.
    """

    resource: RawResource
    resolver: Resolver
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.resource.label

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.resource.properties.get(key)

    def get(self, key: str) -> Any:
        """The resolved value, or None when absent or AWS::NoValue."""
        if key not in self._cache:
            raw = self.resource.properties.get(key)
            value = None if raw is None else self.resolver.resolve(raw, self.label)
            self._cache[key] = None if value is NO_VALUE else value
        return self._cache[key]

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key)
        return default if value is None else as_text(value, self.label, key)

    def required_text(self, key: str, hint: str) -> str:
        value = self.text(key)
        if not value:
            raise TemplateError(f"{self.label}: {key} is required; {hint}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        return to_int(self.get(key), self.label, key, default, low, high)

    def flag(self, key: str, default: bool) -> bool:
        return to_bool(self.get(key), self.label, key, default)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise TemplateError(f"{self.label}: {key} must be a mapping; fix it")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise TemplateError(f"{self.label}: {key} must be a list; fix it")
        return value


def to_int(value: Any, where: str, what: str, default: int, low: int, high: int) -> int:
    """An integer property within [low, high]; numbers may arrive as strings ("60")."""
    if value is None:
        return default
    text = as_text(value, where, what)
    try:
        number = int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            as_float = float("nan")
        if not as_float.is_integer():
            raise TemplateError(f"{where}: {what} {text!r} is not a whole number; fix it") from None
        number = int(as_float)
    if not low <= number <= high:
        raise TemplateError(f"{where}: {what} {number} is outside {low}..{high}; fix it")
    return number


def to_bool(value: Any, where: str, what: str, default: bool) -> bool:
    """A boolean property; CloudFormation also takes the strings "true"/"false"."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TemplateError(f"{where}: {what} must be true or false, got {value!r}; fix it")


class PhysicalIds:
    """`Ref` and `Fn::GetAtt` values for every resource, computed once on first use."""

    def __init__(
        self,
        *,
        live: dict[str, RawResource],
        skipped: dict[str, RawResource],
        resolver: Resolver,
        stack: str,
        region: str,
        account: str,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self.live = live
        self.skipped = skipped
        # SAM's referenceable properties ("MyApi.Stage" -> "MyApiProdStage", see implicit.py)
        self.aliases = aliases or {}
        self.resolver = resolver
        self.stack = stack
        self.region = region
        self.account = account
        self._refs: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._computing: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ ResourceRefs

    def has(self, logical_id: str) -> bool:
        return logical_id in self.live or logical_id in self.skipped or logical_id in self.aliases

    def ref(self, logical_id: str, where: str) -> Any:
        logical_id = self.aliases.get(logical_id, logical_id)
        resource = self._resource(logical_id, where)
        if logical_id not in self._refs:
            self._refs[logical_id] = self._guarded("Ref", resource, where, self._ref_value)
        return self._refs[logical_id]

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        logical_id = self.aliases.get(logical_id, logical_id)
        resource = self._resource(logical_id, where)
        return self._guarded(
            f"GetAtt {attribute}", resource, where, lambda r: self._attribute(r, attribute, where)
        )

    # ------------------------------------------------------------------ names and arns

    def name(self, resource: RawResource) -> str:
        """The physical name: the resource's name property, else CloudFormation's pattern."""
        if resource.logical_id not in self._names:
            self._names[resource.logical_id] = self._guarded(
                "name", resource, resource.label, self._name_value
            )
        return self._names[resource.logical_id]

    def function_arn(self, resource: RawResource) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name(resource)}"

    def table_arn(self, resource: RawResource) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.name(resource)}"

    def stream_arn(self, resource: RawResource) -> str:
        # A stable stand-in: AWS puts the stream's creation time in the label.
        return f"{self.table_arn(resource)}/stream/1970-01-01T00:00:00.000"

    def queue_arn(self, resource: RawResource) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.name(resource)}"

    def queue_url(self, resource: RawResource) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name(resource)}"

    def pool_id(self, resource: RawResource) -> str:
        return naming.user_pool_id(self.stack, resource.logical_id, self.region)

    def pool_arn(self, resource: RawResource) -> str:
        return f"arn:aws:cognito-idp:{self.region}:{self.account}:userpool/{self.pool_id(resource)}"

    def client_id(self, resource: RawResource) -> str:
        return naming.lower_id(self.stack, resource.logical_id, 26)

    def api_id(self, resource: RawResource) -> str:
        return naming.lower_id(self.stack, resource.logical_id, 10)

    def root_resource_id(self, resource: RawResource) -> str:
        """A REST API's root resource id (`/`), 10 lowercase alphanumerics like API Gateway's."""
        return naming.token(self.stack, resource.logical_id, 10, naming.LOWER_ALNUM, "root")

    def rule_arn(self, resource: RawResource) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:rule/{self.name(resource)}"

    def schedule_arn(self, resource: RawResource) -> str:
        group = self._declared_name(resource, "GroupName") or "default"
        return (
            f"arn:aws:scheduler:{self.region}:{self.account}:schedule/{group}/{self.name(resource)}"
        )

    def layer_arn(self, resource: RawResource) -> str:
        """`arn:aws:lambda:{region}:{account}:layer:{name}:1`, the version a first deploy gets.

        AWS SAM names a LayerVersion after its logical id unless LayerName says otherwise.
        """
        name = self._declared_name(resource, "LayerName")
        if name is None:
            name = resource.logical_id if resource.type == SAM_LAYER else self.name(resource)
        return f"arn:aws:lambda:{self.region}:{self.account}:layer:{name}:1"

    def api_endpoint(self, resource: RawResource) -> str:
        scheme = "https"
        if resource.type == V2_API:
            protocol = self.resolver.resolve(
                resource.properties.get("ProtocolType"), resource.label
            )
            scheme = "wss" if protocol == "WEBSOCKET" else "https"
        return f"{scheme}://{self.api_id(resource)}.execute-api.{self.region}.amazonaws.com"

    def is_fifo(self, resource: RawResource) -> bool:
        value = self.resolver.resolve(resource.properties.get("FifoQueue"), resource.label)
        return to_bool(None if value is NO_VALUE else value, resource.label, "FifoQueue", False)

    # ------------------------------------------------------------------ internals

    def _resource(self, logical_id: str, where: str) -> RawResource:
        resource = self.live.get(logical_id)
        if resource is None:
            skipped = self.skipped[logical_id]
            raise TemplateError(
                f"{where}: refers to {logical_id}, which is not created because its Condition "
                f"{skipped.condition} is false; guard the reference with Fn::If on that condition"
            )
        return resource

    def _guarded(self, purpose: str, resource: RawResource, where: str, compute: Any) -> Any:
        key = (purpose, resource.logical_id)
        if key in self._computing:
            raise TemplateError(
                f"{where}: circular reference through {resource.label}; "
                "a resource's name cannot depend on itself"
            )
        self._computing.add(key)
        try:
            return compute(resource)
        finally:
            self._computing.discard(key)

    def _declared_name(self, resource: RawResource, key: str) -> str | None:
        raw = resource.properties.get(key)
        if raw is None:
            return None
        value = self.resolver.resolve(raw, resource.label)
        if value is NO_VALUE or value is None:
            return None
        return as_text(value, resource.label, key) or None

    def _name_value(self, resource: RawResource) -> str:
        stack, logical_id, rtype = self.stack, resource.logical_id, resource.type
        if rtype in FUNCTION_TYPES:
            declared = self._declared_name(resource, "FunctionName")
            limit = _NAME_LIMITS["function"]
        elif rtype in TABLE_TYPES:
            declared = self._declared_name(resource, "TableName")
            limit = _NAME_LIMITS["table"]
        elif rtype == SQS_QUEUE:
            declared = self._declared_name(resource, "QueueName")
            if declared is None:
                suffix = ".fifo" if self.is_fifo(resource) else ""
                return naming.generated_name(
                    stack, logical_id, max_length=_NAME_LIMITS["queue"], suffix=suffix
                )
            return declared
        elif rtype == IAM_ROLE:
            declared = self._declared_name(resource, "RoleName")
            limit = _NAME_LIMITS["role"]
        elif rtype == USER_POOL:
            declared = self._declared_name(resource, "UserPoolName")
            limit = _NAME_LIMITS["other"]
        elif rtype == USER_POOL_CLIENT:
            declared = self._declared_name(resource, "ClientName")
            limit = _NAME_LIMITS["other"]
        elif rtype in (V2_API, V2_AUTHORIZER):
            declared = self._declared_name(resource, "Name")
            limit = _NAME_LIMITS["other"]
        elif rtype in (EVENTS_RULE, SCHEDULER_SCHEDULE):
            declared = self._declared_name(resource, "Name")
            limit = _NAME_LIMITS["rule"]
        elif rtype == "AWS::S3::Bucket":
            declared = self._declared_name(resource, "BucketName")
            if declared is None:
                return naming.generated_name(stack, logical_id, max_length=63, lower=True)
            return declared
        else:
            declared = None
            for key in ("Name", "TopicName", "LogGroupName", "StateMachineName", "PolicyName"):
                if key in resource.properties:
                    declared = self._declared_name(resource, key)
                    break
            limit = _NAME_LIMITS["other"]
        return declared or naming.generated_name(stack, logical_id, max_length=limit)

    def _ref_value(self, resource: RawResource) -> Any:
        rtype = resource.type
        if rtype in FUNCTION_TYPES or rtype in TABLE_TYPES or rtype == IAM_ROLE:
            return self.name(resource)
        if rtype == SQS_QUEUE:
            return self.queue_url(resource)
        if rtype == USER_POOL:
            return self.pool_id(resource)
        if rtype == USER_POOL_CLIENT:
            return self.client_id(resource)
        if rtype in (V2_API, SAM_HTTP_API):
            return self.api_id(resource)
        if rtype == V2_STAGE:
            return self._declared_name(resource, "StageName") or "$default"
        if rtype == REST_STAGE:
            return self._declared_name(resource, "StageName") or resource.logical_id
        if rtype in (LAMBDA_ALIAS, LAMBDA_VERSION):
            return self._qualified_arn(resource)
        if rtype in _ID_LENGTHS:
            return naming.lower_id(self.stack, resource.logical_id, _ID_LENGTHS[rtype])
        if rtype == EVENT_SOURCE_MAPPING:
            return naming.uuid_like(self.stack, resource.logical_id, "esm")
        if rtype == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{self.account}:{self.name(resource)}"
        if rtype == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{self.account}:policy/{self.name(resource)}"
        if rtype in LAYER_TYPES:
            return self.layer_arn(resource)
        return self.name(resource)

    def _qualified_arn(self, resource: RawResource) -> str:
        """An alias's or version's ARN: the function's ARN with `:{alias}` or `:{version}`."""
        target = self._declared_name(resource, "FunctionName") or ""
        if not target.startswith("arn:"):
            target = f"arn:aws:lambda:{self.region}:{self.account}:function:{target}"
        qualifier = (
            "1" if resource.type == LAMBDA_VERSION else self._declared_name(resource, "Name")
        )
        return f"{target}:{qualifier or '1'}"

    def _attribute(self, resource: RawResource, attribute: str, where: str) -> Any:
        rtype = resource.type
        values: dict[str, Any]
        if rtype in FUNCTION_TYPES:
            values = {"Arn": lambda: self.function_arn(resource)}
        elif rtype in TABLE_TYPES:
            values = {"Arn": lambda: self.table_arn(resource), "StreamArn": self._stream(resource)}
        elif rtype == SQS_QUEUE:
            values = {
                "Arn": lambda: self.queue_arn(resource),
                "QueueName": lambda: self.name(resource),
                "QueueUrl": lambda: self.queue_url(resource),
            }
        elif rtype == USER_POOL:
            provider = f"cognito-idp.{self.region}.amazonaws.com/{self.pool_id(resource)}"
            values = {
                "Arn": lambda: self.pool_arn(resource),
                "ProviderName": lambda: provider,
                "ProviderURL": lambda: f"https://{provider}",
                "UserPoolId": lambda: self.pool_id(resource),
            }
        elif rtype == USER_POOL_CLIENT:
            values = {
                "ClientId": lambda: self.client_id(resource),
                "Name": lambda: self.name(resource),
            }
            if attribute == "ClientSecret":
                raise TemplateError(
                    f"{where}: {resource.logical_id}.ClientSecret is only known after Cognito "
                    "creates the client; read it at runtime (DescribeUserPoolClient) instead"
                )
        elif rtype in (V2_API, SAM_HTTP_API):
            values = {
                "ApiEndpoint": lambda: self.api_endpoint(resource),
                "ApiId": lambda: self.api_id(resource),
            }
        elif rtype in (REST_API, SAM_API):
            values = {
                "RestApiId": lambda: self.api_id(resource),
                "RootResourceId": lambda: self.root_resource_id(resource),
            }
        elif rtype == EVENTS_RULE:
            values = {"Arn": lambda: self.rule_arn(resource)}
        elif rtype == SCHEDULER_SCHEDULE:
            values = {"Arn": lambda: self.schedule_arn(resource)}
        elif rtype in LAYER_TYPES:
            values = {"LayerVersionArn": lambda: self.layer_arn(resource)}
        elif rtype == LAMBDA_URL:
            url_id = naming.token(self.stack, resource.logical_id, 32, naming.LOWER_ALNUM, "url")
            values = {
                "FunctionUrl": lambda: f"https://{url_id}.lambda-url.{self.region}.on.aws/",
                "FunctionArn": lambda: self._declared_name(resource, "TargetFunctionArn") or "",
            }
        elif rtype == IAM_ROLE:
            values = {
                "Arn": lambda: f"arn:aws:iam::{self.account}:role/{self.name(resource)}",
                "RoleId": lambda: (
                    "AROA"
                    + naming.token(self.stack, resource.logical_id, 17, naming.UPPER_ALNUM, "role")
                ),
            }
        elif rtype in (V2_AUTHORIZER, V2_INTEGRATION, V2_ROUTE):
            id_key = {V2_AUTHORIZER: "AuthorizerId", V2_INTEGRATION: "IntegrationId"}
            values = {id_key.get(rtype, "RouteId"): lambda: self.ref(resource.logical_id, where)}
        else:
            # Not emulated: stand-in values keep templates loadable (see Template.ignored).
            ref = self.ref(resource.logical_id, where)
            if attribute == "Arn" or attribute.endswith("Arn"):
                if isinstance(ref, str) and ref.startswith("arn:"):
                    return ref
                service = rtype.split("::")[1].lower() if rtype.count("::") == 2 else "unknown"
                return f"arn:aws:{service}:{self.region}:{self.account}:{ref}"
            return f"{ref}.{attribute}"
        getter = values.get(attribute)
        if getter is None:
            known = ", ".join(values)
            raise TemplateError(
                f"{where}: Fn::GetAtt {resource.logical_id}.{attribute} is not an attribute of "
                f"{rtype} (known: {known}); use one of those"
            )
        return getter()

    def _stream(self, resource: RawResource) -> Any:
        def stream() -> str:
            spec = self.resolver.resolve(
                resource.properties.get("StreamSpecification"), resource.label
            )
            if not isinstance(spec, dict) or not spec.get("StreamViewType"):
                raise TemplateError(
                    f"{resource.label}: StreamArn is used but the table has no "
                    "StreamSpecification; add StreamSpecification.StreamViewType"
                )
            return self.stream_arn(resource)

        return stream
