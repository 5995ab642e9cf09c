"""The resources the SAM transform adds to a template, under the names it gives them.

A deployed SAM template holds more than its author wrote: `ServerlessRestApi` and its
`ServerlessRestApiProdStage` for `Api` events, `{Function}Role`, `{Function}{Event}`
rules and event source mappings, `{Function}{Event}Permission...` permissions, and so
on. Templates refer to them (`!Sub https://${ServerlessRestApi}.execute-api...`), so
each gets a `RawResource` marked `implicit` here and resolves in `Ref`, `Fn::GetAtt`
and `Fn::Sub` like a declared one. SAM's referenceable properties (`MyApi.Stage`,
`MyFunction.Alias`, ...) become aliases of those resources.

Names follow aws-sam-translator (checked against its own output in
tests/emulator/template/test_implicit.py). Two kinds of names hash the generated
document (a deployment's OpenAPI body, a version's code), which the emulator does not
build; those resources are reachable through `MyApi.Deployment` and
`MyFunction.Version` only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from emulator.template.errors import TemplateError
from emulator.template.intrinsics import NO_VALUE, Resolver
from emulator.template.physical import (
    EVENT_SOURCE_MAPPING,
    EVENTS_RULE,
    IAM_ROLE,
    LAMBDA_ALIAS,
    LAMBDA_PERMISSION,
    LAMBDA_URL,
    LAMBDA_VERSION,
    REST_DEPLOYMENT,
    REST_STAGE,
    SAM_API,
    SAM_FUNCTION,
    SAM_HTTP_API,
    SCHEDULER_SCHEDULE,
    V2_STAGE,
    RawResource,
)

IMPLICIT_REST_API = "ServerlessRestApi"
IMPLICIT_HTTP_API = "ServerlessHttpApi"
# AWS SAM: the stage of the implicit REST API (SAM spec, "Api" event source).
IMPLICIT_REST_STAGE = "Prod"

# AWS SAM: event types whose generated resource is `{Function}{Event}` of this type.
_EVENT_RESOURCE = {
    "Schedule": EVENTS_RULE,
    "CloudWatchEvent": EVENTS_RULE,
    "EventBridgeRule": EVENTS_RULE,
    "ScheduleV2": SCHEDULER_SCHEDULE,
    "SQS": EVENT_SOURCE_MAPPING,
    "DynamoDB": EVENT_SOURCE_MAPPING,
    "Kinesis": EVENT_SOURCE_MAPPING,
    "MQ": EVENT_SOURCE_MAPPING,
    "MSK": EVENT_SOURCE_MAPPING,
    "SelfManagedKafka": EVENT_SOURCE_MAPPING,
    "DocumentDB": EVENT_SOURCE_MAPPING,
    "SNS": "AWS::SNS::Subscription",
    "CloudWatchLogs": "AWS::Logs::SubscriptionFilter",
    "IoTRule": "AWS::IoT::TopicRule",
}
# AWS SAM: event types that add `{Function}{Event}Permission` (Api adds a stage suffix).
_PERMISSION_EVENTS = frozenset(
    {"Schedule", "CloudWatchEvent", "EventBridgeRule", "HttpApi", "SNS", "S3", "CloudWatchLogs"}
    | {"IoTRule"}
)


def sam_logical_id(prefix: str, data: Any) -> str:
    """aws-sam-translator's `LogicalIdGenerator(prefix, data).gen()`.

    The prefix plus the first 10 hex digits of SHA-1 over the data (a string as-is,
    anything else as compact JSON with sorted keys); no suffix when the data is empty.
    """
    if not data:
        return prefix
    text = (
        data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), sort_keys=True)
    )
    return prefix + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def _suffixed(prefix: str, suffix: str) -> str:
    """`prefix + suffix` when the suffix is alphanumeric, else SAM's hashed form."""
    return prefix + suffix if suffix.isalnum() else sam_logical_id(prefix, suffix)


