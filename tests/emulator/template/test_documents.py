"""Template files: discovery, YAML tags, document structure, naming and stack names."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.template import naming
from emulator.template.errors import TemplateError
from emulator.template.load import find_template, load_template
from emulator.template.model import Template
from emulator.template.yaml_tags import load_yaml

Load = Callable[..., Template]
QUEUE_ONLY = "Resources:\n  Q: {Type: AWS::SQS::Queue}\n"


def test_find_template_prefers_yaml_then_yml(app_dir: Path) -> None:
    """template.yaml wins over template.yml; template.yml is found alone."""
    (app_dir / "template.yml").write_text(QUEUE_ONLY)
    assert find_template(app_dir) == app_dir / "template.yml"
    (app_dir / "template.yaml").write_text(QUEUE_ONLY)
    assert find_template(app_dir) == app_dir / "template.yaml"


def test_find_template_without_one_fails(app_dir: Path) -> None:
    """A directory with no template names the directory and what to do."""
    with pytest.raises(TemplateError, match=r"no template\.yaml or template\.yml here"):
        find_template(app_dir)


def test_load_template_accepts_a_directory(app_dir: Path) -> None:
    """Given a directory, load_template finds template.yml in it."""
    (app_dir / "template.yml").write_text(QUEUE_ONLY)
    app = load_template(app_dir)
    assert app.path == (app_dir / "template.yml").resolve()
    assert app.stack_name == "app"
    assert app.queues["Q"].name.startswith("app-Q-")


def test_unreadable_path_fails(tmp_path: Path) -> None:
    """A missing file is a TemplateError, not an OSError."""
    with pytest.raises(TemplateError, match="cannot read the template"):
        load_template(tmp_path / "nope.yaml")


def test_short_tags_become_long_forms() -> None:
    """Every short tag parses into its Fn:: / Ref / Condition mapping."""
    text = """\
    a: !Ref X
    b: !GetAtt Res.Attr.Dotted
    c: !GetAtt [Res, Attr]
    d: !Sub "x${Y}"
    e: !Join [",", [a, b]]
    f: !Select [0, !Split [",", "a,b"]]
    g: !If [C, 1, 2]
    h: !Equals [a, b]
    i: !And [!Condition C, !Or [!Not [!Condition D], !Condition E]]
    j: !FindInMap [M, K, V]
    k: !Base64 text
    l: !GetAZs ""
    m: !ImportValue name
    n: !Cidr [10.0.0.0/16, 2, 8]
    o: 2012-10-17
    """
    data = load_yaml(textwrap.dedent(text), "t.yaml")
    assert data == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Res", "Attr.Dotted"]},
        "c": {"Fn::GetAtt": ["Res", "Attr"]},
        "d": {"Fn::Sub": "x${Y}"},
        "e": {"Fn::Join": [",", ["a", "b"]]},
        "f": {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
        "g": {"Fn::If": ["C", 1, 2]},
        "h": {"Fn::Equals": ["a", "b"]},
        "i": {
            "Fn::And": [
                {"Condition": "C"},
                {"Fn::Or": [{"Fn::Not": [{"Condition": "D"}]}, {"Condition": "E"}]},
            ]
        },
        "j": {"Fn::FindInMap": ["M", "K", "V"]},
        "k": {"Fn::Base64": "text"},
        "l": {"Fn::GetAZs": ""},
        "m": {"Fn::ImportValue": "name"},
        "n": {"Fn::Cidr": ["10.0.0.0/16", 2, 8]},
        "o": "2012-10-17",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\na: 2\n", "t.yaml, line 2: duplicate key 'a'"),
        ("a: [1, 2\n", "t.yaml, line 2"),
        ("a: !Unknown x\n", "could not determine a constructor for the tag '!Unknown'"),
    ],
)
def test_bad_yaml_names_the_line(text: str, fragment: str) -> None:
    """Duplicate keys, syntax errors and unknown tags name the file and line."""
    with pytest.raises(TemplateError) as info:
        load_yaml(text, "t.yaml")
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("- a\n- b\n", "not a CloudFormation template"),
        ("Resources: {}\n", "Resources is missing or empty"),
        ("Resource:\n  Q: {Type: AWS::SQS::Queue}\n", "unknown top-level section Resource"),
        ("Resources:\n  Bad_Id: {Type: AWS::SQS::Queue}\n", "Bad_Id: logical ids must be"),
        ("Resources:\n  Q: {Properties: {}}\n", "Q: a resource needs a Type"),
        ("Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: [1]}\n", "Properties must be"),
        ("Resources:\n  Q: {Type: AWS::SQS::Queue, Condition: Nope}\n", "condition 'Nope'"),
        (
            "Globals:\n  Function: {Timeout: 3}\n" + QUEUE_ONLY,
            "Globals: needs Transform: AWS::Serverless-2016-10-31",
        ),
        (QUEUE_ONLY + "Outputs:\n  X: {Description: no value}\n", "Output X: needs a Value"),
        (QUEUE_ONLY + "Outputs:\n  X: {Value: !Ref Nope}\n", "Output X: Ref to 'Nope'"),
    ],
)
def test_document_errors(load: Load, body: str, fragment: str) -> None:
    """Malformed documents fail with the section or resource named."""
    with pytest.raises(TemplateError) as info:
        load(body)
    assert fragment in str(info.value)


def test_invalid_stack_name_is_refused(write: Callable[..., Path]) -> None:
    """An explicit stack name must be a valid CloudFormation stack name."""
    with pytest.raises(TemplateError, match="Stack name '1-bad'"):
        load_template(write(QUEUE_ONLY), stack_name="1-bad")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("main", "main"),
        ("my_app 2", "my-app-2"),
        ("2048-game", "game"),
        ("__", "app"),
        ("ünïcode", "n-code"),
        ("a" * 200, "a" * 128),
    ],
)
def test_sanitize_stack_name(raw: str, expected: str) -> None:
    """Directory names become [A-Za-z][-A-Za-z0-9]* stack names, falling back to "app"."""
    assert naming.sanitize_stack_name(raw) == expected
    assert naming.STACK_NAME_RE.fullmatch(naming.sanitize_stack_name(raw))


def test_generated_names_fit_their_limits() -> None:
    """Long stack and logical ids are cut so the name fits, keeping the 12-char suffix."""
    name = naming.generated_name("s" * 100, "LogicalId", max_length=64)
    assert len(name) == 64
    assert re.fullmatch(r"s+-[A-Z0-9]{12}", name)
    fifo = naming.generated_name("stack", "Queue" * 30, max_length=80, suffix=".fifo")
    assert len(fifo) == 80
    assert fifo.endswith(".fifo")
    assert naming.generated_name("a", "B", max_length=64) == naming.generated_name(
        "a", "B", max_length=64
    )
    assert naming.generated_name("a", "B", max_length=64) != naming.generated_name(
        "a", "C", max_length=64
    )


def test_id_shapes() -> None:
    """API, pool and client ids have API Gateway's and Cognito's shapes."""
    assert re.fullmatch(r"[a-z0-9]{10}", naming.lower_id("s", "Api", 10))
    assert re.fullmatch(r"eu-west-1_[A-Za-z0-9]{9}", naming.user_pool_id("s", "P", "eu-west-1"))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}",
        naming.uuid_like("s", "M", "esm"),
    )


def test_long_function_names_are_capped_at_64(write: Callable[..., Path]) -> None:
    """A generated function name never exceeds Lambda's 64 characters."""
    body = """\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      AVeryLongLogicalIdForAFunctionThatKeepsGoingAndGoing:
        Type: AWS::Serverless::Function
        Properties: {CodeUri: src, Handler: a.b, Runtime: python3.12}
    """
    path = write(body)
    app = load_template(path, stack_name="a-rather-long-stack-name-for-testing")
    (fn,) = app.functions.values()
    assert len(fn.name) == 64
    assert re.fullmatch(
        r"a-rather-long-stack-name-for-testing-AVery[A-Za-z]*-[A-Z0-9]{12}", fn.name
    )
