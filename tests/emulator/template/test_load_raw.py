"""Raw CloudFormation: Lambda, ApiGatewayV2, event source mappings, SQS, DynamoDB, Cognito."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from emulator.template.errors import TemplateError
from emulator.template.model import Template

Load = Callable[..., Template]

RAW_APP = """\
Resources:
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-worker"
      Code: src
      Handler: worker.handle
      Runtime: python3.12
      Timeout: 30
      Role: !GetAtt WorkerRole.Arn
      Environment:
        Variables:
          POOL_PROVIDER: !GetAtt Pool.ProviderURL
          POOL_NAME: !GetAtt Pool.ProviderName
          POOL_ARN: !GetAtt Pool.Arn
          CLIENT: !GetAtt Client.ClientId
          ENDPOINT: !GetAtt Ws.ApiEndpoint
          HTTP_ENDPOINT: !GetAtt Http.ApiEndpoint
          STAGE: !Ref WsStage
          ROLE: !Ref WorkerRole
          INTEGRATION: !Ref WsIntegration
          AUTHORIZER: !Ref WsAuthorizer
          DEPLOYMENT: !Ref WsDeployment
          FIFO_URL: !Ref Fifo
  Auth:
    Type: AWS::Lambda::Function
    Properties:
      Code: ./src
      Handler: auth.handle
      Runtime: python3.10
  WorkerRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: worker-role
      AssumeRolePolicyDocument: {}
  Topic:
    Type: AWS::SNS::Topic
  Logs:
    Type: AWS::Logs::LogGroup
  Alarm:
    Type: AWS::CloudWatch::Alarm
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      VisibilityTimeout: 180
      DelaySeconds: 5
      RedrivePolicy: '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:jobs-dlq",
        "maxReceiveCount": 3}'
  JobsDlq:
    Type: AWS::SQS::Queue
    Properties: {QueueName: jobs-dlq}
  Fifo:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, VisibilityTimeout: 60}
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: items
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  JobsMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Jobs.Arn
      FunctionName: !Ref Worker
      FunctionResponseTypes: [ReportBatchItemFailures]
  ItemsMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Items.StreamArn
      FunctionName: !GetAtt Worker.Arn
      StartingPosition: LATEST
      BatchSize: 7
      MaximumRetryAttempts: 2
      Enabled: "false"
  KinesisMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: arn:aws:kinesis:us-east-1:123456789012:stream/clicks
      FunctionName: !Ref Worker
      StartingPosition: LATEST
  Pool:
    Type: AWS::Cognito::UserPool
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
      GenerateSecret: "true"
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: ws
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.type
  WsStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Ws, StageName: dev}
  WsDeployment:
    Type: AWS::ApiGatewayV2::Deployment
    Properties: {ApiId: !Ref Ws}
  WsAuthorizer:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Ws
      Name: HeaderAuth
      AuthorizerType: REQUEST
      AuthorizerUri: !Join
        - ""
        - - "arn:aws:apigateway:"
          - !Ref AWS::Region
          - ":lambda:path/2015-03-31/functions/"
          - !GetAtt Auth.Arn
          - /invocations
      IdentitySource: [route.request.header.Auth, route.request.querystring.t]
  WsIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Ws
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Worker.Arn
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: $connect
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref WsAuthorizer
      Target: !Join ["/", [integrations, !Ref WsIntegration]]
  EchoRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: echo
      RouteResponseSelectionExpression: $default
      Target: !Sub integrations/${WsIntegration}
  EchoResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref Ws
      RouteId: !Ref EchoRoute
      RouteResponseKey: $default
  HalfRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: half
      RouteResponseSelectionExpression: $default
      Target: !Sub integrations/${WsIntegration}
  IamRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: iam
      AuthorizationType: AWS_IAM
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: http, ProtocolType: HTTP}
  HttpIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      PayloadFormatVersion: "2.0"
      IntegrationUri: !Sub
        - arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn}/invocations
        - Fn: !Join [":", [!GetAtt Worker.Arn, live]]
  HttpJwt:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Http
      Name: Jwt
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration:
        Issuer: !GetAtt Pool.ProviderURL
        Audience: [!Ref Client]
  ItemsRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /items/{id}
      AuthorizationType: JWT
      AuthorizerId: !Ref HttpJwt
      Target: !Sub integrations/${HttpIntegration}
  ProxyRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: ANY /{proxy+}
      Target: !Sub integrations/${HttpIntegration}
  HttpStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Http, StageName: $default}
  Quick:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: quick, ProtocolType: HTTP, Target: !GetAtt Auth.Arn}
