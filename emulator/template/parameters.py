"""Template parameters: defaults, `--parameter-overrides`, and CloudFormation's checks.

CloudFormation refuses a stack whose parameter values break `AllowedValues`,
`AllowedPattern`, `MinValue`/`MaxValue` or `MinLength`/`MaxLength`; the emulator refuses
the same values at load, before anything starts, with the constraint in the message.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from emulator.template.errors import TemplateError

_PARAMETER_FORM = re.compile(r"ParameterKey=([^,]*),ParameterValue=(.*)", re.DOTALL)
_LIST_TYPES = ("CommaDelimitedList", "List<")
_SSM_VALUE = "AWS::SSM::Parameter::Value<"
_PLAIN_TYPES = ("String", "Number", "CommaDelimitedList", "List<Number>")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One resolved parameter: `value` as a string, `ref` as `Ref` returns it."""

    name: str
    type: str
    value: str
    ref: str | tuple[str, ...]  # list types: the comma-split, space-trimmed members


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    """Parse SAM CLI's `--parameter-overrides` forms into {key: value}.

    Accepts several `KEY=VALUE` words, one (quoted) string holding them, the flag repeated,
    and CloudFormation's `ParameterKey=K,ParameterValue=V`; shell quoting inside a string
    works (`'Greeting="hi there"'`). A later key wins, as in SAM CLI.
    """
    result: dict[str, str] = {}
    for raw in values:
        try:
            words = shlex.split(raw)
        except ValueError as exc:
            raise TemplateError(
                f"Parameter overrides {raw!r}: {exc}; close the quote or escape it"
            ) from None
        for word in words:
            match = _PARAMETER_FORM.fullmatch(word)
            if match is not None:
                key, value = match.group(1), match.group(2)
            else:
                key, sep, value = word.partition("=")
                if not sep:
                    raise TemplateError(
                        f"Parameter override {word!r}: expected KEY=VALUE; write e.g. DuelSeconds=5"
                    )
            key = key.strip()
            if not key:
                raise TemplateError(
                    f"Parameter override {word!r}: the key is empty; write e.g. DuelSeconds=5"
                )
            result[key] = value
    return result


def scalar_text(value: object) -> str | None:
    """CloudFormation's string form of a YAML scalar (true -> "true", 60 -> "60")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")


def resolve_parameters(declarations: object, overrides: Mapping[str, str]) -> dict[str, Parameter]:
    """Defaults plus overrides, type-checked and constraint-checked, by parameter name."""
    if declarations is None:
        declarations = {}
    if not isinstance(declarations, dict):
        raise TemplateError("Parameters: must be a mapping of name to declaration; fix the section")
    unknown = sorted(set(overrides) - set(declarations))
    if unknown:
        declared = ", ".join(declarations) or "none"
        raise TemplateError(
            f"Parameter override {unknown[0]}: the template declares no such parameter "
            f"(declared: {declared}); check the spelling"
        )
    return {
        name: _resolve_one(str(name), decl, overrides.get(str(name)))
        for name, decl in declarations.items()
    }


def _resolve_one(name: str, decl: object, override: str | None) -> Parameter:
    if not isinstance(decl, dict) or not isinstance(decl.get("Type"), str):
        raise TemplateError(f"Parameter {name}: needs a Type (String, Number, ...); add one")
    ptype: str = decl["Type"]
    label = f"Parameter {name} ({ptype})"
    if ptype.startswith(_SSM_VALUE):
        if override is None:
            raise TemplateError(
                f"{label}: the emulator cannot read SSM Parameter Store; "
                f"pass the value with --parameter-overrides {name}=<value>"
            )
        return Parameter(name, ptype, override, override)
    if ptype not in _PLAIN_TYPES and not ptype.startswith(("AWS::", "List<AWS::")):
        raise TemplateError(
            f"{label}: unknown parameter type; use String, Number, CommaDelimitedList, "
            "List<Number> or an AWS-specific type"
        )
    if override is not None:
        value = override
    elif "Default" in decl:
        value = _default_text(label, decl["Default"])
    else:
        raise TemplateError(
            f"{label}: no value and no Default; add a Default or pass "
            f"--parameter-overrides {name}=<value>"
        )
    is_list = ptype.startswith(_LIST_TYPES)
    members = tuple(part.strip() for part in value.split(",")) if is_list else (value,)
    _check(label, name, decl, ptype, value, members)
    return Parameter(name, ptype, value, members if is_list else value)


def _default_text(label: str, default: object) -> str:
    if isinstance(default, list):
        parts = [scalar_text(item) for item in default]
        if all(part is not None for part in parts):
            return ",".join(part for part in parts if part is not None)
    text = scalar_text(default)
    if text is None:
        raise TemplateError(f"{label}: Default must be a string or number; fix the Default")
    return text


def _check(
    label: str, name: str, decl: dict[str, object], ptype: str, value: str, members: tuple[str, ...]
) -> None:
    hint = decl.get("ConstraintDescription")
    fix = str(hint) if hint else f"pass a valid value, e.g. --parameter-overrides {name}=..."

    def fail(problem: str) -> TemplateError:
        return TemplateError(f"{label}: value {value!r} {problem}; {fix}")

    numeric = ptype in ("Number", "List<Number>")
    for member in members:
        if numeric and not _is_number(member):
            raise fail("is not a number" if ptype == "Number" else f"has non-number {member!r}")
    allowed = decl.get("AllowedValues")
    if allowed is not None:
        allowed_texts = [scalar_text(a) for a in (allowed if isinstance(allowed, list) else [])]
        for member in members:
            if member not in allowed_texts and not (
                numeric and any(_same_number(member, a) for a in allowed_texts)
            ):
                shown = ", ".join(str(a) for a in allowed_texts)
                raise fail(f"is not one of the AllowedValues [{shown}]")
    pattern = decl.get("AllowedPattern")
    if pattern is not None:
        try:
            compiled = re.compile(str(pattern))
        except re.error as exc:
            raise TemplateError(
                f"{label}: AllowedPattern is not a valid regex ({exc}); fix it"
            ) from None
        # AWS: the pattern must match the whole value (CloudFormation parameters reference).
        for member in members:
            if compiled.fullmatch(member) is None:
                raise fail(f"does not match AllowedPattern {pattern}")
    if ptype == "String":
        for key in ("MinLength", "MaxLength"):
            limit = decl.get(key)
            if limit is None:
                continue
            bound = _number(label, key, limit)
            if key == "MinLength" and len(value) < bound:
                raise fail(f"is shorter than MinLength {scalar_text(limit)}")
            if key == "MaxLength" and len(value) > bound:
                raise fail(f"is longer than MaxLength {scalar_text(limit)}")
    for key in ("MinValue", "MaxValue"):
        limit = decl.get(key)
        if limit is None or not numeric:
            continue
        bound = _number(label, key, limit)
        for member in members:
            number = float(member)
            if (key == "MinValue" and number < bound) or (key == "MaxValue" and number > bound):
                raise fail(
                    f"is {'below' if key == 'MinValue' else 'above'} {key} {scalar_text(limit)}"
                )


def _number(label: str, key: str, raw: object) -> float:
    text = scalar_text(raw)
    if text is None or not _is_number(text):
        raise TemplateError(f"{label}: {key} must be a number; fix the declaration")
    return float(text)


def _same_number(member: str, allowed: str | None) -> bool:
    return allowed is not None and _is_number(allowed) and float(member) == float(allowed)
