"""Tokens for the web client on a local stack: sign in by username alone.

The local HTTP origin mounts `token_endpoint` as `POST /_local/token {"username"}` (never
on a deployed stage, which has no such route: there the page signs in with a password
against the real pool). A user is created in moto's Cognito on first use with a fixed
password, so the page, `duelctl token` and tests all get real pool-signed JWTs for the
same users, which the authorizers verify exactly as they would in AWS.

AWS: AdminCreateUser with MessageAction SUPPRESS, AdminSetUserPassword Permanent, then
AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH; moto 5 supports all three and returns an
`AuthenticationResult` with an RS256 `IdToken` (aws-fidelity §11).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jwt

# Local pools only. Same value as duelctl's CLI uses, so users made by either side sign
# in through the other; it meets the template's password policy.
LOCAL_PASSWORD = "duelctl-local-password"
DUMMY_KEY = "testing"  # moto accepts any credentials; botocore needs some to sign

# AWS: Cognito usernames are 1-128 characters of [\p{L}\p{M}\p{S}\p{N}\p{P}]+ (no
# whitespace or control characters; CreateUser API reference, "Username"). The page's
# names are typed by people, so this is checked here and answered with a readable 400.
MAX_USERNAME = 128
_BAD_USERNAME_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")


class LocalAuthError(Exception):
    """The request cannot be served; `status` and `str(exc)` become the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_username(username: object) -> str:
    """Return `username` if Cognito would take it, else raise LocalAuthError (400)."""
    if not isinstance(username, str) or not username:
        raise LocalAuthError("username must be a non-empty string")
    if len(username) > MAX_USERNAME:
        raise LocalAuthError(f"username must be at most {MAX_USERNAME} characters")
    if _BAD_USERNAME_CHAR.search(username):
        raise LocalAuthError("username must not contain spaces or control characters")
    return username


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _issue(aws_url: str, pool_id: str, client_id: str, region: str, username: str) -> str:
    """Blocking: create `username` if missing, sign in, return its ID token."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    idp = boto3.client(
        "cognito-idp",
        region_name=region,
        endpoint_url=aws_url,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
        config=Config(connect_timeout=3, read_timeout=15, retries={"max_attempts": 2}),
    )

    def sign_in() -> dict[str, Any]:
        result: dict[str, Any] = idp.admin_initiate_auth(
            UserPoolId=pool_id,
            ClientId=client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": LOCAL_PASSWORD},
        )
        return result

    try:
        result = sign_in()
    except ClientError as exc:
        code = _error_code(exc)
        if code == "UserNotFoundException":
            try:
                idp.admin_create_user(
                    UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS"
                )
            except ClientError as create_exc:
                # Two tabs signing in the same new name at once: the other one made it.
                if _error_code(create_exc) != "UsernameExistsException":
                    raise
        elif code != "NotAuthorizedException":  # made elsewhere with another password
            raise
        # AWS: a user made by AdminCreateUser is FORCE_CHANGE_PASSWORD until a permanent
        # password is set; ADMIN_USER_PASSWORD_AUTH would answer NEW_PASSWORD_REQUIRED.
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=LOCAL_PASSWORD, Permanent=True
        )
        result = sign_in()
    token = (result.get("AuthenticationResult") or {}).get("IdToken")
    if not isinstance(token, str):
        challenge = result.get("ChallengeName", "no token")
        raise LocalAuthError(f"Cognito issued no token for {username!r} ({challenge})", 502)
    return token


async def issue_local_token(
    aws_url: str, pool_id: str, client_id: str, region: str, username: str
) -> dict[str, str]:
    """Sign `username` in to the local pool, creating it first if needed.

    Returns `{"idToken", "userId", "username"}`: `userId` is the token's `sub` and
    `username` its `cognito:username`, i.e. the identity every handler will see
    (protocol.md, "Users and authentication"). Raises LocalAuthError for a username
    Cognito refuses; botocore errors (moto unreachable) propagate.
    """
    from botocore.exceptions import ClientError

    check_username(username)
    try:
        token = await asyncio.to_thread(_issue, aws_url, pool_id, client_id, region, username)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("InvalidParameterException", "InvalidPasswordException"):
            raise LocalAuthError(f"Cognito refused {username!r}: {exc}") from None
        raise
    # The token came from the pool this very moment; the page only needs to know whose
    # it is. Verification is the authorizers' job.
    claims = jwt.decode(token, options={"verify_signature": False})
    return {
        "idToken": token,
        "userId": str(claims["sub"]),
        "username": str(claims.get("cognito:username", username)),
    }


async def token_endpoint(
    body: bytes, *, aws_url: str, pool_id: str, client_id: str, region: str
) -> tuple[int, dict[str, Any]]:
    """Serve one `POST /_local/token` request body; return (status, JSON body).

    200 with `issue_local_token`'s dict; 400 `{"message"}` for a body that is not
    `{"username": "<name>"}` or a name Cognito refuses; 502 `{"message"}` when the local
    Cognito cannot be reached. The HTTP layer only has to send what this returns.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        data = json.loads(body or b"null")
    except ValueError:
        return 400, {"message": 'body must be JSON: {"username": "<name>"}'}
    if not isinstance(data, dict):
        return 400, {"message": 'body must be a JSON object: {"username": "<name>"}'}
    try:
        username = check_username(data.get("username"))
        return 200, await issue_local_token(aws_url, pool_id, client_id, region, username)
    except LocalAuthError as exc:
        return exc.status, {"message": str(exc)}
    except (ClientError, BotoCoreError) as exc:
        return 502, {"message": f"local Cognito failed: {exc}"}


__all__ = [
    "LOCAL_PASSWORD",
    "LocalAuthError",
    "check_username",
    "issue_local_token",
    "token_endpoint",
]
