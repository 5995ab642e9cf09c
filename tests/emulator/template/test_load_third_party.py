"""Third-party apps: the sample apps load as CloudFormation would deploy them, and what the
emulator cannot run is refused at load with one line naming the resource."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.logs import SERVICE
from emulator.template.errors import TemplateError
from emulator.template.intrinsics import referenced_names
from emulator.template.load import load_template, note_ignored
from emulator.template.model import Template

Load = Callable[..., Template]

APPS = Path(__file__).resolve().parents[2] / "apps"
GENERATED = r"[A-Z0-9]{12}"

FUNCTION = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Local: {Type: String, Default: "false"}
Conditions:
  IsLocal: !Equals [!Ref Local, "true"]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handle
      Runtime: python3.12
      Environment:
        Variables:
          VALUE: VALUE_NODE
"""


def with_resource(value: str, resource: str) -> str:
    return FUNCTION.replace("VALUE_NODE", value) + resource


TOPIC = "  Topic:\n    Type: AWS::SNS::Topic\n"
BUCKET = "  Bucket:\n    Type: AWS::S3::Bucket\n"


# ---------------------------------------------------------------------- sample apps


def test_chat_app_loads_from_template_yml() -> None:
    """template.yml in a directory is found; Globals, raw V2 resources and $default wire up."""
    app = load_template(APPS / "chat")
    assert app.path.name == "template.yml"
    assert app.stack_name == "chat"
    (api,) = app.websocket_apis
    assert {key: route.function for key, route in api.routes.items()} == {
        "$connect": "OnConnectFunction",
        "$disconnect": "OnDisconnectFunction",
        "$default": "MessageFunction",
    }
    assert api.stage == "Prod"
    table = app.tables["ConnectionsTable"]
    assert re.fullmatch(rf"chat-ConnectionsTable-{GENERATED}", table.name)
    roots = {
        fn.logical_id: fn.code_root.relative_to(APPS / "chat") for fn in app.functions.values()
    }
    assert roots == {
        "OnConnectFunction": Path("connect"),
        "OnDisconnectFunction": Path("disconnect"),
        "MessageFunction": Path("message"),
    }
    for fn in app.functions.values():
        assert fn.handler == "lambda_function.lambda_handler"
        assert (fn.timeout_s, fn.memory_mb) == (5, 128)
        assert fn.environment == {"TABLE_NAME": table.name}
    assert app.functions["OnDisconnectFunction"].runtime == "python3.9"
    assert app.functions["MessageFunction"].runtime == "python3.12"


def test_fanout_app_resolves_intrinsics_names_and_policies() -> None:
    """Sub/Join/Select/Split/If, FunctionName, generated names and SAM policy templates."""
    app = load_template(APPS / "fanout")
    fns = app.functions
    (api,) = app.websocket_apis
    assert fns["WelcomeFunction"].name == "fanout-welcome"
    assert fns["CounterFunction"].name == "fanout-counter"
    connections = app.tables["ConnectionsTable"].name
    counters = app.tables["CountersTable"].name
    queue = app.queues["NotifyQueue"]
    assert re.fullmatch(rf"fanout-ConnectionsTable-{GENERATED}", connections)
    assert re.fullmatch(rf"fanout-CountersTable-{GENERATED}", counters)
    assert re.fullmatch(rf"fanout-NotifyQueue-{GENERATED}", queue.name)
    info = fns["InfoFunction"].environment
    assert info["QUEUE_REGION"] == "us-east-1"
    assert info["TABLES"] == f"{connections},{counters}"
    assert info["COUNTER_NAME"] == "fanout-counter"
    assert info["LOG_LEVEL"] == "DEBUG"  # IsProd is false for the default stage
    assert info["MANAGEMENT_ENDPOINT"] == (
        f"https://{api.api_id}.execute-api.us-east-1.amazonaws.com/dev"
    )
    assert fns["CountFunction"].environment["COUNTER_FUNCTION"] == fns["CounterFunction"].arn
    assert fns["NotifyFunction"].environment["QUEUE_URL"] == queue.url
    crud = fns["OnConnectFunction"].policies[0]
    assert (crud["Kind"], crud["Template"]) == ("template", "DynamoDBCrudPolicy")
    assert crud["Parameters"] == {"TableName": connections}
    assert {s.kind for s in app.event_sources} == {"sqs", "dynamodb"}
    assert not app.tables["CountersTable"].stream_view_type
    assert "NoticeErrorsAlarm" not in "\n".join(app.ignored)  # its Condition is false
    assert any(
        entry.startswith("SendMessageLogGroup (AWS::Logs::LogGroup)") for entry in app.ignored
    )


