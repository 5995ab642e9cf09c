"""Hot reload of handler code: watch the code roots, tell the caller which files changed.

The caller maps changed paths to functions (`affected_functions`) and calls
`ProcessRunner.update(model, changed)`; new workers then import the edited code, while
an invocation already running finishes on the code it started with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import watchfiles

from emulator.logs import SERVICE, emit
from emulator.template.model import Function


async def watch_code(
    roots: Iterable[Path],
    on_change: Callable[[set[Path]], None],
    *,
    stop: asyncio.Event,
    debounce_ms: int = 1600,
    step_ms: int = 50,
) -> None:
    """Call `on_change` with the *.py files changed under `roots` until `stop` is set.

    watchfiles groups a burst of writes (an editor's save, a `git checkout`) into one
    call: it yields once nothing changed for `step_ms`, or after `debounce_ms` at most.
    Roots that do not exist are skipped; with none left this waits for `stop`. An
    exception from `on_change` is logged on SERVICE and watching goes on.
    """
    top = watch_roots(roots)
    if not top:
        await stop.wait()
        return
    async for changes in watchfiles.awatch(
        *top,
        watch_filter=watchfiles.PythonFilter(),
        stop_event=stop,
        debounce=debounce_ms,
        step=step_ms,
    ):
        paths = {Path(path) for _, path in changes}
        if not paths:
            continue
        try:
            on_change(paths)
        except Exception as exc:  # a failed reload must not end watching for the next edit
            emit(SERVICE, f"reload failed: {exc}", level=logging.ERROR, error=repr(exc))


def watch_roots(roots: Iterable[Path]) -> list[Path]:
    """The existing roots, resolved, without any that lies inside another (no double events)."""
    existing = sorted({Path(root).resolve() for root in roots if Path(root).is_dir()})
    return [r for r in existing if not any(p in r.parents for p in existing)]


def affected_functions(functions: Mapping[str, Function], paths: Iterable[Path]) -> set[str]:
    """Logical ids of the functions whose code root contains any of `paths`."""
    resolved = [Path(p).resolve() for p in paths]
    return {
        name
        for name, fn in functions.items()
        if any(p == fn.code_root.resolve() or fn.code_root.resolve() in p.parents for p in resolved)
    }
