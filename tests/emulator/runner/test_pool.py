"""How environments are handed out and started ahead of need, against real workers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from emulator.runner.process import ProcessRunner

SLOW_INIT = """
    import os, time

    time.sleep({init_s})  # a module init that takes a while (boto3 clients, config)

    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        return os.getpid()
"""


async def starting_settled(runner: ProcessRunner, function: str) -> None:
    """Wait until every environment `function` is starting has finished its init."""
    pool = runner._fleet.pools[function]
    await asyncio.gather(*(worker.settled for worker in list(pool.starting)))


def slow_init(make_code: Any, init_s: float) -> Path:
    return make_code({"app.py": SLOW_INIT.format(init_s=init_s)})


async def test_a_used_function_keeps_a_spare_so_concurrency_finds_it_warm(
    make_code, make_function, make_runner
) -> None:
    """After the first invoke a second environment starts in the background and serves
    the next concurrent invoke without a cold start."""
    runner = make_runner({"Fn": make_function(slow_init(make_code, 0))})
    first = await runner.invoke("Fn", {})
    assert first.cold_start
    await starting_settled(runner, "Fn")
    a, b = await asyncio.gather(
        runner.invoke("Fn", {"sleep": 0.2}), runner.invoke("Fn", {"sleep": 0.2})
    )
    assert not a.cold_start and not b.cold_start
    assert a.result != b.result  # two environments at once
    assert first.result in (a.result, b.result)


async def test_a_burst_is_served_by_warm_environments_while_new_ones_start(
    make_code, make_function, make_runner
) -> None:
    """Invokes queue for the first free environment, not for a cold start of their own:
    with slow inits, a burst of quick invokes never waits for one."""
    runner = make_runner({"Fn": make_function(slow_init(make_code, 1.5))}, max_concurrency=3)
    await runner.prewarm()
    burst = await asyncio.gather(*(runner.invoke("Fn", {}) for _ in range(6)))
    assert all(inv.ok and not inv.cold_start for inv in burst)
    assert len({inv.result for inv in burst}) == 1  # the one warm environment served all
    # Meanwhile the pool grew to its cap in the background; the next burst finds it warm.
    await starting_settled(runner, "Fn")
    wide = await asyncio.gather(*(runner.invoke("Fn", {"sleep": 0.3}) for _ in range(3)))
    assert not any(inv.cold_start for inv in wide)
    assert len({inv.result for inv in wide}) == 3


async def test_a_spare_never_evicts_another_functions_environment(
    make_code, make_function, make_runner
) -> None:
    """With a full budget, a spare is the first to make way and none is started in its place."""
    code = slow_init(make_code, 0)
    runner = make_runner(
        {"A": make_function(code, logical_id="A"), "B": make_function(code, logical_id="B")},
        max_workers=2,
    )
    a = await runner.invoke("A", {})
    await starting_settled(runner, "A")  # A's spare is ready: the budget is full
    b = await runner.invoke("B", {})  # takes the spare's room, not A's used environment
    assert b.cold_start
    assert runner._fleet.pools["B"].starting == set()  # no spare for B: no room left
    again = await runner.invoke("A", {})
    assert again.result == a.result and not again.cold_start


async def test_a_queued_invoke_whose_caller_left_is_never_run(
    make_code, make_function, make_runner, tmp_path: Path
) -> None:
    """An invoke cancelled while it waits for an environment is dropped, not run later."""
    marker = tmp_path / "ran"
    code = make_code(
        {
            "app.py": f"""
            import time

            def handler(event, context):
                if event.get("mark"):
                    open({str(marker)!r}, "a").write("ran\\n")
                time.sleep(event.get("sleep", 0))
                return 1
            """
        }
    )
    runner = make_runner({"Fn": make_function(code)}, max_concurrency=1)
    await runner.prewarm()
    busy = asyncio.create_task(runner.invoke("Fn", {"sleep": 0.3}))
    queued = asyncio.create_task(runner.invoke("Fn", {"mark": True}))
    await asyncio.sleep(0)  # both reach the runner: one runs, one queues
    assert runner.in_flight == 2
    queued.cancel()
    assert (await busy).ok
    assert (await runner.invoke("Fn", {})).ok  # served after the dropped one would have been
    assert queued.cancelled() and not marker.exists()
    assert runner.in_flight == 0
