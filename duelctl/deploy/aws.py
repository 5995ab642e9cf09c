"""boto3 sessions for deploy and destroy, and botocore errors translated in one place.

Credentials come from boto3's standard chain (environment, `--profile`/AWS_PROFILE,
~/.aws, SSO, container and instance roles); nothing here reads them itself. The AWS
endpoint comes from boto3 too: `AWS_ENDPOINT_URL` (botocore >= 1.31 honours it for
every client) points the same code at a moto server in tests.

`aws_errors` is the boundary where botocore's exceptions become the CLI's one-line
errors (style.md §7); code that expects a specific AWS error code catches it itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from duelctl.deploy.errors import CredentialsError, DeployError, EndpointUnreachable
from duelctl.errors import UsageError

# AWS: codes STS/CloudFormation/S3 return for unknown, expired or mis-signed credentials
# (AWS General Reference, "Common errors").
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidToken",
        "RequestExpired",
    }
)
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"})
NO_REGION = (
    "no AWS region: pass --region, set AWS_DEFAULT_REGION or AWS_REGION, or give the profile "
    "a region"
)
SETUP_HINT = (
    "configure credentials with `aws configure` / `aws sso login`, set AWS_PROFILE, "
    "or pass --profile"
)


# The last HTTP answer a deploy client received, (operation, status, body start): when
# botocore cannot parse an answer (a proxy's or a broken endpoint's plain-text 500), its
# exception carries no status, and the error line must still say what the service said.
_last_answer: contextvars.ContextVar[tuple[str, int, bytes] | None] = contextvars.ContextVar(
    "duelctl_deploy_last_answer", default=None
)


def _remember_answer(operation_model: Any = None, response_dict: Any = None, **_: Any) -> None:
    """botocore `before-parse` hook: note the raw answer before parsing it."""
    if isinstance(response_dict, dict):
        body = response_dict.get("body")
        _last_answer.set(
            (
                str(getattr(operation_model, "name", "")),
                int(response_dict.get("status_code") or 0),
                body[:200] if isinstance(body, bytes) else b"",
            )
        )


@dataclass(frozen=True, slots=True)
class Aws:
    """An authenticated session: who the caller is, and where the stack goes."""

    session: Any  # boto3.session.Session
    region: str
    account: str
    caller_arn: str

    def client(self, service: str) -> Any:
        """A client for `service` in the deploy region (endpoint from boto3's config)."""
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard"},  # AWS_MAX_ATTEMPTS still applies
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="duelctl-deploy",
        )
        client = self.session.client(service, region_name=self.region, config=config)
        client.meta.events.register("before-parse", _remember_answer)
        return client


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The AWS error message of a ClientError, else `str(exc)`."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(exc)


def open_session(*, region: str | None, profile: str | None) -> Aws:
    """Build the session and ask STS who we are, so credential problems surface first.

    GetCallerIdentity needs no IAM permission (STS API reference), so it fails only
    for missing or invalid credentials, never for a narrow policy.
    """
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise UsageError(
            f"AWS profile {profile!r} not found in ~/.aws/config or ~/.aws/credentials; "
            "check the name (`aws configure list-profiles`)"
        ) from None
    # boto3 reads AWS_DEFAULT_REGION and the profile; AWS_REGION is what other SDKs and
    # the Lambda runtime use, so it counts too.
    resolved = region or session.region_name or os.environ.get("AWS_REGION")
    if not resolved:
        raise UsageError(NO_REGION)
    if session.region_name != resolved:
        session = boto3.session.Session(profile_name=profile, region_name=resolved)
    with aws_errors("checking AWS credentials (sts:GetCallerIdentity)"):
        sts = Aws(session, resolved, "", "").client("sts")
        identity = sts.get_caller_identity()
    return Aws(
        session=session,
        region=resolved,
        account=str(identity["Account"]),
        caller_arn=str(identity.get("Arn", "")),
    )


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions raised while doing `action` into one-line CLI errors."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        CredentialRetrievalError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )
    from botocore.parsers import ResponseParserError

    _last_answer.set(None)
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
        raise CredentialsError(f"no usable AWS credentials ({exc}); {SETUP_HINT}") from None
    except NoRegionError:
        raise UsageError(NO_REGION) from None
    except (ConnectionError, HTTPClientError) as exc:
        where = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        raise EndpointUnreachable(f"cannot reach {where} while {action} ({exc})") from None
    except ClientError as exc:
        code = error_code(exc)
        if code in CREDENTIAL_CODES:
            raise CredentialsError(
                f"AWS refused the credentials ({code}: {error_message(exc)}); {SETUP_HINT}"
            ) from None
        if code in DENIED_CODES:
            raise CredentialsError(
                f"not allowed while {action}: {code}: {error_message(exc)}"
            ) from None
        raise DeployError(f"{action} failed: {code}: {error_message(exc)}") from None
    except BotoCoreError as exc:
        if "token" in type(exc).__name__.lower() or "sso" in type(exc).__name__.lower():
            raise CredentialsError(f"AWS credentials unusable ({exc}); {SETUP_HINT}") from None
        raise DeployError(f"{action} failed: {exc}") from None
    except ResponseParserError:
        raise DeployError(f"{action} failed: {_unparsable_answer()}") from None


def _unparsable_answer() -> str:
    """What the service answered when botocore could not read it as an AWS answer."""
    answer = _last_answer.get()
    if answer is None:
        return "the service's answer was not an AWS response"
    operation, status, body = answer
    text = " ".join(body.decode("utf-8", "replace").split())
    return (
        f"{operation} got HTTP {status} with a body that is not an AWS response "
        f"({text[:120]!r}); the service or something in front of it failed, try again later"
    )
