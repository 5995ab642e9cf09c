"""ProcessRunner against real worker processes and handler packages written per test."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import emulator
from emulator.logs import INVOKE, SERVICE
from emulator.runner import limits

REPO = Path(emulator.__file__).resolve().parent.parent
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"

ECHO = """
    import os

    COUNT = 0

    def handler(event, context):
        global COUNT
        COUNT += 1
        return {"event": event, "count": COUNT, "pid": os.getpid()}
"""

SLOW = """
    import os, socket, time

    def handler(event, context):
        start = time.time()
        if "started" in event:  # tell the test this invoke is running in its worker
            socket.create_connection(("127.0.0.1", event["started"])).close()
        time.sleep(event.get("sleep", 0.3))
        return {"start": start, "end": time.time(), "pid": os.getpid()}
"""


@dataclass
class Started:
    """A listener a handler connects to once it runs: an awaitable "the invoke is running"."""

    port: int
    event: asyncio.Event

    async def wait(self) -> None:
        await asyncio.wait_for(self.event.wait(), 10)


@pytest.fixture
async def started() -> AsyncIterator[Started]:
    got = asyncio.Event()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.set()
        writer.close()

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    yield Started(server.sockets[0].getsockname()[1], got)
    server.close()
    await server.wait_closed()


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(record.event)  # type: ignore[attr-defined]


async def test_returns_the_handler_value_and_flags_the_cold_start(
    make_code, make_function, make_runner
) -> None:
    """The handler's return value comes back as an ok Invocation; only the first is cold."""
    fn = make_function(make_code({"app.py": ECHO}))
    runner = make_runner({"Fn": fn})
    event = {"a": [1, 2.5, None, True], "s": "héllo"}
    first = await runner.invoke("Fn", event)
    second = await runner.invoke("Fn", event)
    assert first.ok and second.ok
    assert first.function == "Fn"
    assert first.result["event"] == event
    assert (first.cold_start, second.cold_start) == (True, False)
    assert uuid.UUID(first.request_id).version == 4
    assert first.request_id != second.request_id


async def test_module_state_stays_warm_across_invokes(
    make_code, make_function, make_runner
) -> None:
    """Module globals survive between invokes of the same worker."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": ECHO}))})
    results = [(await runner.invoke("Fn", {})).result for _ in range(3)]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert len({r["pid"] for r in results}) == 1


async def test_decimal_results_become_json_numbers(make_code, make_function, make_runner) -> None:
    """Decimals (as DynamoDB returns them) are marshalled as numbers, as AWS's runtime does."""
    code = make_code(
        {
            "app.py": """
            from decimal import Decimal

            def handler(event, context):
                return {"int": Decimal("42"), "frac": Decimal("1.5")}
            """
        }
    )
    inv = await make_runner({"Fn": make_function(code)}).invoke("Fn", {})
    assert inv.result == {"int": 42, "frac": 1.5}
    assert isinstance(inv.result["int"], int)


ENV_PROBE = """
    import os

    def handler(event, context):
        return {"file": __file__, "env": dict(os.environ), "cwd": os.getcwd()}
"""


