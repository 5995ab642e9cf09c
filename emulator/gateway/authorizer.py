"""A REQUEST authorizer's side of the handshake: its identity sources, and what its result
means: the IAM policy it returns and the context later events carry
(docs/aws-behaviour.md §4)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from emulator.template.model import WebSocketApi

IDENTITY_SOURCE = re.compile(
    r"^(route\.request\.header|route\.request\.querystring|stageVariables|context)\.(.+)$"
)


def check_identity_sources(api: WebSocketApi) -> None:
    """Raise ValueError for an identity source the gateway cannot read."""
    if api.authorizer is not None:
        for source in api.authorizer.identity_sources:
            if IDENTITY_SOURCE.match(source) is None:
                raise ValueError(
                    f"authorizer {api.authorizer.logical_id}: unsupported identity source "
                    f"{source!r}"
                )


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    # IAM-style matching: "*" any run of characters, "?" one character.
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class MalformedAuthorizerResult(ValueError):
    """The authorizer returned something API Gateway cannot use (-> 500)."""


def policy_allows(result: Mapping[str, Any], method_arn: str) -> bool:
    """Whether an authorizer's policy document allows invoking `method_arn`.

    IAM evaluation: an explicit Deny covering the ARN wins, else an Allow covering it
    is needed. Resource wildcards are allowed, but a REST-style `.../{stage}/*/*` does
    not cover `.../{stage}/$connect` (docs/aws-behaviour.md §4). Raises MalformedAuthorizerResult.
    """
    policy = result.get("policyDocument")
    if not isinstance(policy, dict):
        raise MalformedAuthorizerResult("policyDocument missing or not an object")
    statements = policy.get("Statement")
    if not isinstance(statements, list | dict):
        raise MalformedAuthorizerResult("policyDocument.Statement missing")
    allowed = False
    for statement in _as_list(statements):
        if not isinstance(statement, dict):
            raise MalformedAuthorizerResult("a Statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise MalformedAuthorizerResult(f"Statement Effect {effect!r}")
        actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
        resources = [r for r in _as_list(statement.get("Resource")) if isinstance(r, str)]
        action_ok = any(_wildcard(a, ignore_case=True).match("execute-api:Invoke") for a in actions)
        resource_ok = any(_wildcard(r).match(method_arn) for r in resources)
        if action_ok and resource_ok:
            if effect == "Deny":
                return False
            allowed = True
    return allowed


def _context_value(key: str, value: Any) -> str:
    # AWS: context values are string/number/boolean only (docs/aws-behaviour.md §4); they reach
    # later events stringified, as in REST proxy events (unverified).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    raise MalformedAuthorizerResult(f"context[{key!r}] is {type(value).__name__}")


def authorizer_block(result: Mapping[str, Any], latency_ms: int) -> dict[str, Any]:
    """requestContext.authorizer from an authorizer result: principalId, then the context
    values, then integrationLatency (docs/aws-behaviour.md §1 MESSAGE example)."""
    principal = result.get("principalId")
    if not isinstance(principal, str):
        raise MalformedAuthorizerResult("principalId missing or not a string")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedAuthorizerResult("context is not an object")
    block: dict[str, Any] = {"principalId": principal}
    for key, value in context.items():
        if key not in ("principalId", "integrationLatency"):
            block[key] = _context_value(key, value)
    block["integrationLatency"] = latency_ms
    return block