def rest_stage_logical_id(api: str, stage_name: Any) -> str:
    """AWS SAM: `{Api}{StageName}Stage`; a non-alphanumeric or intrinsic name is hashed."""
    prefix = stage_name if isinstance(stage_name, str) else ""
    if prefix.isalnum():
        return f"{api}{prefix}Stage"
    return sam_logical_id(f"{api}Stage", prefix)


def http_stage_logical_id(api: str, stage_name: Any) -> str:
    """AWS SAM: `{Api}ApiGatewayDefaultStage` for `$default`, else `{Api}{StageName}Stage`."""
    if stage_name in (None, "$default"):
        return f"{api}ApiGatewayDefaultStage"
    return rest_stage_logical_id(api, stage_name)


def _event_api_ref(properties: Any, key: str) -> str | None:
    """The logical id an event's `RestApiId`/`ApiId` names with `!Ref`, else None."""
    if not isinstance(properties, dict):
        return None
    value = properties.get(key)
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return value if isinstance(value, str) else None


class _Implicit:
    """Collects implicit resources and aliases without shadowing declared ones."""

    def __init__(self, declared: set[str], resolver: Resolver) -> None:
        self.declared = declared
        self.resolver = resolver
        self.resources: dict[str, RawResource] = {}
        self.aliases: dict[str, str] = {}

    def add(self, logical_id: str, rtype: str, properties: dict[str, Any] | None = None) -> None:
        if logical_id not in self.declared and logical_id not in self.resources:
            self.resources[logical_id] = RawResource(
                logical_id, rtype, properties or {}, implicit=True
            )

    def alias(self, name: str, target: str) -> None:
        self.aliases.setdefault(name, target)

    def text(self, value: Any, where: str) -> str | None:
        """A property SAM resolves itself (parameter refs), or None when it cannot."""
        try:
            resolved = self.resolver.resolve(value, where)
        except TemplateError:
            return None
        if resolved is NO_VALUE or not isinstance(resolved, str | int):
            return None
        return str(resolved)


def implicit_resources(
    live: Mapping[str, RawResource],
    declared: set[str],
    resolver: Resolver,
    implicit_apis: Mapping[str, RawResource],
) -> tuple[dict[str, RawResource], dict[str, str]]:
    """The resources SAM adds for `live`, and the referenceable-property aliases.

    `implicit_apis` are `ServerlessRestApi`/`ServerlessHttpApi` when the loader created
    them (Globals applied); their stages are added here like those of declared APIs.
    Only resources the transform would create are returned, never one already declared.
    """
    out = _Implicit(declared, resolver)
    apis = {**live, **implicit_apis}
    for resource in apis.values():
        if resource.type == SAM_FUNCTION:
            _function(out, resource, apis)
        elif resource.type == SAM_API:
            _rest_api(out, resource)
        elif resource.type == SAM_HTTP_API:
            _http_api(out, resource)
    return out.resources, out.aliases


