"""CloudFormation intrinsic functions, conditions and pseudo parameters, resolved locally.

`Resolver.resolve` walks a YAML value and replaces every `Ref`/`Fn::*` with what
CloudFormation would have substituted at deploy time. Resource `Ref`/`Fn::GetAtt` values
come from `ResourceRefs` (the loader's `PhysicalIds`), so a name the emulator chose at
load is the name every handler sees. `Fn::If` evaluates only the branch it takes, so a
branch that could never run in AWS cannot break the load either.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from emulator.template.errors import TemplateError
from emulator.template.parameters import Parameter, scalar_text


class _NoValue:
    """`Ref: AWS::NoValue`: the enclosing property or list item disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class ResourceRefs(Protocol):
    """What `Ref` and `Fn::GetAtt` return for resources (see load.PhysicalIds)."""

    def has(self, logical_id: str) -> bool:
        """True for every declared resource, even one whose Condition is false."""
        ...

    def ref(self, logical_id: str, where: str) -> object: ...

    def get_att(self, logical_id: str, attribute: str, where: str) -> object: ...


def as_text(value: object, where: str, what: str) -> str:
    """CloudFormation's string form of a resolved scalar (60 -> "60", true -> "true")."""
    text = scalar_text(value)
    if text is None:
        kind = "a list" if isinstance(value, list | tuple) else "a mapping"
        if value is NO_VALUE:
            kind = "AWS::NoValue"
        elif value is None:
            kind = "null"
        raise TemplateError(f"{where}: {what} must be a string, not {kind}; fix the template")
    return text


