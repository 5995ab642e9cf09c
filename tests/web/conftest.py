"""Browser tests of the web client: real Chromium, real `duelctl up`, two players.

The stack starts the way a user starts it, `duelctl up` in a working directory, with
compressed timers; the page is the committed build it serves. Chromium is Debian's
(`/usr/bin/chromium`, installed by `.ci/run`), driven by Playwright for Python without
Playwright's own browser download.

Where Chromium or Playwright is missing the tests skip, naming the install step, so the
README's test command passes on a fresh machine; `DUELCTL_REQUIRE_BROWSER=1` (set by
`.ci/run`) turns that skip into a failure, so CI always runs them.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from duelctl.errors import StackStartError
from duelctl.testing import start_stack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = Path(os.environ.get("DUELCTL_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_ENV = "DUELCTL_REQUIRE_BROWSER"
MISSING = "Chromium not found: apt-get install chromium (and pip install playwright)"

# Compressed timers (docs/protocol.md, "Settings"): short enough for fast tests, long enough
# that a browser click lands well inside each window.
INVITE_TIMEOUT_S = 3
DUEL_S = 8
START_LEAD_S = 1
PARAMETERS = {
    "InviteTimeoutSeconds": str(INVITE_TIMEOUT_S),
    "DuelSeconds": str(DUEL_S),
    "StartLeadSeconds": str(START_LEAD_S),
}
STACK_START_TIMEOUT_S = 90.0

# Debian's Chromium as a headless test browser: no GPU, no QUIC, and none of its
# background traffic (there is no network beyond loopback here).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return MISSING
    if not CHROMIUM.exists():
        return MISSING
    return None


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; skips (or fails under DUELCTL_REQUIRE_BROWSER=1) when absent."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1 requires the browser tests to run)")
        pytest.skip(reason)
    return CHROMIUM


@dataclass(frozen=True)
class WebStack:
    """A running `duelctl up`: its endpoints file and the page's URL."""

    endpoints: dict[str, Any]
    workdir: Path
    invite_timeout_s: int = INVITE_TIMEOUT_S
    duel_s: int = DUEL_S

    @property
    def page_url(self) -> str:
        return str(self.endpoints["http_url"]).rstrip("/") + "/"


def _check_serves_page(http_url: str) -> None:
    """Fail at once, saying what is missing, when `duelctl up` does not serve the page."""
    for path in ("/", "/config.json"):
        try:
            with urllib.request.urlopen(http_url + path, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            pytest.fail(
                f"duelctl up answers GET {path} with {exc.code}: it must serve duelctl/web/ "
                "at / and emulator.local_auth.LocalWebApi (config.json, /_local/token)"
            )


@pytest.fixture(scope="session")
def web_stack(chromium_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    """`duelctl up` with compressed timers in a fresh working dir, for the whole run."""
    workdir = tmp_path_factory.mktemp("web-stack")
    try:
        stack = start_stack(
            workdir,
            parameters=PARAMETERS,
            args=["--no-reload"],
            timeout_s=STACK_START_TIMEOUT_S,
        )
    except StackStartError as exc:
        pytest.fail(str(exc))
    try:
        _check_serves_page(str(stack.data["http_url"]))
        yield WebStack(endpoints=stack.data, workdir=workdir)
    finally:
        stack.stop(signal.SIGINT)  # Ctrl-C: the clean shutdown path


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    """One headless Chromium per test module; each player gets its own context.

    Module scope, not session: while Playwright's sync API is active it keeps its event
    loop running on this thread, which breaks every asyncio test that runs meanwhile.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class Player:
    """One person at one browser: an isolated context (own storage) and one page."""

    name: str
    context: Any
    page: Any
    shots: Callable[[str, Any], None]
    errors: list[str] = field(default_factory=list)

    def shot(self, step: str) -> None:
        """Save a screenshot of this player's screen under test-artifacts/web/."""
        self.shots(f"{step}-{self.name.split('-')[0]}", self.page)

    def testid(self, test_id: str) -> Any:
        return self.page.get_by_test_id(test_id)


@pytest.fixture
def new_player(
    browser: Any, web_stack: WebStack, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Player]]:
    """Open the page for a new player (not yet signed in); contexts close after the test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = request.node.name.removeprefix("test_")
    players: list[Player] = []

    def shots(step: str, page: Any) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{test_name}-{step}.png"), animations="disabled")

    def factory(
        name: str,
        *,
        clock_skew_s: float = 0.0,
        fake_timers: bool = False,
        config: dict[str, Any] | None = None,
    ) -> Player:
        """Open the page for `name`.

        `clock_skew_s` sets the browser's clock off; `fake_timers` installs Playwright's
        clock so the test can fast-forward the page's timers; `config` replaces
        config.json.
        """
        context = browser.new_context(viewport={"width": 960, "height": 720})
        context.set_default_timeout(15_000)
        page = context.new_page()
        player = Player(name=name, context=context, page=page, shots=shots)
        page.on("pageerror", lambda exc: player.errors.append(str(exc)))
        if config is not None:
            body = json.dumps(config)
            page.route(
                "**/config.json",
                lambda route: route.fulfill(status=200, content_type="application/json", body=body),
            )
        if fake_timers:
            page.clock.install()  # time still flows; fast_forward jumps ahead
        if clock_skew_s:
            # Only Date moves (timers still fire on time): a browser whose wall clock is
            # off, as a badly set laptop would be.
            page.clock.set_system_time(time.time() + clock_skew_s)
        page.goto(web_stack.page_url)
        players.append(player)
        return player

    yield factory
    for player in players:
        player.context.close()
    for player in players:
        assert not player.errors, f"{player.name}'s page raised: {player.errors}"
