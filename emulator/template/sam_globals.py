"""SAM's Globals section: which properties it may set, and how they merge into resources.

AWS SAM (SAM spec, "Globals section"): each SAM resource type has a list of properties
Globals may set; a resource's own value wins, maps merge key by key, lists concatenate,
and a one-key intrinsic (`Ref`, `Fn::*`) counts as a plain value.
"""

from __future__ import annotations

from typing import Any

from emulator.template.errors import TemplateError
from emulator.template.physical import SAM_API, SAM_FUNCTION, SAM_HTTP_API, RawResource

# AWS SAM: properties Globals may set per resource type (SAM spec, "Globals section").
GLOBALS_FUNCTION_KEYS = frozenset(
    {
        "Handler",
        "Runtime",
        "CodeUri",
        "DeadLetterQueue",
        "Description",
        "MemorySize",
        "Timeout",
        "VpcConfig",
        "Environment",
        "Tags",
        "PropagateTags",
        "Tracing",
        "KmsKeyArn",
        "AutoPublishAlias",
        "AutoPublishAliasAllProperties",
        "Layers",
        "DeploymentPreference",
        "RolePath",
        "PermissionsBoundary",
        "ReservedConcurrentExecutions",
        "ProvisionedConcurrencyConfig",
        "AssumeRolePolicyDocument",
        "EventInvokeConfig",
        "FileSystemConfigs",
        "CodeSigningConfigArn",
        "Architectures",
        "SnapStart",
        "EphemeralStorage",
        "FunctionUrlConfig",
        "RuntimeManagementConfig",
        "LoggingConfig",
        "RecursiveLoop",
        "SourceKMSKeyArn",
        "TenancyConfig",
        "DurableConfig",
        "CapacityProviderConfig",
        "FunctionScalingConfig",
        "PublishToLatestPublished",
        "VersionDeletionPolicy",
    }
)
GLOBALS_HTTP_API_KEYS = frozenset(
    {
        "Auth",
        "AccessLogSettings",
        "StageVariables",
        "Tags",
        "CorsConfiguration",
        "DefaultRouteSettings",
        "Domain",
        "RouteSettings",
        "FailOnWarnings",
        "PropagateTags",
    }
)
GLOBALS_SECTIONS = frozenset(
    {
        "Function",
        "Api",
        "HttpApi",
        "SimpleTable",
        "StateMachine",
        "LayerVersion",
        "CapacityProvider",
        "WebSocketApi",
    }
)

GLOBALS_API_KEYS = frozenset(
    {
        "Auth",
        "Name",
        "DefinitionUri",
        "CacheClusterEnabled",
        "CacheClusterSize",
        "MergeDefinitions",
        "Variables",
        "EndpointConfiguration",
        "MethodSettings",
        "BinaryMediaTypes",
        "MinimumCompressionSize",
        "Cors",
        "GatewayResponses",
        "AccessLogSetting",
        "CanarySetting",
        "TracingEnabled",
        "OpenApiVersion",
        "Domain",
        "AlwaysDeploy",
        "PropagateTags",
        "SecurityPolicy",
        "EndpointAccessMode",
    }
)


def is_intrinsic(value: object) -> bool:
    """SAM treats a one-key `Ref`/`Fn::*`/`Condition` mapping as a plain value when merging."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and (key in ("Ref", "Condition") or key.startswith("Fn::"))


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge key by key, lists concatenate, anything else: local wins."""
    if (
        isinstance(global_value, dict)
        and isinstance(local_value, dict)
        and not is_intrinsic(global_value)
        and not is_intrinsic(local_value)
    ):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def parse_globals(section: object) -> dict[str, dict[str, Any]]:
    """The Globals section by SAM resource type suffix ("Function", "HttpApi", ...)."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise TemplateError("Globals: must be a mapping like {Function: {...}}; fix the section")
    allowed = {
        "Function": GLOBALS_FUNCTION_KEYS,
        "HttpApi": GLOBALS_HTTP_API_KEYS,
        "Api": GLOBALS_API_KEYS,
    }
    for name, properties in section.items():
        if name not in GLOBALS_SECTIONS:
            raise TemplateError(
                f"Globals ({name}): not a SAM Globals section; use one of "
                f"{', '.join(sorted(GLOBALS_SECTIONS))}"
            )
        if not isinstance(properties, dict):
            raise TemplateError(f"Globals ({name}): must be a mapping of properties; fix it")
        for key in properties:
            if name in allowed and key not in allowed[name]:
                raise TemplateError(
                    f"Globals ({name}): {key} cannot be set in Globals (SAM allows only "
                    f"{', '.join(sorted(allowed[name]))}); set it on each resource"
                )
    return {str(k): v for k, v in section.items()}


def apply_globals(resource: RawResource, globals_: dict[str, dict[str, Any]]) -> RawResource:
    """`resource` with its SAM Globals section merged in (other resources unchanged)."""
    section = {SAM_FUNCTION: "Function", SAM_HTTP_API: "HttpApi", SAM_API: "Api"}.get(resource.type)
    if section is None or section not in globals_:
        return resource
    merged = merge_globals(globals_[section], resource.properties)
    return RawResource(
        resource.logical_id, resource.type, merged, resource.condition, resource.implicit
    )
