"""SAM: Globals, AWS::Serverless::Function, events, policies, HttpApi, implicit resources."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.template.errors import TemplateError
from emulator.template.model import Template
from emulator.template.sam_globals import merge_globals

Load = Callable[..., Template]

GLOBALS_APP = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    CodeUri: src/
    Timeout: 20
    Environment:
      Variables:
        SHARED: from-globals
        OVERRIDDEN: from-globals
  HttpApi:
    Auth:
      DefaultAuthorizer: Jwt
      Authorizers:
        Jwt:
          JwtConfiguration:
            issuer: https://issuer.example.com
            audience: [aud-1, aud-2]
Resources:
  Defaults:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.defaults
      Timeout: 5
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: my-custom-fn
      Handler: pkg.mod.handle
      Runtime: python3.13
      MemorySize: 512
      Environment:
        Variables:
          OVERRIDDEN: from-function
          OWN: 42
      Policies:
        - AmazonDynamoDBReadOnlyAccess
        - arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
        - SQSSendMessagePolicy: {QueueName: !GetAtt Queue.QueueName}
        - Statement:
            - {Effect: Allow, Action: "sqs:SendMessage", Resource: !GetAtt Queue.Arn}
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: get
        Open:
          Type: HttpApi
          Properties:
            Path: /health
            Method: GET
            Auth: {Authorizer: NONE}
        Catchall:
          Type: HttpApi
        Nightly:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
        Rest:
          Type: Api
          Properties: {Path: /x, Method: get}
        Upload:
          Type: S3
          Properties: {Bucket: !Ref Bucket, Events: "s3:ObjectCreated:*"}
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 50
            MaximumBatchingWindowInSeconds: 2
            Enabled: false
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["a"]}}'
        Changes:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: alt, AttributeType: B}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      LocalSecondaryIndexes:
        - IndexName: byAlt
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: alt, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
      StreamSpecification: {StreamViewType: KEYS_ONLY}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
  Bucket:
    Type: AWS::S3::Bucket
Outputs:
  Api:
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"
  Role:
    Value: !GetAtt CustomRole.Arn
"""


@pytest.fixture
def app(load: Load) -> Template:
    return load(GLOBALS_APP)


def test_globals_merge_per_sam_rules(app: Template) -> None:
    """Function values win, env maps merge, unset values fall back to Globals and defaults."""
    defaults, custom = app.functions["Defaults"], app.functions["Custom"]
    assert (defaults.runtime, defaults.timeout_s, defaults.memory_mb) == ("python3.11", 5, 128)
    assert dict(defaults.environment) == {"SHARED": "from-globals", "OVERRIDDEN": "from-globals"}
    assert (custom.runtime, custom.timeout_s, custom.memory_mb) == ("python3.13", 20, 512)
    assert dict(custom.environment) == {
        "SHARED": "from-globals",
        "OVERRIDDEN": "from-function",
        "OWN": "42",
    }
    assert custom.code_root == defaults.code_root
    assert custom.code_root.name == "src"
    assert custom.code_root.is_absolute()


def test_function_name_is_honoured(app: Template) -> None:
    """FunctionName sets the physical name and the ARN."""
    custom = app.functions["Custom"]
    assert custom.name == "my-custom-fn"
    assert custom.arn == "arn:aws:lambda:us-east-1:123456789012:function:my-custom-fn"
    assert app.function_by_name("my-custom-fn") is custom
    assert app.function_by_name(custom.arn) is custom


def test_policies_are_parsed_not_enforced(app: Template) -> None:
    """Managed names, ARNs, policy templates and inline statements are all recorded."""
    table, queue = app.tables["Table"], app.queues["Queue"]
    policies: list[dict[str, Any]] = [dict(p) for p in app.functions["Custom"].policies]
    assert policies[0] == {
        "Kind": "managed",
        "Arn": "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess",
    }
    assert policies[1]["Arn"] == "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
    assert policies[2] == {
        "Kind": "template",
        "Template": "DynamoDBCrudPolicy",
        "Parameters": {"TableName": table.name},
    }
    assert policies[3]["Parameters"] == {"QueueName": queue.name}
    assert policies[4]["Kind"] == "inline"
    assert policies[4]["Document"]["Statement"][0]["Resource"] == queue.arn
    assert app.functions["Defaults"].policies == ()


