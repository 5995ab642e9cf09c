"""Workers forked by the fork server are the execution environment a fresh process would be.

Each test compares what a handler sees in a forked worker with what it sees in a fresh
one (`fork_server=False`), so a difference between the two start paths fails here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emulator.runner.forkserver import ForkServer, shadows

PROBE = """
    import os, sys, time

    PRELOADED = "boto3" in sys.modules  # before this module imported anything itself

    def handler(event, context):
        if event.get("exit") is not None:
            os._exit(event["exit"])
        if event.get("sleep"):
            time.sleep(event["sleep"])
        return {
            "preloaded": PRELOADED,
            "pid": os.getpid(),
            "pgid": os.getpgid(0),
            "sid": os.getsid(0),
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "path0": sys.path[0],
            "tz": list(time.tzname),
            "argv": sys.argv,
            "main": sys.modules["__main__"].__file__,
            "open_fds": len(os.listdir("/proc/self/fd")),
        }
"""


async def ready_runner(make_runner: Any, functions: dict[str, Any], **options: Any) -> Any:
    """A runner whose fork server is up (prewarm of nothing waits for it)."""
    runner = make_runner(functions, **options)
    await runner.prewarm([])
    return runner


async def test_a_forked_worker_sees_what_a_fresh_one_sees(
    make_code: Any, make_function: Any, make_runner: Any
) -> None:
    """Environment, cwd, sys.path, session, TZ, argv and __main__ match a fresh worker."""
    code = make_code({"app.py": PROBE})
    fn = make_function(code, environment={"K": "v"})
    extra = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    forked = await (await ready_runner(make_runner, {"Fn": fn}, extra_env=extra)).invoke("Fn", {})
    fresh = await make_runner({"Fn": fn}, extra_env=extra, fork_server=False).invoke("Fn", {})
    a, b = forked.result, fresh.result
    assert a["preloaded"] is True and b["preloaded"] is False  # the two paths really differ
    volatile = {"AWS_LAMBDA_LOG_STREAM_NAME", "_X_AMZN_TRACE_ID"}
    assert {k: v for k, v in a["env"].items() if k not in volatile} == {
        k: v for k, v in b["env"].items() if k not in volatile
    }
    for key in ("cwd", "path0", "tz", "argv", "main", "open_fds"):
        assert a[key] == b[key], key
    for result in (a, b):
        assert result["pgid"] == result["sid"] == result["pid"]  # own session and group
        assert Path(result["cwd"]) == code
        assert result["tz"] == ["UTC", "UTC"]


async def test_exit_status_and_timeouts_are_reported_for_forked_workers(
    make_code: Any, make_function: Any, make_runner: Any, wait_gone: Any
) -> None:
    """A crash reports its exit status; a timeout kills the worker and the next one is new."""
    runner = await ready_runner(
        make_runner, {"Fn": make_function(make_code({"app.py": PROBE}), timeout_s=1)}
    )
    first = await runner.invoke("Fn", {})
    assert first.result["preloaded"] is True
    crashed = await runner.invoke("Fn", {"exit": 3})
    assert crashed.outcome == "error"
    assert crashed.result["errorMessage"].endswith("exit status 3")
    warm = await runner.invoke("Fn", {})  # the warmest worker: it takes the next invoke too
    timed_out = await runner.invoke("Fn", {"sleep": 5})
    assert timed_out.outcome == "timeout"
    after = await runner.invoke("Fn", {})
    assert after.ok and after.result["pid"] not in (first.result["pid"], warm.result["pid"])
    assert await wait_gone(first.result["pid"])
    assert await wait_gone(warm.result["pid"])


async def test_a_code_root_with_its_own_boto3_gets_a_fresh_worker(
    make_code: Any, make_function: Any, make_runner: Any
) -> None:
    """A vendored package must win over the pre-imported one, as on AWS."""
    code = make_code(
        {
            "app.py": PROBE + "\n    import boto3\n",
            "boto3/__init__.py": "VENDORED = True\n",
        }
    )
    runner = await ready_runner(make_runner, {"Fn": make_function(code)})
    inv = await runner.invoke("Fn", {})
    assert inv.ok
    assert inv.result["preloaded"] is False


async def test_a_function_with_its_own_locale_gets_a_fresh_worker(
    make_code: Any, make_function: Any, make_runner: Any
) -> None:
    """Locale variables are read at interpreter start, so such a function is not forked."""
    fn = make_function(make_code({"app.py": PROBE}), environment={"LC_ALL": "C.UTF-8"})
    inv = await (await ready_runner(make_runner, {"Fn": fn})).invoke("Fn", {})
    assert inv.result["preloaded"] is False
    assert inv.result["env"]["LC_ALL"] == "C.UTF-8"


def test_shadowing_looks_at_top_level_names_only(tmp_path: Path) -> None:
    """A module, package or extension named like a pre-imported package shadows it."""
    (tmp_path / "handlers").mkdir()
    (tmp_path / "app.py").write_text("")
    assert not shadows(tmp_path, frozenset({"boto3", "jwt"}))
    (tmp_path / "jwt.py").write_text("")
    assert shadows(tmp_path, frozenset({"boto3", "jwt"}))
    assert shadows(tmp_path / "missing", frozenset({"boto3"}))  # unreadable: never fork


async def test_a_fork_server_that_cannot_start_leaves_fresh_workers(
    make_code: Any, make_function: Any, make_runner: Any
) -> None:
    """Without an interpreter the fork server fails; invokes still get AWS's error shape."""
    server = ForkServer(os.path.join(os.sep, "no", "such", "python"))
    assert await server.start() is False
    assert server.dead and not server.usable_for(Path("/tmp"))
    assert await server.spawn({}, Path("/tmp"), [], []) is None


async def test_closing_the_runner_stops_the_fork_server(
    make_code: Any, make_function: Any, make_runner: Any
) -> None:
    """aclose ends the zygote too, not only the workers."""
    runner = await ready_runner(make_runner, {"Fn": make_function(make_code({"app.py": PROBE}))})
    await runner.invoke("Fn", {})
    server = runner.fork_server
    assert server is not None and server.proc is not None
    await runner.aclose()
    assert server.proc.returncode is not None  # aclose awaited its exit
