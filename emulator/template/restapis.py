"""REST APIs (v1): AWS::Serverless::Api, SAM's implicit ServerlessRestApi and `Api` events.

A SAM `Api` event adds one method to an API: the one its `RestApiId` names, else
`ServerlessRestApi` with its `Prod` stage. The integration is always a Lambda proxy
(payload format 1.0). Authorizers come from the API's `Auth.Authorizers` (Lambda TOKEN
or REQUEST, Cognito user pools), the event's `Auth.Authorizer` overriding
`DefaultAuthorizer`. Settings that shape only AWS's infrastructure (endpoint type,
logging, tracing, caching) change nothing locally; ones a client would notice but the
emulator does not apply (API keys, resource policies, custom gateway responses) are
listed in `Template.ignored`. An OpenAPI `DefinitionBody` is refused, as are REST APIs
written as raw AWS::ApiGateway::Method resources.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from emulator.template import naming
from emulator.template.errors import TemplateError
from emulator.template.functions import PendingEvent
from emulator.template.intrinsics import as_text
from emulator.template.model import Function, RestApi, RestAuthorizer, RestRoute, UserPool
from emulator.template.physical import SAM_API, PhysicalIds, Props, to_int
from emulator.template.services import find_function

RAW_METHOD = "AWS::ApiGateway::Method"
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"})
_POOL_ARN_RE = re.compile(r"arn:[^:]+:cognito-idp:[^:]*:[^:]*:userpool/(.+)")
# AWS SAM: Lambda authorizer result caching defaults to 300 s, at most 3600 s.
DEFAULT_TTL_S = 300
# AWS: REST integration timeout 50 ms .. 29 s (API Gateway quotas).
MAX_TIMEOUT_MS = 29000
_CORS_KEYS = {
    "AllowOrigin": "Access-Control-Allow-Origin",
    "AllowMethods": "Access-Control-Allow-Methods",
    "AllowHeaders": "Access-Control-Allow-Headers",
    "MaxAge": "Access-Control-Max-Age",
    "AllowCredentials": "Access-Control-Allow-Credentials",
}


class RestApiBuilder:
    """Builds every REST API once functions and user pools are known."""

    def __init__(
        self,
        ids: PhysicalIds,
        props: Mapping[str, Props],
        functions: Mapping[str, Function],
        pools: Mapping[str, UserPool],
        ignored: list[str],
    ) -> None:
        self.ids = ids
        self.props = props
        self.functions = functions
        self.pools = pools
        self.ignored = ignored

    def build(self, events: list[PendingEvent]) -> tuple[RestApi, ...]:
        """Every AWS::Serverless::Api (the implicit one included) with its methods."""
        self._refuse_raw_methods()
        apis = [p for p in self.props.values() if p.resource.type == SAM_API]
        by_id = {self.ids.api_id(api.resource): api for api in apis}
        implicit = next((api for api in apis if api.resource.implicit), None)
        pending: dict[str, list[PendingEvent]] = {api_id: [] for api_id in by_id}
        for event in events:
            if event.type != "Api":
                continue
            target = event.properties.get("RestApiId")
            if target is None:
                if implicit is None:  # pragma: no cover - the loader always adds it
                    raise TemplateError(f"{event.label}: no implicit REST API")
                api_id = self.ids.api_id(implicit.resource)
            else:
                api_id = as_text(target, event.label, "RestApiId")
            if api_id not in pending:
                raise TemplateError(
                    f"{event.label}: RestApiId {api_id} is not an AWS::Serverless::Api of this "
                    "template; use !Ref <Api> of one declared here"
                )
            pending[api_id].append(event)
        return tuple(self._api(api, pending[api_id]) for api_id, api in by_id.items())

    def _refuse_raw_methods(self) -> None:
        for prop in self.props.values():
            if prop.resource.type != RAW_METHOD or prop.resource.implicit:
                continue
            integration = prop.mapping("Integration")
            uri = integration.get("Uri")
            if isinstance(uri, str) and "/functions/" in uri:
                raise TemplateError(
                    f"{prop.label}: REST APIs written as AWS::ApiGateway::Method resources are "
                    "not emulated; declare the API with AWS::Serverless::Api and Api events "
                    "on the functions"
                )

    # ------------------------------------------------------------------ one API

    def _api(self, api: Props, events: list[PendingEvent]) -> RestApi:
        label = api.label
        if api.has("DefinitionBody") or api.has("DefinitionUri"):
            raise TemplateError(
                f"{label}: OpenAPI DefinitionBody/DefinitionUri is not emulated; declare the "
                "routes with Api events on the functions"
            )
        stage = api.required_text("StageName", "name the stage (e.g. StageName: Prod)")
        variables = {
            str(k): as_text(v, label, f"Variables.{k}") for k, v in api.mapping("Variables").items()
        }
        binary = tuple(
            as_text(t, label, "BinaryMediaTypes").replace("~1", "/")
            for t in api.items("BinaryMediaTypes")
        )
        auth = api.mapping("Auth")
        declared = auth.get("Authorizers") or {}
        if not isinstance(declared, dict):
            raise TemplateError(f"{label}: Auth.Authorizers must be a mapping; fix it")
        authorizers = {
            str(name): self._authorizer(label, str(name), spec) for name, spec in declared.items()
        }
        default = auth.get("DefaultAuthorizer")
        if default is not None and default != "AWS_IAM" and default not in authorizers:
            raise TemplateError(
                f"{label}: DefaultAuthorizer {default} is not in Auth.Authorizers; declare it "
                "or fix the name"
            )
        for setting, what in (
            ("ApiKeyRequired", "API keys are not checked locally"),
            ("ResourcePolicy", "resource policies are not enforced locally"),
            ("UsagePlan", "usage plans and throttling are not emulated"),
        ):
            if auth.get(setting):
                self.ignored.append(f"{label}: Auth.{setting}: {what}")
        if api.has("GatewayResponses"):
            self.ignored.append(
                f"{label}: GatewayResponses: API Gateway's default error responses are sent"
            )
        routes: list[RestRoute] = []
        seen: set[tuple[str, str]] = set()
        for event in events:
            route = self._route(api, event, authorizers, default)
            key = (route.method, route.path)
            if key in seen:
                raise TemplateError(
                    f"{event.label}: {route.method} {route.path} is already a method of "
                    f"{api.resource.logical_id}; keep one (SAM refuses duplicates)"
                )
            seen.add(key)
            routes.append(route)
        return RestApi(
            logical_id=api.resource.logical_id,
            api_id=self.ids.api_id(api.resource),
            stage=stage,
            routes=tuple(routes),
            stage_variables=MappingProxyType(variables),
            binary_media_types=binary,
            cors=_cors(label, api.get("Cors")),
        )

    def _route(
        self,
        api: Props,
        event: PendingEvent,
        authorizers: Mapping[str, RestAuthorizer | None],
        default: Any,
    ) -> RestRoute:
        values = event.properties
        path = as_text(values.get("Path"), event.label, "Path") if values.get("Path") else ""
        if not path.startswith("/"):
            raise TemplateError(f"{event.label}: Path {path or '(missing)'} must start with '/'")
        method = as_text(values.get("Method") or "", event.label, "Method").upper()
        if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
            method = "ANY"
        if method not in _METHODS:
            raise TemplateError(
                f"{event.label}: Method {method or '(missing)'} is not an HTTP method; use "
                "get, post, put, delete, patch, head, options or any"
            )
        event_auth = values.get("Auth") or {}
        if not isinstance(event_auth, dict):
            raise TemplateError(f"{event.label}: Auth must be a mapping; fix it")
        name = event_auth.get("Authorizer", default)
        authorizer: RestAuthorizer | None = None
        if name == "AWS_IAM":
            self.ignored.append(f"{event.label}: AWS_IAM authorization is not enforced locally")
        elif name is not None and name != "NONE":
            if name not in authorizers:
                raise TemplateError(
                    f"{event.label}: Auth.Authorizer {name} is not declared in "
                    f"{api.resource.logical_id}'s Auth.Authorizers; declare it or use NONE"
                )
            authorizer = authorizers[name]
        scopes = event_auth.get("AuthorizationScopes")
        if authorizer is not None and scopes:
            if authorizer.kind != "COGNITO_USER_POOLS":
                raise TemplateError(
                    f"{event.label}: AuthorizationScopes apply to Cognito authorizers only; "
                    "remove them"
                )
            authorizer = dataclasses.replace(
                authorizer, scopes=tuple(as_text(s, event.label, "scope") for s in scopes)
            )
        if event_auth.get("ApiKeyRequired"):
            self.ignored.append(f"{event.label}: API keys are not checked locally")
        timeout = to_int(
            values.get("TimeoutInMillis"), event.label, "TimeoutInMillis", 29000, 50, 29000
        )
        api_logical = api.resource.logical_id
        resource_id = (
            self.ids.root_resource_id(api.resource)
            if path == "/"
            else naming.token(self.ids.stack, f"{api_logical}{path}", 6, naming.LOWER_ALNUM, "res")
        )
        return RestRoute(method, path, event.function, authorizer, resource_id, timeout)

    # ------------------------------------------------------------------ authorizers

    def _authorizer(self, label: str, name: str, spec: Any) -> RestAuthorizer:
        where = f"{label} authorizer {name}"
        if not isinstance(spec, dict):
            raise TemplateError(f"{where}: must be a mapping; fix it")
        identity = spec.get("Identity") or {}
        if not isinstance(identity, dict):
            raise TemplateError(f"{where}: Identity must be a mapping; fix it")
        ttl = to_int(
            identity.get("ReauthorizeEvery"), where, "ReauthorizeEvery", DEFAULT_TTL_S, 0, 3600
        )
        expression = identity.get("ValidationExpression")
        validation = (
            None if expression is None else as_text(expression, where, "ValidationExpression")
        )
        header = as_text(identity.get("Header") or "Authorization", where, "Identity.Header")
        if "UserPoolArn" in spec:
            arns = (
                spec["UserPoolArn"]
                if isinstance(spec["UserPoolArn"], list)
                else [spec["UserPoolArn"]]
            )
            scopes = spec.get("AuthorizationScopes") or []
            return RestAuthorizer(
                name=name,
                kind="COGNITO_USER_POOLS",
                function=None,
                identity_sources=(f"method.request.header.{header}",),
                ttl_s=ttl,
                validation_expression=validation,
                user_pool_ids=tuple(
                    self._pool_id(where, as_text(a, where, "UserPoolArn")) for a in arns
                ),
                scopes=tuple(as_text(s, where, "AuthorizationScopes") for s in scopes),
            )
        if "FunctionArn" not in spec:
            raise TemplateError(
                f"{where}: needs FunctionArn (a Lambda authorizer) or UserPoolArn (Cognito); "
                "add one"
            )
        arn = as_text(spec["FunctionArn"], where, "FunctionArn")
        function = find_function(self.functions, arn)
        if function is None:
            raise TemplateError(
                f"{where}: FunctionArn {arn} is not a function of this template; use "
                "!GetAtt <Function>.Arn of a function declared here"
            )
        payload = as_text(spec.get("FunctionPayloadType") or "TOKEN", where, "FunctionPayloadType")
        kind: Literal["TOKEN", "REQUEST"]
        sources: tuple[str, ...]
        if payload == "TOKEN":
            kind, sources = "TOKEN", (f"method.request.header.{header}",)
        elif payload == "REQUEST":
            kind, sources = "REQUEST", _request_sources(where, identity)
            if not sources and ttl > 0:
                # AWS: a cached REQUEST authorizer needs identity sources to key the cache.
                raise TemplateError(
                    f"{where}: a REQUEST authorizer with caching needs Identity (Headers, "
                    "QueryStrings, StageVariables or Context); add one or set "
                    "ReauthorizeEvery: 0"
                )
        else:
            raise TemplateError(
                f"{where}: FunctionPayloadType {payload} must be TOKEN or REQUEST; fix it"
            )
        return RestAuthorizer(
            name=name,
            kind=kind,
            function=function,
            identity_sources=sources,
            ttl_s=ttl,
            validation_expression=validation if kind == "TOKEN" else None,
        )

    def _pool_id(self, where: str, arn: str) -> str:
        match = _POOL_ARN_RE.fullmatch(arn)
        pool_id = match.group(1) if match else arn
        for pool in self.pools.values():
            if pool_id == pool.pool_id:
                return pool_id
        raise TemplateError(
            f"{where}: user pool {arn} is not declared in this template, so its tokens cannot "
            "be checked locally; declare the pool here or use !GetAtt <UserPool>.Arn"
        )


def _request_sources(where: str, identity: Mapping[str, Any]) -> tuple[str, ...]:
    """AWS SAM Identity lists -> API Gateway identity sources, in SAM's order."""
    sources: list[str] = []
    for key, prefix in (
        ("Headers", "method.request.header."),
        ("QueryStrings", "method.request.querystring."),
        ("StageVariables", "stageVariables."),
        ("Context", "context."),
    ):
        items = identity.get(key) or []
        if not isinstance(items, list):
            raise TemplateError(f"{where}: Identity.{key} must be a list; fix it")
        sources += [prefix + as_text(item, where, f"Identity.{key}") for item in items]
    return tuple(sources)


def _cors(label: str, value: Any) -> Mapping[str, str] | None:
    """AWS SAM Cors (a string = AllowOrigin, or a mapping) -> preflight response headers.

    SAM's values are quoted for API Gateway ("'*'"); the quotes are not part of the header.
    """
    if value is None:
        return None
    spec = {"AllowOrigin": value} if isinstance(value, str) else value
    if not isinstance(spec, dict):
        raise TemplateError(f"{label}: Cors must be a string or a mapping; fix it")
    headers: dict[str, str] = {}
    for key, header in _CORS_KEYS.items():
        if key in spec and spec[key] is not None:
            raw = spec[key]
            text = (
                ("true" if raw else "false")
                if isinstance(raw, bool)
                else as_text(raw, label, f"Cors.{key}")
            )
            headers[header] = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text
    if "Access-Control-Allow-Origin" not in headers:
        raise TemplateError(f"{label}: Cors needs AllowOrigin (e.g. \"'*'\"); add it")
    if headers.get("Access-Control-Allow-Credentials") == "false":
        del headers["Access-Control-Allow-Credentials"]
    return MappingProxyType(headers)
