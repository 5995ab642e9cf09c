"""The `Connections` table: one item per open WebSocket, keyed (userId, connectionId).

A connection is live while its item exists and its `expireAt` is in the future.
AWS: TTL deletes expired items late, within days (docs/aws-behaviour.md §7), so every read
filters on `expireAt` itself (docs/protocol.md, "Users and authentication").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.dynamo import all_items, now_seconds, usable_key
from adapters.events import WsRequest
from duel.times import iso


@dataclass(frozen=True, slots=True)
class Connection:
    user_id: str
    connection_id: str
    username: str
    connected_at: str  # wire time
    expire_at: int  # epoch seconds, the TTL attribute


def connection_of(request: WsRequest, now_ms: int, expire_at: int) -> Connection:
    """The item for the connection a WebSocket event came on, as $connect writes it and
    ping writes it again (the authorizer's identity, AWS's connectedAt)."""
    return Connection(
        user_id=request.user_id,
        connection_id=request.connection_id,
        username=request.username,
        connected_at=iso(request.connected_at_ms or now_ms),
        expire_at=expire_at,
    )


def _to_item(conn: Connection) -> dict[str, Any]:
    return {
        "userId": {"S": conn.user_id},
        "connectionId": {"S": conn.connection_id},
        "username": {"S": conn.username},
        "connectedAt": {"S": conn.connected_at},
        "expireAt": {"N": str(conn.expire_at)},
    }


def _from_item(item: dict[str, Any]) -> Connection:
    return Connection(
        user_id=item["userId"]["S"],
        connection_id=item["connectionId"]["S"],
        username=item.get("username", {}).get("S", ""),
        connected_at=item.get("connectedAt", {}).get("S", ""),
        expire_at=int(item["expireAt"]["N"]),
    )


class ConnectionsRepository:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def put(self, conn: Connection) -> None:
        self._client.put_item(TableName=self._table, Item=_to_item(conn))

    def delete(self, user_id: str, connection_id: str) -> None:
        self._client.delete_item(
            TableName=self._table,
            Key={"userId": {"S": user_id}, "connectionId": {"S": connection_id}},
        )

    def refresh(self, conn: Connection) -> None:
        """Push the connection's `expireAt` to `conn.expire_at`, writing the item if it is gone.

        A ping comes from an open socket, so its item is put back whole from the
        authorizer's identity when TTL or a wrong 410 clean-up removed it (docs/protocol.md:
        ping on a live socket whose item is gone). One unconditional update: fields the
        item has keep their values, missing ones are filled.
        """
        self._client.update_item(
            TableName=self._table,
            Key={"userId": {"S": conn.user_id}, "connectionId": {"S": conn.connection_id}},
            UpdateExpression=(
                "SET expireAt = :e, username = if_not_exists(username, :u), "
                "connectedAt = if_not_exists(connectedAt, :c)"
            ),
            ExpressionAttributeValues={
                ":e": {"N": str(conn.expire_at)},
                ":u": {"S": conn.username},
                ":c": {"S": conn.connected_at},
            },
        )

    def live(self, user_id: str, now_ms: int) -> list[Connection]:
        """The user's live connections (none for an id that cannot exist)."""
        if not usable_key(user_id):
            return []
        return self._live(
            self._client.query,
            now_ms,
            {":u": {"S": user_id}},
            KeyConditionExpression="userId = :u",
        )

    def all_live(self, now_ms: int) -> list[Connection]:
        """Every live connection (a Scan: /online is the only caller)."""
        return self._live(self._client.scan, now_ms, {})

    def _live(
        self, call: Any, now_ms: int, values: dict[str, Any], **params: Any
    ) -> list[Connection]:
        items = all_items(
            call,
            TableName=self._table,
            FilterExpression="expireAt > :now",
            ExpressionAttributeValues={**values, ":now": {"N": str(now_seconds(now_ms))}},
            ConsistentRead=True,
            **params,
        )
        return [_from_item(item) for item in items]


def expire_at_from(now_ms: int, ttl_s: int) -> int:
    """A connection's `expireAt`: now + CONNECTION_TTL_SECONDS, in epoch seconds."""
    return now_ms // 1000 + ttl_s
