"""REST API (v1) authorizers: Lambda TOKEN and REQUEST, and Cognito user pools.

AWS (API Gateway dev guide, "Use API Gateway Lambda authorizers" and "Control access to
REST APIs using Amazon Cognito user pools as an authorizer"):

- TOKEN reads one header; a missing token, or one the ValidationExpression does not
  match (the whole token, as Java's `matches`; inferred), is 401 without invoking the
  function. REQUEST reads its identity sources; with
  caching on, any missing one is 401 without invoking it.
- The function returns `principalId`, `policyDocument` and an optional `context`. An
  explicit Deny covering the method ARN is 403 "... with an explicit deny", no Allow
  covering it 403 "User is not authorized to access this resource". The function raising
  "Unauthorized" is 401; any other error, a timeout or malformed output is 500.
- The result is cached for the authorizer's TTL under its identity values (the token
  for TOKEN); a cached policy is checked against each new request's method ARN, so a
  policy written for one method can refuse the next one, as on AWS.
- Cognito: the token in the header (no `Bearer ` prefix) must be a valid ID token of
  one of the pools, or, when the method lists OAuth scopes, an access token holding
  one of them. The claims reach the function as strings in `authorizer.claims`;
  `exp` and `iat` in Java's date format (reported by users).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from emulator.clock import Clock
from emulator.gateway.authorizer import MalformedAuthorizerResult, authorizer_block
from emulator.httpapi.keys import KeyFetchError, KeyProvider
from emulator.httpapi.response import HttpResult
from emulator.restapi.event import header_value, request_authorizer_event
from emulator.restapi.response import (
    AUTHORIZER_ERROR,
    EXPLICIT_DENY,
    NOT_ALLOWED,
    UNAUTHORIZED,
)
from emulator.runner.base import FunctionRunner
from emulator.template.model import RestAuthorizer

Verdict = Literal["allow", "deny", "none"]
# AWS: an authorizer's response may be at most 8 KB (API Gateway quotas).
MAX_RESULT_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """What an authorizer reads of one request: its event parts and method ARN."""

    method_arn: str
    headers: tuple[tuple[str, str], ...]
    query: Mapping[str, str]
    stage_variables: Mapping[str, str]
    context: Mapping[str, Any]
    event: Mapping[str, Any]  # the proxy event (REQUEST authorizers get most of it)


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate_policy(result: Mapping[str, Any], arn: str) -> Verdict:
    """IAM evaluation of a policy document for `execute-api:Invoke` on `arn`.

    An explicit Deny wins, else an Allow is needed. Raises MalformedAuthorizerResult.
    """
    policy = result.get("policyDocument")
    if not isinstance(policy, dict):
        raise MalformedAuthorizerResult("policyDocument missing or not an object")
    statements = policy.get("Statement")
    if not isinstance(statements, list | dict):
        raise MalformedAuthorizerResult("policyDocument.Statement missing")
    verdict: Verdict = "none"
    for statement in _as_list(statements):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedAuthorizerResult("a Statement is not an Allow/Deny object")
        actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
        resources = [r for r in _as_list(statement.get("Resource")) if isinstance(r, str)]
        if any(_wildcard(a, ignore_case=True).match("execute-api:Invoke") for a in actions) and any(
            _wildcard(r).match(arn) for r in resources
        ):
            if statement["Effect"] == "Deny":
                return "deny"
            verdict = "allow"
    return verdict


def identity_value(source: str, request: Request) -> str | None:
    """One identity source's value (`method.request.header.X`, ...), None if missing/empty."""
    value: Any = None
    if source.startswith("method.request.header."):
        value = header_value(request.headers, source.removeprefix("method.request.header."))
    elif source.startswith("method.request.querystring."):
        value = request.query.get(source.removeprefix("method.request.querystring."))
    elif source.startswith("stageVariables."):
        value = request.stage_variables.get(source.removeprefix("stageVariables."))
    elif source.startswith("context."):
        value = request.context.get(source.removeprefix("context."))
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def java_date(epoch: Any) -> str:
    """`Wed Mar 04 20:15:17 UTC 2020`, how REST Cognito authorizers pass exp and iat."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(float(epoch)))


def cognito_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as a REST API passes them: strings; exp/iat dates; lists comma-joined (unverified)."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int | float):
            out[name] = java_date(value)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = ",".join(str(item) for item in value)
        elif isinstance(value, dict):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


class Authorizers:
    """Runs one API's authorizers, caching Lambda results per identity for their TTL."""

    def __init__(
        self, runner: FunctionRunner, keys: KeyProvider, *, region: str, clock: Clock
    ) -> None:
        self._runner = runner
        self._keys = keys
        self._region = region
        self._clock = clock
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, Mapping[str, Any]]] = {}

    async def authorize(
        self, authorizer: RestAuthorizer, request: Request
    ) -> HttpResult | dict[str, Any]:
        """`requestContext.authorizer` for an allowed request, else the response refusing it."""
        if authorizer.kind == "COGNITO_USER_POOLS":
            return await self._cognito(authorizer, request)
        values = [identity_value(source, request) for source in authorizer.identity_sources]
        if authorizer.kind == "TOKEN":
            token = values[0] if values else None
            if token is None:
                return UNAUTHORIZED
            if authorizer.validation_expression is not None and not re.fullmatch(
                authorizer.validation_expression, token
            ):
                return UNAUTHORIZED
            event: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": token,
                "methodArn": request.method_arn,
            }
        else:
            if authorizer.ttl_s > 0 and any(value is None for value in values):
                return UNAUTHORIZED
            event = request_authorizer_event(request.event, request.method_arn)
        key = (authorizer.name, tuple(value or "" for value in values))
        cached = self._cache.get(key)
        now = self._clock.now()
        if cached is not None and cached[0] > now:
            result = cached[1]
            latency_ms = 0
        else:
            outcome = await self._invoke(authorizer, event)
            if isinstance(outcome, HttpResult):
                return outcome
            result, latency_ms = outcome
            if authorizer.ttl_s > 0:
                self._cache[key] = (now + authorizer.ttl_s, result)
        try:
            block = authorizer_block(result, latency_ms)
            verdict = evaluate_policy(result, request.method_arn)
        except (MalformedAuthorizerResult, TypeError, ValueError):
            self._cache.pop(key, None)
            return AUTHORIZER_ERROR
        if verdict == "deny":
            return EXPLICIT_DENY
        if verdict == "none":
            return NOT_ALLOWED
        return block

    async def _invoke(
        self, authorizer: RestAuthorizer, event: Mapping[str, Any]
    ) -> HttpResult | tuple[Mapping[str, Any], int]:
        assert authorizer.function is not None
        invocation = await self._runner.invoke(
            authorizer.function, event, route=f"authorizer {authorizer.name}"
        )
        if invocation.outcome == "error":
            message = (
                invocation.result.get("errorMessage")
                if isinstance(invocation.result, dict)
                else None
            )
            return UNAUTHORIZED if message == "Unauthorized" else AUTHORIZER_ERROR
        result = invocation.result
        if not invocation.ok or not isinstance(result, dict):
            return AUTHORIZER_ERROR
        if len(json.dumps(result).encode()) > MAX_RESULT_BYTES:
            return AUTHORIZER_ERROR
        return result, round(invocation.duration_ms)

    async def _cognito(
        self, authorizer: RestAuthorizer, request: Request
    ) -> HttpResult | dict[str, Any]:
        token = identity_value(authorizer.identity_sources[0], request)
        if token is None:
            return UNAUTHORIZED
        if authorizer.validation_expression is not None and not re.fullmatch(
            authorizer.validation_expression, token
        ):
            return UNAUTHORIZED
        claims = await self._verify(authorizer, token)
        if claims is None:
            return UNAUTHORIZED
        return {"claims": cognito_claims(claims)}

    async def _verify(self, authorizer: RestAuthorizer, token: str) -> dict[str, Any] | None:
        """The token's claims if it is valid for `authorizer`, else None."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        issuers = {
            f"https://cognito-idp.{self._region}.amazonaws.com/{pool}": pool
            for pool in authorizer.user_pool_ids
        }
        issuer = unverified.get("iss")
        kid = header.get("kid")
        if issuer not in issuers or header.get("alg") != "RS256" or not isinstance(kid, str):
            return None
        try:
            key = await self._keys.key_for(issuer, kid)
        except KeyFetchError:
            return None
        if key is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock.now():
            return None
        if authorizer.scopes:
            granted = str(claims.get("scope", "")).split()
            if claims.get("token_use") != "access" or not set(granted) & set(authorizer.scopes):
                return None
        elif claims.get("token_use") != "id":
            return None
        return claims
