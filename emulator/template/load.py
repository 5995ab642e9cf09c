"""`load_template`: template.yaml + parameter overrides -> the frozen `Template` model.

This is the only place that reads YAML. It resolves parameters, conditions and every
intrinsic once, fixes physical ids the way CloudFormation would name things (see
`physical.PhysicalIds`), applies SAM's Globals and implicit resources, and refuses at
load, naming the resource, anything the emulator could not run the way AWS would.
Resources the emulator has no reason to run (IAM, logs, alarms, ...) are listed in
`Template.ignored` with the reason. It is called on every `duelctl up` and hot reload,
so it stays light: PyYAML (libyaml when present) and the standard library only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from emulator.logs import SERVICE, emit
from emulator.template import naming
from emulator.template.apis import ApiBuilder, implicit_http_api
from emulator.template.errors import TemplateError
from emulator.template.functions import (
    PendingEvent,
    PendingHttpRoute,
    PendingSource,
    build_function,
    sam_events,
    uses_implicit_http_api,
)
from emulator.template.implicit import (
    IMPLICIT_HTTP_API,
    IMPLICIT_REST_API,
    implicit_resources,
    implicit_rest_api,
    uses_implicit_rest_api,
)
from emulator.template.intrinsics import NO_VALUE, Resolver, as_text, referenced_names
from emulator.template.layers import LocalLayer, build_layer
from emulator.template.model import (
    EMPTY,
    Function,
    Output,
    Queue,
    Table,
    Template,
    UserPool,
    UserPoolClient,
)
from emulator.template.parameters import parse_overrides, resolve_parameters, scalar_text
from emulator.template.physical import (
    EVENT_SOURCE_MAPPING,
    EVENTS_RULE,
    FUNCTION_TYPES,
    LAYER_TYPES,
    SAM_API,
    SAM_FUNCTION,
    SAM_HTTP_API,
    SCHEDULER_SCHEDULE,
    SQS_QUEUE,
    TABLE_TYPES,
    USER_POOL,
    USER_POOL_CLIENT,
    V2_API,
    V2_AUTHORIZER,
    V2_INTEGRATION,
    V2_ROUTE,
    V2_ROUTE_RESPONSE,
    V2_STAGE,
    PhysicalIds,
    Props,
    RawResource,
)
from emulator.template.restapis import RestApiBuilder
from emulator.template.sam_globals import apply_globals, parse_globals
from emulator.template.schedules import ScheduleBuilder
from emulator.template.services import (
    build_queue,
    build_table,
    build_user_pool,
    build_user_pool_client,
    raw_event_source,
    resolve_sources,
)
from emulator.template.yaml_tags import load_yaml

__all__ = ["TemplateError", "find_template", "load_template", "note_ignored", "parse_overrides"]

TEMPLATE_NAMES = ("template.yaml", "template.yml")
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_TOP_LEVEL = frozenset(
    {
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Rules",
        "Mappings",
        "Conditions",
        "Transform",
        "Globals",
        "Resources",
        "Outputs",
    }
)
# AWS: logical ids are alphanumeric (CloudFormation template anatomy, "Resources").
_LOGICAL_ID_RE = re.compile(r"[A-Za-z0-9]+")

# Types the loader turns into model objects (the V2 route pieces are consumed by apis.py).
_BUILT = frozenset(
    {
        *FUNCTION_TYPES,
        *TABLE_TYPES,
        SQS_QUEUE,
        USER_POOL,
        USER_POOL_CLIENT,
        SAM_HTTP_API,
        SAM_API,
        *LAYER_TYPES,
        EVENTS_RULE,
        SCHEDULER_SCHEDULE,
        V2_API,
        V2_ROUTE,
        V2_ROUTE_RESPONSE,
        V2_INTEGRATION,
        V2_AUTHORIZER,
        V2_STAGE,
        EVENT_SOURCE_MAPPING,
    }
)
# Types the app would need but the emulator cannot stand in for: refuse, don't skip.
_REFUSED = {
    "AWS::Serverless::WebSocketApi": (
        "AWS::Serverless::WebSocketApi is not emulated yet; declare the API with "
        "AWS::ApiGatewayV2::Api/Route/Integration resources"
    ),
}
_IGNORED_BY_TYPE = {
    "AWS::Lambda::Permission": "invoke permissions are not enforced locally",
    "AWS::Lambda::Version": "versions are not emulated; $LATEST runs",
    "AWS::Lambda::Alias": "aliases are not emulated; $LATEST runs",
    "AWS::Lambda::Url": "function URLs are not emulated",
    "AWS::Lambda::LayerVersionPermission": "layer permissions are not enforced locally",
    "AWS::ApiGateway::RestApi": (
        "raw REST API resources are not served; declare REST APIs with AWS::Serverless::Api "
        "and Api events"
    ),
    "AWS::ApiGateway::Deployment": "local stages serve the template's routes; no deployment",
    "AWS::ApiGateway::Stage": "local stages serve the template's routes; no deployment",
    "AWS::ApiGatewayV2::Deployment": "local stages serve the template's routes; no deployment",
    "AWS::ApiGatewayV2::ApiMapping": "custom domains are not emulated",
    "AWS::ApiGatewayV2::DomainName": "custom domains are not emulated",
    "AWS::ApiGatewayV2::Model": "request validation models are not emulated",
    "AWS::ApiGatewayV2::IntegrationResponse": "integration responses are not emulated",
    "AWS::SQS::QueuePolicy": "queue policies are not enforced locally",
    "AWS::Cognito::UserPoolDomain": "the hosted UI is not emulated",
    "AWS::Cognito::UserPoolGroup": "groups are not created locally",
}
_IGNORED_BY_PREFIX = {
    "AWS::IAM::": "IAM is not enforced locally",
    "AWS::Logs::": "function logs go to the duelctl console",
    "AWS::CloudWatch::": "there are no metrics or alarms locally",
}
# The reason for every other type: harmless while no handler reads it (see _check_needed).
_NOT_EMULATED = "not emulated"


def find_template(directory: Path) -> Path:
    """The app's template in `directory`: template.yaml, else template.yml (as SAM CLI looks)."""
    for name in TEMPLATE_NAMES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    raise TemplateError(
        f"{directory}: no template.yaml or template.yml here; run from the app directory or "
        "pass the template path"
    )


