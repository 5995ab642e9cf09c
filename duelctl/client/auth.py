"""Cognito tokens for a target: the local pool (users created on demand) or a stage.

Local: the stack's own sign-in, `POST {http_url}/_local/token` (emulator/local_auth.py,
the one implementation of "create the user if new, set the local password, sign in",
which the web client uses too); for a bare local pool without that route (tests), the
same function in-process. Stage: InitiateAuth USER_PASSWORD_AUTH, which is an unsigned
call, with the user's password; boto3 only there.

Start-up matters (`duelctl token` is run inside `$(...)`): nothing heavy is imported
until a call needs it, and the local path needs neither boto3 nor PyJWT.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from duelctl.errors import AuthRejected, TargetUnreachable, UsageError
from duelctl_endpoints import Endpoints

T = TypeVar("T")
PASSWORD_ENV = "DUELCTL_PASSWORD"
LOCAL_TOKEN_PATH = "/_local/token"  # emulator.local_auth.TOKEN_PATH
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token belongs to, read from its claims (docs/protocol.md, "Users and ...")."""

    username: str
    user_id: str
    token: str


def identity_of(token: str) -> Identity:
    """Read `sub` and the username from a Cognito ID or access token (not verified).

    The server verifies tokens; the client only needs to know whose token it holds, so
    the claims segment is simply decoded (RFC 7519 §3: base64url JSON, unpadded).
    """
    try:
        _header, payload, _signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if not isinstance(claims, dict):
            raise ValueError("the claims are not a JSON object")
    except ValueError as exc:
        raise AuthRejected(f"the token is not a JWT ({exc})") from None
    username = claims.get("cognito:username") or claims.get("username") or ""
    return Identity(username=str(username), user_id=str(claims.get("sub", "")), token=token)


class TokenSource(Protocol):
    """Gives a fresh token for a username; scenario runs and `connect` take one."""

    async def identity(self, username: str) -> Identity: ...


def _cognito(endpoints: Endpoints) -> Any:
    """A Cognito client for a stage (the standard credential chain and region)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=15, retries={"max_attempts": 2})
    session = boto3.session.Session()  # boto3's default session is not thread-safe
    return session.client("cognito-idp", region_name=endpoints.region, config=config)


def _blocking(fn: Callable[[], T]) -> T:
    """Run `fn` (which uses asyncio.run) here, or in a thread when a loop runs here."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