Outputs:
  Topic: {Value: !Ref Topic}
  TopicArn: {Value: !GetAtt Topic.TopicArn}
"""


@pytest.fixture
def app(load: Load) -> Template:
    return load(RAW_APP)


def test_lambda_function_with_local_code_path(app: Template) -> None:
    """AWS::Lambda::Function takes Code as a local directory and honours its properties."""
    worker = app.functions["Worker"]
    assert worker.name == "test-worker"
    assert (worker.handler, worker.runtime, worker.timeout_s, worker.memory_mb) == (
        "worker.handle",
        "python3.12",
        30,
        128,
    )
    assert worker.code_root.name == "src"
    auth = app.functions["Auth"]
    assert auth.code_root == worker.code_root
    assert (auth.timeout_s, auth.memory_mb, auth.runtime) == (3, 128, "python3.10")  # AWS defaults
    assert re.fullmatch(r"test-Auth-[A-Z0-9]{12}", auth.name)
    assert worker.policies == ()


def test_websocket_api_from_raw_resources(app: Template) -> None:
    """Routes follow Join/Sub targets and bare ARNs; $connect carries the authorizer."""
    ws = next(api for api in app.websocket_apis if api.logical_id == "Ws")
    assert ws.stage == "dev"
    assert ws.name == "ws"
    assert ws.route_selection_expression == "$request.body.type"
    assert {k: (r.function, r.returns_response) for k, r in ws.routes.items()} == {
        "$connect": ("Worker", False),
        "echo": ("Worker", True),
        "half": ("Worker", False),  # selection expression without a route response
        "iam": (None, False),
    }
    assert ws.authorizer is not None
    assert ws.authorizer.logical_id == "WsAuthorizer"
    assert ws.authorizer.function == "Auth"
    assert ws.authorizer.identity_sources == (
        "route.request.header.Auth",
        "route.request.querystring.t",
    )
    assert "IamRoute (AWS::ApiGatewayV2::Route): AWS_IAM authorization is not enforced locally" in (
        app.ignored
    )


def test_http_api_from_raw_resources(app: Template) -> None:
    """Raw HTTP routes get JWT authorizers; qualified ARNs and quick create work."""
    http = next(api for api in app.http_apis if api.logical_id == "Http")
    pool = app.user_pools["Pool"]
    assert http.stage == "$default"
    items, proxy = http.routes
    assert (items.method, items.path, items.function) == ("GET", "/items/{id}", "Worker")
    assert items.authorizer is not None
    assert items.authorizer.issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert items.authorizer.audience == (app.user_pool_clients["Client"].client_id,)
    assert items.authorizer.name == "Jwt"
    assert (proxy.method, proxy.path, proxy.authorizer) == ("ANY", "/{proxy+}", None)
    quick = next(api for api in app.http_apis if api.logical_id == "Quick")
    assert [(r.method, r.path, r.function) for r in quick.routes] == [("ANY", "$default", "Auth")]


def test_refs_and_attributes_have_aws_shapes(app: Template) -> None:
    """Ref/GetAtt of pools, clients, APIs, stages, roles and API Gateway ids look like AWS's."""
    env = app.functions["Worker"].environment
    pool = app.user_pools["Pool"]
    ws = next(api for api in app.websocket_apis if api.logical_id == "Ws")
    http = next(api for api in app.http_apis if api.logical_id == "Http")
    assert env["POOL_PROVIDER"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert env["POOL_NAME"] == f"cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert env["POOL_ARN"] == pool.arn
    assert env["CLIENT"] == app.user_pool_clients["Client"].client_id
    assert env["ENDPOINT"] == f"wss://{ws.api_id}.execute-api.us-east-1.amazonaws.com"
    assert env["HTTP_ENDPOINT"] == f"https://{http.api_id}.execute-api.us-east-1.amazonaws.com"
    assert env["STAGE"] == "dev"
    assert env["ROLE"] == "worker-role"
    topic = app.outputs["Topic"].value
    assert re.fullmatch(r"arn:aws:sns:us-east-1:123456789012:test-Topic-[A-Z0-9]{12}", topic)
    assert app.outputs["TopicArn"].value == topic  # not emulated: *Arn attributes are stand-ins
    assert re.fullmatch(r"[a-z0-9]{7}", env["INTEGRATION"])
    assert re.fullmatch(r"[a-z0-9]{6}", env["AUTHORIZER"])
    assert re.fullmatch(r"[a-z0-9]{6}", env["DEPLOYMENT"])
    assert re.fullmatch(
        r"https://sqs\.us-east-1\.amazonaws\.com/123456789012/test-Fifo-[A-Z0-9]{12}\.fifo",
        env["FIFO_URL"],
    )


def test_queues_redrive_from_a_json_string_and_fifo(app: Template) -> None:
    """A JSON-string RedrivePolicy resolves to the DLQ; FIFO names end in .fifo."""
    jobs = app.queues["Jobs"]
    assert (jobs.redrive_target, jobs.max_receive_count, jobs.delay_seconds) == ("JobsDlq", 3, 5)
    fifo = app.queues["Fifo"]
    assert fifo.fifo is True
    assert fifo.name.endswith(".fifo")
    assert (fifo.visibility_timeout_s, fifo.message_retention_s) == (60, 345600)


def test_event_source_mappings(app: Template) -> None:
    """Raw mappings match queues and streams by ARN; Kinesis is ignored with a reason."""
    jobs, items = app.event_sources
    assert (jobs.logical_id, jobs.kind, jobs.source, jobs.function) == (
        "JobsMapping",
        "sqs",
        "Jobs",
        "Worker",
    )
    assert (jobs.batch_size, jobs.report_batch_item_failures, jobs.enabled) == (10, True, True)
    assert (items.kind, items.source, items.batch_size, items.enabled) == (
        "dynamodb",
        "Items",
        7,
        False,
    )
    assert (items.starting_position, items.maximum_retry_attempts) == ("LATEST", 2)
    assert any(
        e.startswith("KinesisMapping (AWS::Lambda::EventSourceMapping): ") for e in app.ignored
    )


def test_unrun_types_are_ignored_with_reasons(app: Template) -> None:
    """IAM, SNS, logs and alarms are listed as ignored with the reason."""
    assert "WorkerRole (AWS::IAM::Role): IAM is not enforced locally" in app.ignored
    assert "Topic (AWS::SNS::Topic): not emulated" in app.ignored
    assert "Logs (AWS::Logs::LogGroup): function logs go to the duelctl console" in app.ignored
    assert "Alarm (AWS::CloudWatch::Alarm): there are no metrics or alarms locally" in app.ignored
    assert not any(e.startswith(("Jobs ", "Ws ", "EchoResponse ", "WsStage ")) for e in app.ignored)


def test_user_pool_client_secret_flag(app: Template) -> None:
    """GenerateSecret accepts CloudFormation's string booleans."""
    assert app.user_pool_clients["Client"].generate_secret is True
    assert app.user_pool_clients["Client"].pool == "Pool"


def _swap(old: str, new: str) -> str:
    assert old in RAW_APP
    return RAW_APP.replace(old, new, 1)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            _swap(
                "IntegrationType: AWS_PROXY\n      IntegrationUri: !GetAtt Worker.Arn",
                "IntegrationType: HTTP_PROXY\n      IntegrationUri: https://example.com",
            ),
            "WsIntegration (AWS::ApiGatewayV2::Integration): IntegrationType HTTP_PROXY is not "
            "emulated (route ConnectRoute)",
        ),
        (
            _swap(
                "IntegrationUri: !GetAtt Worker.Arn",
                "IntegrationUri: arn:aws:apigateway:us-east-1:sqs:path/x",
            ),
            "WsIntegration (AWS::ApiGatewayV2::Integration): IntegrationUri "
            "arn:aws:apigateway:us-east-1:sqs:path/x does not invoke a Lambda function",
        ),
        (
            _swap(
                "IntegrationUri: !GetAtt Worker.Arn",
                "IntegrationUri: arn:aws:lambda:us-east-1:1:function:elsewhere",
            ),
            "invokes arn:aws:lambda:us-east-1:1:function:elsewhere, which is not a function",
        ),
        (
            _swap(
                "RouteKey: ANY /{proxy+}\n      Target: !Sub integrations/${HttpIntegration}",
                "RouteKey: ANY /{proxy+}",
            ),
            "ProxyRoute (AWS::ApiGatewayV2::Route): the route has no Target",
        ),
        (
            _swap(
                "RouteKey: echo\n",
                "RouteKey: echo\n      AuthorizationType: CUSTOM\n"
                "      AuthorizerId: !Ref WsAuthorizer\n",
            ),
            "EchoRoute (AWS::ApiGatewayV2::Route): only the $connect route can have an authorizer",
        ),
        (
            _swap("RouteKey: echo", "RouteKey: $connect"),
            "EchoRoute (AWS::ApiGatewayV2::Route): another route of Ws already has RouteKey",
        ),
        (
            _swap(
                "Target: !Sub integrations/${WsIntegration}\n  EchoResponse",
                "Target: integrations/nope\n  EchoResponse",
            ),
            "EchoRoute (AWS::ApiGatewayV2::Route): Target integrations/nope is not",
        ),
        (
            _swap("AuthorizerType: REQUEST", "AuthorizerType: JWT"),
            "WsAuthorizer (AWS::ApiGatewayV2::Authorizer): AuthorizerType JWT cannot guard",
        ),
        (
            _swap('PayloadFormatVersion: "2.0"', 'PayloadFormatVersion: "1.0"'),
            "HttpIntegration (AWS::ApiGatewayV2::Integration): PayloadFormatVersion 1.0",
        ),
        (
            _swap("RouteKey: ANY /{proxy+}", "RouteKey: /{proxy+}"),
            "ProxyRoute (AWS::ApiGatewayV2::Route): RouteKey '/{proxy+}' must be",
        ),
        (
            _swap("ApiId: !Ref Http, StageName: $default", "ApiId: other, StageName: $default"),
            "HttpStage (AWS::ApiGatewayV2::Stage): ApiId other is not an API of this template",
        ),
        (
            _swap("Code: src", "Code: {ZipFile: 'def handle(e, c): pass'}"),
            "Worker (AWS::Lambda::Function): Code.ZipFile (inline code) cannot be run locally",
        ),
        (
            _swap("Code: src", "Code: {S3Bucket: b, S3Key: k}"),
            "Worker (AWS::Lambda::Function): Code points at an S3 object",
        ),
        (
            _swap("      Code: ./src\n", ""),
            "Auth (AWS::Lambda::Function): Code is required",
        ),
        (
            _swap("VisibilityTimeout: 180", "VisibilityTimeout: 20"),
            "JobsMapping (AWS::Lambda::EventSourceMapping): Queue visibility timeout: 20 seconds "
            "is less than Function timeout: 30 seconds",
        ),
        (
            _swap('jobs-dlq",\n', 'nope",\n'),
            "Jobs (AWS::SQS::Queue): RedrivePolicy deadLetterTargetArn "
            "arn:aws:sqs:us-east-1:123456789012:nope is not a queue",
        ),
        (
            _swap("RedrivePolicy: '{\"dead", "RedrivePolicy: '{dead"),
            "Jobs (AWS::SQS::Queue): RedrivePolicy is not valid JSON",
        ),
        (
            _swap(
                "Properties: {QueueName: jobs-dlq}",
                "Properties: {QueueName: jobs-dlq.fifo, FifoQueue: true}",
            ).replace('jobs-dlq",\n', 'jobs-dlq.fifo",\n'),
            "Jobs (AWS::SQS::Queue): the dead-letter queue JobsDlq must be a standard queue",
        ),
        (
            _swap(
                "Properties: {FifoQueue: true,", "Properties: {QueueName: plain, FifoQueue: true,"
            ),
            "Fifo (AWS::SQS::Queue): QueueName 'plain' is invalid",
        ),
        (
            _swap("DelaySeconds: 5", "DelaySeconds: 901"),
            "Jobs (AWS::SQS::Queue): DelaySeconds 901 is outside 0..900",
        ),
        (
            _swap(
                "StreamSpecification: {StreamViewType: NEW_IMAGE}", "BillingMode: PAY_PER_REQUEST"
            ),
            "Items (AWS::DynamoDB::Table): StreamArn is used but the table has no "
            "StreamSpecification",
        ),
        (
            _swap("StreamViewType: NEW_IMAGE", "StreamViewType: ALL"),
            "Items (AWS::DynamoDB::Table): StreamViewType ALL is not one of",
        ),
        (
            _swap(
                "[{AttributeName: id, AttributeType: S}]",
                "[{AttributeName: id, AttributeType: S}, {AttributeName: x, AttributeType: S}]",
            ),
            "Items (AWS::DynamoDB::Table): AttributeDefinitions has x, which no key schema uses",
        ),
        (
            _swap(
                "KeySchema: [{AttributeName: id, KeyType: HASH}]",
                "KeySchema: [{AttributeName: nope, KeyType: HASH}]",
            ),
            "Items (AWS::DynamoDB::Table): KeySchema uses nope, which "
            "AttributeDefinitions does not",
        ),
        (
            _swap("UserPoolId: !Ref Pool", "UserPoolId: us-east-1_elsewhere"),
            "Client (AWS::Cognito::UserPoolClient): UserPoolId us-east-1_elsewhere is not a "
            "user pool",
        ),
        (
            _swap("CLIENT: !GetAtt Client.ClientId", "CLIENT: !GetAtt Client.ClientSecret"),
            "Worker (AWS::Lambda::Function): Client.ClientSecret is only known after Cognito",
        ),
        (
            _swap(
                "FunctionName: !Ref Worker\n      FunctionResponseTypes",
                "FunctionName: nope\n      FunctionResponseTypes",
            ),
            "JobsMapping (AWS::Lambda::EventSourceMapping): FunctionName nope is not a function",
        ),
        (
            _swap("Runtime: python3.10", "Runtime: python3.12\n      FunctionName: test-worker"),
            "Auth (AWS::Lambda::Function): FunctionName test-worker is also used by Worker",
        ),
        (
            _swap("AuthorizationType: JWT", "AuthorizationType: CUSTOM"),
            "ItemsRoute (AWS::ApiGatewayV2::Route): Lambda authorizers on HTTP APIs are not "
            "emulated",
        ),
    ],
)
def test_raw_resource_errors_name_the_resource(load: Load, body: str, fragment: str) -> None:
    """Each unsupported or inconsistent raw resource fails the load, naming it."""
    with pytest.raises(TemplateError) as info:
        load(body)
    assert fragment in str(info.value)
    assert ";" in str(info.value)


def test_local_index_must_share_the_hash_key(load: Load) -> None:
    """An LSI on another hash key is refused, as DynamoDB refuses it."""
    body = """\
    Resources:
      T:
        Type: AWS::DynamoDB::Table
        Properties:
          AttributeDefinitions:
            - {AttributeName: a, AttributeType: S}
            - {AttributeName: b, AttributeType: S}
          KeySchema: [{AttributeName: a, KeyType: HASH}]
          LocalSecondaryIndexes:
            - IndexName: l
              KeySchema: [{AttributeName: b, KeyType: HASH}]
              Projection: {ProjectionType: ALL}
    """
    with pytest.raises(TemplateError, match=r"T \(AWS::DynamoDB::Table\): local index l must use"):
        load(body)


def test_websocket_api_without_stage_uses_local(load: Load) -> None:
    """A WebSocket API with no Stage resource gets the stage "local"."""
    body = """\
    Resources:
      Ws:
        Type: AWS::ApiGatewayV2::Api
        Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.a}
    """
    (ws,) = load(body).websocket_apis
    assert (ws.stage, ws.routes, ws.authorizer) == ("local", {}, None)