def test_fanout_prod_stage_takes_the_other_branch() -> None:
    """An overridden parameter flips the condition that Fn::If and the alarm depend on."""
    app = load_template(APPS / "fanout", {"StageName": "prod"})
    assert app.functions["InfoFunction"].environment["LOG_LEVEL"] == "WARNING"
    assert any(entry.startswith("NoticeErrorsAlarm ") for entry in app.ignored)


def test_lab_app_is_plain_cloudformation() -> None:
    """No transform: Lambda functions with local Code, route responses, no $default."""
    app = load_template(APPS / "lab")
    (api,) = app.websocket_apis
    assert "$default" not in api.routes
    assert api.route_selection_expression == "$request.body.op"
    assert {k: r.returns_response for k, r in api.routes.items()} == {
        "echo": True,
        "whereami": True,
        "boom": False,
        "slow": True,
    }
    runtimes = {k: (f.runtime, f.timeout_s, f.memory_mb) for k, f in app.functions.items()}
    assert runtimes == {
        "EchoFunction": ("python3.9", 3, 128),
        "WhereamiFunction": ("python3.13", 3, 128),
        "BoomFunction": ("python3.14", 3, 128),
        "SlowFunction": ("python3.8", 1, 128),
    }
    assert app.functions["BoomFunction"].code_root == app.functions["SlowFunction"].code_root
    ignored = "\n".join(app.ignored)
    assert "LabRole (AWS::IAM::Role): IAM is not enforced locally" in ignored
    assert "EchoPermission (AWS::Lambda::Permission)" in ignored
    assert "EchoLogs (AWS::Logs::LogGroup)" in ignored


# ---------------------------------------------------------------------- needed resources


@pytest.mark.parametrize(
    ("value", "resource", "named"),
    [
        ("!Ref Topic", TOPIC, "Topic (AWS::SNS::Topic)"),
        ("!GetAtt Bucket.Arn", BUCKET, "Bucket (AWS::S3::Bucket)"),
        ('!Sub "s3://${Bucket}/uploads"', BUCKET, "Bucket (AWS::S3::Bucket)"),
        ('!Sub ["${B}", {B: !Ref Bucket}]', BUCKET, "Bucket (AWS::S3::Bucket)"),
        ('!Join [",", [!Ref Topic, x]]', TOPIC, "Topic (AWS::SNS::Topic)"),
        ("!If [IsLocal, none, !Ref Topic]", TOPIC, "Topic (AWS::SNS::Topic)"),
    ],
)
def test_a_resource_a_handler_reads_must_be_emulated(
    load: Load, value: str, resource: str, named: str
) -> None:
    """An unemulated resource in a function's environment is refused, naming both."""
    with pytest.raises(TemplateError) as info:
        load(with_resource(value, resource))
    message = str(info.value)
    assert message.startswith(f"{named}: not emulated, but Fn reads it from environment ")
    assert "variable VALUE" in message
    assert "\n" not in message


def test_a_condition_that_is_false_locally_is_the_way_out(load: Load) -> None:
    """Guarding the variable with Fn::If on a locally false condition lets the app load."""
    app = load(with_resource("!If [IsLocal, none, !Ref Topic]", TOPIC), {"Local": "true"})
    assert app.functions["Fn"].environment["VALUE"] == "none"
    assert "Topic (AWS::SNS::Topic): not emulated" in app.ignored


def test_unemulated_resources_nobody_reads_are_ignored(load: Load) -> None:
    """Outputs, policies and literal text that mention a resource do not make it needed."""
    app = load(
        with_resource('!Sub "${!Topic}"', TOPIC + BUCKET).replace(
            "      Environment:",
            "      Policies:\n        - S3ReadPolicy: {BucketName: !Ref Bucket}\n"
            "      Environment:",
        )
        + "Outputs:\n  T: {Value: !Ref Topic}\n"
    )
    assert app.functions["Fn"].environment["VALUE"] == "${Topic}"
    assert {"Topic (AWS::SNS::Topic): not emulated", "Bucket (AWS::S3::Bucket): not emulated"} <= (
        set(app.ignored)
    )


def test_harmless_types_may_be_read(load: Load) -> None:
    """Roles and log groups are known to be harmless, so handlers may be told about them."""
    app = load(
        with_resource("!GetAtt Role.Arn", "  Role:\n    Type: AWS::IAM::Role\n    Properties: {}\n")
    )
    assert app.functions["Fn"].environment["VALUE"].startswith("arn:aws:iam::123456789012:role/")


# ---------------------------------------------------------------------- WebSocket checks