async def test_functions_are_isolated_from_each_other_and_the_parent(
    make_code, make_function, make_runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same-named modules in two code roots, each with its own environment only."""
    monkeypatch.setenv("DUELCTL_PARENT_ONLY", "leak")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    root_a = make_code({"lambda_function.py": ENV_PROBE}, name="a")
    root_b = make_code({"lambda_function.py": ENV_PROBE}, name="b")
    fa = make_function(
        root_a, "lambda_function.handler", logical_id="A", environment={"ONLY_A": "1", "K": "a"}
    )
    fb = make_function(root_b, "lambda_function.handler", logical_id="B", environment={"K": "b"})
    runner = make_runner(
        {"A": fa, "B": fb}, extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    )
    a, b = await asyncio.gather(runner.invoke("A", {}), runner.invoke("B", {}))
    assert Path(a.result["file"]) == root_a / "lambda_function.py"
    assert Path(b.result["file"]) == root_b / "lambda_function.py"
    assert Path(a.result["cwd"]) == root_a
    env_a, env_b = a.result["env"], b.result["env"]
    assert (env_a["K"], env_b["K"]) == ("a", "b")
    assert env_a["ONLY_A"] == "1" and "ONLY_A" not in env_b
    for env in (env_a, env_b):
        assert "DUELCTL_PARENT_ONLY" not in env
        assert not [key for key in env if key.startswith("PYTHON")]
        assert "AWS_LAMBDA_FUNCTION_TIMEOUT" not in env
        assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["AWS_ACCESS_KEY_ID"] == "testing"
        assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert env_a["AWS_LAMBDA_FUNCTION_NAME"] == "stack-A-ABC123"
    assert env_a["_HANDLER"] == "lambda_function.handler"
    assert env_a["LAMBDA_TASK_ROOT"] == str(root_a)


async def test_sys_path_starts_with_the_code_root_and_hides_the_emulator(
    make_code, make_function, make_runner
) -> None:
    """Only the function's code root is first on sys.path; the emulator is not importable."""
    code = make_code(
        {
            "app.py": """
            import importlib.util, sys

            def handler(event, context):
                return {
                    "path": sys.path,
                    "emulator": importlib.util.find_spec("emulator") is not None,
                    "duelctl": importlib.util.find_spec("duelctl") is not None,
                }
            """
        }
    )
    inv = await make_runner({"Fn": make_function(code)}).invoke("Fn", {})
    path = [Path(p) for p in inv.result["path"]]
    assert path[0] == code
    assert code not in path[1:]
    assert REPO not in path
    assert REPO / "emulator" / "runner" not in path
    assert inv.result["emulator"] is False
    assert inv.result["duelctl"] is False


async def test_context_carries_aws_fields_and_a_deadline(
    make_code, make_function, make_runner
) -> None:
    """The context has AWS's fields; remaining time counts down from the timeout."""
    code = make_code(
        {
            "app.py": """
            import time

            def handler(event, context):
                first = context.get_remaining_time_in_millis()
                time.sleep(0.05)
                return {
                    "first": first,
                    "second": context.get_remaining_time_in_millis(),
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "arn": context.invoked_function_arn,
                    "memory": context.memory_limit_in_mb,
                    "request_id": context.aws_request_id,
                    "group": context.log_group_name,
                    "stream": context.log_stream_name,
                    "identity": context.identity,
                    "client_context": context.client_context,
                }
            """
        }
    )
    fn = make_function(code, timeout_s=7, memory_mb=512)
    inv = await make_runner({"Fn": fn}).invoke("Fn", {})
    r = inv.result
    assert 0 < r["second"] < r["first"] <= 7000
    assert r["function_name"] == fn.name
    assert r["function_version"] == "$LATEST"
    assert r["arn"] == fn.arn
    assert r["memory"] == "512"
    assert r["request_id"] == inv.request_id
    assert r["group"] == f"/aws/lambda/{fn.name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", r["stream"])
    assert r["identity"] is None and r["client_context"] is None