def test_http_api_events_use_the_implicit_api(app: Template) -> None:
    """HttpApi events without ApiId land on ServerlessHttpApi with Globals' default authorizer."""
    (api,) = app.http_apis
    assert api.logical_id == "ServerlessHttpApi"
    assert api.stage == "$default"
    routes = {(r.method, r.path): r for r in api.routes}
    assert set(routes) == {("GET", "/items/{id}"), ("GET", "/health"), ("ANY", "$default")}
    jwt = routes[("GET", "/items/{id}")].authorizer
    assert jwt is not None
    assert (jwt.name, jwt.issuer, jwt.audience) == (
        "Jwt",
        "https://issuer.example.com",
        ("aud-1", "aud-2"),
    )
    assert jwt.identity_source == "$request.header.Authorization"
    assert routes[("GET", "/health")].authorizer is None
    assert app.outputs["Api"].value == f"https://{api.api_id}.execute-api.us-east-1.amazonaws.com"


def test_sqs_and_dynamodb_events_become_event_sources(app: Template) -> None:
    """SAM SQS/DynamoDB events keep batch, window, enabled, filters and AWS defaults."""
    sqs, stream = app.event_sources
    assert (sqs.logical_id, sqs.source, sqs.function) == ("CustomWork", "Queue", "Custom")
    assert (sqs.batch_size, sqs.maximum_batching_window_s, sqs.enabled) == (50, 2, False)
    assert sqs.filter_patterns == ('{"body": {"kind": ["a"]}}',)
    assert sqs.report_batch_item_failures is False
    assert (stream.logical_id, stream.kind, stream.source) == ("CustomChanges", "dynamodb", "Table")
    assert (stream.batch_size, stream.starting_position) == (100, "TRIM_HORIZON")
    assert stream.maximum_retry_attempts is None


def test_other_events_and_types_are_ignored_with_reasons(app: Template) -> None:
    """S3 events and the bucket are listed as ignored; Schedule and Api events are driven."""
    ignored = "\n".join(app.ignored)
    assert "CustomUpload (S3 event of Custom): S3 events are not emulated" in ignored
    assert "Bucket (AWS::S3::Bucket): not emulated" in ignored
    assert "CustomNightly" not in ignored and "CustomRest" not in ignored
    assert [s.logical_id for s in app.schedules] == ["CustomNightly"]
    assert [(r.method, r.path) for api in app.rest_apis for r in api.routes] == [("GET", "/x")]


def test_implicit_role_can_be_referenced(app: Template) -> None:
    """SAM's generated {Function}Role answers GetAtt Arn like a declared role."""
    assert re.fullmatch(
        r"arn:aws:iam::123456789012:role/test-CustomRole-[A-Z0-9]{12}", app.outputs["Role"].value
    )
    assert not any("CustomRole" in entry for entry in app.ignored)


def test_table_lsi_ttl_disabled_and_keys_only_stream(app: Template) -> None:
    """LSIs, N/B key types, a disabled TTL and a KEYS_ONLY stream are modelled."""
    table = app.tables["Table"]
    assert (table.range_key and table.range_key.type) == "N"
    (lsi,) = table.local_indexes
    assert (lsi.name, lsi.range_key and lsi.range_key.type) == ("byAlt", "B")
    assert lsi.projection == {"ProjectionType": "KEYS_ONLY"}
    assert table.ttl_attribute is None
    assert table.stream_view_type == "KEYS_ONLY"


def test_merge_globals_rules() -> None:
    """Maps merge, lists concatenate, intrinsics and scalars take the local value."""
    assert merge_globals({"a": 1, "m": {"x": 1}}, {"m": {"y": 2}}) == {
        "a": 1,
        "m": {"x": 1, "y": 2},
    }
    assert merge_globals(["x86_64"], ["arm64"]) == ["x86_64", "arm64"]
    assert merge_globals({"Ref": "A"}, {"k": "v"}) == {"k": "v"}
    assert merge_globals({"k": "v"}, {"Fn::If": ["C", 1, 2]}) == {"Fn::If": ["C", 1, 2]}
    assert merge_globals(3, 5) == 5