def load_template(
    path: Path,
    overrides: Mapping[str, str] = EMPTY,
    *,
    stack_name: str | None = None,
    region: str = "us-east-1",
    account_id: str = "123456789012",
) -> Template:
    """Load and resolve a SAM/CloudFormation template; raise TemplateError naming the resource.

    `stack_name` defaults to the template directory's name made valid for CloudFormation,
    so physical names (and thus local tables and queues) survive restarts.
    """
    path = Path(path)
    if path.is_dir():
        path = find_template(path)
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the template ({exc}); check the path") from None
    document = _document(path, text)
    if stack_name is None:
        stack = naming.sanitize_stack_name(path.parent.name)
    elif naming.STACK_NAME_RE.fullmatch(stack_name):
        stack = stack_name
    else:
        raise TemplateError(
            f"Stack name {stack_name!r}: must start with a letter and hold only letters, "
            "digits and '-' (at most 128); choose another"
        )
    # Callers may pass numbers ({"DuelSeconds": 5}); CloudFormation sees strings.
    values = {str(k): scalar_text(v) or str(v) for k, v in overrides.items()}
    return _Loader(path, document, values, stack, region, account_id).load()


def note_ignored(template: Template) -> None:
    """Log one debug note per resource or event the emulator skips, with the reason.

    Called once the stack's logging is set up (`duelctl up -v` shows them), not from
    `load_template`, which runs before and on every reload.
    """
    for entry in template.ignored:
        emit(SERVICE, f"ignored {entry}", level=logging.DEBUG, ignored=entry)


