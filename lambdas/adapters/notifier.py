"""Deliver frames over the @connections API: to one connection, or to every live one of a user.

AWS: posting to a closed connection fails with 410 GoneException (aws-fidelity §5);
the stale `Connections` item is deleted and delivery to the user's other connections
goes on (protocol.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from adapters.connections import ConnectionsRepository
from adapters.dynamo import error_code
from duel.frames import Frame, encode
from duel.machine import Notice

log = logging.getLogger(__name__)


class ConnectionGone(Exception):
    """The connection is closed or unknown to API Gateway."""


class Poster(Protocol):
    def post(self, connection_id: str, data: bytes) -> None:
        """Send `data` as one text message; raise ConnectionGone for a 410."""
        ...


class ManagementApiPoster:
    """A Poster over boto3's `apigatewaymanagementapi` client for one endpoint."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as err:
            # AWS: botocore names the error from x-amzn-ErrorType; without that header a
            # 410 surfaces as code "410" (aws-fidelity §5), so check both.
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error_code(err) in ("GoneException", "410") or status == 410:
                raise ConnectionGone(connection_id) from err
            raise


class Notifier:
    """Fan frames out to connections; one failed post never stops the others."""

    def __init__(
        self, poster: Poster, connections: ConnectionsRepository, now_ms: Callable[[], int]
    ) -> None:
        self._poster = poster
        self._connections = connections
        self._now_ms = now_ms

    def to_connection(self, user_id: str, connection_id: str, frame: Frame) -> bool:
        """Post to one connection (a "sender" frame); False if it was not delivered."""
        try:
            self._poster.post(connection_id, encode(frame))
        except ConnectionGone:
            log.info("connection %s of %s is gone; deleting it", connection_id, user_id)
            self._connections.delete(user_id, connection_id)
            return False
        except (ClientError, BotoCoreError):
            log.exception("posting %s to %s failed", frame.get("type"), connection_id)
            return False
        return True

    def to_user(self, user_id: str, frame: Frame) -> int:
        """Post to every live connection of the user; returns how many got it."""
        delivered = 0
        for conn in self._connections.live(user_id, self._now_ms()):
            delivered += self.to_connection(user_id, conn.connection_id, frame)
        return delivered

    def send(self, notices: Iterable[Notice]) -> None:
        for notice in notices:
            self.to_user(notice.user_id, notice.frame)