SAM_FN = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handle
      Runtime: python3.12
{extra}
"""


def _fn(extra: str) -> str:
    return SAM_FN.format(extra="\n".join("      " + line for line in extra.splitlines()))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("InlineCode: 'def handle(e, c): pass'", "InlineCode cannot be run locally"),
        (
            "Layers: [arn:aws:lambda:us-east-1:1:layer:x:1]",
            "layer arn:aws:lambda:us-east-1:1:layer:x:1 is not declared in this template",
        ),
        ("PackageType: Image", "container image functions are not emulated"),
        ("Timeout: 901", "Timeout 901 is outside 1..900"),
        ("MemorySize: 64", "MemorySize 64 is outside 128..10240"),
        ("Environment: {Variables: {AWS_REGION: x}}", "AWS_REGION is reserved by Lambda"),
        ("Environment: {Variables: {1BAD: x}}", "environment variable name '1BAD' is invalid"),
        ("Policies: [[nested]]", "Policies entry"),
        (
            "Events: {E: {Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:1:other}}}",
            "queue arn:aws:sqs:us-east-1:1:other is not a queue of this template",
        ),
        (
            "Events: {E: {Type: DynamoDB, Properties: {Stream: arn:x, StartingPosition: AT}}}",
            "StartingPosition AT is not valid for a DynamoDB stream",
        ),
        (
            "Events: {E: {Type: SQS, Properties: {Queue: q, FunctionResponseTypes: [X]}}}",
            "FunctionResponseTypes ['X'] must be [] or [ReportBatchItemFailures]",
        ),
        (
            "Events: {E: {Type: SQS, Properties: {Queue: q, BatchSize: 20}}}",
            "BatchSize 20 needs MaximumBatchingWindowInSeconds",
        ),
        (
            "Events: {E: {Type: SQS, Properties: {Queue: q,"
            " FilterCriteria: {Filters: [{Pattern: '{x'}]}}}}",
            "filter Pattern is not valid JSON",
        ),
        (
            "Events: {E: {Type: HttpApi,"
            " Properties: {Path: /a, Method: GET, Auth: {Authorizer: Nope}}}}",
            "Auth.Authorizer Nope is not declared",
        ),
        (
            "Events: {E: {Type: HttpApi, Properties: {ApiId: abc, Path: /a, Method: GET}}}",
            "ApiId abc is not an AWS::Serverless::HttpApi of this template",
        ),
        (
            "Events: {E: {Type: HttpApi, Properties: {PayloadFormatVersion: '1.0'}}}",
            "PayloadFormatVersion 1.0 is not emulated",
        ),
    ],
)
def test_sam_function_errors_name_the_function(load: Load, extra: str, fragment: str) -> None:
    """What the emulator cannot run the AWS way fails naming Fn and what to do."""
    with pytest.raises(TemplateError) as info:
        load(_fn(extra))
    assert str(info.value).startswith("Fn (AWS::Serverless::Function)")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("replace", "fragment"),
    [
        (("Runtime: python3.12", "Runtime: nodejs20.x"), "Runtime nodejs20.x is not supported"),
        (("Runtime: python3.12", "Runtime: python3.7"), "Runtime python3.7 is not supported"),
        (("CodeUri: src", "CodeUri: missing"), "CodeUri missing does not exist"),
        (("CodeUri: src", "CodeUri: s3://bucket/key.zip"), "is not a local path"),
        (("CodeUri: src", "CodeUri: {Bucket: b, Key: k}"), "points at S3"),
        (("Handler: app.handle", "Handler: nodot"), "Handler 'nodot' must be 'module.function'"),
        (("      Runtime: python3.12\n", ""), "Runtime is required"),
    ],
)
def test_function_basics_are_checked(load: Load, replace: tuple[str, str], fragment: str) -> None:
    """Runtimes other than python3.8-3.14, missing code dirs and bad handlers are refused."""
    with pytest.raises(TemplateError) as info:
        load(_fn("").replace(*replace))
    assert str(info.value).startswith("Fn (AWS::Serverless::Function): ")
    assert fragment in str(info.value)


@pytest.mark.parametrize("runtime", ["python3.8", "python3.9", "python3.10", "python3.14"])
def test_python_runtimes_are_accepted(load: Load, runtime: str) -> None:
    """python3.8 through python3.14 load."""
    app = load(_fn("").replace("python3.12", runtime))
    assert app.functions["Fn"].runtime == runtime


def test_code_uri_that_is_a_file_is_refused(load: Load, app_dir: Path) -> None:
    """A zip artifact as CodeUri asks for the unpacked directory."""
    (app_dir / "code.zip").write_bytes(b"PK")
    with pytest.raises(TemplateError, match=r"code\.zip is a file"):
        load(_fn("").replace("CodeUri: src", "CodeUri: code.zip"))


def test_missing_code_uri_means_the_template_directory(load: Load, app_dir: Path) -> None:
    """Without CodeUri the code root is the template's directory, as in SAM CLI."""
    app = load(_fn("").replace("      CodeUri: src\n", ""))
    assert app.functions["Fn"].code_root == app_dir


