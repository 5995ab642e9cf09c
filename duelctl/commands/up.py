"""`duelctl up`: the whole local stack in one process, until Ctrl-C or SIGTERM.

Shutdown is one path (style.md §9): the signal handler only sets an event; the main
task then removes the endpoints file (so no client finds a dying stack) and leaves
the Emulator context, which closes sockets, drains invocations and stops moto.
A second signal cancels the graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.table import Table

from duelctl import console
from duelctl.errors import EXIT_INTERRUPTED, StackStartError
from duelctl.logview import emulator_logs
from duelctl.stack import load_template_checked, parse_overrides_checked, start_error
from duelctl.targets import (
    LOCAL,
    default_template,
    endpoints_path,
    local_stack_running,
    read_stack_info,
    remove_local_endpoints,
    write_local_endpoints,
)
from emulator.endpoints import Endpoints


def endpoints_panel(
    endpoints: Endpoints, parameters: dict[str, str], template: Path, file: Path
) -> Panel:
    """The endpoints as people read them, with the next commands to try."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    duel_backend = bool(endpoints.sessions_table and endpoints.user_pool_id)
    tables = [t for t in (endpoints.connections_table, endpoints.sessions_table) if t]
    rows = [
        ("Web client", f"{endpoints.http_url}/" if duel_backend else None),
        ("WebSocket", endpoints.websocket_url + ("?token=<JWT>" if duel_backend else "")),
        ("HTTP API", f"{endpoints.http_url}/online" if duel_backend else endpoints.http_url),
        ("@connections", endpoints.management_url),
        ("AWS (moto)", endpoints.aws_endpoint_url),
        (
            "User pool",
            f"{endpoints.user_pool_id}  client {endpoints.user_pool_client_id}"
            if endpoints.user_pool_id
            else None,
        ),
        ("Tables", ", ".join(tables) or None),
        ("Parameters", " ".join(f"{k}={v}" for k, v in parameters.items()) or None),
        ("Template", str(template)),
        ("Endpoints file", str(file)),
    ]
    for key, value in rows:
        if value:  # other apps' templates lack some parts
            grid.add_row(key, value)
    if duel_backend:
        grid.add_row("", "")
        grid.add_row("Try", "duelctl token alice")
        grid.add_row("", "duelctl connect alice   (and bob in another terminal)")
        grid.add_row("", "duelctl simulate alice bob --scenario all")
    return Panel(grid, title="duelctl local stack", title_align="left", border_style="green")


def web_client_dir() -> Path | None:
    """The built web client (duelctl/web/, shipped as package data), None if it is missing."""
    path = Path(__file__).resolve().parents[1] / "web"
    return path if (path / "index.html").is_file() else None


async def serve(
    template: Any,
    template_path: Path,
    *,
    port: int,
    http_port: int,
    reload: bool,
    static_dir: Path | None = None,
) -> None:
    """Run the stack until a signal; write and remove the endpoints file around it."""
    from emulator.runtime import Emulator, EmulatorOptions

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            stop.set()
        elif main_task is not None:  # a second Ctrl-C: stop waiting for the drain
            main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    options = EmulatorOptions(port=port, http_port=http_port, reload=reload, static_dir=static_dir)
    parameters = {str(k): str(v) for k, v in template.parameters.items()}
    async with contextlib.AsyncExitStack() as stack:
        try:
            emu = await stack.enter_async_context(Emulator(template, options=options))
        except OSError as exc:
            raise start_error(exc, port) from None
        path = write_local_endpoints(emu.endpoints, parameters, template_path)
        try:
            console.out.print(endpoints_panel(emu.endpoints, parameters, template_path, path))
            console.info("streaming invocation logs; Ctrl-C stops the stack")
            await stop.wait()
            console.info("shutting down ...")
        finally:
            remove_local_endpoints(path)
    console.info("stopped")


def run_up(
    *,
    port: int,
    http_port: int,
    overrides: list[str],
    template: Path | None,
    reload: bool,
    verbose: int,
) -> int:
    """Load the template, refuse a second stack in this directory, serve until stopped."""
    if local_stack_running():
        existing = endpoints_path(LOCAL)
        pid = read_stack_info(existing).get("pid", "?")
        raise StackStartError(
            f"a local stack already runs here (pid {pid}, {existing}); stop it first"
        )
    template_path = (template or default_template()).resolve()
    parsed = parse_overrides_checked(overrides) if overrides else {}
    loaded = load_template_checked(template_path, parsed)
    with emulator_logs(console.err, level=logging.INFO, frames=verbose > 0):
        try:
            asyncio.run(
                serve(
                    loaded,
                    template_path,
                    port=port,
                    http_port=http_port,
                    reload=reload,
                    static_dir=web_client_dir(),
                )
            )
        except asyncio.CancelledError:
            console.warn("forced shutdown")
            return EXIT_INTERRUPTED
    return 0
