"""YAML with CloudFormation's short-form tags, parsed into the long (JSON) form.

`!Ref X` becomes `{"Ref": "X"}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`,
`!Condition C` becomes `{"Condition": "C"}` and every other `!Name v` becomes
`{"Fn::Name": v}`, so the resolver only ever sees one spelling. Timestamps stay
strings (an unquoted `Version: 2012-10-17` must not turn into a date) and duplicate
keys are an error: CloudFormation rejects them, PyYAML would silently keep the last.
"""

from __future__ import annotations

from typing import Any

import yaml

from emulator.template.errors import TemplateError

# libyaml's parser when present: parsing is most of load_template's time budget.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FN_TAGS = (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "ToJsonString",
    "Length",
)


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class CfnLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """A safe loader that knows CloudFormation's tags and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
                if key in seen:
                    raise _DuplicateKey(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _tag_value(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


def _ref(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _tag_value(loader, node)}


def _condition(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _tag_value(loader, node)}


def _get_att(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    value = _tag_value(loader, node)
    if isinstance(value, str):
        # "Resource.Attr.With.Dots": the logical id never has a dot, the attribute may.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


def _make_fn(name: str) -> Any:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _tag_value(loader, node)}

    return construct


CfnLoader.add_constructor("!Ref", _ref)
CfnLoader.add_constructor("!Condition", _condition)
CfnLoader.add_constructor("!GetAtt", _get_att)
for _name in FN_TAGS:
    CfnLoader.add_constructor(f"!{_name}", _make_fn(_name))
CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_yaml(text: str, source: str) -> Any:
    """Parse CloudFormation YAML (or JSON) text; raise TemplateError with the line on failure."""
    try:
        return yaml.load(text, Loader=CfnLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise TemplateError(f"{where}: {problem}; fix the YAML syntax") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source}: invalid YAML ({exc}); fix the YAML syntax") from None