def test_globals_reject_function_only_properties(load: Load) -> None:
    """Policies in Globals is refused the way SAM refuses it."""
    body = "Globals:\n  Function:\n    Policies: [x]\n" + _fn("")
    with pytest.raises(TemplateError, match=r"Globals \(Function\): Policies cannot be set"):
        load(body)


def test_unknown_globals_section_is_refused(load: Load) -> None:
    """A Globals section SAM does not know is refused."""
    with pytest.raises(TemplateError, match=r"Globals \(Table\): not a SAM Globals section"):
        load("Globals:\n  Table: {}\n" + _fn(""))


def test_sam_resources_need_the_transform(load: Load) -> None:
    """A Serverless resource without the SAM transform names the transform to add."""
    with pytest.raises(
        TemplateError, match="SAM resources need Transform: AWS::Serverless-2016-10-31"
    ):
        load(_fn("").replace("Transform: AWS::Serverless-2016-10-31\n", ""))


def test_other_transforms_are_refused(load: Load) -> None:
    """Transforms other than SAM's are refused by name."""
    body = _fn("").replace(
        "Transform: AWS::Serverless-2016-10-31",
        "Transform: [AWS::Serverless-2016-10-31, AWS::LanguageExtensions]",
    )
    with pytest.raises(TemplateError, match="Transform AWS::LanguageExtensions: not supported"):
        load(body)


def test_serverless_websocket_api_is_refused(load: Load) -> None:
    """AWS::Serverless::WebSocketApi is refused with the raw resources to use instead."""
    body = _fn("") + "  Ws:\n    Type: AWS::Serverless::WebSocketApi\n"
    with pytest.raises(
        TemplateError, match=r"Ws \(AWS::Serverless::WebSocketApi\): .*ApiGatewayV2"
    ):
        load(body)


def test_explicit_sam_http_api_with_stage_and_no_default_auth(load: Load) -> None:
    """An explicit HttpApi keeps its StageName; routes without auth have no authorizer."""
    body = _fn(
        "Events:\n  A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /a, Method: post}}"
    )
    body += "  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties: {StageName: v1}\n"
    (api,) = load(body).http_apis
    assert (api.logical_id, api.stage) == ("Api", "v1")
    assert api.routes[0].method == "POST"
    assert api.routes[0].authorizer is None


def test_simple_table(load: Load) -> None:
    """AWS::Serverless::SimpleTable becomes a table keyed on its PrimaryKey (default id/S)."""
    body = _fn("") + (
        "  Plain: {Type: AWS::Serverless::SimpleTable}\n"
        "  Keyed:\n    Type: AWS::Serverless::SimpleTable\n"
        "    Properties: {TableName: keyed, PrimaryKey: {Name: n, Type: Number}}\n"
    )
    app = load(body)
    assert app.tables["Plain"].hash_key.name == "id"
    assert app.tables["Plain"].hash_key.type == "S"
    assert (app.tables["Keyed"].name, app.tables["Keyed"].hash_key.type) == ("keyed", "N")


def test_false_condition_skips_the_function(load: Load) -> None:
    """A resource whose Condition is false is not created, and Fn::If can drop properties."""
    body = _fn("FunctionName: !If [Never, named, !Ref AWS::NoValue]") + (
        "  Other:\n    Type: AWS::Serverless::Function\n    Condition: Never\n"
        "    Properties: {CodeUri: src, Handler: a.b, Runtime: python3.12}\n"
    )
    body = body.replace("Resources:", "Conditions:\n  Never: !Equals [1, 2]\nResources:")
    app = load(body)
    assert set(app.functions) == {"Fn"}
    assert app.functions["Fn"].name.startswith("test-Fn-")
