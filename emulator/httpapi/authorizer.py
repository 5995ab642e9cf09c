"""HTTP API JWT authorizer: take the token, verify it like API Gateway, return its claims.

AWS (API Gateway dev guide, "Control access to HTTP APIs with JWT authorizers";
docs/aws-behaviour.md §11, §12): the token comes from the identity source
(`$request.header.Authorization`, `Bearer ` prefix optional); the signature is checked
against the issuer's JWKS by `kid` (RSA only); `iss` must equal the configured issuer
exactly; `aud`, or `client_id` when there is no `aud`, must be in the audience list
(Cognito ID and access tokens both pass); `exp` must be in the future, `nbf` and `iat` in the past.
Any failure is 401
`{"message":"Unauthorized"}` with a `www-authenticate` header naming the reason.

`verify_jwt` is pure (token, key, config, now in); `authorize` adds the key lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from emulator.httpapi.keys import KeyFetchError, KeyProvider
from emulator.template.model import JwtAuthorizer

ALGORITHMS = ("RS256",)


class JwtError(Exception):
    """The token is missing or invalid; `description` goes into `www-authenticate`."""

    def __init__(self, description: str | None) -> None:
        super().__init__(description or "missing token")
        self.description = description

    def www_authenticate(self) -> str:
        """The header AWS sends with the 401.

        AWS: `Bearer scope="" error="invalid_token" error_description="the token does not
        have a valid audience"` (API Gateway dev guide, "Troubleshooting HTTP API JWT
        authorizers"). A request with no token gets the bare challenge (RFC 6750 §3.1),
        since there is no token to call invalid (inferred).
        """
        if self.description is None:
            return "Bearer"
        return f'Bearer scope="" error="invalid_token" error_description="{self.description}"'


@dataclass(frozen=True, slots=True)
class TokenHeader:
    kid: str
    alg: str


def identity_header(identity_source: str) -> str | None:
    """The header name of `$request.header.<Name>`; None for other identity sources."""
    prefix = "$request.header."
    if identity_source.startswith(prefix):
        return identity_source[len(prefix) :]
    return None


def extract_token(value: str | None) -> str | None:
    """The JWT in an Authorization value; AWS accepts it with or without `Bearer `."""
    if value is None:
        return None
    value = value.strip()
    if value.lower() == "bearer":
        return None
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


def read_header(token: str) -> TokenHeader:
    """The token's `kid` and `alg`, unverified; raises JwtError for malformed tokens."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise JwtError("the token is malformed") from exc  # wording (inferred)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise JwtError(f"signing method {alg} is invalid")  # wording (inferred)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwtError("the token does not have a key id")  # wording (inferred)
    return TokenHeader(kid=kid, alg=str(alg))


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwtError(f"the token has an invalid {name} claim")  # wording (inferred)
    return float(value)


def verify_jwt(token: str, key: Any, config: JwtAuthorizer, *, now: float) -> dict[str, Any]:
    """Verify signature and claims of `token` against `key` and `config`; return its claims.

    Time checks use `now` (the emulator's clock), not the wall clock, so tests with a
    FakeClock see expiry exactly when they advance past `exp`.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(ALGORITHMS),
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise JwtError("the token signature is invalid") from exc  # wording (inferred)
    except jwt.PyJWTError as exc:
        raise JwtError("the token is malformed") from exc  # wording (inferred)

    if claims.get("iss") != config.issuer:
        raise JwtError("the token does not have a valid issuer")  # wording (inferred)

    # AWS: aud is evaluated when present; client_id only when there is no aud
    # (API Gateway dev guide, "Troubleshooting HTTP API JWT authorizers").
    if "aud" in claims:
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
    else:
        audiences = [claims.get("client_id")]
    if not any(isinstance(a, str) and a in config.audience for a in audiences):
        raise JwtError("the token does not have a valid audience")  # AWS wording (documented)

    exp = _numeric(claims, "exp")
    if exp is None or exp <= now:
        raise JwtError("the token has expired")  # wording (inferred)
    nbf = _numeric(claims, "nbf")
    if nbf is not None and nbf > now:
        raise JwtError("the token is not valid yet")  # wording (inferred)
    iat = _numeric(claims, "iat")
    if iat is not None and iat > now:
        raise JwtError("the token was issued in the future")  # wording (inferred)
    return claims


async def authorize(
    config: JwtAuthorizer, headers: Mapping[str, str], keys: KeyProvider, *, now: float
) -> dict[str, Any]:
    """Run the JWT authorizer on lower-cased request `headers`; claims or JwtError."""
    name = identity_header(config.identity_source)
    raw = headers.get(name.lower()) if name is not None else None
    token = extract_token(raw)
    if token is None:
        raise JwtError(None)
    header = read_header(token)
    try:
        # AWS uses the configured issuer's keys, whatever `iss` the token claims.
        key = await keys.key_for(config.issuer, header.kid)
    except KeyFetchError as exc:
        raise JwtError("unable to fetch the issuer's signing keys") from exc  # (inferred)
    if key is None:
        raise JwtError("the token's key id is not in the issuer's key set")  # (inferred)
    return verify_jwt(token, key, config, now=now)
