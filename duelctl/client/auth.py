"""Cognito tokens for a target: the local pool (users created on demand) or a stage.

Local: AdminCreateUser (MessageAction SUPPRESS) + AdminSetUserPassword (Permanent) +
AdminInitiateAuth ADMIN_USER_PASSWORD_AUTH against the local AWS endpoint with dummy
credentials; moto 5 supports all three (aws-fidelity §11). Stage: InitiateAuth
USER_PASSWORD_AUTH, which is an unsigned call, with the user's password.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from duelctl.errors import AuthRejected, TargetUnreachable, UsageError
from emulator.endpoints import Endpoints
from emulator.local_auth import LOCAL_PASSWORD

PASSWORD_ENV = "DUELCTL_PASSWORD"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token belongs to, read from its claims (protocol.md, "Users")."""

    username: str
    user_id: str
    token: str


def identity_of(token: str) -> Identity:
    """Read `sub` and the username from a Cognito ID or access token (not verified).

    The server verifies tokens; the client only needs to know whose token it holds.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthRejected(f"the token is not a JWT ({exc})") from None
    username = claims.get("cognito:username") or claims.get("username") or ""
    return Identity(username=str(username), user_id=str(claims.get("sub", "")), token=token)


class TokenSource(Protocol):
    """Gives a fresh token for a username; scenario runs and `connect` take one."""

    async def identity(self, username: str) -> Identity: ...


def _cognito(endpoints: Endpoints, *, local: bool) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=15, retries={"max_attempts": 2})
    session = boto3.session.Session()  # boto3's default session is not thread-safe
    if local:
        return session.client(
            "cognito-idp",
            region_name=endpoints.region,
            endpoint_url=endpoints.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )
    return session.client("cognito-idp", region_name=endpoints.region, config=config)


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
        if username not in self._cache:
            token = await asyncio.to_thread(self.token, username)
            self._cache[username] = identity_of(token)
        return self._cache[username]

    def token(self, username: str) -> str:
        """Blocking: return a fresh ID token for `username`."""
        if not username or username != username.strip():
            raise UsageError(f"bad username {username!r}")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            with self._client_lock:
                if self._client is None:
                    self._client = _cognito(self.endpoints, local=self.local)
            return self._local_token(username) if self.local else self._stage_token(username)
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

    # -- local pool: create on first use -------------------------------------------------

    def _local_token(self, username: str) -> str:
        from botocore.exceptions import ClientError

        client = self._client
        pool = self.endpoints.user_pool_id
        try:
            return self._admin_auth(username)
        except ClientError as exc:
            code = _code(exc)
            if code == "UserNotFoundException":
                try:
                    client.admin_create_user(
                        UserPoolId=pool, Username=username, MessageAction="SUPPRESS"
                    )
                except ClientError as create_exc:
                    if _code(create_exc) != "UsernameExistsException":  # a parallel run won
                        raise
            elif code != "NotAuthorizedException":  # created elsewhere with another password
                raise
        client.admin_set_user_password(
            UserPoolId=pool, Username=username, Password=LOCAL_PASSWORD, Permanent=True
        )
        return self._admin_auth(username)

    def _admin_auth(self, username: str) -> str:
        result = self._client.admin_initiate_auth(
            UserPoolId=self.endpoints.user_pool_id,
            ClientId=self.endpoints.user_pool_client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": LOCAL_PASSWORD},
        )
        return self._id_token(username, result)

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

        pool = self.endpoints.user_pool_id
        try:
            self._client.admin_create_user(
                UserPoolId=pool, Username=username, MessageAction="SUPPRESS"
            )
            self._client.admin_set_user_password(
                UserPoolId=pool, Username=username, Password=self.password, Permanent=True
            )
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
    from cryptography.hazmat.primitives.asymmetric import rsa

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header.get("kid", "x")})
