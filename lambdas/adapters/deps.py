"""Everything a handler needs from the outside world, built once per warm container.

Handlers call `get()`; boto3 clients, repositories and @connections posters are created
on first use and kept for later invocations (Lambda reuses module state, aws-fidelity
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
from adapters.connections import ConnectionsRepository
from adapters.notifier import ManagementApiPoster, Notifier, Poster
from adapters.sessions import SessionsRepository
from adapters.timer_queue import TimerQueue
from adapters.tokens import JwksKeySource, KeySource

# Keep a post well inside the function timeout (10 s in template.yaml).
_MANAGEMENT_CLIENT_CONFIG = BotoConfig(connect_timeout=3, read_timeout=5)


def system_now_ms() -> int:
    return time.time_ns() // 1_000_000


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

    def notifier(self, endpoint: str) -> Notifier:
        """A Notifier posting through the @connections API at `endpoint` (cached per endpoint)."""
        poster = self._posters.get(endpoint)
        if poster is None:
            poster = self._posters[endpoint] = self._poster_factory(endpoint)
        return Notifier(poster, self.connections, self.now_ms)

    def _management_poster(self, endpoint: str) -> Poster:
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            region_name=self.config.region,
            config=_MANAGEMENT_CLIENT_CONFIG,
        )
        return ManagementApiPoster(client)


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
