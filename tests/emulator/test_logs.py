"""emulator.logs.caller_name: who made a request, as log lines name them."""

from __future__ import annotations

from emulator.logs import caller_name


def test_a_lambda_authorizer_context_names_the_user() -> None:
    """The duel authorizer's context carries userId and username: the name wins."""
    context = {"principalId": "u-1", "userId": "u-1", "username": "alice", "integrationLatency": 3}
    assert caller_name(context) == "alice"
    assert caller_name({"principalId": "u-1", "userId": "u-1"}) == "u-1"
    assert caller_name({"principalId": "u-1"}) == "u-1"


def test_jwt_claims_name_the_cognito_user() -> None:
    """An HTTP API JWT authorizer: cognito:username (ID token), username (access), sub."""
    id_token = {"jwt": {"claims": {"sub": "u-2", "cognito:username": "bob"}, "scopes": None}}
    access = {"jwt": {"claims": {"sub": "u-3", "username": "carol"}}}
    bare = {"jwt": {"claims": {"sub": "u-4"}}}
    assert caller_name(id_token) == "bob"
    assert caller_name(access) == "carol"
    assert caller_name(bare) == "u-4"


def test_nothing_to_name() -> None:
    assert caller_name(None) is None
    assert caller_name({}) is None
    assert caller_name({"jwt": {"claims": {}}, "username": ""}) is None
