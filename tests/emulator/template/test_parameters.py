"""Parameter overrides (SAM CLI forms) and CloudFormation's parameter constraints."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.template.errors import TemplateError
from emulator.template.load import parse_overrides
from emulator.template.model import Template
from emulator.template.parameters import resolve_parameters

Load = Callable[..., Template]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["A=1", "B=2"], {"A": "1", "B": "2"}),
        (["A=1 B=2"], {"A": "1", "B": "2"}),
        (["A=1 B=2", "C=3"], {"A": "1", "B": "2", "C": "3"}),
        (["ParameterKey=A,ParameterValue=1"], {"A": "1"}),
        (
            ["ParameterKey=A,ParameterValue=1 ParameterKey=B,ParameterValue=x,y"],
            {"A": "1", "B": "x,y"},
        ),
        (['Greeting="hello world" N=5'], {"Greeting": "hello world", "N": "5"}),
        (["A='x y'"], {"A": "x y"}),
        (["Url=https://a.example/?q=1"], {"Url": "https://a.example/?q=1"}),
        (["Empty="], {"Empty": ""}),
        (["A=1", "A=2"], {"A": "2"}),
        ([], {}),
    ],
)
def test_parse_overrides_accepts_sam_cli_forms(values: list[str], expected: dict[str, str]) -> None:
    """KEY=VALUE words, one quoted string of them, repeats and ParameterKey/Value pairs parse."""
    assert parse_overrides(values) == expected


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (["novalue"], "Parameter override 'novalue': expected KEY=VALUE"),
        (["=5"], "the key is empty"),
        (['A="unclosed'], "close the quote"),
    ],
)
def test_parse_overrides_rejects_malformed_words(values: list[str], fragment: str) -> None:
    """Words that are not KEY=VALUE fail with the word and an example."""
    with pytest.raises(TemplateError, match=fragment):
        parse_overrides(values)


DECLS = {
    "Name": {"Type": "String", "Default": "ab", "MinLength": 2, "MaxLength": 4},
    "Mode": {"Type": "String", "Default": "fast", "AllowedValues": ["fast", "slow"]},
    "Count": {"Type": "Number", "Default": 3, "AllowedValues": [1, 3, 5]},
    "Ratio": {"Type": "Number", "Default": "0.5", "MinValue": 0, "MaxValue": 1},
    "Ports": {"Type": "List<Number>", "Default": "80,443", "MaxValue": 1024},
    "Zones": {"Type": "CommaDelimitedList", "Default": ["a", "b"], "AllowedPattern": "[a-c]"},
    "Flag": {"Type": "String", "Default": True},
    "Vpc": {"Type": "AWS::EC2::VPC::Id", "Default": "vpc-123"},
}


def test_defaults_become_strings_and_lists_split() -> None:
    """Defaults are CloudFormation strings; list types Ref as trimmed members."""
    params = resolve_parameters(DECLS, {})
    assert {k: p.value for k, p in params.items()} == {
        "Name": "ab",
        "Mode": "fast",
        "Count": "3",
        "Ratio": "0.5",
        "Ports": "80,443",
        "Zones": "a,b",
        "Flag": "true",
        "Vpc": "vpc-123",
    }
    assert params["Ports"].ref == ("80", "443")
    assert params["Count"].ref == "3"
    assert resolve_parameters(DECLS, {"Zones": "a, c"})["Zones"].ref == ("a", "c")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"Name": "a"}, "Parameter Name (String): value 'a' is shorter than MinLength 2"),
        ({"Name": "abcde"}, "is longer than MaxLength 4"),
        ({"Mode": "medium"}, "is not one of the AllowedValues [fast, slow]"),
        ({"Count": "2"}, "Parameter Count (Number): value '2' is not one of the AllowedValues"),
        ({"Ratio": "1.5"}, "is above MaxValue 1"),
        ({"Ratio": "-1"}, "is below MinValue 0"),
        ({"Ratio": "nan"}, "is not a number"),
        ({"Ports": "80,x"}, "has non-number 'x'"),
        ({"Ports": "80,2000"}, "is above MaxValue 1024"),
        ({"Zones": "a,d"}, "does not match AllowedPattern [a-c]"),
    ],
)
def test_constraints_are_enforced(overrides: dict[str, str], fragment: str) -> None:
    """Each CloudFormation constraint refuses a bad value and names the parameter."""
    with pytest.raises(TemplateError) as info:
        resolve_parameters(DECLS, overrides)
    assert fragment in str(info.value)
    assert "; pass a valid value" in str(info.value)


def test_numbers_match_allowed_values_numerically() -> None:
    """Count=5.0 matches AllowedValues [5] as a number."""
    assert resolve_parameters(DECLS, {"Count": "5.0"})["Count"].value == "5.0"


def test_constraint_description_is_the_hint() -> None:
    """ConstraintDescription replaces the generic hint."""
    decls = {
        "P": {
            "Type": "String",
            "Default": "x",
            "AllowedPattern": "[0-9]+",
            "ConstraintDescription": "digits only",
        }
    }
    with pytest.raises(TemplateError, match=r"does not match AllowedPattern .*; digits only"):
        resolve_parameters(decls, {})


@pytest.mark.parametrize(
    ("decls", "overrides", "fragment"),
    [
        ({"P": {"Type": "String"}}, {}, "Parameter P (String): no value and no Default"),
        ({"P": {"Default": 1}}, {}, "Parameter P: needs a Type"),
        ({"P": {"Type": "Text", "Default": "x"}}, {}, "unknown parameter type"),
        (
            {"P": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/x"}},
            {},
            "the emulator cannot read SSM Parameter Store; pass the value with "
            "--parameter-overrides P=<value>",
        ),
        ({"P": {"Type": "String", "Default": "x"}}, {"Q": "1"}, "declared: P"),
        ({"P": {"Type": "String", "Default": {"a": 1}}}, {}, "Default must be a string"),
        ({"P": {"Type": "String", "Default": "x", "AllowedPattern": "("}}, {}, "not a valid regex"),
    ],
)
def test_declaration_errors(
    decls: dict[str, object], overrides: dict[str, str], fragment: str
) -> None:
    """Missing values, unknown types, SSM and unknown keys are refused with what to do."""
    with pytest.raises(TemplateError) as info:
        resolve_parameters(decls, overrides)
    assert fragment in str(info.value)


def test_ssm_parameter_can_be_overridden() -> None:
    """An SSM-typed parameter works locally once given a value."""
    decls = {"P": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/x"}}
    assert resolve_parameters(decls, {"P": "local"})["P"].value == "local"


def test_numeric_overrides_are_accepted_by_load_template(load: Load) -> None:
    """load_template takes {"Size": 7} as well as {"Size": "7"}."""
    body = """\
    Parameters:
      Size: {Type: Number, Default: 1}
    Resources:
      Q: {Type: AWS::SQS::Queue, Properties: {DelaySeconds: !Ref Size}}
    """
    app = load(body, {"Size": 7})
    assert app.parameters["Size"] == "7"
    assert app.queues["Q"].delay_seconds == 7