async def test_unhandled_exception_has_awslambdaric_shape(
    make_code, make_function, make_runner
) -> None:
    """An exception becomes errorMessage/errorType/requestId/stackTrace of user frames."""
    code = make_code(
        {
            "app.py": """
            def inner():
                raise ValueError("bad thing")

            def handler(event, context):
                inner()
            """
        }
    )
    runner = make_runner({"Fn": make_function(code)})
    inv = await runner.invoke("Fn", {})
    assert inv.outcome == "error"
    err = inv.result
    assert set(err) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (err["errorMessage"], err["errorType"]) == ("bad thing", "ValueError")
    assert err["requestId"] == inv.request_id
    assert len(err["stackTrace"]) == 2
    assert "in handler" in err["stackTrace"][0] and "in inner" in err["stackTrace"][1]
    assert all(str(code / "app.py") in frame for frame in err["stackTrace"])
    assert "[ERROR] ValueError: bad thing" in inv.logs
    # The worker survives a handled error and stays warm.
    again = await runner.invoke("Fn", {})
    assert again.outcome == "error" and not again.cold_start


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({}, "missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing': "),
        (
            {"app.py": "import not_installed_anywhere\n"},
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'not_installed_anywhere'",
        ),
        (
            {"app.py": "def other(e, c):\n    return 1\n"},
            "app.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
        (
            {"app.py": "def handler(e, c)\n    return 1\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': ",
        ),
        (
            {"app.py": "raise RuntimeError('config missing')\n"},
            "app.handler",
            "RuntimeError",
            "config missing",
        ),
        (
            {"app.py": "def handler(e, c):\n    return {1, 2}\n"},
            "app.handler",
            "Runtime.MarshalError",
            "Unable to marshal response: Object of type set is not JSON serializable",
        ),
        ({}, "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
    ],
)
async def test_runtime_errors_have_aws_error_types(
    make_code, make_function, make_runner, files, handler, error_type, message
) -> None:
    """Import, lookup, syntax, init and marshalling failures carry AWS's error types."""
    runner = make_runner({"Fn": make_function(make_code(files), handler)})
    inv = await runner.invoke("Fn", {})
    assert inv.outcome == "error"
    assert inv.result["errorType"] == error_type
    assert inv.result["errorMessage"].startswith(message)
    assert inv.result["requestId"] == inv.request_id
    assert f"[ERROR] {error_type}" in inv.logs


async def test_failed_init_is_retried_on_the_next_invoke(
    make_code, make_function, make_runner
) -> None:
    """After an import failure the environment resets, so a fixed module loads next time."""
    code = make_code({"app.py": "import not_there_yet\n"})
    runner = make_runner({"Fn": make_function(code)})
    first = await runner.invoke("Fn", {})
    assert first.result["errorType"] == "Runtime.ImportModuleError"
    (code / "not_there_yet.py").write_text("VALUE = 7\n")
    (code / "app.py").write_text(
        "import not_there_yet\n\ndef handler(e, c):\n    return not_there_yet.VALUE\n"
    )
    second = await runner.invoke("Fn", {})
    assert (second.outcome, second.result, second.cold_start) == ("ok", 7, True)


async def test_timeout_kills_the_worker_and_resets_module_state(
    make_code, make_function, make_runner, wait_gone
) -> None:
    """A handler past its timeout is killed; the next invoke re-runs module init."""
    code = make_code(
        {
            "app.py": """
            import os, time

            COUNT = 0

            def handler(event, context):
                global COUNT
                COUNT += 1
                print("working", flush=True)
                if event.get("hang"):
                    time.sleep(60)
                return {"count": COUNT, "pid": os.getpid()}
            """
        }
    )
    runner = make_runner({"Fn": make_function(code, timeout_s=1)})
    warm = await runner.invoke("Fn", {})
    assert warm.result["count"] == 1
    timed_out = await runner.invoke("Fn", {"hang": True})
    assert timed_out.outcome == "timeout"
    assert timed_out.result["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(
        rf"{ISO} {timed_out.request_id} Task timed out after \d+\.\d\d seconds",
        timed_out.result["errorMessage"],
    )
    assert timed_out.logs.startswith("working\n")
    assert timed_out.result["errorMessage"] in timed_out.logs
    assert await wait_gone(warm.result["pid"])
    after = await runner.invoke("Fn", {})  # a fresh environment (maybe a ready spare)
    assert after.ok
    assert after.result["count"] == 1
    assert after.result["pid"] != warm.result["pid"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("os._exit(3)", "Runtime exited with error: exit status 3"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "Runtime exited with error: signal: killed"),
        ("sys.exit(0)", "Runtime exited without providing a reason"),
    ],
)
async def test_crash_mid_invoke_is_an_exit_error_and_replaces_the_worker(
    make_code, make_function, make_runner, body, reason
) -> None:
    """A worker that dies mid-invoke yields Runtime.ExitError; the next invoke gets a new one."""
    code = make_code(
        {
            "app.py": f"""
            import os, signal, sys

            def handler(event, context):
                if event.get("crash"):
                    print("about to die", flush=True)
                    {body}
                return os.getpid()
            """
        }
    )
    runner = make_runner({"Fn": make_function(code)})
    before = await runner.invoke("Fn", {})
    crashed = await runner.invoke("Fn", {"crash": True})
    assert crashed.outcome == "error"
    assert crashed.result == {
        "errorMessage": f"RequestId: {crashed.request_id} Error: {reason}",
        "errorType": "Runtime.ExitError",
    }
    assert "about to die" in crashed.logs
    after = await runner.invoke("Fn", {})
    assert after.ok and after.result != before.result  # another process


