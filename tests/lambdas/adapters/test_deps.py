"""The Deps seam: built once per container from the environment, posters cached per endpoint."""

from __future__ import annotations

import http.server
import os
import threading

import pytest
from botocore.exceptions import ClientError

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


class _Failing(http.server.BaseHTTPRequestHandler):
    """An @connections endpoint that answers every post with a 500."""

    posts = 0

    def do_POST(self) -> None:
        type(self).posts += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"message": "Internal server error"}'
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_management_posts_are_bounded(aws_env) -> None:
    """Two attempts in all (standard mode), short timeouts: a failing endpoint costs seconds,
    never the function's timeout (issue 14, defect 5; legacy mode makes five attempts)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        deps = Deps(Config.from_env(os.environ))
        poster = deps._management_poster(f"http://127.0.0.1:{server.server_port}/prod")
        with pytest.raises(ClientError):
            poster.post("c1=", b"{}")
        assert _Failing.posts == 2
        config = poster._client.meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
        assert config.connect_timeout <= 1 and config.read_timeout <= 2
    finally:
        server.shutdown()
        server.server_close()
