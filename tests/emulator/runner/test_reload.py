"""watch_code and hot reload with real file edits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from emulator.runner.reload import affected_functions, watch_code, watch_roots


class Watch:
    """A running watch_code task that records every batch of changed paths."""

    def __init__(self) -> None:
        self.batches: list[set[Path]] = []
        self.changed = asyncio.Event()
        self.stop = asyncio.Event()

    def on_change(self, paths: set[Path]) -> None:
        self.batches.append(paths)
        self.changed.set()

    async def wait_change(self, edit: Callable[[], None]) -> set[Path]:
        """Repeat `edit` until the watcher reports (it may start after the first edit)."""
        self.changed.clear()
        for _ in range(50):
            edit()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.5)
                return self.batches[-1]
        raise AssertionError("watch_code reported no change")


@pytest.fixture
async def watch(tmp_path: Path) -> AsyncIterator[tuple[Watch, Path]]:
    root = tmp_path / "code"
    (root / "pkg").mkdir(parents=True)
    state = Watch()
    task = asyncio.create_task(
        watch_code([root, root / "pkg"], state.on_change, stop=state.stop, debounce_ms=300)
    )
    yield state, root
    state.stop.set()
    await asyncio.wait_for(task, 5)


async def test_python_edits_are_reported(watch: tuple[Watch, Path]) -> None:
    """Editing a .py file under a root reports that file."""
    state, root = watch
    target = root / "pkg" / "mod.py"
    count = 0

    def edit() -> None:
        nonlocal count
        count += 1
        target.write_text(f"X = {count}\n")

    changed = await state.wait_change(edit)
    assert target.resolve() in {p.resolve() for p in changed}


async def test_non_python_files_are_ignored(watch: tuple[Watch, Path]) -> None:
    """Changes to other files never reach on_change."""
    state, root = watch
    count = 0

    def edit() -> None:
        nonlocal count
        count += 1
        (root / "notes.txt").write_text(str(count))
        (root / "app.py").write_text(f"# {count}\n")

    changed = await state.wait_change(edit)
    assert {p.suffix for p in changed} == {".py"}
    assert all(p.suffix == ".py" for batch in state.batches for p in batch)


async def test_watch_ends_when_stop_is_set_even_without_roots(tmp_path: Path) -> None:
    """With no existing root, watch_code just waits for stop."""
    stop = asyncio.Event()
    task = asyncio.create_task(watch_code([tmp_path / "missing"], lambda paths: None, stop=stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, 5)


def test_nested_roots_are_watched_once(tmp_path: Path) -> None:
    """A root inside another root is dropped; missing roots too."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    roots = [tmp_path / "a" / "b", tmp_path / "a", tmp_path / "missing"]
    assert watch_roots(roots) == [(tmp_path / "a").resolve()]


def test_affected_functions_by_code_root(make_code, make_function) -> None:
    """A changed path maps to every function whose code root holds it."""
    shared = make_code({"handlers/a.py": "", "handlers/b.py": ""}, name="shared")
    other = make_code({"app.py": ""}, name="other")
    functions = {
        "A": make_function(shared, "handlers.a.handle", logical_id="A"),
        "B": make_function(shared, "handlers.b.handle", logical_id="B"),
        "C": make_function(other, logical_id="C"),
    }
    assert affected_functions(functions, {shared / "handlers" / "a.py"}) == {"A", "B"}
    assert affected_functions(functions, {other / "app.py"}) == {"C"}
    assert affected_functions(functions, {shared.parent / "elsewhere.py"}) == set()


async def test_editing_a_handler_reloads_it_through_watch_and_update(
    make_code, make_function, make_runner
) -> None:
    """A real edit, seen by watch_code, makes the next invoke run the new code."""
    code = make_code({"app.py": "def handler(e, c):\n    return 'old'\n"})
    functions = {"Fn": make_function(code)}
    runner = make_runner(functions)
    assert (await runner.invoke("Fn", {})).result == "old"

    state = Watch()

    def on_change(paths: set[Path]) -> None:
        runner.update(functions, affected_functions(functions, paths))
        state.on_change(paths)

    task = asyncio.create_task(watch_code([code], on_change, stop=state.stop, debounce_ms=300))
    try:
        await state.wait_change(
            lambda: (code / "app.py").write_text("def handler(e, c):\n    return 'new'\n")
        )
        inv = await runner.invoke("Fn", {})
        assert inv.result == "new" and inv.cold_start
    finally:
        state.stop.set()
        await asyncio.wait_for(task, 5)


async def test_a_failing_callback_does_not_stop_watching(tmp_path: Path) -> None:
    """An exception in on_change is logged and the next edit is still reported."""
    root = tmp_path / "code"
    root.mkdir()
    state = Watch()
    calls = 0

    def on_change(paths: set[Path]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("bad template")
        state.on_change(paths)

    task = asyncio.create_task(watch_code([root], on_change, stop=state.stop, debounce_ms=300))
    count = 0

    def edit() -> None:
        nonlocal count
        count += 1
        (root / "app.py").write_text(f"X = {count}\n")

    try:
        await state.wait_change(edit)
        assert calls >= 2
    finally:
        state.stop.set()
        await asyncio.wait_for(task, 5)