async def test_crash_during_init_is_an_exit_error(make_code, make_function, make_runner) -> None:
    """A module that kills its process while importing gives Runtime.ExitError."""
    code = make_code({"app.py": "import os\nos._exit(5)\n"})
    inv = await make_runner({"Fn": make_function(code)}).invoke("Fn", {})
    assert inv.outcome == "error"
    assert inv.result["errorType"] == "Runtime.ExitError"
    assert inv.result["errorMessage"].endswith("exit status 5")


async def test_parallel_invokes_run_in_separate_workers_concurrently(
    make_code, make_function, make_runner
) -> None:
    """Two slow invokes overlap in time, each in its own process."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))})
    a, b = await asyncio.gather(runner.invoke("Fn", {}), runner.invoke("Fn", {}))
    assert a.ok and b.ok
    assert a.result["pid"] != b.result["pid"]
    assert a.result["start"] < b.result["end"] and b.result["start"] < a.result["end"]


async def test_max_concurrency_queues_invokes_for_a_free_worker(
    make_code, make_function, make_runner
) -> None:
    """With one environment allowed, invokes wait their turn in the same warm worker."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))}, max_concurrency=1)
    results = await asyncio.gather(*(runner.invoke("Fn", {"sleep": 0.05}) for _ in range(3)))
    assert all(r.ok for r in results)
    assert len({r.result["pid"] for r in results}) == 1
    assert [r.cold_start for r in results] == [True, False, False]
    spans = sorted((r.result["start"], r.result["end"]) for r in results)
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(spans))


