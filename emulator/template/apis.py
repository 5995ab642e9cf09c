"""WebSocket and HTTP APIs: raw AWS::ApiGatewayV2::* resources and SAM HttpApi.

API Gateway wires a route to a function through an integration (`Target:
integrations/<id>`, `IntegrationUri: ...functions/<function ARN>/invocations`) and a
route to an authorizer through `AuthorizerId`. All of those are ids the loader chose, so
following them is matching resolved strings against `PhysicalIds`: no guessing from
logical ids, and a template that points somewhere else fails at load, naming the route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from emulator.template.errors import TemplateError
from emulator.template.functions import PendingHttpRoute
from emulator.template.intrinsics import as_text
from emulator.template.model import (
    Function,
    HttpApi,
    HttpRoute,
    JwtAuthorizer,
    RequestAuthorizer,
    Route,
    WebSocketApi,
)
from emulator.template.physical import (
    SAM_HTTP_API,
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
from emulator.template.services import find_function

_INVOCATIONS_RE = re.compile(
    r"arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(.+)/invocations"
)
_FUNCTION_ARN_RE = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:.+")
DEFAULT_IDENTITY_SOURCE = "$request.header.Authorization"
# AWS: WebSocket APIs select routes on a field of the JSON body, written
# $request.body.<path> or ${request.body.<path>} (API Gateway dev guide, "WebSocket
# selection expressions"); REQUEST authorizers read headers, query parameters, stage
# variables or context values (docs/aws-behaviour.md §4).
_ROUTE_SELECTION_RE = re.compile(
    r"\$request\.body\.[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*"
    r"|\$\{request\.body\.[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*\}"
)
_WS_IDENTITY_SOURCE_RE = re.compile(
    r"(?:route\.request\.header|route\.request\.querystring|stageVariables|context)\..+"
)
# The stage a WebSocket API gets when the template declares none (the endpoints file
# and the management URL need one).
DEFAULT_WS_STAGE = "local"


@dataclass(slots=True)
class ApiBuilder:
    """Builds every API from the live resources once functions are known."""

    ids: PhysicalIds
    props: Mapping[str, Props]  # live resources by logical id
    functions: Mapping[str, Function]
    ignored: list[str]
    _by_type: dict[str, list[Props]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for prop in self.props.values():
            # SAM's generated stages only make its APIs referenceable; the APIs themselves
            # (ServerlessHttpApi) are built from their SAM resource.
            if prop.resource.implicit and prop.resource.type != SAM_HTTP_API:
                continue
            self._by_type.setdefault(prop.resource.type, []).append(prop)

    def of_type(self, rtype: str) -> list[Props]:
        return self._by_type.get(rtype, [])

    # ------------------------------------------------------------------ shared lookups

    def _for_api(self, rtype: str, api_id: str) -> Iterable[Props]:
        """Resources of `rtype` whose ApiId resolves to `api_id`."""
        for prop in self.of_type(rtype):
            if prop.text("ApiId") == api_id:
                yield prop

    def _by_ref(self, rtype: str, ref: str) -> Props | None:
        for prop in self.of_type(rtype):
            if self.ids.ref(prop.resource.logical_id, prop.label) == ref:
                return prop
        return None

    def _lambda_function(self, label: str, what: str, uri: str) -> str:
        """The logical id of the function an integration or authorizer URI invokes."""
        match = _INVOCATIONS_RE.fullmatch(uri)
        arn = match.group(1) if match else uri
        if _FUNCTION_ARN_RE.fullmatch(arn) is None:
            raise TemplateError(
                f"{label}: {what} {uri} does not invoke a Lambda function; the emulator only "
                "runs Lambda integrations (arn:aws:apigateway:{region}:lambda:path/2015-03-31/"
                "functions/{FunctionArn}/invocations)"
            )
        function = find_function(self.functions, arn)
        if function is None:
            raise TemplateError(
                f"{label}: {what} invokes {arn}, which is not a function of this template; "
                "use ${<Function>.Arn} of a function declared here"
            )
        return function

    def _check_api_refs(self, api_ids: set[str]) -> None:
        for rtype in (V2_ROUTE, V2_INTEGRATION, V2_AUTHORIZER, V2_STAGE, V2_ROUTE_RESPONSE):
            for prop in self.of_type(rtype):
                api_id = prop.required_text("ApiId", "set it to !Ref <Api>")
                if api_id not in api_ids:
                    raise TemplateError(
                        f"{prop.label}: ApiId {api_id} is not an API of this template; use "
                        "!Ref <Api> of an AWS::ApiGatewayV2::Api declared here"
                    )

    def _route_target(self, route: Props, api_id: str, *, http: bool) -> str | None:
        target = route.text("Target")
        if target is None:
            if http:
                raise TemplateError(
                    f"{route.label}: the route has no Target; set Target: integrations/<id> "
                    "to a Lambda integration"
                )
            return None
        prefix, _, integration_id = target.partition("/")
        integration = self._by_ref(V2_INTEGRATION, integration_id)
        if prefix != "integrations" or integration is None:
            raise TemplateError(
                f"{route.label}: Target {target} is not integrations/<id> of an integration "
                "in this template; use !Sub integrations/${<Integration>}"
            )
        if integration.text("ApiId") != api_id:
            raise TemplateError(
                f"{route.label}: its integration {integration.resource.logical_id} belongs to "
                "another API; point the route at an integration of the same API"
            )
        kind = integration.text("IntegrationType") or ""
        uri = integration.text("IntegrationUri") or ""
        if kind != "AWS_PROXY":
            raise TemplateError(
                f"{integration.label}: IntegrationType {kind or '(missing)'} is not emulated "
                f"(route {route.resource.logical_id}); the emulator runs Lambda proxy "
                "integrations only, so use IntegrationType: AWS_PROXY with a Lambda URI"
            )
        if http and (integration.text("PayloadFormatVersion") or "2.0") != "2.0":
            raise TemplateError(
                f"{integration.label}: PayloadFormatVersion "
                f"{integration.text('PayloadFormatVersion')} is not emulated; use 2.0"
            )
        return self._lambda_function(integration.label, "IntegrationUri", uri)

    def _stage(self, api_id: str, default: str) -> str:
        for stage in self._for_api(V2_STAGE, api_id):
            return stage.required_text("StageName", "name the stage")
        return default

    # ------------------------------------------------------------------ raw V2 APIs

    def build_v2(self) -> tuple[tuple[WebSocketApi, ...], tuple[HttpApi, ...]]:
        """Every AWS::ApiGatewayV2::Api, with its routes, stage and authorizers."""
        apis = self.of_type(V2_API)
        self._check_api_refs({self.ids.api_id(api.resource) for api in apis})
        websockets: list[WebSocketApi] = []
        https: list[HttpApi] = []
        for api in apis:
            protocol = api.required_text("ProtocolType", "use WEBSOCKET or HTTP")
            if api.has("Body") or api.has("BodyS3Location"):
                raise TemplateError(
                    f"{api.label}: OpenAPI Body/BodyS3Location is not emulated; declare "
                    "routes with AWS::ApiGatewayV2::Route resources"
                )
            if protocol == "WEBSOCKET":
                websockets.append(self._websocket(api))
            elif protocol == "HTTP":
                https.append(self._v2_http(api))
            else:
                raise TemplateError(
                    f"{api.label}: ProtocolType {protocol} is not emulated; use WEBSOCKET or HTTP"
                )
        return tuple(websockets), tuple(https)

    def _websocket(self, api: Props) -> WebSocketApi:
        api_id = self.ids.api_id(api.resource)
        routes: dict[str, Route] = {}
        authorizer: RequestAuthorizer | None = None
        for route in self._for_api(V2_ROUTE, api_id):
            key = route.required_text("RouteKey", "set e.g. RouteKey: $connect")
            if key in routes:
                raise TemplateError(
                    f"{route.label}: another route of {api.resource.logical_id} already has "
                    f"RouteKey {key}; route keys must be unique"
                )
            function = self._route_target(route, api_id, http=False)
            auth_type = route.text("AuthorizationType") or "NONE"
            if auth_type == "CUSTOM":
                if key != "$connect":
                    # AWS: WebSocket APIs authorize on $connect only.
                    raise TemplateError(
                        f"{route.label}: only the $connect route can have an authorizer; "
                        "set AuthorizationType: NONE"
                    )
                authorizer = self._request_authorizer(route, api_id)
            elif auth_type == "AWS_IAM":
                self.ignored.append(f"{route.label}: AWS_IAM authorization is not enforced locally")
            elif auth_type != "NONE":
                raise TemplateError(
                    f"{route.label}: AuthorizationType {auth_type} is not valid for a WebSocket "
                    "route; use NONE, CUSTOM or AWS_IAM"
                )
            routes[key] = Route(key, function, self._returns_response(route, api_id))
        expression = api.text("RouteSelectionExpression") or "$request.body.action"
        if _ROUTE_SELECTION_RE.fullmatch(expression) is None:
            raise TemplateError(
                f"{api.label}: RouteSelectionExpression {expression} is not emulated; "
                "WebSocket routes are chosen by a field of the JSON body, so use "
                "$request.body.<field> (e.g. $request.body.action)"
            )
        return WebSocketApi(
            logical_id=api.resource.logical_id,
            api_id=api_id,
            name=self.ids.name(api.resource),
            stage=self._stage(api_id, DEFAULT_WS_STAGE),
            route_selection_expression=expression,
            routes=MappingProxyType(routes),
            authorizer=authorizer,
        )

    def _returns_response(self, route: Props, api_id: str) -> bool:
        # AWS: the integration's result goes back to the client only with
        # RouteResponseSelectionExpression "$default" and a "$default" route response
        # (docs/aws-behaviour.md §2).
        if route.text("RouteResponseSelectionExpression") != "$default":
            return False
        route_id = self.ids.ref(route.resource.logical_id, route.label)
        return any(
            response.text("RouteId") == route_id and response.text("RouteResponseKey") == "$default"
            for response in self._for_api(V2_ROUTE_RESPONSE, api_id)
        )

    def _authorizer_of(self, route: Props, api_id: str) -> Props:
        ref = route.required_text("AuthorizerId", "set it to !Ref <Authorizer>")
        authorizer = self._by_ref(V2_AUTHORIZER, ref)
        if authorizer is None or authorizer.text("ApiId") != api_id:
            raise TemplateError(
                f"{route.label}: AuthorizerId {ref} is not an authorizer of this API; use "
                "!Ref <Authorizer> of an AWS::ApiGatewayV2::Authorizer on the same API"
            )
        return authorizer

    def _request_authorizer(self, route: Props, api_id: str) -> RequestAuthorizer:
        authorizer = self._authorizer_of(route, api_id)
        kind = authorizer.text("AuthorizerType")
        if kind != "REQUEST":
            raise TemplateError(
                f"{authorizer.label}: AuthorizerType {kind} cannot guard a WebSocket $connect; "
                "use a REQUEST Lambda authorizer"
            )
        uri = authorizer.required_text("AuthorizerUri", "set it to the Lambda invocation URI")
        sources = _identity_sources(authorizer)
        for source in sources:
            if _WS_IDENTITY_SOURCE_RE.fullmatch(source) is None:
                raise TemplateError(
                    f"{authorizer.label}: IdentitySource {source} is not valid for a WebSocket "
                    "API; use route.request.header.<Name>, route.request.querystring.<name>, "
                    "stageVariables.<name> or context.<name>"
                )
        return RequestAuthorizer(
            logical_id=authorizer.resource.logical_id,
            function=self._lambda_function(authorizer.label, "AuthorizerUri", uri),
            identity_sources=sources,
        )

    def _v2_http(self, api: Props) -> HttpApi:
        api_id = self.ids.api_id(api.resource)
        routes: list[HttpRoute] = []
        target = api.text("Target")
        if target is not None:
            # AWS: "quick create" makes a $default route to Target and a $default stage.
            function = self._lambda_function(api.label, "Target", target)
            routes.append(HttpRoute("ANY", "$default", function, None))
        for route in self._for_api(V2_ROUTE, api_id):
            key = route.required_text("RouteKey", "set e.g. RouteKey: GET /items")
            method, path = _split_route_key(route.label, key)
            route_function = self._route_target(route, api_id, http=True)
            if route_function is None:  # pragma: no cover - http=True raises instead
                continue
            auth_type = route.text("AuthorizationType") or "NONE"
            jwt: JwtAuthorizer | None = None
            if auth_type == "JWT":
                jwt = self._v2_jwt(self._authorizer_of(route, api_id))
            elif auth_type == "AWS_IAM":
                self.ignored.append(f"{route.label}: AWS_IAM authorization is not enforced locally")
            elif auth_type == "CUSTOM":
                raise TemplateError(
                    f"{route.label}: Lambda authorizers on HTTP APIs are not emulated; use a JWT "
                    "authorizer"
                )
            elif auth_type != "NONE":
                raise TemplateError(
                    f"{route.label}: AuthorizationType {auth_type} is not valid for an HTTP "
                    "route; use NONE, JWT or AWS_IAM"
                )
            routes.append(HttpRoute(method, path, route_function, jwt))
        _check_unique(api.label, routes)
        return HttpApi(
            logical_id=api.resource.logical_id,
            api_id=api_id,
            stage=self._stage(api_id, "$default"),
            routes=tuple(routes),
        )

    def _v2_jwt(self, authorizer: Props) -> JwtAuthorizer:
        if authorizer.text("AuthorizerType") != "JWT":
            raise TemplateError(
                f"{authorizer.label}: a JWT route needs AuthorizerType: JWT; fix the authorizer"
            )
        config = authorizer.mapping("JwtConfiguration")
        sources = _identity_sources(authorizer) or (DEFAULT_IDENTITY_SOURCE,)
        return _jwt(
            authorizer.label,
            authorizer.text("Name") or authorizer.resource.logical_id,
            sources[0],
            config,
        )

    # ------------------------------------------------------------------ SAM HttpApi

    def build_sam_http(self, pending: list[PendingHttpRoute]) -> tuple[HttpApi, ...]:
        """Every AWS::Serverless::HttpApi (and SAM's implicit ServerlessHttpApi)."""
        apis = self.of_type(SAM_HTTP_API)
        by_id = {self.ids.api_id(api.resource): api for api in apis}
        routes: dict[str, list[PendingHttpRoute]] = {api_id: [] for api_id in by_id}
        implicit = next((a for a in apis if a.resource.implicit), None)
        for item in pending:
            api_id = item.api_id
            if api_id is None:
                if implicit is None:  # pragma: no cover - the loader always adds it
                    raise TemplateError(f"{item.label}: no implicit HttpApi")
                api_id = self.ids.api_id(implicit.resource)
            if api_id not in routes:
                raise TemplateError(
                    f"{item.label}: ApiId {api_id} is not an AWS::Serverless::HttpApi of this "
                    "template; use !Ref <HttpApi> of one declared here"
                )
            routes[api_id].append(item)
        return tuple(self._sam_http(api, routes[api_id]) for api_id, api in by_id.items())

    def _sam_http(self, api: Props, pending: list[PendingHttpRoute]) -> HttpApi:
        if api.has("DefinitionBody") or api.has("DefinitionUri"):
            raise TemplateError(
                f"{api.label}: OpenAPI DefinitionBody/DefinitionUri is not emulated; declare "
                "routes with HttpApi events on the functions"
            )
        auth = api.mapping("Auth")
        declared = auth.get("Authorizers") or {}
        if not isinstance(declared, dict):
            raise TemplateError(f"{api.label}: Auth.Authorizers must be a mapping; fix it")
        default = auth.get("DefaultAuthorizer")
        if default is not None and default not in declared:
            raise TemplateError(
                f"{api.label}: DefaultAuthorizer {default} is not in Auth.Authorizers; "
                "declare it or fix the name"
            )
        routes: list[HttpRoute] = []
        for item in pending:
            name = default if item.authorizer is None else item.authorizer
            jwt = None
            if name is not None and name != "NONE":
                if name not in declared:
                    raise TemplateError(
                        f"{item.label}: Auth.Authorizer {name} is not declared in "
                        f"{api.resource.logical_id}'s Auth.Authorizers; declare it or use NONE"
                    )
                jwt = self._sam_jwt(api.label, str(name), declared[name])
            routes.append(HttpRoute(item.method, item.path, item.function, jwt))
        _check_unique(api.label, routes)
        return HttpApi(
            logical_id=api.resource.logical_id,
            api_id=self.ids.api_id(api.resource),
            stage=api.text("StageName") or "$default",
            routes=tuple(routes),
        )

    def _sam_jwt(self, label: str, name: str, spec: Any) -> JwtAuthorizer:
        if not isinstance(spec, dict) or "JwtConfiguration" not in spec:
            raise TemplateError(
                f"{label}: authorizer {name} is not a JWT authorizer (JwtConfiguration); Lambda "
                "authorizers on HTTP APIs are not emulated"
            )
        source = spec.get("IdentitySource") or DEFAULT_IDENTITY_SOURCE
        config = spec["JwtConfiguration"]
        if not isinstance(config, dict):
            raise TemplateError(
                f"{label}: authorizer {name} JwtConfiguration must be a mapping; fix it"
            )
        return _jwt(label, name, as_text(source, label, "IdentitySource"), config)


def _jwt(label: str, name: str, source: str, config: Mapping[str, Any]) -> JwtAuthorizer:
    # SAM spells the keys issuer/audience, CloudFormation Issuer/Audience.
    issuer = config.get("issuer", config.get("Issuer"))
    audience = config.get("audience", config.get("Audience")) or []
    if not issuer:
        raise TemplateError(
            f"{label}: JWT authorizer {name} has no issuer; set JwtConfiguration.issuer"
        )
    if not isinstance(audience, list):
        audience = [audience]
    return JwtAuthorizer(
        name=name,
        identity_source=source,
        issuer=as_text(issuer, label, "JwtConfiguration issuer"),
        audience=tuple(as_text(a, label, "JwtConfiguration audience") for a in audience),
    )


def _identity_sources(authorizer: Props) -> tuple[str, ...]:
    raw = authorizer.get("IdentitySource")
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(as_text(item, authorizer.label, "IdentitySource").strip() for item in items)


def _split_route_key(label: str, key: str) -> tuple[str, str]:
    if key == "$default":
        return "ANY", "$default"
    method, _, path = key.partition(" ")
    if not path.startswith("/") or not method:
        raise TemplateError(
            f"{label}: RouteKey {key!r} must be '$default' or 'METHOD /path'; fix it"
        )
    return method.upper(), path


def _check_unique(label: str, routes: list[HttpRoute]) -> None:
    seen: set[tuple[str, str]] = set()
    for route in routes:
        key = (route.method, route.path)
        if key in seen:
            raise TemplateError(
                f"{label}: two routes for {route.method} {route.path}; keep one (AWS refuses "
                "duplicate route keys)"
            )
        seen.add(key)


def implicit_http_api() -> RawResource:
    """SAM's `ServerlessHttpApi`, created when an HttpApi event names no ApiId."""
    return RawResource("ServerlessHttpApi", SAM_HTTP_API, {}, implicit=True)
