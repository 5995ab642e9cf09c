"""Intrinsic functions, conditions and pseudo parameters, as seen in a function's env."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from emulator.template.errors import TemplateError
from emulator.template.model import Template

Load = Callable[..., Template]

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Subnets: {Type: CommaDelimitedList, Default: "a, b,c"}
  Size: {Type: Number, Default: 5}
Mappings:
  Sizes:
    dev: {mem: 256}
    prod: {mem: 1024}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [!Ref Size, 5]]
  Either: {"Fn::Or": [{"Condition": "IsProd"}, {"Fn::Equals": ["x", "y"]}]}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handle
      Runtime: python3.12
      MemorySize: !FindInMap [Sizes, !Ref Env, mem]
      Environment:
        Variables:
          REF_PARAM: !Ref Env
          REF_NUMBER: !Ref Size
          JOIN: !Join ["-", [a, !Ref Env, 3]]
          JOIN_LIST: !Join [",", !Ref Subnets]
          SELECT: !Select [1, !Ref Subnets]
          SELECT_SPLIT: !Select ["2", !Split ["/", "x/y/z"]]
          SUB: !Sub "${AWS::StackName}-${Env}-${Table}"
          SUB_ATTR: !Sub "${Table.Arn}|${Queue.QueueName}"
          SUB_LITERAL: !Sub "${!NotAVar}-${Env}"
          SUB_VARS: !Sub ["${A}+${B}+${Env}", {A: !Ref Size, B: 7}]
          IF: !If [IsProd, big, small]
          IF_NOVALUE: !If [IsProd, x, !Ref AWS::NoValue]
          AND: !If [Both, "yes", "no"]
          OR: !If [Either, "yes", "no"]
          BASE64: !Base64 hello
          AZ: !Select [0, !GetAZs ""]
          CIDR: !Select [1, !Cidr ["10.0.0.0/16", 4, 8]]
          GETATT_LIST: !GetAtt [Queue, QueueName]
          GETATT_DOTTED: !GetAtt Queue.QueueUrl
          LONG_FORM: {"Fn::Join": ["", ["x-", {"Ref": "AWS::Region"}]]}
          BOOL: true
          NUMBER: 60
          FLOAT: 1.5
          ACCOUNT: !Ref AWS::AccountId
          PARTITION: !Ref AWS::Partition
          SUFFIX: !Ref AWS::URLSuffix
          STACK_ID: !Ref AWS::StackId
          NOTIFICATIONS: !Join [",", !Ref AWS::NotificationARNs]
          MAP_DEFAULT: !FindInMap [Sizes, !Ref Env, missing, {DefaultValue: fallback}]
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  Env:
    Value: !Ref Env
  ProdOnly:
    Condition: IsProd
    Value: prod
  Subnets:
    Value: !Ref Subnets
"""


def test_every_intrinsic_resolves(load: Load) -> None:
    """Ref, GetAtt, Sub, Join, Select, Split, If, conditions, FindInMap, Base64, GetAZs, Cidr."""
    app = load(TEMPLATE)
    fn = app.functions["Fn"]
    env = dict(fn.environment)
    table = app.tables["Table"]
    queue = app.queues["Queue"]
    assert fn.memory_mb == 256
    assert env.pop("STACK_ID").startswith(
        "arn:aws:cloudformation:us-east-1:123456789012:stack/test/"
    )
    assert env == {
        "REF_PARAM": "dev",
        "REF_NUMBER": "5",
        "JOIN": "a-dev-3",
        "JOIN_LIST": "a,b,c",
        "SELECT": "b",
        "SELECT_SPLIT": "z",
        "SUB": f"test-dev-{table.name}",
        "SUB_ATTR": f"{table.arn}|{queue.name}",
        "SUB_LITERAL": "${NotAVar}-dev",
        "SUB_VARS": "5+7+dev",
        "IF": "small",
        "AND": "yes",
        "OR": "no",
        "BASE64": "aGVsbG8=",
        "AZ": "us-east-1a",
        "CIDR": "10.0.1.0/24",
        "GETATT_LIST": queue.name,
        "GETATT_DOTTED": queue.url,
        "LONG_FORM": "x-us-east-1",
        "BOOL": "true",
        "NUMBER": "60",
        "FLOAT": "1.5",
        "ACCOUNT": "123456789012",
        "PARTITION": "aws",
        "SUFFIX": "amazonaws.com",
        "NOTIFICATIONS": "",
        "MAP_DEFAULT": "fallback",
    }
    assert {k: o.value for k, o in app.outputs.items()} == {"Env": "dev", "Subnets": "a,b,c"}