async def test_a_running_handler_does_not_block_the_event_loop(
    make_code, make_function, make_runner
) -> None:
    """Other coroutines keep running while a handler sleeps in its worker."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))})
    invoke = asyncio.create_task(runner.invoke("Fn", {"sleep": 0.3}))
    ticks = 0
    while not invoke.done():
        ticks += 1
        await asyncio.sleep(0.01)
    assert (await invoke).ok
    assert ticks > 5


async def test_cancelled_caller_leaves_the_invocation_running(
    make_code, make_function, make_runner, started: Started
) -> None:
    """Cancelling invoke() does not stop the handler; its worker serves the next invoke."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))}, max_concurrency=1)
    first = await runner.invoke("Fn", {"sleep": 0})
    task = asyncio.create_task(runner.invoke("Fn", {"sleep": 0.2, "started": started.port}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await runner.invoke("Fn", {"sleep": 0})  # queues behind the cancelled one
    assert after.ok and not after.cold_start
    assert after.result["pid"] == first.result["pid"]
    assert after.result["start"] >= first.result["end"]


LOGGING = """
    import logging, sys

    print("module init")
    logger = logging.getLogger()
    logger.setLevel(logging.INFO)

    def handler(event, context):
        print("to stdout")
        sys.stderr.write("to stderr\\n")
        logger.info("via logging")
        print("no newline", end="")
        return 1
"""


async def test_handler_output_is_captured_per_invocation_and_logged(
    make_code, make_function, make_runner, caplog: pytest.LogCaptureFixture
) -> None:
    """stdout, stderr and logging go into Invocation.logs and out as INVOKE records."""
    caplog.set_level(logging.DEBUG, logger="emulator")
    runner = make_runner({"Fn": make_function(make_code({"app.py": LOGGING}))})
    event = {"requestContext": {"authorizer": {"userId": "user-1", "principalId": "user-1"}}}
    first = await runner.invoke("Fn", event, route="invite")
    second = await runner.invoke("Fn", event, route="invite")
    lines = first.logs.splitlines()
    assert lines[:3] == ["module init", "to stdout", "to stderr"]
    assert re.fullmatch(rf"\[INFO\]\t{ISO}\t{first.request_id}\tvia logging", lines[3])
    assert lines[4:] == ["no newline"]
    assert second.logs.splitlines()[0] == "to stdout"
    assert "module init" not in second.logs

    invoke_records = [r for r in caplog.records if r.name == INVOKE]
    output = [fields(r) for r in invoke_records if "output" in fields(r)]
    assert {"function": "Fn", "request_id": first.request_id, "output": "to stdout"} in output
    summaries = [fields(r) for r in invoke_records if "outcome" in fields(r)]
    assert len(summaries) == 2
    summary = summaries[0]
    assert summary["function"] == "Fn" and summary["route"] == "invite"
    assert summary["request_id"] == first.request_id
    assert summary["outcome"] == "ok" and summary["cold_start"] is True
    assert summary["user"] == "user-1"
    assert summary["duration_ms"] == first.duration_ms
    assert "init_ms" in summary and "init_ms" not in summaries[1]


async def test_runtime_mismatch_is_noted_once_per_function(
    make_code, make_function, make_runner, caplog: pytest.LogCaptureFixture
) -> None:
    """A runtime other than the local Python gets one service note, not an error."""
    caplog.set_level(logging.INFO, logger="emulator")
    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    code = make_code({"app.py": ECHO})
    runner = make_runner(
        {
            "Old": make_function(code, logical_id="Old", runtime="python3.9"),
            "Same": make_function(code, logical_id="Same", runtime=local),
        }
    )
    for _ in range(2):
        assert (await runner.invoke("Old", {})).ok
        assert (await runner.invoke("Same", {})).ok
    await asyncio.gather(runner.invoke("Old", {}), runner.invoke("Old", {}))
    notes = [r for r in caplog.records if r.name == SERVICE and "runs on local" in r.getMessage()]
    assert len(notes) == 1
    assert notes[0].levelno < logging.WARNING
    assert fields(notes[0])["function"] == "Old"
    assert "python3.9 runs on local Python 3." in notes[0].getMessage()


async def test_prewarm_makes_the_first_invoke_warm(make_code, make_function, make_runner) -> None:
    """A prewarmed function answers its first invoke without a cold start."""
    code = make_code({"app.py": ECHO})
    runner = make_runner({"A": make_function(code, logical_id="A"), "B": make_function(code)})
    await runner.prewarm(["A"])
    inv = await runner.invoke("A", {})
    assert inv.ok and not inv.cold_start and inv.result["count"] == 1
    await runner.prewarm()  # A already has a worker: only B gets one
    b = await runner.invoke("B", {})
    assert not b.cold_start
    with pytest.raises(KeyError):
        await runner.prewarm(["Nope"])


async def test_unknown_function_raises_key_error(make_code, make_function, make_runner) -> None:
    """Invoking a logical id the model does not have raises KeyError (Invoke API 404)."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": ECHO}))})
    with pytest.raises(KeyError):
        await runner.invoke("Other", {})


async def test_update_retires_idle_workers_and_busy_ones_after_their_invoke(
    make_code, make_function, make_runner, wait_gone, started: Started
) -> None:
    """After update, new invokes run new code; a running invoke finishes on the old one."""
    source = """
        import os, socket, time

        VERSION = "v1"

        def handler(event, context):
            if "started" in event:
                socket.create_connection(("127.0.0.1", event["started"])).close()
            time.sleep(event.get("sleep", 0))
            return {"version": VERSION, "pid": os.getpid()}
    """
    code = make_code({"app.py": source})
    fn = make_function(code)
    runner = make_runner({"Fn": fn})
    pair = await asyncio.gather(*(runner.invoke("Fn", {"sleep": 0.1}) for _ in range(2)))
    pids = {inv.result["pid"] for inv in pair}
    assert len(pids) == 2  # two warm workers; the slow invoke below takes one
    slow = asyncio.create_task(runner.invoke("Fn", {"sleep": 0.5, "started": started.port}))
    await started.wait()  # the slow invoke runs in its worker
    # An edit of the same length within the same second: a .pyc check would miss it.
    (code / "app.py").write_text((code / "app.py").read_text().replace('"v1"', '"v2"'))
    runner.update({"Fn": fn}, changed=["Fn"])
    fresh = await runner.invoke("Fn", {})
    assert fresh.result["version"] == "v2" and fresh.cold_start
    old = await slow
    assert old.result["version"] == "v1" and old.result["pid"] in pids
    for pid in pids:
        assert await wait_gone(pid)
    again = await runner.invoke("Fn", {})
    assert again.result == fresh.result and not again.cold_start


async def test_update_picks_up_model_changes_and_removals(
    make_code, make_function, make_runner
) -> None:
    """A changed Function (here its environment) restarts workers; a removed one is unknown
    until it comes back."""
    code = make_code({"app.py": ENV_PROBE})
    gone = make_function(code, logical_id="Gone")
    runner = make_runner({"Fn": make_function(code, environment={"MODE": "a"}), "Gone": gone})
    assert (await runner.invoke("Fn", {})).result["env"]["MODE"] == "a"
    assert (await runner.invoke("Gone", {})).ok
    changed_fn = make_function(code, environment={"MODE": "b"})
    runner.update({"Fn": changed_fn}, changed=[])
    assert (await runner.invoke("Fn", {})).result["env"]["MODE"] == "b"
    with pytest.raises(KeyError):
        await runner.invoke("Gone", {})
    runner.update({"Fn": changed_fn, "Gone": gone}, changed=[])  # and back again
    assert (await runner.invoke("Gone", {})).ok


async def test_aclose_kills_every_worker(
    make_code, make_function, make_runner, wait_gone, started: Started
) -> None:
    """aclose ends idle and busy workers; an invoke in flight gets an error; no reuse after."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))})
    pair = await asyncio.gather(*(runner.invoke("Fn", {"sleep": 0.1}) for _ in range(2)))
    busy = asyncio.create_task(runner.invoke("Fn", {"sleep": 30, "started": started.port}))
    await started.wait()  # one worker busy, one idle
    await runner.aclose()
    await runner.aclose()  # idempotent
    cut = await busy
    assert cut.outcome == "error" and cut.result["errorType"] == "Runtime.ExitError"
    for inv in pair:
        assert await wait_gone(inv.result["pid"])
    with pytest.raises(RuntimeError):
        await runner.invoke("Fn", {})


async def test_missing_interpreter_is_an_error_not_an_exception(
    make_code, make_function, make_runner
) -> None:
    """A worker that cannot start turns into an error Invocation."""
    fn = make_function(make_code({"app.py": ECHO}))
    runner = make_runner({"Fn": fn}, python=os.path.join(os.sep, "no", "such", "python"))
    inv = await runner.invoke("Fn", {})
    assert inv.outcome == "error"
    assert inv.result["errorType"] == "Runtime.ExitError"


async def test_init_that_hangs_is_cut_off(make_code, make_function, make_runner) -> None:
    """Module init past the Init limit (compressed here) ends as a timeout, then retries."""
    code = make_code({"app.py": "import time\ntime.sleep(60)\n"})
    runner = make_runner({"Fn": make_function(code)}, init_timeout_s=0.5)
    inv = await runner.invoke("Fn", {})
    assert inv.outcome == "timeout"
    assert inv.result["errorType"] == "Sandbox.Timedout"
    assert inv.result["errorMessage"].endswith(
        f"{inv.request_id} Task timed out after 0.50 seconds"
    )


async def test_large_events_and_results_round_trip(make_code, make_function, make_runner) -> None:
    """Multi-megabyte payloads pass both ways intact."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": ECHO}))})
    body = "x" * (3 * 1024 * 1024)
    inv = await runner.invoke("Fn", {"body": body})
    assert inv.ok and inv.result["event"]["body"] == body


async def test_heavy_output_is_read_while_the_handler_runs(
    make_code, make_function, make_runner
) -> None:
    """Output far beyond a pipe's buffer neither blocks the worker nor loses lines."""
    code = make_code(
        {
            "app.py": """
            import sys

            def handler(event, context):
                for i in range(20000):
                    sys.stdout.write(f"line {i} " + "y" * 80 + "\\n")
                return "done"
            """
        }
    )
    inv = await make_runner({"Fn": make_function(code)}).invoke("Fn", {})
    assert inv.result == "done"
    lines = inv.logs.splitlines()
    assert len(lines) == 20000
    assert lines[0].startswith("line 0 ") and lines[-1].startswith("line 19999 ")


async def test_burst_beyond_max_concurrency_completes(
    make_code, make_function, make_runner
) -> None:
    """A burst larger than the concurrency limit is served by at most that many workers."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))}, max_concurrency=3)
    results = await asyncio.gather(*(runner.invoke("Fn", {"sleep": 0.02}) for _ in range(12)))
    assert all(r.ok for r in results)
    assert 1 <= len({r.result["pid"] for r in results}) <= 3


async def test_a_full_budget_ends_the_environment_idle_longest_for_another_function(
    make_code, make_function, make_runner, wait_gone
) -> None:
    """With room for two environments, a third function takes the one idle longest."""
    code = make_code({"app.py": ECHO})
    runner = make_runner(
        {n: make_function(code, logical_id=n) for n in ("A", "B", "C")}, max_workers=2
    )
    a = await runner.invoke("A", {})
    b = await runner.invoke("B", {})
    c = await runner.invoke("C", {})
    assert c.ok and c.cold_start
    assert await wait_gone(a.result["pid"])
    again = await runner.invoke("B", {})
    assert again.result["pid"] == b.result["pid"] and not again.cold_start


async def test_an_invoke_waiting_for_the_budget_gets_room_when_another_finishes(
    make_code, make_function, make_runner, wait_gone, started: Started
) -> None:
    """With room for one environment, B queues behind A's invoke; then A's makes way."""
    runner = make_runner(
        {
            "A": make_function(make_code({"app.py": SLOW}), logical_id="A"),
            "B": make_function(make_code({"app.py": ECHO}), logical_id="B"),
        },
        max_workers=1,
    )
    first = asyncio.create_task(runner.invoke("A", {"sleep": 0.3, "started": started.port}))
    await started.wait()  # A holds the only environment
    b = await runner.invoke("B", {})
    a = await first
    assert a.ok and b.ok and b.cold_start
    assert await wait_gone(a.result["pid"])


def test_default_limits_scale_with_the_machine() -> None:
    """Per-function and runner-wide limits have sane floors whatever the core count."""
    assert limits.DEFAULT_MAX_CONCURRENCY >= 4
    assert limits.default_max_workers(13) >= 13 + 4


async def test_in_flight_counts_queued_and_running_invokes_and_signals_quiet(
    make_code, make_function, make_runner
) -> None:
    """in_flight covers queued and running invokes; idle_event and callbacks mark zero."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": SLOW}))}, max_concurrency=1)
    quiet: list[int] = []
    remove = runner.add_idle_callback(lambda: quiet.append(runner.in_flight))
    assert runner.in_flight == 0 and runner.idle_event.is_set()
    tasks = [asyncio.create_task(runner.invoke("Fn", {"sleep": 0.1})) for _ in range(3)]
    await asyncio.sleep(0)  # every invoke reached the runner: one starting, two queued
    assert runner.in_flight == 3 and not runner.idle_event.is_set()
    await runner.wait_idle()
    assert all(task.done() and task.result().ok for task in tasks)
    assert runner.in_flight == 0 and quiet == [0]
    remove()
    assert (await runner.invoke("Fn", {"sleep": 0})).ok
    assert quiet == [0]


