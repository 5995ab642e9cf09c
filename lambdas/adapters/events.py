"""Read the Lambda event shapes this backend receives (docs/aws-behaviour.md §1, §4, §8-9, §12)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class EventError(ValueError):
    """The event lacks what its source always sends: a wiring bug, not a client error."""


@dataclass(frozen=True, slots=True)
class WsRequest:
    """One WebSocket route invocation: who sent it, on which connection, and where to reply."""

    connection_id: str
    user_id: str
    username: str
    endpoint: str  # @connections endpoint_url: https://{domainName}/{stage}
    body: str | None
    connected_at_ms: int | None


def ws_request(event: Mapping[str, Any]) -> WsRequest:
    """Parse a $connect / MESSAGE / $disconnect event.

    AWS: the $connect authorizer's context (userId, username) reaches every later event
    of the connection as `requestContext.authorizer` (docs/aws-behaviour.md §4). The management
    endpoint is built from `domainName` and `stage`, as AWS's WebSocket samples do.
    """
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        raise EventError("event has no requestContext")
    authorizer = context.get("authorizer")
    if not isinstance(authorizer, Mapping) or not authorizer.get("userId"):
        raise EventError("event carries no authorizer userId")
    connection_id = context.get("connectionId")
    if not isinstance(connection_id, str) or not connection_id:
        raise EventError("event has no connectionId")
    domain, stage = context.get("domainName"), context.get("stage")
    if not isinstance(domain, str) or not isinstance(stage, str):
        raise EventError("event has no domainName/stage to answer through")
    connected_at = context.get("connectedAt")
    body = event.get("body")
    return WsRequest(
        connection_id=connection_id,
        user_id=str(authorizer["userId"]),
        username=str(authorizer.get("username") or ""),
        endpoint=f"https://{domain}/{stage}",
        body=body if isinstance(body, str) else None,
        connected_at_ms=connected_at if isinstance(connected_at, int) else None,
    )


def query_token(event: Mapping[str, Any]) -> str | None:
    """The `?token=` of a REQUEST authorizer event (None when absent or empty)."""
    query = event.get("queryStringParameters") or {}
    token = query.get("token") if isinstance(query, Mapping) else None
    return token if isinstance(token, str) and token else None


def jwt_claims(event: Mapping[str, Any]) -> Mapping[str, str]:
    """HTTP API (payload 2.0) JWT authorizer claims; AWS passes them all as strings (§12)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    claims = jwt.get("claims") or {}
    return claims if isinstance(claims, Mapping) else {}


def records(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`Records` of an SQS or DynamoDB Streams batch."""
    batch = event.get("Records")
    if not isinstance(batch, list):
        raise EventError("event has no Records list")
    return batch