def test_conditions_follow_parameter_overrides(load: Load) -> None:
    """With Env=prod the conditions flip, Fn::If picks the other branch and outputs appear."""
    app = load(TEMPLATE, {"Env": "prod"})
    env = app.functions["Fn"].environment
    assert (env["IF"], env["IF_NOVALUE"], env["AND"], env["OR"]) == ("big", "x", "no", "yes")
    assert app.functions["Fn"].memory_mb == 1024
    assert app.outputs["ProdOnly"].value == "prod"


def test_generated_names_have_cloudformation_shape(load: Load) -> None:
    """Unnamed tables and queues get {stack}-{LogicalId}-{12 uppercase alnum}."""
    app = load(TEMPLATE)
    assert re.fullmatch(r"test-Table-[A-Z0-9]{12}", app.tables["Table"].name)
    assert re.fullmatch(r"test-Queue-[A-Z0-9]{12}", app.queues["Queue"].name)
    assert re.fullmatch(r"test-Fn-[A-Z0-9]{12}", app.functions["Fn"].name)


FUNCTION = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  P: {{Type: String, Default: v}}
Conditions:
  Never: !Equals [a, b]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handle
      Runtime: python3.12
      Environment:
        Variables:
          VALUE: {value}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]
      KeySchema: [{{AttributeName: pk, KeyType: HASH}}]
  Skipped:
    Type: AWS::SQS::Queue
    Condition: Never
"""


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("!Ref Nope", "Ref to 'Nope', which is neither a parameter nor a resource"),
        ("!Ref AWS::Nope", "unknown pseudo parameter AWS::Nope"),
        ("!GetAtt Nope.Arn", "Fn::GetAtt on 'Nope', which is not a resource"),
        ("!GetAtt Table.Nope", "Table.Nope is not an attribute of AWS::DynamoDB::Table"),
        ("!GetAtt Table.StreamArn", "Table (AWS::DynamoDB::Table): StreamArn is used but"),
        ("!Sub '${Nope}'", "Ref to 'Nope'"),
        ("!ImportValue shared-url", "Fn::ImportValue 'shared-url'"),
        ("!Select [3, [a, b]]", "Fn::Select index 3 is out of range"),
        ("!FindInMap [M, a, b]", "Fn::FindInMap finds no 'M'"),
        ("!If [Missing, a, b]", "condition 'Missing' is not declared"),
        ("!Ref Skipped", "refers to Skipped, which is not created because its Condition Never"),
        ("!Transform {Name: X}", "Fn::Transform is not supported"),
        ("!Join [',', a]", "the Fn::Join values must be a list"),
        ("[a, b]", "VALUE must be a string, not a list"),
        ("!Cidr ['10.0.0.0/30', 9, 8]", "Fn::Cidr"),
    ],
)
def test_bad_intrinsics_name_the_resource(load: Load, value: str, fragment: str) -> None:
    """An intrinsic that cannot resolve fails the load, naming the resource."""
    with pytest.raises(TemplateError) as info:
        load(FUNCTION.format(value=value))
    message = str(info.value)
    assert fragment in message
    assert "(AWS::" in message
    assert ";" in message


def test_import_value_in_policies_does_not_fail(load: Load) -> None:
    """Policies are not enforced, so an import there becomes a placeholder."""
    body = """\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src
          Handler: app.handle
          Runtime: python3.12
          Policies:
            - Statement:
                - {Effect: Allow, Action: "s3:*", Resource: !ImportValue bucket-arn}
    """
    (policy,) = load(body).functions["Fn"].policies
    (statement,) = policy["Document"]["Statement"]  # type: ignore[index]
    assert statement["Resource"] == "{ImportValue:bucket-arn}"


def test_condition_cycle_is_reported(load: Load) -> None:
    """Conditions that depend on each other in a loop fail with the condition named."""
    body = """\
    Conditions:
      A: !Not [!Condition B]
      B: !Not [!Condition A]
    Resources:
      Q: {Type: AWS::SQS::Queue}
    """
    with pytest.raises(TemplateError, match=r"Condition [AB]: refers to itself"):
        load(body)


def test_unused_broken_condition_still_fails(load: Load) -> None:
    """All conditions are evaluated, as CloudFormation does, even unused ones."""
    body = """\
    Conditions:
      Broken: !Equals [!Ref Nope, x]
    Resources:
      Q: {Type: AWS::SQS::Queue}
    """
    with pytest.raises(TemplateError, match="Condition Broken: Ref to 'Nope'"):
        load(body)


def test_self_referencing_name_is_a_cycle(load: Load) -> None:
    """A table whose name refers to itself is a circular reference, not a recursion error."""
    body = """\
    Resources:
      T:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: !Sub "${T}-x"
          AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
          KeySchema: [{AttributeName: pk, KeyType: HASH}]
    """
    with pytest.raises(
        TemplateError, match=r"circular reference through T \(AWS::DynamoDB::Table\)"
    ):
        load(body)
