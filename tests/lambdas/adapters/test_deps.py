"""The Deps seam: built once per container from the environment, posters cached per endpoint."""

from __future__ import annotations

import os

from adapters import deps as deps_module
from adapters.config import Config
from adapters.deps import Deps
from adapters.notifier import ManagementApiPoster
from adapters.tokens import JwksKeySource

ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"


def test_get_builds_once_from_the_environment(aws) -> None:
    """A warm container reuses one Deps; install(None) makes the next get() rebuild."""
    deps_module.install(None)
    try:
        first = deps_module.get()
        assert first is deps_module.get()
        assert first.config.sessions_table == "duelctl-sessions"
        deps_module.install(None)
        assert deps_module.get() is not first
    finally:
        deps_module.install(None)


def test_posters_are_cached_per_endpoint(aws) -> None:
    """One poster (one boto3 client) per @connections endpoint, reused across invocations."""
    made: list[str] = []

    def factory(endpoint: str) -> ManagementApiPoster:
        made.append(endpoint)
        return ManagementApiPoster(object())

    deps = Deps(Config.from_env(os.environ), poster_factory=factory)
    deps.notifier(ENDPOINT)
    deps.notifier(ENDPOINT)
    deps.notifier(ENDPOINT.replace("prod", "dev"))
    assert made == [ENDPOINT, ENDPOINT.replace("prod", "dev")]


def test_default_poster_targets_the_given_endpoint(aws) -> None:
    """The production poster's client posts to exactly the endpoint it was built for."""
    deps = Deps(Config.from_env(os.environ))
    poster = deps._management_poster(ENDPOINT)
    assert isinstance(poster, ManagementApiPoster)
    assert poster._client.meta.endpoint_url == ENDPOINT


def test_lazy_defaults(aws) -> None:
    """Timers use the configured queue; the key source the pool's JWKS URL."""
    deps = Deps(Config.from_env(os.environ))
    assert deps.timers._url == os.environ["TIMER_QUEUE_URL"]
    source = deps.key_source
    assert isinstance(source, JwksKeySource)
    assert source._client.uri == deps.config.jwks_url
    assert deps.key_source is source
