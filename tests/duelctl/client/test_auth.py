"""Token acquisition against a real moto Cognito: local pools and the stage flow."""

from __future__ import annotations

import dataclasses
import re

import jwt
import pytest

from duelctl.client.auth import CognitoTokens, forged_copy, identity_of
from duelctl.errors import AuthRejected, TargetUnreachable, UsageError
from duelctl_endpoints import Endpoints


def local_endpoints(cognito) -> Endpoints:
    return Endpoints(
        target="local",
        region="us-east-1",
        stage="local",
        websocket_url="ws://x/local",
        management_url="",
        http_url="http://x",
        aws_endpoint_url=cognito.url,
        user_pool_id=cognito.pool_id,
        user_pool_client_id=cognito.client_id,
        connections_table=None,
        sessions_table=None,
    )


async def test_local_users_are_created_on_first_use(cognito) -> None:
    """A new name gets an account and a token; the identity reads sub and username."""
    tokens = CognitoTokens(local_endpoints(cognito))
    me = await tokens.identity("newcomer")
    assert me.username == "newcomer" and me.user_id
    assert await tokens.identity("newcomer") is me  # cached for the run
    again = CognitoTokens(local_endpoints(cognito)).token("newcomer")
    assert identity_of(again).user_id == me.user_id


def test_a_pool_that_does_not_exist_is_unreachable(cognito) -> None:
    """Endpoints naming another stack's pool say so instead of failing obscurely."""
    other = dataclasses.replace(local_endpoints(cognito), user_pool_id="us-east-1_nopenopen")
    with pytest.raises(TargetUnreachable, match="does not exist"):
        CognitoTokens(other).token("alice")


def test_an_unreachable_aws_endpoint_is_reported() -> None:
    """A dead local AWS endpoint is TargetUnreachable."""
    dead = Endpoints(
        "local",
        "us-east-1",
        "local",
        "ws://x",
        "",
        "http://x",
        "http://127.0.0.1:9",
        "us-east-1_x",
        "c",
        None,
        None,
    )
    with pytest.raises(TargetUnreachable, match=re.escape("cannot reach http://127.0.0.1:9")):
        CognitoTokens(dead).token("alice")


@pytest.fixture
def stage(cognito, monkeypatch: pytest.MonkeyPatch) -> Endpoints:
    """A stage target whose Cognito calls reach moto through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", cognito.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("DUELCTL_PASSWORD", raising=False)
    return dataclasses.replace(local_endpoints(cognito), target="qa", aws_endpoint_url=None)


def test_stage_sign_in_needs_a_password(stage: Endpoints) -> None:
    """Without --password or DUELCTL_PASSWORD the stage flow stops with what to pass."""
    with pytest.raises(UsageError, match="--password or set DUELCTL_PASSWORD"):
        CognitoTokens(stage).token("alice")


def test_stage_creates_a_missing_user_when_allowed_then_checks_passwords(stage: Endpoints) -> None:
    """A missing user is created (admin rights present); a wrong password is rejected."""
    token = CognitoTokens(stage, password="Sup3r-Secret!").token("stageuser")
    assert identity_of(token).username == "stageuser"
    assert identity_of(CognitoTokens(stage, password="Sup3r-Secret!").token("stageuser")).user_id
    with pytest.raises(AuthRejected, match="Cognito refused 'stageuser'"):
        CognitoTokens(stage, password="wrong-Passw0rd!").token("stageuser")


def test_forged_tokens_keep_claims_but_not_the_signature(cognito) -> None:
    """A forged copy has identical claims and a signature the pool never made."""
    token = CognitoTokens(local_endpoints(cognito)).token("forgery")
    fake = forged_copy(token)
    assert fake != token
    assert jwt.decode(fake, options={"verify_signature": False}) == jwt.decode(
        token, options={"verify_signature": False}
    )
    assert jwt.get_unverified_header(fake)["kid"] == jwt.get_unverified_header(token)["kid"]


def test_garbage_is_not_an_identity() -> None:
    """A non-JWT is rejected as such."""
    with pytest.raises(AuthRejected, match="not a JWT"):
        identity_of("nope")
