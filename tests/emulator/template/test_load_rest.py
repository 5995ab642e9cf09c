"""REST APIs (v1): SAM Api events, AWS::Serverless::Api, authorizers, what is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.template.errors import TemplateError
from emulator.template.model import Template

Load = Callable[..., Template]

APP = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.12, CodeUri: src/}
  Api:
    Variables: {color: blue}
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      BinaryMediaTypes: [image~1png]
      Cors: {AllowOrigin: "'*'", AllowHeaders: "'X-Key'", MaxAge: "'600'"}
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt Gate.Arn
            Identity: {Header: X-Token, ValidationExpression: "^t-.*", ReauthorizeEvery: 60}
          Keyed:
            FunctionArn: !GetAtt Gate.Arn
            FunctionPayloadType: REQUEST
            Identity: {Headers: [X-Key], QueryStrings: [k], StageVariables: [color]}
          Users:
            UserPoolArn: !GetAtt Pool.Arn
  Gate:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.gate}
  Items:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.items
      Events:
        List: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /items, Method: get}}
        One:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /items/{id}
            Method: ANY
            Auth: {Authorizer: Keyed}
        Mine:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /me
            Method: get
            TimeoutInMillis: 1500
            Auth: {Authorizer: Users, AuthorizationScopes: [items/read]}
        Open:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /, Method: get, Auth: {Authorizer: NONE}}
        Iam:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /iam, Method: get, Auth: {Authorizer: AWS_IAM}}
        Implicit: {Type: Api, Properties: {Path: /health, Method: get}}
"""


@pytest.fixture
def app(load: Load) -> Template:
    return load(APP)


def test_apis_stages_and_variables(app: Template) -> None:
    """The declared API and SAM's implicit one (stage Prod); Globals.Api applies to both."""
    apis = {api.logical_id: api for api in app.rest_apis}
    assert set(apis) == {"Api", "ServerlessRestApi"}
    api, implicit = apis["Api"], apis["ServerlessRestApi"]
    assert (api.stage, implicit.stage) == ("dev", "Prod")
    assert dict(api.stage_variables) == dict(implicit.stage_variables) == {"color": "blue"}
    assert api.binary_media_types == ("image/png",)
    assert dict(api.cors or {}) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Headers": "X-Key",
        "Access-Control-Max-Age": "600",
    }
    assert [(r.method, r.path) for r in implicit.routes] == [("GET", "/health")]
    assert implicit.routes[0].authorizer is None  # the default authorizer is Api's only


def test_methods_and_their_authorizers(app: Template) -> None:
    """DefaultAuthorizer, per-event Authorizer, NONE, AWS_IAM (not enforced), scopes."""
    routes = {(r.method, r.path): r for api in app.rest_apis for r in api.routes}
    token = routes["GET", "/items"].authorizer
    assert token is not None
    assert (token.kind, token.function, token.ttl_s) == ("TOKEN", "Gate", 60)
    assert token.identity_sources == ("method.request.header.X-Token",)
    assert token.validation_expression == "^t-.*"
    keyed = routes["ANY", "/items/{id}"].authorizer
    assert keyed is not None and keyed.kind == "REQUEST"
    assert keyed.identity_sources == (
        "method.request.header.X-Key",
        "method.request.querystring.k",
        "stageVariables.color",
    )
    assert keyed.ttl_s == 300  # AWS SAM's default
    users = routes["GET", "/me"].authorizer
    assert users is not None and users.kind == "COGNITO_USER_POOLS"
    assert users.user_pool_ids == (app.user_pools["Pool"].pool_id,)
    assert users.scopes == ("items/read",)
    assert routes["GET", "/me"].timeout_ms == 1500
    assert routes["GET", "/"].authorizer is None
    assert routes["GET", "/iam"].authorizer is None
    assert any("AWS_IAM authorization is not enforced" in entry for entry in app.ignored)
    assert len(routes["GET", "/"].resource_id) == 10  # the root resource
    assert len(routes["GET", "/items"].resource_id) == 6