def _document(path: Path, text: str) -> dict[str, Any]:
    document = load_yaml(text, path.name)
    if not isinstance(document, dict):
        raise TemplateError(
            f"{path.name}: not a CloudFormation template (expected a mapping); check the file"
        )
    unknown = sorted(str(key) for key in document if key not in _TOP_LEVEL)
    if unknown:
        raise TemplateError(
            f"{path.name}: unknown top-level section {unknown[0]}; use only "
            f"{', '.join(sorted(_TOP_LEVEL))}"
        )
    if not isinstance(document.get("Resources"), dict) or not document["Resources"]:
        raise TemplateError(f"{path.name}: Resources is missing or empty; declare resources")
    return document


class _Loader:
    """One load: the pieces every builder shares, and the order they run in."""

    def __init__(
        self,
        path: Path,
        document: dict[str, Any],
        overrides: dict[str, str],
        stack: str,
        region: str,
        account: str,
    ) -> None:
        self.path = path
        self.document = document
        self.stack = stack
        self.region = region
        self.account = account
        self.ignored: list[str] = []
        self.aliases: dict[str, str] = {}  # SAM referenceable properties (implicit.py)
        self.sam = self._transforms()
        self.parameters = resolve_parameters(document.get("Parameters"), overrides)
        stack_uuid = naming.uuid_like(stack, "", "stack")
        self.resolver = Resolver(
            pseudo={
                "AWS::Region": region,
                "AWS::AccountId": account,
                "AWS::StackName": stack,
                "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/"
                f"{stack_uuid}",
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NotificationARNs": (),
            },
            parameters=self.parameters,
            mappings=document.get("Mappings"),
            conditions=document.get("Conditions"),
        )

    def _transforms(self) -> bool:
        raw = self.document.get("Transform")
        names = raw if isinstance(raw, list) else [] if raw is None else [raw]
        for name in names:
            if name != SAM_TRANSFORM:
                raise TemplateError(
                    f"Transform {name}: not supported by the emulator (only {SAM_TRANSFORM}); "
                    "remove it or expand the template first"
                )
        return bool(names)

    # ------------------------------------------------------------------ resources

    def _resources(self) -> tuple[dict[str, RawResource], dict[str, RawResource]]:
        """Live and condition-skipped resources, SAM Globals merged and implicit ones added."""
        # Conditions are all evaluated, as CloudFormation does, so a broken one fails
        # even if nothing uses it.
        for name in self.resolver.conditions:
            self.resolver.condition(name, f"Condition {name}")
        globals_ = parse_globals(self.document.get("Globals"))
        if globals_ and not self.sam:
            raise TemplateError(
                f"Globals: needs Transform: {SAM_TRANSFORM}; add the transform or remove Globals"
            )
        live: dict[str, RawResource] = {}
        skipped: dict[str, RawResource] = {}
        for logical_id, declaration in self.document["Resources"].items():
            resource = self._resource(str(logical_id), declaration)
            if resource.condition is not None and not self.resolver.condition(
                resource.condition, resource.label
            ):
                skipped[resource.logical_id] = resource
            else:
                live[resource.logical_id] = apply_globals(resource, globals_)
        declared = set(live) | set(skipped)
        # AWS SAM: Api / HttpApi events without an API id create ServerlessRestApi /
        # ServerlessHttpApi (Globals apply to them); everything else the transform adds
        # (stages, roles, permissions, rules, ...) comes from implicit.py.
        apis: dict[str, RawResource] = {}
        for resource in live.values():
            if uses_implicit_http_api(resource) and IMPLICIT_HTTP_API not in declared:
                apis[IMPLICIT_HTTP_API] = apply_globals(implicit_http_api(), globals_)
            if uses_implicit_rest_api(resource) and IMPLICIT_REST_API not in declared:
                apis[IMPLICIT_REST_API] = apply_globals(implicit_rest_api(), globals_)
        implicit, self.aliases = implicit_resources(live, declared, self.resolver, apis)
        live.update(apis)
        live.update(implicit)
        return live, skipped

    def _resource(self, logical_id: str, declaration: Any) -> RawResource:
        if _LOGICAL_ID_RE.fullmatch(logical_id) is None:
            raise TemplateError(
                f"{logical_id}: logical ids must be alphanumeric (A-Z, a-z, 0-9); rename it"
            )
        if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
            raise TemplateError(f"{logical_id}: a resource needs a Type; add one")
        rtype: str = declaration["Type"]
        properties = declaration.get("Properties") or {}
        if not isinstance(properties, dict):
            raise TemplateError(f"{logical_id} ({rtype}): Properties must be a mapping; fix it")
        if rtype.startswith("AWS::Serverless::") and not self.sam:
            raise TemplateError(
                f"{logical_id} ({rtype}): SAM resources need Transform: {SAM_TRANSFORM}; add it"
            )
        if rtype in _REFUSED:
            raise TemplateError(f"{logical_id} ({rtype}): {_REFUSED[rtype]}")
        condition = declaration.get("Condition")
        if condition is not None and not isinstance(condition, str):
            raise TemplateError(
                f"{logical_id} ({rtype}): Condition must be the name of a condition; fix it"
            )
        return RawResource(logical_id, rtype, properties, condition)

    # ------------------------------------------------------------------ build

    def load(self) -> Template:
        live, skipped = self._resources()
        ids = PhysicalIds(
            live=live,
            skipped=skipped,
            resolver=self.resolver,
            stack=self.stack,
            region=self.region,
            account=self.account,
            aliases=self.aliases,
        )
        self.resolver.resources = ids
        props = {logical_id: Props(res, self.resolver) for logical_id, res in live.items()}
        declared = [p for p in props.values() if not p.resource.implicit]

        layers: dict[str, LocalLayer] = {}
        for prop in declared:
            if prop.resource.type in LAYER_TYPES:
                metadata = self.document["Resources"][prop.resource.logical_id].get("Metadata")
                layer = build_layer(prop, ids, self.path.parent, metadata)
                layers[layer.arn] = layer
        functions: dict[str, Function] = {}
        pending_sources: list[PendingSource] = []
        pending_routes: list[PendingHttpRoute] = []
        pending_events: list[PendingEvent] = []
        names: dict[str, str] = {}
        for prop in declared:
            if prop.resource.type not in FUNCTION_TYPES:
                continue
            function = build_function(prop, ids, self.path.parent, layers)
            if function.name in names:
                raise TemplateError(
                    f"{prop.label}: FunctionName {function.name} is also used by "
                    f"{names[function.name]}; function names must be unique"
                )
            names[function.name] = function.logical_id
            functions[function.logical_id] = function
            if prop.resource.type == SAM_FUNCTION:
                sources, routes, events = sam_events(prop, self.ignored)
                pending_sources += sources
                pending_routes += routes
                pending_events += events
                if prop.has("FunctionUrlConfig"):
                    self.ignored.append(f"{prop.label}: FunctionUrlConfig is not emulated")

        tables: dict[str, Table] = {}
        queues: dict[str, Queue] = {}
        pools: dict[str, UserPool] = {}
        clients: dict[str, UserPoolClient] = {}
        queue_arns = {
            ids.queue_arn(p.resource): p.resource.logical_id
            for p in declared
            if p.resource.type == SQS_QUEUE
        }
        for prop in declared:
            rtype, logical_id = prop.resource.type, prop.resource.logical_id
            if rtype in TABLE_TYPES:
                tables[logical_id] = build_table(prop, ids)
            elif rtype == SQS_QUEUE:
                queues[logical_id] = build_queue(prop, ids, queue_arns)
            elif rtype == USER_POOL:
                pools[logical_id] = build_user_pool(prop, ids)
        for prop in declared:
            if prop.resource.type == USER_POOL_CLIENT:
                clients[prop.resource.logical_id] = build_user_pool_client(prop, ids, pools)
            elif prop.resource.type == EVENT_SOURCE_MAPPING:
                source = raw_event_source(prop, functions, self.ignored)
                if source is not None:
                    pending_sources.append(source)
            elif prop.resource.type not in _BUILT:
                self.ignored.append(f"{prop.label}: {_ignore_reason(prop.resource.type)}")

        apis = ApiBuilder(ids, props, functions, self.ignored)
        websocket_apis, v2_http_apis = apis.build_v2()
        sam_http_apis = apis.build_sam_http(pending_routes)
        rest_apis = RestApiBuilder(ids, props, functions, pools, self.ignored).build(pending_events)
        schedules = ScheduleBuilder(ids, props, functions, self.ignored).build(pending_events)
        self._check_needed(props, functions)
        return Template(
            path=self.path,
            stack_name=self.stack,
            region=self.region,
            account_id=self.account,
            parameters=MappingProxyType({k: p.value for k, p in self.parameters.items()}),
            functions=MappingProxyType(functions),
            websocket_apis=websocket_apis,
            http_apis=v2_http_apis + sam_http_apis,
            tables=MappingProxyType(tables),
            queues=MappingProxyType(queues),
            user_pools=MappingProxyType(pools),
            user_pool_clients=MappingProxyType(clients),
            event_sources=resolve_sources(pending_sources, functions, queues, tables),
            outputs=MappingProxyType(self._outputs()),
            ignored=tuple(self.ignored),
            rest_apis=rest_apis,
            schedules=schedules,
        )

    def _check_needed(self, props: Mapping[str, Props], functions: Mapping[str, Function]) -> None:
        """Refuse a resource the emulator does not run when a handler is told to use it.

        A type the loader neither builds nor knows to be harmless (an SNS topic, an S3
        bucket, a state machine, ...) is only ignored while nothing hands it to a
        handler; once a function's environment names it, the handler would call a
        service that has no such resource locally and fail on its first request, far
        from the cause. `Fn::If` branches a false condition drops do not count.
        """
        unsupported = {
            logical_id: prop.resource
            for logical_id, prop in props.items()
            if not prop.resource.implicit
            and prop.resource.type not in _BUILT
            and _ignore_reason(prop.resource.type) == _NOT_EMULATED
        }
        if not unsupported:
            return
        for logical_id in functions:
            environment = props[logical_id].raw("Environment")
            variables = environment.get("Variables") if isinstance(environment, dict) else None
            if not isinstance(variables, dict):
                continue
            for variable, node in variables.items():
                names = referenced_names(
                    node, lambda name: self.resolver.condition(name, f"Condition {name}")
                )
                for name in sorted(names & set(unsupported)):
                    raise TemplateError(
                        f"{unsupported[name].label}: not emulated, but {logical_id} reads it "
                        f"from environment variable {variable}; the emulator provisions only "
                        "DynamoDB tables, SQS queues and Cognito user pools, so set "
                        f"{variable} with !If on a Condition that is false locally (e.g. a "
                        "parameter you override), or try this function on AWS"
                    )

    def _outputs(self) -> dict[str, Output]:
        section = self.document.get("Outputs") or {}
        if not isinstance(section, dict):
            raise TemplateError("Outputs: must be a mapping of name to output; fix the section")
        outputs: dict[str, Output] = {}
        for key, declaration in section.items():
            where = f"Output {key}"
            if not isinstance(declaration, dict) or "Value" not in declaration:
                raise TemplateError(f"{where}: needs a Value; add one")
            condition = declaration.get("Condition")
            if condition is not None and not self.resolver.condition(condition, where):
                continue
            value = self.resolver.resolve(declaration["Value"], where)
            if value is NO_VALUE:
                continue
            if isinstance(value, list):
                text = ",".join(as_text(item, where, "each Value item") for item in value)
            else:
                text = as_text(value, where, "Value")
            description = declaration.get("Description")
            outputs[str(key)] = Output(
                key=str(key),
                value=text,
                description=""
                if description is None
                else self.resolver.text(description, where, "Description"),
            )
        return outputs


def _ignore_reason(rtype: str) -> str:
    if rtype in _IGNORED_BY_TYPE:
        return _IGNORED_BY_TYPE[rtype]
    for prefix, reason in _IGNORED_BY_PREFIX.items():
        if rtype.startswith(prefix):
            return reason
    return _NOT_EMULATED
