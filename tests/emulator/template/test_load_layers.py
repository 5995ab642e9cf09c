"""Layers: local LayerVersions on a function's import path, in Lambda's order."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.runner.environment import function_environment
from emulator.template.errors import TemplateError
from emulator.template.model import Template

Load = Callable[..., Template]

APP = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: src/
    Layers: [!Ref Base]
Resources:
  Base:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: base/}
  Extra:
    Type: AWS::Lambda::LayerVersion
    Properties: {Content: extra/, LayerName: extra-things}
  Built:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: built/}
    Metadata: {BuildMethod: python3.12}
  Both:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Layers: [!Ref Extra, !GetAtt Built.LayerVersionArn]
  Plain:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.handler}
  Raw:
    Type: AWS::Lambda::Function
    Properties: {Runtime: python3.12, Code: src/, Handler: app.handler, Layers: [!Ref Extra]}
Outputs:
  ExtraArn: {Value: !Ref Extra}
  BaseArn: {Value: !Ref Base}
"""


@pytest.fixture
def layered(app_dir: Path) -> Path:
    """base/ with python/ and a site-packages dir, extra/ with python/, built/ flat."""
    (app_dir / "base" / "python" / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    (app_dir / "extra" / "python").mkdir(parents=True)
    (app_dir / "built").mkdir()
    return app_dir


def test_layers_in_lambda_order(load: Load, layered: Path) -> None:
    """Globals' layers first; site-packages before python/; the last layer's files win."""
    app = load(APP)
    base, extra, built = (
        layered / "base" / "python",
        layered / "extra" / "python",
        layered / "built",
    )
    site = base / "lib" / "python3.12" / "site-packages"
    assert app.functions["Plain"].layers == (site, base)
    assert app.functions["Both"].layers == (site, built, extra, base)
    assert app.functions["Raw"].layers == (extra,)  # Globals are SAM's, not CloudFormation's
    assert app.outputs["ExtraArn"].value == (
        "arn:aws:lambda:us-east-1:123456789012:layer:extra-things:1"
    )
    # AWS SAM names a LayerVersion after its logical id.
    assert app.outputs["BaseArn"].value == "arn:aws:lambda:us-east-1:123456789012:layer:Base:1"


def test_worker_environment_puts_layers_after_the_code(load: Load, layered: Path) -> None:
    """PYTHONPATH holds the layer dirs; a fresh interpreter imports from them."""
    app = load(APP)
    fn = app.functions["Both"]
    env = function_environment(fn, region="us-east-1", account_id="123456789012")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(p) for p in fn.layers]
    plain = function_environment(app.functions["Plain"], region="us-east-1", account_id="1")
    assert plain["PYTHONPATH"] != env["PYTHONPATH"]
    no_layers = dataclasses.replace(fn, layers=())
    assert "PYTHONPATH" not in function_environment(no_layers, region="us-east-1", account_id="1")
    (layered / "extra" / "python" / "shared_bits.py").write_text("WHERE = 'extra'\n")
    (layered / "built" / "shared_bits.py").write_text("WHERE = 'built'\n")
    run = subprocess.run(
        [sys.executable, "-c", "import shared_bits; print(shared_bits.WHERE)"],
        env={**env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "built"  # Built is listed after Extra: its file wins


@pytest.mark.parametrize(
    ("fragment", "replacement", "message"),
    [
        (
            "Layers: [!Ref Extra]}",
            "Layers: [arn:aws:lambda:us-east-1:017000801446:layer:Powertools:40]}",
            "layer arn:aws:lambda:us-east-1:017000801446:layer:Powertools:40 is not declared "
            "in this template",
        ),
        (
            "Properties: {ContentUri: base/}",
            "Properties: {ContentUri: s3://bucket/layer.zip}",
            "is not a local path",
        ),
        (
            "Properties: {ContentUri: base/}",
            "Properties: {ContentUri: {Bucket: b, Key: k}}",
            "points at S3",
        ),
        (
            "Properties: {ContentUri: built/}\n    Metadata: {BuildMethod: python3.12}",
            "Properties: {ContentUri: built/}",
            "has no python/ directory",
        ),
        ("Content: extra/", "Content: missing/", "is not a directory"),
        (
            "Layers: [!Ref Extra]}",
            "Layers: [!Ref Extra, !Ref Extra, !Ref Extra, !Ref Extra, !Ref Extra, !Ref Extra]}",
            "6 Layers; Lambda allows at most 5",
        ),
    ],
)
def test_layers_the_emulator_cannot_use_are_refused(
    load: Load, layered: Path, fragment: str, replacement: str, message: str
) -> None:
    """One line naming the resource (and the ARN for a published layer)."""
    assert fragment in APP
    with pytest.raises(TemplateError) as info:
        load(APP.replace(fragment, replacement, 1))
    assert message in str(info.value)
