"""$connect REQUEST authorizer: verify the Cognito JWT in `?token=`.

AWS: raising exactly `Exception("Unauthorized")` refuses the handshake with 401; any
other exception is an authorizer failure and the handshake gets 500; the Allow policy
must name the event's `methodArn` (docs/aws-behaviour.md §4). So only a token that fails
verification is denied: a JWKS outage must not look like bad credentials to a client.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters import deps
from adapters.events import query_token
from adapters.tokens import Identity, InvalidToken, authenticate

log = logging.getLogger(__name__)


def allow_policy(identity: Identity, method_arn: str) -> dict[str, Any]:
    """Allow this connection; `context` reaches every later event as requestContext.authorizer."""
    return {
        "principalId": identity.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}
            ],
        },
        "context": {"userId": identity.user_id, "username": identity.username},
    }


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Allow policy for a valid token; an invalid or missing one is 401 Unauthorized.

    Anything else (the key set cannot be fetched, a bug) propagates: AWS turns it into
    a 500, which tells the client to retry rather than to sign in again.
    """
    token = query_token(event)
    d = deps.get()
    try:
        if token is None:
            raise InvalidToken("no token in the query string")
        identity = authenticate(
            token,
            d.key_source,
            issuer=d.config.issuer,
            client_id=d.config.user_pool_client_id,
            now=d.now_ms() / 1000,
        )
    except InvalidToken as err:
        log.warning("refusing connection: %s", err)
        raise Exception("Unauthorized") from None
    return allow_policy(identity, str(event["methodArn"]))
