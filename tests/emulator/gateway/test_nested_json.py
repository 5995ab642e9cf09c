"""Route selection on JSON nested too deeply for Python's decoder: $default, never a crash.

Python's json raises RecursionError (not ValueError) near 1,000 levels. API Gateway
answers such a frame like any body it cannot select a route from (docs/aws-behaviour.md §2):
it goes to `$default`, so the sender gets an answer and the gateway loses no task.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator.clock import FakeClock
from emulator.gateway import core
from emulator.gateway.local import LocalConnection, LocalGateway

# pytest registers conftest modules under their package path before collecting tests.
from tests.emulator.gateway.conftest import ACCOUNT, FUNCTIONS, REGION, FakeRunner, make_api

DEPTH = 50_000  # 100 KB of brackets: under the 128 KB message limit, far past the decoder's
NESTED = '{"action": "chat", "x": ' + "[" * DEPTH + "]" * DEPTH + "}"
FRAME = 30_000


def test_select_route_sends_deep_nesting_to_default() -> None:
    """A body the decoder gives up on selects $default, like any non-JSON body."""
    api = make_api()
    assert core.route_key_of(api, NESTED) is None
    route = core.select_route(api, NESTED)
    assert route is not None and route.key == "$default"


@pytest.fixture
async def gateway(runner: FakeRunner) -> AsyncIterator[LocalGateway]:
    async with LocalGateway(
        make_api(),
        functions=FUNCTIONS,
        runner=runner,
        region=REGION,
        account_id=ACCOUNT,
        clock=FakeClock(1_767_225_600.0),
    ) as gw:
        yield gw


async def test_deeply_nested_frame_reaches_default_and_the_socket_lives_on(
    gateway: LocalGateway, runner: FakeRunner
) -> None:
    """The frame invokes $default with its body; the next frame is routed as usual."""
    conn = await gateway.connect(query={"token": "good-alice"})
    assert isinstance(conn, LocalConnection)
    # AWS: frames are at most 32 KB, messages 128 KB (docs/aws-behaviour.md §6): send fragments.
    await gateway.message_fragments(
        conn.id, [NESTED[i : i + FRAME] for i in range(0, len(NESTED), FRAME)]
    )
    [event] = runner.events("DefaultFn")
    assert event["body"] == NESTED
    assert event["requestContext"]["routeKey"] == "$default"
    await gateway.message(conn.id, '{"action": "chat"}')
    assert len(runner.events("ChatFn")) == 1
    assert gateway.close_status(conn.id) is None