class Resolver:
    """Resolves intrinsics against parameters, mappings, conditions and resource ids."""

    def __init__(
        self,
        *,
        pseudo: Mapping[str, object],
        parameters: Mapping[str, Parameter],
        mappings: object,
        conditions: object,
        resources: ResourceRefs | None = None,
    ) -> None:
        self.pseudo = pseudo
        self.parameters = parameters
        if mappings is not None and not isinstance(mappings, dict):
            raise TemplateError("Mappings: must be a mapping of maps; fix the section")
        if conditions is not None and not isinstance(conditions, dict):
            raise TemplateError("Conditions: must be a mapping of name to condition; fix it")
        self.mappings: dict[str, Any] = mappings or {}
        self.conditions: dict[str, Any] = conditions or {}
        self.resources = resources
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._lenient = False
        self._functions: dict[str, Callable[[Any, str], Any]] = {
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::And": self._and,
            "Fn::Or": self._or,
            "Fn::Not": self._not,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
            "Fn::GetAZs": self._get_azs,
            "Fn::ImportValue": self._import_value,
            "Fn::Cidr": self._cidr,
        }

    # ------------------------------------------------------------------ entry points

    def resolve(self, node: Any, where: str) -> Any:
        """`node` with every intrinsic replaced; AWS::NoValue items and keys dropped.

        `where` labels errors: "ConnectFunction (AWS::Serverless::Function)".
        """
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Ref":
                    return self._ref(arg, where)
                if isinstance(key, str) and key.startswith("Fn::"):
                    function = self._functions.get(key)
                    if function is None:
                        raise TemplateError(
                            f"{where}: {key} is not supported by the emulator (it needs a "
                            "macro or the AWS::LanguageExtensions transform); write the value out"
                        )
                    return function(arg, where)
            out: dict[str, Any] = {}
            for key, value in node.items():
                resolved = self.resolve(value, where)
                if resolved is not NO_VALUE:
                    out[str(key)] = resolved
            return out
        if isinstance(node, list):
            items = (self.resolve(item, where) for item in node)
            return [item for item in items if item is not NO_VALUE]
        return node

    def resolve_lenient(self, node: Any, where: str) -> Any:
        """Like `resolve`, but `Fn::ImportValue` becomes a placeholder instead of an error.

        For values the emulator records but never acts on (IAM policies): a cross-stack
        import there should not stop a local run.
        """
        self._lenient = True
        try:
            return self.resolve(node, where)
        finally:
            self._lenient = False

    def text(self, node: Any, where: str, what: str) -> str:
        """Resolve `node` and require a scalar; return its CloudFormation string form."""
        return as_text(self.resolve(node, where), where, what)

    def condition(self, name: object, where: str) -> bool:
        """The value of the named entry of the Conditions section (memoized)."""
        if not isinstance(name, str) or name not in self.conditions:
            declared = ", ".join(self.conditions) or "none"
            raise TemplateError(
                f"{where}: condition {name!r} is not declared in Conditions "
                f"(declared: {declared}); declare it or fix the name"
            )
        if name in self._condition_values:
            return self._condition_values[name]
        if name in self._evaluating:
            raise TemplateError(
                f"Condition {name}: refers to itself through other conditions; break the cycle"
            )
        self._evaluating.add(name)
        try:
            value = self._truth(self.conditions[name], f"Condition {name}")
        finally:
            self._evaluating.discard(name)
        self._condition_values[name] = value
        return value

    # ------------------------------------------------------------------ Ref / GetAtt / Sub

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref needs a name, got {name!r}; write Ref: <Name>")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            value = self.pseudo[name]
            return list(value) if isinstance(value, tuple) else value
        parameter = self.parameters.get(name)
        if parameter is not None:
            return list(parameter.ref) if isinstance(parameter.ref, tuple) else parameter.ref
        if self.resources is not None and self.resources.has(name):
            return self.resources.ref(name, where)
        if name.startswith("AWS::"):
            raise TemplateError(
                f"{where}: unknown pseudo parameter {name}; use AWS::Region, AWS::AccountId, "
                "AWS::StackName, AWS::StackId, AWS::Partition, AWS::URLSuffix, AWS::NoValue "
                "or AWS::NotificationARNs"
            )
        raise TemplateError(
            f"{where}: Ref to {name!r}, which is neither a parameter nor a resource; "
            "declare it or fix the name"
        )

    def _get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str) and "." in arg:
            arg = arg.split(".", 1)
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TemplateError(
                f"{where}: Fn::GetAtt needs [LogicalId, Attribute], got {arg!r}; fix it"
            )
        logical_id = arg[0]
        attribute = self.text(arg[1], where, "the Fn::GetAtt attribute name")
        if self.resources is None or not self.resources.has(logical_id):
            raise TemplateError(
                f"{where}: Fn::GetAtt on {logical_id!r}, which is not a resource; "
                "declare it or fix the name"
            )
        return self.resources.get_att(logical_id, attribute, where)

    def _sub(self, arg: Any, where: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                raise TemplateError(
                    f"{where}: Fn::Sub takes a string or [string, {{variables}}]; fix it"
                )
            arg, raw_vars = arg
            variables = {str(k): v for k, v in raw_vars.items()}
        if not isinstance(arg, str):
            raise TemplateError(f"{where}: Fn::Sub needs a string template; fix it")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                # AWS: "${!Literal}" writes "${Literal}" unchanged (Fn::Sub reference).
                return "${" + match.group(1)[1:] + "}"
            if name in variables:
                return self.text(variables[name], where, f"Fn::Sub variable {name}")
            what = f"${{{name}}} in Fn::Sub"
            if (
                name in self.pseudo
                or name in self.parameters
                or (self.resources is not None and self.resources.has(name))
            ):
                return as_text(self._ref(name, where), where, what)
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return as_text(self._get_att([logical_id, attribute], where), where, what)
            return as_text(self._ref(name, where), where, what)

        return _SUB_VAR.sub(substitute, arg)

    # ------------------------------------------------------------------ lists and strings

    def _list(self, node: Any, where: str, what: str) -> list[Any]:
        value = self.resolve(node, where)
        if not isinstance(value, list):
            raise TemplateError(f"{where}: {what} must be a list, got {value!r}; fix it")
        return value

    def _join(self, arg: Any, where: str) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{where}: Fn::Join needs [delimiter, [values]]; fix it")
        delimiter = self.text(arg[0], where, "the Fn::Join delimiter")
        items = self._list(arg[1], where, "the Fn::Join values")
        return delimiter.join(as_text(item, where, "each Fn::Join value") for item in items)

    def _select(self, arg: Any, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{where}: Fn::Select needs [index, [values]]; fix it")
        index_text = self.text(arg[0], where, "the Fn::Select index")
        items = self._list(arg[1], where, "the Fn::Select values")
        if not index_text.isdigit() or int(index_text) >= len(items):
            raise TemplateError(
                f"{where}: Fn::Select index {index_text} is out of range for {len(items)} "
                "values; use an index from 0"
            )
        return items[int(index_text)]

    def _split(self, arg: Any, where: str) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{where}: Fn::Split needs [delimiter, string]; fix it")
        delimiter = self.text(arg[0], where, "the Fn::Split delimiter")
        source = self.text(arg[1], where, "the Fn::Split source")
        if not delimiter:
            raise TemplateError(f"{where}: Fn::Split delimiter is empty; give one")
        return source.split(delimiter)

    def _base64(self, arg: Any, where: str) -> str:
        return base64.b64encode(self.text(arg, where, "Fn::Base64 input").encode()).decode()

    def _get_azs(self, arg: Any, where: str) -> list[str]:
        region = self.text(arg, where, "the Fn::GetAZs region") or str(self.pseudo["AWS::Region"])
        return [f"{region}{letter}" for letter in "abc"]

    def _import_value(self, arg: Any, where: str) -> str:
        name = self.text(arg, where, "the Fn::ImportValue export name")
        if self._lenient:
            return f"{{ImportValue:{name}}}"
        raise TemplateError(
            f"{where}: Fn::ImportValue {name!r} reads another stack's export, which does not "
            "exist locally; pass the value in as a parameter instead"
        )

    def _cidr(self, arg: Any, where: str) -> list[str]:
        import ipaddress  # only templates that use Fn::Cidr pay for the import

        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(f"{where}: Fn::Cidr needs [ipBlock, count, cidrBits]; fix it")
        block = self.text(arg[0], where, "the Fn::Cidr block")
        count = self.text(arg[1], where, "the Fn::Cidr count")
        bits = self.text(arg[2], where, "the Fn::Cidr bits")
        try:
            network = ipaddress.ip_network(block, strict=False)
            prefix = network.max_prefixlen - int(bits)
            subnets = network.subnets(new_prefix=prefix)
            out = [str(next(subnets)) for _ in range(int(count))]
        except (ValueError, StopIteration) as exc:
            raise TemplateError(
                f"{where}: Fn::Cidr {[block, count, bits]} cannot be computed ({exc or 'too many'}"
                "); fix the block, count or bits"
            ) from None
        return out

    def _find_in_map(self, arg: Any, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise TemplateError(
                f"{where}: Fn::FindInMap needs [MapName, TopLevelKey, SecondLevelKey]; fix it"
            )
        keys = [self.text(part, where, "each Fn::FindInMap key") for part in arg[:3]]
        node: Any = self.mappings
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self.resolve(arg[3]["DefaultValue"], where)
                path = ".".join(keys[: depth + 1])
                raise TemplateError(
                    f"{where}: Fn::FindInMap finds no {path!r} in Mappings; add the key"
                )
            node = node[key]
        return self.resolve(node, where)

    # ------------------------------------------------------------------ conditions

    def _if(self, arg: Any, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(
                f"{where}: Fn::If needs [ConditionName, value_if_true, value_if_false]; fix it"
            )
        chosen = arg[1] if self.condition(arg[0], where) else arg[2]
        return self.resolve(chosen, where)

    def _truth(self, node: Any, where: str) -> bool:
        if isinstance(node, dict) and len(node) == 1 and "Condition" in node:
            return self.condition(node["Condition"], where)
        value = self.resolve(node, where)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TemplateError(
            f"{where}: {value!r} is not a condition; use Fn::Equals, Fn::And, Fn::Or, Fn::Not "
            "or Condition: <Name>"
        )

    def _operands(self, arg: Any, where: str, name: str, low: int, high: int) -> list[Any]:
        if not (isinstance(arg, list) and low <= len(arg) <= high):
            count = str(low) if low == high else f"{low} to {high}"
            raise TemplateError(f"{where}: {name} takes {count} conditions in a list; fix it")
        return arg

    def _equals(self, arg: Any, where: str) -> bool:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{where}: Fn::Equals needs [value1, value2]; fix it")
        left, right = (self._comparable(self.resolve(side, where)) for side in arg)
        return left == right

    @staticmethod
    def _comparable(value: Any) -> Any:
        if isinstance(value, list):
            return [scalar_text(item) for item in value]
        text = scalar_text(value)
        return value if text is None else text

    def _and(self, arg: Any, where: str) -> bool:
        operands = self._operands(arg, where, "Fn::And", 2, 10)
        return all(self._truth(operand, where) for operand in operands)

    def _or(self, arg: Any, where: str) -> bool:
        operands = self._operands(arg, where, "Fn::Or", 2, 10)
        return any(self._truth(operand, where) for operand in operands)

    def _not(self, arg: Any, where: str) -> bool:
        (operand,) = self._operands(arg, where, "Fn::Not", 1, 1)
        return not self._truth(operand, where)


def referenced_names(node: Any, condition: Callable[[str], bool]) -> set[str]:
    """The names `node` refers to through Ref, Fn::GetAtt and Fn::Sub, without resolving.

    Resources, parameters and pseudo parameters alike; the caller picks the ones it cares
    about. `Fn::If` follows only the branch `condition(name)` selects, as `resolve` does,
    so a reference guarded by a condition that is false locally does not count.
    """
    found: set[str] = set()

    def sub_names(text: str, local: Mapping[str, Any]) -> None:
        for match in _SUB_VAR.finditer(text):
            name = match.group(1).strip()
            if name.startswith("!"):
                continue  # "${!Literal}" is text, not a reference
            head = name.split(".", 1)[0]
            if name not in local and head not in local:
                found.add(head)

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
            return
        if not isinstance(value, dict):
            return
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
                return
            if key == "Fn::GetAtt":
                if isinstance(arg, str):
                    found.add(arg.split(".", 1)[0])
                elif isinstance(arg, list) and arg and isinstance(arg[0], str):
                    found.add(arg[0])
                    walk(arg[1:])
                return
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    sub_names(arg, {})
                elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
                    local = arg[1] if isinstance(arg[1], dict) else {}
                    sub_names(arg[0], local)
                    walk(list(local.values()))
                return
            if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                if isinstance(arg[0], str):
                    walk(arg[1] if condition(arg[0]) else arg[2])
                return
        for item in value.values():
            walk(item)

    walk(node)
    return found