class CognitoTokens:
    """Token acquisition for one target; tokens are cached per username for a run."""

    def __init__(self, endpoints: Endpoints, *, password: str | None = None) -> None:
        self.endpoints = endpoints
        self.local = endpoints.aws_endpoint_url is not None
        self.password = password if password is not None else os.environ.get(PASSWORD_ENV)
        self._cache: dict[str, Identity] = {}
        self._client: Any = None
        self._client_lock = threading.Lock()  # identity() calls token() from worker threads
        if not endpoints.user_pool_client_id or (self.local and not endpoints.user_pool_id):
            raise UsageError(
                f"the endpoints of {endpoints.target!r} name no Cognito user pool/client"
            )

    async def identity(self, username: str) -> Identity:
        """A fresh token for `username` and who it names (cached for this object)."""
        import asyncio  # the caller runs a loop, so this is loaded already

        if username not in self._cache:
            self._cache[username] = await asyncio.to_thread(self.signed_in, username)
        return self._cache[username]

    def token(self, username: str) -> str:
        """Blocking: return a fresh ID token for `username`."""
        return self.signed_in(username).token

    def signed_in(self, username: str) -> Identity:
        """Blocking: sign `username` in (created first on a local pool); its identity."""
        if not username or username != username.strip():
            raise UsageError(f"bad username {username!r}")
        if self.local:
            return self._local_identity(username)
        return identity_of(self._stage_call(username))

    def _stage_call(self, username: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            with self._client_lock:
                if self._client is None:
                    self._client = _cognito(self.endpoints)
            return self._stage_token(username)
        except ClientError as exc:
            code = _code(exc)
            if code == "ResourceNotFoundException":
                raise TargetUnreachable(
                    f"{self.endpoints.target}: the user pool {self.endpoints.user_pool_id} "
                    f"does not exist there ({_message(exc)})"
                ) from None
            raise AuthRejected(f"Cognito refused {username!r}: {code}: {_message(exc)}") from None
        except BotoCoreError as exc:
            where = self.endpoints.aws_endpoint_url or f"Cognito in {self.endpoints.region}"
            raise TargetUnreachable(
                f"{self.endpoints.target}: cannot reach {where} ({exc})"
            ) from None

    # -- local pool: the stack's sign-in, users created on first use -----------------------

    def _local_identity(self, username: str) -> Identity:
        answer = self._local_sign_in_over_http(username)
        if answer is None:  # no local sign-in route there: the same function, in-process
            answer = self._local_sign_in_here(username)
        try:
            return Identity(
                username=str(answer["username"]),
                user_id=str(answer["userId"]),
                token=str(answer["idToken"]),
            )
        except (KeyError, TypeError):
            raise TargetUnreachable(
                f"{self.endpoints.target}: the local sign-in answered without a token"
            ) from None

    def _local_sign_in_over_http(self, username: str) -> dict[str, Any] | None:
        """`POST /_local/token` on the stack's HTTP origin; None when it has no such route."""
        import http.client

        parts = urlsplit(self.endpoints.http_url)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
            return None
        where = f"{parts.scheme}://{parts.netloc}{LOCAL_TOKEN_PATH}"
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        try:
            conn.request(
                "POST",
                LOCAL_TOKEN_PATH,
                body=json.dumps({"username": username}),
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except OSError:
            return None  # nothing serves it there; the pool may still answer directly
        finally:
            conn.close()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return None  # not the emulator's route (an older stack, another server)
        message = str(body.get("message", ""))
        if status == 200:
            return body
        if status == 400:
            raise UsageError(f"bad username {username!r}: {message}")
        if status in (404, 405):  # a stack that does not serve the route
            return None
        raise TargetUnreachable(
            f"{self.endpoints.target}: {where} answered {status}: {message or raw[:200]!r}"
        )

    def _local_sign_in_here(self, username: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        from emulator.local_auth import LocalAuthError, issue_local_token

        endpoints = self.endpoints

        def sign_in() -> dict[str, Any]:
            import asyncio

            return asyncio.run(
                issue_local_token(
                    endpoints.aws_endpoint_url or "",
                    endpoints.user_pool_id or "",
                    endpoints.user_pool_client_id or "",
                    endpoints.region,
                    username,
                )
            )

        try:
            return _blocking(sign_in)
        except LocalAuthError as exc:
            raise UsageError(f"bad username {username!r}: {exc}") from None
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                raise TargetUnreachable(
                    f"{endpoints.target}: the user pool {endpoints.user_pool_id} "
                    f"does not exist there ({_message(exc)})"
                ) from None
            refusal = f"{_code(exc)}: {_message(exc)}"
            raise AuthRejected(f"Cognito refused {username!r}: {refusal}") from None
        except BotoCoreError as exc:
            raise TargetUnreachable(
                f"{endpoints.target}: cannot reach {endpoints.aws_endpoint_url} ({exc})"
            ) from None

    # -- stage: password auth, admin create only when allowed -----------------------------

    def _stage_token(self, username: str) -> str:
        from botocore.exceptions import ClientError

        if not self.password:
            raise UsageError(
                f"a password for {username!r} on stage {self.endpoints.target!r} is needed: "
                f"pass --password or set {PASSWORD_ENV}"
            )
        try:
            return self._password_auth(username)
        except ClientError as exc:
            code = _code(exc)
            # With PreventUserExistenceErrors, an unknown user looks like a bad password.
            if code not in ("UserNotFoundException", "NotAuthorizedException"):
                raise
            if code == "NotAuthorizedException" and not self._missing(username):
                raise AuthRejected(
                    f"Cognito refused {username!r} on {self.endpoints.target!r}: {_message(exc)}"
                ) from None
        self._admin_create(username)
        return self._password_auth(username)

    def _password_auth(self, username: str) -> str:
        result = self._client.initiate_auth(
            ClientId=self.endpoints.user_pool_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": self.password},
        )
        return self._id_token(username, result)

    def _missing(self, username: str) -> bool:
        """Whether the user does not exist, when the caller may ask (else assume it does)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.admin_get_user(UserPoolId=self.endpoints.user_pool_id, Username=username)
        except ClientError as exc:
            return _code(exc) == "UserNotFoundException"
        except BotoCoreError:  # no credentials: cannot tell
            return False
        return False

    def _admin_create(self, username: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from emulator.local_auth import create_user  # the same recipe as a local pool's

        try:
            pool = self.endpoints.user_pool_id or ""
            create_user(self._client, pool, username, self.password or "")
        except (ClientError, BotoCoreError) as exc:
            raise AuthRejected(
                f"user {username!r} does not exist on stage {self.endpoints.target!r} and these "
                f"credentials cannot create it ({_code(exc) or type(exc).__name__}); sign up with "
                f"`aws cognito-idp sign-up --region {self.endpoints.region} --client-id "
                f"{self.endpoints.user_pool_client_id} --username {username} --password ...` "
                "and have an admin confirm it"
            ) from None

    def _id_token(self, username: str, result: dict[str, Any]) -> str:
        auth = result.get("AuthenticationResult") or {}
        token = auth.get("IdToken")
        if not token:
            challenge = result.get("ChallengeName", "no token")
            raise AuthRejected(f"Cognito did not issue a token for {username!r} ({challenge})")
        return str(token)


def forged_copy(token: str) -> str:
    """The same claims signed with a key the pool never issued (for negative auth tests).

    A server that checks signatures against the pool's JWKS must refuse it even though
    every claim (iss, aud, exp, sub) is right.
    """
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header.get("kid", "x")})
