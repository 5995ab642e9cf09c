"""template.yaml as CloudFormation receives it: bundles, CodeUri rewrite, parameters."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from duelctl.deploy.errors import DeployTemplateError
from duelctl.deploy.package import Platform
from duelctl.deploy.template import (
    code_bundles,
    has_sam_transform,
    load_document,
    stage_parameters,
    table_outputs,
    template_json,
    with_code_uris,
)

from .conftest import ROOT

URI = "s3://bucket/duelctl/abc.zip"


@pytest.fixture
def document() -> dict:
    return load_document(ROOT / "template.yaml")


def test_the_duel_template_is_one_bundle_of_twelve_functions(document: dict) -> None:
    """Every function shares lambdas/ on python3.12 x86_64: one zip."""
    [bundle] = code_bundles(document, ROOT)
    assert bundle.source == (ROOT / "lambdas").resolve()
    assert bundle.platform == Platform("python3.12", "x86_64")
    assert len(bundle.functions) == 12 and "ConnectFunction" in bundle.functions


def test_globals_code_uri_is_rewritten_in_place(document: dict) -> None:
    """The Globals CodeUri becomes the S3 URI; functions stay as written; the input is untouched."""
    original = copy.deepcopy(document)
    bundles = code_bundles(document, ROOT)
    packaged = with_code_uris(document, bundles, {bundles[0]: URI})
    assert packaged["Globals"]["Function"]["CodeUri"] == URI
    functions = [r for r in packaged["Resources"].values() if r["Type"].endswith("Function")]
    assert all("CodeUri" not in f["Properties"] for f in functions)
    assert document == original
    assert has_sam_transform(packaged)


def test_functions_on_other_platforms_get_their_own_zip(tmp_path: Path) -> None:
    """Per-function CodeUri and Architectures split bundles; Globals CodeUri goes when it splits."""
    for name in ("app", "tools"):
        (tmp_path / name).mkdir()
    document = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"CodeUri": "app/", "Runtime": "python3.12"}},
        "Resources": {
            "A": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "a.h"}},
            "B": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "b.h", "Architectures": ["arm64"]},
            },
            "C": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "c.h", "CodeUri": "tools"},
            },
            "D": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "d.h", "CodeUri": "s3://elsewhere/d.zip"},
            },
            "E": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "index.h", "InlineCode": "def h(e, c): pass"},
            },
            "Q": {"Type": "AWS::SQS::Queue"},
        },
    }
    bundles = code_bundles(document, tmp_path)
    by_functions = {b.functions: b for b in bundles}
    assert set(by_functions) == {("A",), ("B",), ("C",)}
    assert by_functions[("B",)].platform == Platform("python3.12", "arm64")
    assert by_functions[("C",)].source == (tmp_path / "tools").resolve()
    uris = {b: f"s3://bucket/{b.functions[0]}.zip" for b in bundles}
    packaged = with_code_uris(document, bundles, uris)
    resources = packaged["Resources"]
    assert [resources[f]["Properties"].get("CodeUri") for f in "ABCDE"] == [
        "s3://bucket/A.zip",
        "s3://bucket/B.zip",
        "s3://bucket/C.zip",
        "s3://elsewhere/d.zip",
        None,
    ]
    assert "CodeUri" not in packaged["Globals"]["Function"]


def test_a_code_uri_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    """A CodeUri naming nothing fails before anything is built, naming the function."""
    document = {
        "Resources": {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "missing/", "Runtime": "python3.12", "Handler": "x.h"},
            }
        }
    }
    with pytest.raises(DeployTemplateError, match=r"^F \(AWS::Serverless::Function\): CodeUri"):
        code_bundles(document, tmp_path)


def test_parameters_are_all_sent_with_the_stage(document: dict) -> None:
    """Every declared parameter gets a value: defaults, overrides, StageName from --stage."""
    values = stage_parameters(document, "dev", {"DuelSeconds": "30"})
    assert values == {
        "StageName": "dev",
        "InviteTimeoutSeconds": "60",
        "DuelSeconds": "30",
        "StartLeadSeconds": "3",
        "ConnectionTtlSeconds": "3600",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DuelSeconds": "0"}, r"DuelSeconds \(Number\): value '0' is below MinValue 1"),
        ({"InviteTimeoutSeconds": "soon"}, "is not a number"),
        ({"DuelSecs": "5"}, "declares no such parameter"),
        ({"StageName": "prod"}, "the stage comes from --stage"),
    ],
)
def test_bad_parameters_fail_before_anything_is_sent(
    document: dict, overrides: dict[str, str], message: str
) -> None:
    """CloudFormation's parameter rules are checked here, with the rule in the message."""
    with pytest.raises(DeployTemplateError, match=message):
        stage_parameters(document, "dev", overrides)


def test_template_json_is_deterministic_cloudformation(document: dict) -> None:
    """The body is compact JSON with the long-form intrinsics, the same on every call."""
    body = template_json(document)
    assert body == template_json(load_document(ROOT / "template.yaml"))
    parsed = json.loads(body)
    assert parsed["Transform"] == "AWS::Serverless-2016-10-31"
    assert parsed["Outputs"]["StageName"]["Value"] == {"Ref": "StageName"}
    assert parsed["Resources"]["TimerQueue"]["Properties"]["RedrivePolicy"][
        "deadLetterTargetArn"
    ] == {"Fn::GetAtt": ["TimerDeadLetterQueue", "Arn"]}
    assert len(body.encode()) < 51_200  # fits TemplateBody; larger ones go through S3


def test_a_yaml_error_names_the_file_and_line(tmp_path: Path) -> None:
    """Broken YAML is one line with the path and the line number."""
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n   Properties: {\n")
    with pytest.raises(DeployTemplateError, match=rf"^{path}, line \d+: "):
        load_document(path)
    with pytest.raises(DeployTemplateError, match="cannot read the template"):
        load_document(tmp_path / "missing.yaml")
    path.write_text("just: text\n")
    with pytest.raises(DeployTemplateError, match="not a CloudFormation template"):
        load_document(path)


def test_table_outputs_are_the_outputs_that_ref_a_table(document: dict) -> None:
    """The endpoints file's `tables`: outputs whose value is `!Ref` of a table resource."""
    assert table_outputs(document) == ("ConnectionsTableName", "SessionsTableName")
    document["Outputs"]["Again"] = {"Value": {"Ref": "SessionsTable"}}
    document["Outputs"]["Queue"] = {"Value": {"Ref": "TimerQueue"}}
    assert "Again" in table_outputs(document) and "Queue" not in table_outputs(document)
    assert table_outputs({"Resources": {}}) == ()
