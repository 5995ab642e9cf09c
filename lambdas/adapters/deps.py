"""Everything a handler needs from the outside world, built once per warm container.

Handlers call `get()`; boto3 clients, repositories and @connections posters are created
on first use and kept for later invocations (Lambda reuses module state, docs/aws-behaviour.md
§13). Tests `install()` a `Deps` with their own clock, poster factory or key source;
that is the only seam, and everything behind it is the production code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from adapters.config import Config
from adapters.connections import Connection, ConnectionsRepository
from adapters.delivery import Receipts
from adapters.effects import Effects
from adapters.locks import LockRepository
from adapters.notifier import ManagementApiPoster, Notifier, Poster, never_short_of_time
from adapters.sessions import SessionsRepository
from adapters.timer_queue import TimerQueue
from adapters.tokens import JwksKeySource, KeySource

# Bounded posts (issue 14, defect 5): botocore's legacy mode makes 5 attempts and retries
# read timeouts, so one stalled post could outlast the function. Standard mode, two
# attempts in all, 1 s to connect and 2 s to read: at worst ~7 s, the figure
# adapters.notifier.POST_RESERVE_MS keeps free before a delivery starts a post.
# AWS: botocore retries 429 and 5xx, not 403/410/413 (docs/aws-behaviour.md §5).
MANAGEMENT_CLIENT_CONFIG = BotoConfig(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "total_max_attempts": 2},
)


def system_now_ms() -> int:
    return time.time_ns() // 1_000_000


def remaining_ms(context: object) -> Callable[[], int]:
    """The invocation's `get_remaining_time_in_millis` (docs/aws-behaviour.md §13), if any."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining if callable(remaining) else never_short_of_time


class Deps:
    """Lazily built adapters; attributes are created on first access and then reused.

    boto3 finds local endpoints on its own (AWS_ENDPOINT_URL), so nothing here asks
    whether it runs locally.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], int] = system_now_ms,
        poster_factory: Callable[[str], Poster] | None = None,
        key_source: KeySource | None = None,
        timers: TimerQueue | None = None,
    ) -> None:
        self.config = config
        self.now_ms = clock
        self._poster_factory = poster_factory or self._management_poster
        self._key_source = key_source
        self._timers = timers
        self._posters: dict[str, Poster] = {}

    @cached_property
    def dynamodb(self) -> Any:
        return boto3.client("dynamodb", region_name=self.config.region)

    @cached_property
    def connections(self) -> ConnectionsRepository:
        return ConnectionsRepository(self.dynamodb, self.config.connections_table)

    @cached_property
    def sessions(self) -> SessionsRepository:
        return SessionsRepository(self.dynamodb, self.config.sessions_table)

    @cached_property
    def locks(self) -> LockRepository:
        return LockRepository(self.dynamodb, self.config.sessions_table, self.sessions)

    @cached_property
    def receipts(self) -> Receipts:
        return Receipts(self.dynamodb, self.config.sessions_table)

    @property
    def timers(self) -> TimerQueue:
        if self._timers is None:
            sqs = boto3.client("sqs", region_name=self.config.region)
            self._timers = TimerQueue(sqs, self.config.timer_queue_url)
        return self._timers

    @property
    def key_source(self) -> KeySource:
        if self._key_source is None:
            self._key_source = JwksKeySource(self.config.jwks_url)
        return self._key_source

    def notifier(self, endpoint: str, context: object = None) -> Notifier:
        """A Notifier posting through the @connections API at `endpoint` (poster cached per
        endpoint), that stops posting when `context` runs short of time."""
        poster = self._posters.get(endpoint)
        if poster is None:
            poster = self._posters[endpoint] = self._poster_factory(endpoint)
        return Notifier(poster, self.connections, self.now_ms, remaining_ms(context))

    def effects(
        self,
        notifier: Notifier,
        now_ms: int,
        context: object,
        known: dict[str, list[Connection]] | None = None,
    ) -> Effects:
        """Effects for one invocation: its delivery lease ends when the invocation must."""
        return Effects(
            timers=self.timers,
            notifier=notifier,
            sessions=self.sessions,
            receipts=self.receipts,
            now_ms=now_ms,
            lease_until=lease_until(now_ms, context),
            known=known or {},
        )

    def _management_poster(self, endpoint: str) -> Poster:
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            region_name=self.config.region,
            config=MANAGEMENT_CLIENT_CONFIG,
        )
        return ManagementApiPoster(client)


def lease_until(now_ms: int, context: object) -> int:
    """Epoch ms by which this invocation has certainly ended (Lambda kills it at timeout)."""
    remaining = remaining_ms(context)()
    return now_ms + min(remaining, MAX_LEASE_MS)


# Without a Lambda context (scripts, tests) a lease still ends: longer than any function
# timeout in template.yaml.
MAX_LEASE_MS = 60_000

_current: Deps | None = None


def get() -> Deps:
    """The container's Deps, built from the environment on first use."""
    global _current
    if _current is None:
        _current = Deps(Config.from_env(os.environ))
    return _current


def install(deps: Deps | None) -> None:
    """Replace the container's Deps (tests); None rebuilds from the environment next time."""
    global _current
    _current = deps
