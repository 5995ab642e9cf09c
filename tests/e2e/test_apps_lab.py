"""The gateway edge-case sample (tests/apps/lab) through `duelctl up --template`.

What it proves, on a plain CloudFormation template (no SAM transform, AWS::Lambda::Function
with local Code): no `$default` route gives AWS's Forbidden frame; a handler that raises
and one that runs past its Timeout give the Internal server error frame and the socket
stays usable; a route response sends the integration's body back; each function imports
only from its own code root (three folders with a `lambda_function.py`); python3.8 to
python3.14 runtimes run on the local Python with a note.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.apps.harness import (
    APPS,
    GATEWAY_ID,
    LOCAL_PYTHON,
    AppStack,
    Client,
    Opener,
    client_factory,
    running_app,
    runtime_note,
)

pytestmark = pytest.mark.e2e

RUNTIMES = {
    "EchoFunction": "python3.9",
    "WhereamiFunction": "python3.13",
    "BoomFunction": "python3.14",
    "SlowFunction": "python3.8",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppStack]:
    with running_app(tmp_path_factory, "lab", "template.yaml", {"StageName": "v1"}) as app:
        yield app


@pytest.fixture
async def clients() -> AsyncIterator[Opener]:
    async with client_factory() as opener:
        yield opener


async def whereami(client: Client) -> dict[str, object]:
    await client.send({"op": "whereami"})
    return await client.json()


def error_frame(message: str, connection_id: str) -> re.Pattern[str]:
    """AWS's gateway error frame, spacing as sent (docs/aws-behaviour.md §2)."""
    return re.compile(
        re.escape(f'{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"')
        + GATEWAY_ID
        + re.escape('"}')
    )


async def test_route_response_sends_the_body_back(lab: AppStack, clients: Opener) -> None:
    """RouteResponseSelectionExpression $default: the integration's body is the reply."""
    client = await clients(lab)
    for text in ('{"op": "echo", "n": 1}', '{"op":"echo","nested":{"ü":[1,2]}}'):
        await client.send(text)
        assert await client.text() == text
    await client.silence(0.2)


async def test_without_default_route_unmatched_frames_are_forbidden(
    lab: AppStack, clients: Opener
) -> None:
    """Plain text, an unknown op or a missing op get the Forbidden frame; the socket stays."""
    client = await clients(lab)
    connection_id = (await whereami(client))["connectionId"]
    assert isinstance(connection_id, str)
    forbidden = error_frame("Forbidden", connection_id)
    for text in ("just text", '{"op": "dance"}', '{"action": "echo"}', "[1, 2]"):
        await client.send(text)
        frame = await client.text()
        assert forbidden.fullmatch(frame), frame
    await client.send({"op": "echo", "still": "open"})
    assert await client.json() == {"op": "echo", "still": "open"}


async def test_raising_handler_gets_internal_server_error(lab: AppStack, clients: Opener) -> None:
    """An exception becomes AWS's Internal server error frame; the next message works."""
    client = await clients(lab)
    connection_id = str((await whereami(client))["connectionId"])
    await client.send({"op": "boom"})
    assert error_frame("Internal server error", connection_id).fullmatch(await client.text())
    await client.send({"op": "echo", "after": "boom"})
    assert await client.json() == {"op": "echo", "after": "boom"}
    log = await lab.wait_for_log("RuntimeError: boom")
    assert 'lambda_function.py", line' in log  # the handler's traceback goes to the log


async def test_timed_out_handler_gets_internal_server_error(lab: AppStack, clients: Opener) -> None:
    """Past its Timeout (1 s) the invocation fails like an exception; the socket stays."""
    client = await clients(lab)
    connection_id = str((await whereami(client))["connectionId"])
    await client.send({"op": "slow"})
    assert error_frame("Internal server error", connection_id).fullmatch(await client.text())
    await client.send({"op": "echo", "after": "timeout"})
    assert await client.json() == {"op": "echo", "after": "timeout"}
    await lab.wait_for_log("Task timed out after 1.0")
    await client.silence(0.3)  # the late result ("too late") is never sent


async def test_each_function_sees_only_its_own_code_root(lab: AppStack, clients: Opener) -> None:
    """sys.path holds the function's own folder and no other app folder or the emulator."""
    client = await clients(lab)
    info = await whereami(client)
    root = APPS / "lab" / "whereami"
    assert info["module"] == "lambda_function"
    assert info["file"] == str(root / "lambda_function.py")
    assert info["cwd"] == str(root)
    path = info["path"]
    assert isinstance(path, list)
    assert path[0] == str(root)
    repo = str(APPS.parents[1])
    # The interpreter's own directories may sit inside the checkout (CI's .venv-ci).
    interpreter = (sys.prefix + "/", sys.base_prefix + "/")
    in_repo = [p for p in path if p == repo or p.startswith(repo + "/")]
    assert [p for p in in_repo if not p.startswith(interpreter)] == [str(root)]
    assert info["emulator_importable"] is False
    # The echo function's lambda_function.py is a different module in its own environment.
    await client.send({"op": "echo"})
    assert await client.json() == {"op": "echo"}


async def test_python_runtimes_run_with_a_note(lab: AppStack, clients: Opener) -> None:
    """python3.8, 3.9, 3.13 and 3.14 all run here; each differing runtime is noted once."""
    client = await clients(lab)
    await client.send({"op": "echo"})
    assert await client.json() == {"op": "echo"}
    assert (await whereami(client))["module"] == "lambda_function"
    runtimes = set(RUNTIMES.values())
    for runtime in runtimes - {LOCAL_PYTHON}:
        await lab.wait_for_log(runtime_note(runtime))
    log = lab.log()
    for runtime in runtimes:
        expected = 0 if runtime == LOCAL_PYTHON else 1
        assert log.count(runtime_note(runtime)) == expected, runtime
