"""SAM's implicit resources resolve under the names aws-sam-translator gives them.

One SAM template with every kind of generated resource the emulator knows is expanded
by aws-sam-translator (the real transform, offline); every logical id in its output must
then resolve in `Ref` in our loader, and SAM's referenceable properties (`Api.Stage`,
`Fn.Alias`, ...) must name what the translator made of them. Names the translator hashes
from documents the emulator does not build (deployments, versions, layer versions) are
checked by their prefix and reached through their referenceable property instead.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.template.implicit import rest_stage_logical_id, sam_logical_id
from emulator.template.load import load_template

# One function of each event kind, APIs with literal, intrinsic and non-alphanumeric
# stages, authorizers, an alias, a function URL and a layer.
SOURCE: dict[str, Any] = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Parameters": {"Stage": {"Type": "String", "Default": "beta"}},
    "Globals": {"Api": {"Variables": {"color": "blue"}}},
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            },
        },
        "Shared": {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {"ContentUri": "layer/", "CompatibleRuntimes": ["python3.12"]},
        },
        "Worker": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "src/",
                "Handler": "app.handler",
                "Runtime": "python3.12",
                "AutoPublishAlias": "live",
                "Layers": [{"Ref": "Shared"}],
                "FunctionUrlConfig": {"AuthType": "NONE"},
                "Events": {
                    "Get": {"Type": "Api", "Properties": {"Path": "/x", "Method": "get"}},
                    "Own": {
                        "Type": "Api",
                        "Properties": {"Path": "/y", "Method": "post", "RestApiId": {"Ref": "Lit"}},
                    },
                    "Hyphen": {
                        "Type": "Api",
                        "Properties": {"Path": "/z", "Method": "get", "RestApiId": {"Ref": "Dash"}},
                    },
                    "Param": {
                        "Type": "Api",
                        "Properties": {"Path": "/p", "Method": "get", "RestApiId": {"Ref": "Var"}},
                    },
                    "Http": {"Type": "HttpApi", "Properties": {"Path": "/h", "Method": "get"}},
                    "Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}},
                    "Named": {
                        "Type": "Schedule",
                        "Properties": {"Schedule": "rate(5 minutes)", "Name": "named-rule"},
                    },
                    "Tock": {
                        "Type": "ScheduleV2",
                        "Properties": {"ScheduleExpression": "rate(1 hour)"},
                    },
                    "Jobs": {
                        "Type": "SQS",
                        "Properties": {"Queue": {"Fn::GetAtt": ["Queue", "Arn"]}},
                    },
                    "Changes": {
                        "Type": "DynamoDB",
                        "Properties": {
                            "Stream": {"Fn::GetAtt": ["Table", "StreamArn"]},
                            "StartingPosition": "LATEST",
                        },
                    },
                    "Pattern": {
                        "Type": "EventBridgeRule",
                        "Properties": {"Pattern": {"source": ["app"]}},
                    },
                },
            },
        },
        "Gate": {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": "src/", "Handler": "app.gate", "Runtime": "python3.12"},
        },
        "Lit": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "StageName": "dev",
                "Auth": {
                    "DefaultAuthorizer": "Tok",
                    "Authorizers": {
                        "Tok": {"FunctionArn": {"Fn::GetAtt": ["Gate", "Arn"]}},
                        "Req": {
                            "FunctionArn": {"Fn::GetAtt": ["Gate", "Arn"]},
                            "FunctionPayloadType": "REQUEST",
                            "Identity": {"Headers": ["X-Key"]},
                        },
                    },
                },
            },
        },
        "Dash": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "v1-beta"}},
        "Var": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": {"Ref": "Stage"}}},
        "Web": {"Type": "AWS::Serverless::HttpApi", "Properties": {"StageName": "dev"}},
    },
    "Outputs": {
        "LitStage": {"Value": {"Ref": "Lit.Stage"}},
        "DashStage": {"Value": {"Ref": "Dash.Stage"}},
        "VarStage": {"Value": {"Ref": "Var.Stage"}},
        "LitDeployment": {"Value": {"Ref": "Lit.Deployment"}},
        "WebStage": {"Value": {"Ref": "Web.Stage"}},
        "Alias": {"Value": {"Ref": "Worker.Alias"}},
        "Version": {"Value": {"Ref": "Worker.Version"}},
    },
}
# The translator hashes these from its own output; the emulator names them by prefix.
HASHED = re.compile(r"(?:.+Deployment|.+Version|Shared)[0-9a-f]{10}")


def translate(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """aws-sam-translator's expansion of `template` (code and layers as S3 stand-ins)."""
    from samtranslator.translator.transform import transform  # a test dependency

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    doc = copy.deepcopy(template)
    for resource in doc["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    result: dict[str, Any] = transform(doc, {"Stage": "beta"}, NoManagedPolicies())
    return result


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return translate(SOURCE, monkeypatch)


def load_with_outputs(app: Path, outputs: dict[str, Any]) -> dict[str, str]:
    """Load SOURCE (local code) with `outputs` added; the outputs as resolved."""
    (app / "src").mkdir(parents=True, exist_ok=True)
    (app / "layer" / "python").mkdir(parents=True, exist_ok=True)
    doc = copy.deepcopy(SOURCE)
    doc["Outputs"] = {**doc["Outputs"], **outputs}
    path = app / "template.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    template = load_template(path, stack_name="test")
    return {key: output.value for key, output in template.outputs.items()}


def test_every_generated_logical_id_resolves(translated: dict[str, Any], tmp_path: Path) -> None:
    """Each resource the transform outputs is a Ref target of the loaded template."""
    generated = sorted(translated["Resources"])
    plain = [lid for lid in generated if HASHED.fullmatch(lid) is None]
    hashed = [lid for lid in generated if HASHED.fullmatch(lid) is not None]
    assert {re.sub(r"[0-9a-f]{10}$", "", lid) for lid in hashed} == {
        "ServerlessRestApiDeployment",
        "LitDeployment",
        "DashDeployment",
        "VarDeployment",
        "WorkerVersion",
        "Shared",
    }
    assert {
        "ServerlessRestApi",
        "ServerlessRestApiProdStage",
        "ServerlessHttpApi",
        "WorkerRole",
        "WorkerGetPermissionProd",
        "WorkerTick",
        "WorkerTickPermission",
        "WorkerTockRole",
        "WorkerJobs",
        "LitTokAuthorizerPermission",
    } <= set(plain)
    outputs = {f"R{index}": {"Value": {"Ref": lid}} for index, lid in enumerate(plain)}
    values = load_with_outputs(tmp_path / "app", outputs)
    for index, lid in enumerate(plain):
        assert values[f"R{index}"], lid


def test_referenceable_properties_name_what_the_translator_made(
    translated: dict[str, Any], tmp_path: Path
) -> None:
    """`Api.Stage`, `HttpApi.Stage`, `Fn.Alias` point where the transform points them."""
    targets = {key: out["Value"]["Ref"] for key, out in translated["Outputs"].items()}
    assert targets["LitStage"] == "LitdevStage"
    assert targets["DashStage"] == rest_stage_logical_id("Dash", "v1-beta")
    assert targets["VarStage"] == "VarStage"
    assert targets["WebStage"] == "WebdevStage"
    assert targets["Alias"] == "WorkerAliaslive"
    assert targets["LitDeployment"].startswith("LitDeployment")
    assert targets["Version"].startswith("WorkerVersion")
    values = load_with_outputs(tmp_path / "app", {})
    assert (values["LitStage"], values["DashStage"], values["VarStage"]) == (
        "dev",
        "v1-beta",
        "beta",
    )
    assert values["WebStage"] == "dev"
    assert re.fullmatch(r"[a-z0-9]{6}", values["LitDeployment"])
    function_arn = r"arn:aws:lambda:us-east-1:123456789012:function:test-Worker-[A-Z0-9]{12}"
    assert re.fullmatch(function_arn + ":live", values["Alias"])
    assert re.fullmatch(function_arn + ":1", values["Version"])


def test_permission_suffixes_follow_the_target_stage(translated: dict[str, Any]) -> None:
    """Prod for the implicit API, the literal stage, a hash for "v1-beta", "Stage" for a Ref."""
    resources = set(translated["Resources"])
    assert "WorkerGetPermissionProd" in resources
    assert "WorkerOwnPermissiondev" in resources
    assert sam_logical_id("WorkerHyphenPermission", "v1-beta") in resources
    assert "WorkerParamPermissionStage" in resources


def test_generated_rules_and_schedules_answer_getatt(tmp_path: Path) -> None:
    """A Schedule's rule, a ScheduleV2's schedule and the implicit API's root id."""
    values = load_with_outputs(
        tmp_path / "app",
        {
            "Rule": {"Value": {"Fn::GetAtt": ["WorkerTick", "Arn"]}},
            "NamedRule": {"Value": {"Fn::GetAtt": ["WorkerNamed", "Arn"]}},
            "Schedule": {"Value": {"Fn::GetAtt": ["WorkerTock", "Arn"]}},
            "Root": {"Value": {"Fn::GetAtt": ["ServerlessRestApi", "RootResourceId"]}},
            "Url": {"Value": {"Fn::GetAtt": ["WorkerUrl", "FunctionUrl"]}},
            "Sub": {
                "Value": {
                    "Fn::Sub": "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/${ServerlessRestApiProdStage}"
                }
            },
        },
    )
    assert re.fullmatch(
        r"arn:aws:events:us-east-1:123456789012:rule/test-WorkerTick-[A-Z0-9]{12}", values["Rule"]
    )
    assert values["NamedRule"] == "arn:aws:events:us-east-1:123456789012:rule/named-rule"
    assert values["Schedule"] == (
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default/WorkerTock"
    )
    assert re.fullmatch(r"[a-z0-9]{10}", values["Root"])
    assert re.fullmatch(r"https://[a-z0-9]{32}\.lambda-url\.us-east-1\.on\.aws/", values["Url"])
    assert re.fullmatch(
        r"https://[a-z0-9]{10}\.execute-api\.us-east-1\.amazonaws\.com/Prod", values["Sub"]
    )


def test_sam_logical_id_matches_the_translator() -> None:
    """The hash helper is aws-sam-translator's LogicalIdGenerator."""
    from samtranslator.translator.logical_id_generator import LogicalIdGenerator

    for prefix, data in (("ApiStage", "v1-beta"), ("X", {"b": [1, 2], "a": "z"}), ("Y", "")):
        expected = LogicalIdGenerator(prefix, data).gen()
        assert sam_logical_id(prefix, data) == expected, json.dumps(data)


def test_a_declared_resource_is_never_shadowed(tmp_path: Path) -> None:
    """A template that declares FnRole itself keeps its own (the transform would fail)."""
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: src/, Handler: a.b, Runtime: python3.12}\n"
        "  FnRole:\n"
        "    Type: AWS::IAM::Role\n"
        "    Properties: {RoleName: mine}\n"
        "Outputs:\n"
        "  Role: {Value: !GetAtt FnRole.Arn}\n",
        encoding="utf-8",
    )
    template = load_template(app / "template.yaml", stack_name="test")
    assert template.outputs["Role"].value == "arn:aws:iam::123456789012:role/mine"