def _function(out: _Implicit, fn: RawResource, apis: Mapping[str, RawResource]) -> None:
    props = fn.properties
    name = fn.logical_id
    if "Role" not in props:
        out.add(f"{name}Role", IAM_ROLE)
    alias = props.get("AutoPublishAlias")
    if alias is not None:
        alias_name = out.text(alias, fn.label)
        if alias_name:
            target = f"{name}Alias{alias_name}"
            out.add(target, LAMBDA_ALIAS, {"FunctionName": {"Ref": name}, "Name": alias_name})
            out.alias(f"{name}.Alias", target)
        # AWS SAM hashes the code into the version's name; only `Fn.Version` reaches it.
        out.add(f"{name}Version", LAMBDA_VERSION, {"FunctionName": {"Ref": name}})
        out.alias(f"{name}.Version", f"{name}Version")
    url = props.get("FunctionUrlConfig")
    if isinstance(url, dict):
        out.add(f"{name}Url", LAMBDA_URL, {"TargetFunctionArn": {"Fn::GetAtt": [name, "Arn"]}})
        if url.get("AuthType") == "NONE":
            out.add(f"{name}UrlPublicPermissions", LAMBDA_PERMISSION)
            out.add(f"{name}URLInvokeAllowPublicAccess", LAMBDA_PERMISSION)
    if isinstance(props.get("EventInvokeConfig"), dict):
        out.add(f"{name}EventInvokeConfig", "AWS::Lambda::EventInvokeConfig")
    events = props.get("Events")
    if not isinstance(events, dict):
        return
    for event_name, event in events.items():
        if not isinstance(event, dict) or not isinstance(event.get("Type"), str):
            continue  # the loader reports it with the function
        etype, prefix = event["Type"], f"{name}{event_name}"
        properties = event.get("Properties")
        if etype in _EVENT_RESOURCE:
            extra: dict[str, Any] = {}
            if isinstance(properties, dict) and properties.get("Name") is not None:
                extra["Name"] = properties["Name"]
            elif etype == "ScheduleV2":
                extra["Name"] = prefix  # AWS SAM names the schedule after its logical id
            out.add(prefix, _EVENT_RESOURCE[etype], extra)
        if etype in _PERMISSION_EVENTS:
            out.add(f"{prefix}Permission", LAMBDA_PERMISSION)
        if etype == "ScheduleV2" and not (
            isinstance(properties, dict) and properties.get("RoleArn") is not None
        ):
            out.add(f"{prefix}Role", IAM_ROLE)
        if etype == "Api":
            suffix = _api_permission_suffix(properties, apis)
            out.add(_suffixed(f"{prefix}Permission", suffix), LAMBDA_PERMISSION)


def _api_permission_suffix(properties: Any, apis: Mapping[str, RawResource]) -> str:
    """AWS SAM: the implicit API's "Prod", the target API's literal StageName, "Stage"
    for an intrinsic one, "AllStages" when RestApiId is not a resource of the template."""
    api = _event_api_ref(properties, "RestApiId")
    if api is None:
        return IMPLICIT_REST_STAGE
    target = apis.get(api)
    if target is None:
        return "AllStages"
    stage = target.properties.get("StageName")
    return stage if isinstance(stage, str) and stage else "Stage"


def _rest_api(out: _Implicit, api: RawResource) -> None:
    name = api.logical_id
    stage_name = api.properties.get("StageName")
    stage = rest_stage_logical_id(name, stage_name)
    out.add(stage, REST_STAGE, {"StageName": stage_name, "RestApiId": {"Ref": name}})
    out.alias(f"{name}.Stage", stage)
    # AWS SAM hashes the OpenAPI body into the deployment's name; `Api.Deployment` reaches it.
    out.add(f"{name}Deployment", REST_DEPLOYMENT, {"RestApiId": {"Ref": name}})
    out.alias(f"{name}.Deployment", f"{name}Deployment")
    auth = api.properties.get("Auth")
    authorizers = auth.get("Authorizers") if isinstance(auth, dict) else None
    if isinstance(authorizers, dict):
        for auth_name, spec in authorizers.items():
            if isinstance(spec, dict) and "FunctionArn" in spec:
                out.add(f"{name}{auth_name}AuthorizerPermission", LAMBDA_PERMISSION)


def _http_api(out: _Implicit, api: RawResource) -> None:
    name = api.logical_id
    stage_name = api.properties.get("StageName")
    stage = http_stage_logical_id(name, stage_name)
    out.add(stage, V2_STAGE, {"StageName": stage_name or "$default", "ApiId": {"Ref": name}})
    out.alias(f"{name}.Stage", stage)


def uses_implicit_rest_api(resource: RawResource) -> bool:
    """True if a SAM function has an `Api` event without RestApiId (SAM's ServerlessRestApi)."""
    events = resource.properties.get("Events")
    if resource.type != SAM_FUNCTION or not isinstance(events, dict):
        return False
    return any(
        isinstance(event, dict)
        and event.get("Type") == "Api"
        and not (isinstance(event.get("Properties"), dict) and "RestApiId" in event["Properties"])
        for event in events.values()
    )


def implicit_rest_api() -> RawResource:
    """SAM's `ServerlessRestApi`, created when an Api event names no RestApiId."""
    return RawResource(
        IMPLICIT_REST_API, SAM_API, {"StageName": IMPLICIT_REST_STAGE}, implicit=True
    )
