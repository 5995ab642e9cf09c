"""The web client's two local-only routes: its config, and sign-in by username alone.

`LocalWebApi` serves, on the local stack's HTTP origin only (a deployed stage has neither
route: there the page reads a config.json hosted next to it and signs in with a password
against the real pool):

- `GET /config.json` -> `web_config(endpoints)`: where the page finds the stack.
- `POST /_local/token {"username"}` -> `{"idToken", "userId", "username"}`.

A user is created in moto's Cognito on first use with a fixed password, so the page,
`duelctl token` and tests all get real pool-signed JWTs for the same users, which the
authorizers verify exactly as they would in AWS.

AWS: AdminCreateUser with MessageAction SUPPRESS, AdminSetUserPassword Permanent, then
AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH; moto 5 supports all three and returns an
`AuthenticationResult` with an RS256 `IdToken` (docs/aws-behaviour.md §11).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import jwt
from aiohttp import web

from duelctl_endpoints import Endpoints

# Local pools only. Same value as duelctl's CLI uses, so users made by either side sign
# in through the other; it meets the template's password policy.
LOCAL_PASSWORD = "Local-Duel-Pw-2026!"  # meets Cognito's default password policy too
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


def local_cognito(
    aws_url: str, region: str, *, own_session: bool = False, connections: int = 10
) -> Any:
    """A boto3 Cognito client for a local pool (moto): fake credentials, short timeouts.

    `own_session` gives the client a boto3 session of its own (~70 ms more), for a caller
    that shares it between threads under load, as the bench does: then it also waits
    longer and retries more.
    """
    import boto3
    from botocore.config import Config

    if own_session:
        factory: Any = boto3.session.Session().client
        config = Config(
            connect_timeout=3,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=connections,
        )
    else:
        factory = boto3.client
        config = Config(connect_timeout=3, read_timeout=15, retries={"max_attempts": 2})
    return factory(
        "cognito-idp",
        region_name=region,
        endpoint_url=aws_url,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
        config=config,
    )


def create_user(idp: Any, pool_id: str, username: str, password: str) -> None:
    """Blocking: make `username` able to sign in with `password` at once (any pool).

    AdminCreateUser with MessageAction SUPPRESS (no invitation), then AdminSetUserPassword
    Permanent. A user that exists already just gets the password (two tabs signing in the
    same new name at once: the other one made it).
    AWS: a user made by AdminCreateUser is FORCE_CHANGE_PASSWORD until a permanent
    password is set; ADMIN_USER_PASSWORD_AUTH would answer NEW_PASSWORD_REQUIRED.
    """
    from botocore.exceptions import ClientError

    try:
        idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    except ClientError as exc:
        if _error_code(exc) != "UsernameExistsException":
            raise
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )


def admin_sign_in(
    idp: Any, pool_id: str, client_id: str, username: str, password: str
) -> dict[str, str]:
    """Blocking: AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH; the `AuthenticationResult`
    (IdToken, AccessToken, ...). A challenge instead of tokens is a LocalAuthError (502)."""
    result = idp.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    tokens = result.get("AuthenticationResult") or {}
    if not isinstance(tokens.get("IdToken"), str):
        challenge = result.get("ChallengeName", "no token")
        raise LocalAuthError(f"Cognito issued no token for {username!r} ({challenge})", 502)
    return dict(tokens)


def sign_in_local_user(
    idp: Any,
    pool_id: str,
    client_id: str,
    username: str,
    *,
    password: str = LOCAL_PASSWORD,
    new: bool = False,
) -> dict[str, str]:
    """Blocking: sign `username` in to a local pool, creating it (or resetting a password
    another tool set) first if needed; the `AuthenticationResult`.

    The one implementation of "create the user, set its password, sign in" that the page,
    `duelctl token`, the bench and tests share. `new=True` (names known to be fresh, as
    the bench's are) skips the first sign-in attempt: three calls, none failing.
    """
    from botocore.exceptions import ClientError

    if not new:
        try:
            return admin_sign_in(idp, pool_id, client_id, username, password)
        except ClientError as exc:
            # Missing, or made elsewhere with another password: (re)set it below.
            if _error_code(exc) not in ("UserNotFoundException", "NotAuthorizedException"):
                raise
    create_user(idp, pool_id, username, password)
    return admin_sign_in(idp, pool_id, client_id, username, password)


def _issue(aws_url: str, pool_id: str, client_id: str, region: str, username: str) -> str:
    """Blocking: create `username` if missing, sign in, return its ID token."""
    idp = local_cognito(aws_url, region)
    return sign_in_local_user(idp, pool_id, client_id, username)["IdToken"]


async def issue_local_token(
    aws_url: str, pool_id: str, client_id: str, region: str, username: str
) -> dict[str, str]:
    """Sign `username` in to the local pool, creating it first if needed.

    Returns `{"idToken", "userId", "username"}`: `userId` is the token's `sub` and
    `username` its `cognito:username`, i.e. the identity every handler will see
    (docs/protocol.md, "Users and authentication"). Raises LocalAuthError for a username
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


CONFIG_PATH = "/config.json"
TOKEN_PATH = "/_local/token"
CONFIG_KEYS = ("target", "stage", "region", "websocket_url", "http_url", "user_pool_client_id")


def web_config(endpoints: Endpoints, *, local_auth: bool = True) -> dict[str, Any]:
    """The body of the page's `config.json` (web/README.md): endpoint keys + `local_auth`.

    Only what a browser needs: no management URL, no table names, no AWS endpoint.
    """
    body: dict[str, Any] = {key: getattr(endpoints, key) for key in CONFIG_KEYS}
    body["local_auth"] = local_auth
    # "virtual": the page says it is not for such a stack (README "Virtual time").
    body["clock"] = endpoints.clock or "real"
    return body


class LocalWebApi:
    """`GET /config.json` and `POST /_local/token` for the page served by `duelctl up`.

    `endpoints()` returns the running stack's endpoints, or None while it is starting
    (the HTTP server binds before the endpoints are known); requests then get 503.
    """

    def __init__(self, endpoints: Callable[[], Endpoints | None]) -> None:
        self._endpoints = endpoints

    @staticmethod
    def matches(raw_path: str) -> bool:
        """True for the two paths this component owns (any method: it answers 405)."""
        return raw_path.split("?", 1)[0] in (CONFIG_PATH, TOKEN_PATH)

    async def handle(self, request: web.Request) -> web.Response:
        endpoints = self._endpoints()
        if endpoints is None:
            return web.json_response({"message": "the stack is starting"}, status=503)
        if request.path == CONFIG_PATH:
            if request.method not in ("GET", "HEAD"):
                return web.json_response({"message": "use GET"}, status=405)
            body = web_config(endpoints)
            # The page calls http_url from the origin it was loaded from; answering with
            # that origin (127.0.0.1 or localhost, whichever the user typed) keeps GET
            # /online same-origin, so no CORS is needed locally.
            body["http_url"] = f"{request.scheme}://{request.host}"
            return web.json_response(body, headers={"Cache-Control": "no-store"})
        if request.method != "POST":
            return web.json_response({"message": "use POST"}, status=405)
        if not (endpoints.aws_endpoint_url and endpoints.user_pool_id):
            return web.json_response({"message": "this stack has no local user pool"}, status=404)
        status, body = await token_endpoint(
            await request.read(),
            aws_url=endpoints.aws_endpoint_url,
            pool_id=endpoints.user_pool_id,
            client_id=endpoints.user_pool_client_id or "",
            region=endpoints.region,
        )
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


__all__ = [
    "LOCAL_PASSWORD",
    "LocalAuthError",
    "LocalWebApi",
    "admin_sign_in",
    "check_username",
    "create_user",
    "issue_local_token",
    "local_cognito",
    "sign_in_local_user",
    "token_endpoint",
    "web_config",
]
