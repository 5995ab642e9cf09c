"""Deliver frames over the @connections API: to one connection, or to every live one of a user.

AWS: posting to a closed connection fails with 410 GoneException (docs/aws-behaviour.md §5);
the stale `Connections` item is deleted and delivery to the user's other connections
goes on (docs/protocol.md). But a post to a connection whose `$connect` has not finished
is a 410 too (docs/aws-behaviour.md §3), and its item is written inside `$connect`: a 410 for a
connection younger than CONNECT_WINDOW_MS keeps the item.

Every post is bounded: the management client makes at most two attempts with short
timeouts (adapters/deps.py). Deliveries that a retry can finish (adapters/delivery.py)
also start no post unless the invocation has POST_RESERVE_MS left
(`get_remaining_time_in_millis`), so a stalled endpoint costs a retry of a few frames,
never the function's timeout and with it the whole batch. Request handlers post
regardless: nothing would retry what they skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from adapters.connections import Connection, ConnectionsRepository
from adapters.dynamo import error_code
from duel.frames import Frame, encode
from duel.machine import Notice
from duel.times import parse_iso

log = logging.getLogger(__name__)

# AWS: the $connect route is one integration call, capped by API Gateway's 29 s
# integration timeout (docs/aws-behaviour.md §2, §6), and the Connections item is written inside
# it. A connection connected longer ago than that has finished connecting (or never
# will): a 410 then means closed. Younger, a 410 may only mean "still connecting".
CONNECT_WINDOW_MS = 30_000
# The longest one post can take under the management client's config (deps.py: two
# attempts of 1 s connect + 2 s read, plus standard mode's backoff of at most 1 s),
# plus room to record what was delivered. No post starts with less time left.
POST_RESERVE_MS = 2 * (1_000 + 2_000) + 1_000 + 1_000


class ConnectionGone(Exception):
    """The connection is closed, unknown or still connecting (410)."""


class Posted(Enum):
    """What became of one post."""

    DELIVERED = "delivered"
    GONE = "gone"  # 410: the item was deleted, or kept if the connection is young
    REFUSED = "refused"  # another 4xx: retrying cannot help
    FAILED = "failed"  # throttled, 5xx, timeout: a later try may succeed

    @property
    def settled(self) -> bool:
        """Whether this connection needs no further try."""
        return self in (Posted.DELIVERED, Posted.GONE, Posted.REFUSED)


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
            # 410 surfaces as code "410" (docs/aws-behaviour.md §5), so check both.
            if error_code(err) in ("GoneException", "410") or _status(err) == 410:
                raise ConnectionGone(connection_id) from err
            raise


def _status(err: ClientError) -> int | None:
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def never_short_of_time() -> int:
    return 1 << 30


class Notifier:
    """Fan frames out to connections; one failed post never stops the others."""

    def __init__(
        self,
        poster: Poster,
        connections: ConnectionsRepository,
        now_ms: Callable[[], int],
        remaining_ms: Callable[[], int] = never_short_of_time,
    ) -> None:
        self._poster = poster
        self._connections = connections
        self._now_ms = now_ms
        self._remaining_ms = remaining_ms

    def short_of_time(self) -> bool:
        """Whether a post started now might not finish before the function times out."""
        return self._remaining_ms() < POST_RESERVE_MS

    def remaining_ms(self) -> int:
        """The invocation's remaining time (`get_remaining_time_in_millis`), for callers
        that must leave room for the posts still to come."""
        return self._remaining_ms()

    def live(self, user_id: str) -> list[Connection]:
        return self._connections.live(user_id, self._now_ms())

    def post(
        self, user_id: str, connection_id: str, frame: Frame, connected_at: str | None = None
    ) -> Posted:
        """Post one frame; `connected_at` (wire time) None means certainly connected."""
        try:
            self._poster.post(connection_id, encode(frame))
        except ConnectionGone:
            if self._connecting(connected_at):
                log.info(
                    "connection %s of %s answered 410 while connecting", connection_id, user_id
                )
            else:
                log.info("connection %s of %s is gone; deleting it", connection_id, user_id)
                self._connections.delete(user_id, connection_id)
            return Posted.GONE
        except ClientError as err:
            status = _status(err) or 0
            log.exception("posting %s to %s failed", frame.get("type"), connection_id)
            retryable = status >= 500 or status in (0, 429)
            return Posted.FAILED if retryable else Posted.REFUSED
        except BotoCoreError:
            log.exception("posting %s to %s failed", frame.get("type"), connection_id)
            return Posted.FAILED
        return Posted.DELIVERED

    def _connecting(self, connected_at: str | None) -> bool:
        if connected_at is None:
            return False
        try:
            age = self._now_ms() - parse_iso(connected_at)
        except ValueError:
            return False
        return age < CONNECT_WINDOW_MS

    def to_connection(self, user_id: str, connection_id: str, frame: Frame) -> bool:
        """Post to one connection (a "sender" frame); False if it was not delivered.

        The sender's connection has sent a message, so it finished connecting: a 410
        here always means it is gone.
        """
        return self.post(user_id, connection_id, frame) is Posted.DELIVERED

    def to_user(
        self, user_id: str, frame: Frame, connections: Sequence[Connection] | None = None
    ) -> int:
        """Post to every live connection of the user (`connections` if already read)."""
        found = self.live(user_id) if connections is None else connections
        return sum(
            self.post(user_id, c.connection_id, frame, c.connected_at) is Posted.DELIVERED
            for c in found
        )

    def send(
        self, notices: Iterable[Notice], known: Mapping[str, Sequence[Connection]] | None = None
    ) -> None:
        """Each notice to every live connection of its user; `known` saves repeated reads."""
        for notice in notices:
            self.to_user(notice.user_id, notice.frame, (known or {}).get(notice.user_id))