async def test_errors_count_out_of_in_flight_too(make_code, make_function, make_runner) -> None:
    """Failed inits, crashes and unknown functions leave in_flight at zero."""
    runner = make_runner({"Fn": make_function(make_code({"app.py": "import nope\n"}))})
    assert (await runner.invoke("Fn", {})).outcome == "error"
    with pytest.raises(KeyError):
        await runner.invoke("Other", {})
    assert runner.in_flight == 0 and runner.idle_event.is_set()


async def test_workers_follow_the_clock_file(
    make_code, make_function, make_runner, tmp_path: Path
) -> None:
    """clock_file reaches every worker (forked or fresh), whose clock then follows it."""
    from emulator.timesync import ClockFile

    clock = ClockFile(tmp_path / "clock")
    clock.set_offset(3600.0)
    code = make_code(
        {
            "app.py": """
            import os, time

            def handler(event, context):
                return {"now": time.time(), "env": "DUELCTL_CLOCK_FILE" in os.environ}
            """
        }
    )
    fn = make_function(code)
    try:
        for fork_server in (True, False):
            runner = make_runner({"Fn": fn}, clock_file=clock.path, fork_server=fork_server)
            await runner.prewarm()
            inv = await runner.invoke("Fn", {})
            assert inv.ok, inv.result
            assert inv.result["now"] - time.time() > 3000  # an hour ahead, give or take
            assert inv.result["env"] is False  # the handler never learns of it
    finally:
        clock.close()