@pytest.mark.parametrize(
    ("fragment", "replacement", "message"),
    [
        (
            "      StageName: dev\n",
            "      StageName: dev\n      DefinitionBody: {openapi: 3.0.1}\n",
            "OpenAPI DefinitionBody/DefinitionUri is not emulated",
        ),
        (
            "RestApiId: !Ref Api, Path: /items,",
            "RestApiId: abc, Path: /items,",
            "is not an AWS::Serverless::Api",
        ),
        ("Path: /iam, Method: get", "Path: /items, Method: get", "is already a method of Api"),
        (
            "Path: /iam, Method: get",
            "Path: /iam, Method: fetch",
            "Method FETCH is not an HTTP method",
        ),
        ("Path: /iam,", "Path: iam,", "must start with '/'"),
        ("DefaultAuthorizer: Token", "DefaultAuthorizer: Nope", "DefaultAuthorizer Nope is not in"),
        (
            "Auth: {Authorizer: Keyed}",
            "Auth: {Authorizer: Gone}",
            "Auth.Authorizer Gone is not declared",
        ),
        (
            "UserPoolArn: !GetAtt Pool.Arn",
            "UserPoolArn: arn:aws:cognito-idp:us-east-1:1:userpool/us-east-1_X",
            "is not declared in this template",
        ),
        ("FunctionPayloadType: REQUEST", "FunctionPayloadType: TOKENS", "must be TOKEN or REQUEST"),
        (
            "StageVariables: [color]}",
            "StageVariables: [color]}\n          Empty: "
            "{FunctionArn: !GetAtt Gate.Arn, FunctionPayloadType: REQUEST}",
            "needs Identity",
        ),
        (
            "Auth: {Authorizer: Keyed}",
            "Auth: {Authorizer: Keyed, AuthorizationScopes: [x]}",
            "apply to Cognito authorizers only",
        ),
    ],
)
def test_what_aws_would_refuse_fails_at_load(
    load: Load, fragment: str, replacement: str, message: str
) -> None:
    """Each mistake stops the load with one line naming the resource."""
    assert fragment in APP
    with pytest.raises(TemplateError) as info:
        load(APP.replace(fragment, replacement, 1))
    assert message in str(info.value)


def test_raw_rest_methods_with_functions_are_refused(load: Load) -> None:
    """A REST API written as AWS::ApiGateway::Method resources says what to use instead."""
    with pytest.raises(TemplateError, match="AWS::Serverless::Api and Api events"):
        load(
            """\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: src/, Handler: a.b, Runtime: python3.12}
              Raw:
                Type: AWS::ApiGateway::RestApi
              Method:
                Type: AWS::ApiGateway::Method
                Properties:
                  RestApiId: !Ref Raw
                  ResourceId: !GetAtt Raw.RootResourceId
                  HttpMethod: GET
                  AuthorizationType: NONE
                  Integration:
                    Type: AWS_PROXY
                    IntegrationHttpMethod: POST
                    Uri: !Join
                      - ""
                      - - !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31"
                        - !Sub "/functions/${Fn.Arn}/invocations"
            """
        )


def test_api_keys_and_gateway_responses_are_noted(load: Load) -> None:
    """Settings a client would notice but the emulator does not apply go to `ignored`."""
    app = load(
        APP.replace(
            "      StageName: dev\n",
            "      StageName: dev\n      GatewayResponses: {DEFAULT_4XX: {StatusCode: 400}}\n",
        ).replace(
            "DefaultAuthorizer: Token", "DefaultAuthorizer: Token\n        ApiKeyRequired: true"
        )
    )
    ignored = "\n".join(app.ignored)
    assert "Api (AWS::Serverless::Api): Auth.ApiKeyRequired: API keys are not checked" in ignored
    assert "GatewayResponses: API Gateway's default error responses are sent" in ignored