INVOKE = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
WS = """\
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Code: src, Handler: app.handle, Runtime: python3.12}
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: x, ProtocolType: WEBSOCKET, RouteSelectionExpression: "EXPRESSION"}
  Authorizer:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: a
      AuthorizerType: REQUEST
      IdentitySource: [SOURCE]
      AuthorizerUri: !Sub "INVOKE"
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "INVOKE"
  Connect:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: $connect
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref Authorizer
      Target: !Sub integrations/${Integration}
"""


def ws(expression: str = "$request.body.action", source: str = "route.request.header.Auth") -> str:
    return WS.replace("EXPRESSION", expression).replace("SOURCE", source).replace("INVOKE", INVOKE)


@pytest.mark.parametrize("expression", ["$request.body.action", "${request.body.msg.kind}"])
def test_body_route_selection_expressions_load(load: Load, expression: str) -> None:
    """Both spellings of a JSON body path are WebSocket route selection expressions."""
    (api,) = load(ws(expression)).websocket_apis
    assert api.route_selection_expression == expression


@pytest.mark.parametrize("expression", ["$request.header.kind", "action", "$request.body."])
def test_other_route_selection_expressions_are_refused_at_load(load: Load, expression: str) -> None:
    """A selection expression the gateway cannot evaluate fails the load, naming the API."""
    with pytest.raises(TemplateError, match=r"^Api \(AWS::ApiGatewayV2::Api\): RouteSelection"):
        load(ws(expression))


@pytest.mark.parametrize("source", ["$request.header.Authorization", "method.request.header.X"])
def test_http_style_identity_sources_are_refused_on_websocket_authorizers(
    load: Load, source: str
) -> None:
    """A WebSocket REQUEST authorizer needs route.request.* identity sources."""
    with pytest.raises(TemplateError) as info:
        load(ws(source=source))
    assert str(info.value).startswith(
        f"Authorizer (AWS::ApiGatewayV2::Authorizer): IdentitySource {source} is not valid"
    )


def test_a_non_python_runtime_says_what_to_do(load: Load) -> None:
    """nodejs is refused naming the function, the runtime and the way forward."""
    with pytest.raises(TemplateError) as info:
        load(ws().replace("python3.12", "nodejs20.x"))
    assert str(info.value) == (
        "Fn (AWS::Lambda::Function): Runtime nodejs20.x is not supported; the emulator runs "
        "only Python handlers (python3.8 to python3.14), so port this function to Python or "
        "try it on AWS"
    )


# ---------------------------------------------------------------------- notes


def test_note_ignored_logs_one_debug_line_per_entry(caplog: pytest.LogCaptureFixture) -> None:
    """Every skipped resource gets a debug note on the service channel, with its reason."""
    app = load_template(APPS / "lab")
    with caplog.at_level(logging.DEBUG, logger=SERVICE):
        note_ignored(app)
    notes = [r for r in caplog.records if r.name == SERVICE]
    assert [r.getMessage() for r in notes] == [f"ignored {entry}" for entry in app.ignored]
    assert all(r.levelno == logging.DEBUG for r in notes)
    assert "ignored EchoLogs (AWS::Logs::LogGroup): function logs go to the duelctl console" in (
        [r.getMessage() for r in notes]
    )


# ---------------------------------------------------------------------- referenced_names


def never(name: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("node", "names"),
    [
        ({"Ref": "A"}, {"A"}),
        ({"Fn::GetAtt": ["A", "Arn"]}, {"A"}),
        ({"Fn::GetAtt": "A.StreamArn"}, {"A"}),
        ({"Fn::Sub": "${A}-${B.Arn}-${!C}-${AWS::Region}"}, {"A", "B", "AWS::Region"}),
        ({"Fn::Sub": ["${X}-${A}", {"X": {"Ref": "B"}}]}, {"A", "B"}),
        ({"Fn::Join": ["", [{"Ref": "A"}, "x", {"Fn::GetAtt": ["B", "Arn"]}]]}, {"A", "B"}),
        ({"Fn::If": ["Cond", {"Ref": "A"}, {"Ref": "B"}]}, {"B"}),
        ("plain ${A}", set()),
        ([{"Ref": "A"}, {"k": {"Ref": "B"}}], {"A", "B"}),
    ],
)
def test_referenced_names(node: object, names: set[str]) -> None:
    """Names come from Ref, GetAtt and Sub; Fn::If follows the branch the condition picks."""
    assert referenced_names(node, never) == names


def test_referenced_names_follow_a_true_condition() -> None:
    """With the condition true, the first Fn::If branch is the one that counts."""
    node = {"Fn::If": ["Cond", {"Ref": "A"}, {"Ref": "B"}]}
    assert referenced_names(node, lambda name: name == "Cond") == {"A"}
