"""What `duelctl up` does (duelctl/commands/up.py): the whole local stack in one process,
until Ctrl-C or SIGTERM.

Shutdown is one path (style.md §9): the signal handler only sets an event; the main
task then removes the endpoints file (so no client finds a dying stack) and leaves
the Emulator context, which closes sockets, drains invocations and stops moto.
A second signal cancels the graceful shutdown. A signal while the stack is still
starting cancels the start at once (the Emulator context undoes what had started).

Exit status (README, "Output and errors"): Ctrl-C (SIGINT) is 130, as for every
interrupted command, whether it came while starting or after; SIGTERM, how a
supervisor or a test harness stops a server, is 0 after a clean shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.panel import Panel
from rich.table import Table

from duelctl import console
from duelctl.errors import EXIT_INTERRUPTED, StackStartError
from duelctl.logview import authorizer_functions, emulator_logs
from duelctl.stack import (
    check_ports_free,
    load_template_checked,
    parse_overrides_checked,
    start_error,
)
from duelctl.targets import (
    LOCAL,
    default_template,
    endpoints_path,
    local_stack_running,
    read_stack_info,
    remove_local_endpoints,
    write_local_endpoints,
)
from duelctl_endpoints import Endpoints


def endpoints_panel(
    endpoints: Endpoints,
    parameters: dict[str, str],
    template: Path,
    file: Path,
    app_rows: Sequence[tuple[str, str]] = (),
) -> Panel:
    """The endpoints as people read them, with the next commands to try.

    `app_rows` are the app's own parts the endpoints file has no key for (REST APIs,
    schedules; see `app_rows`), shown after the @connections row.
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    duel_backend = bool(endpoints.sessions_table and endpoints.user_pool_id)
    virtual = endpoints.clock == "virtual"
    tables = list(endpoints.tables.values())  # every table the template's Outputs name
    rows = [
        (
            "Web client",
            (
                f"{endpoints.http_url}/"
                + (
                    "  [yellow](not for virtual stacks: its countdowns follow your "
                    "computer's clock)[/]"
                    if virtual
                    else ""
                )
            )
            if duel_backend
            else None,
        ),
        ("WebSocket", endpoints.websocket_url + ("?token=<JWT>" if duel_backend else "")),
        ("HTTP API", f"{endpoints.http_url}/online" if duel_backend else endpoints.http_url),
        ("@connections", endpoints.management_url),
        *app_rows,
        ("AWS (moto)", endpoints.aws_endpoint_url),
        (
            "User pool",
            f"{endpoints.user_pool_id}  client {endpoints.user_pool_client_id}"
            if endpoints.user_pool_id
            else None,
        ),
        ("Tables", ", ".join(tables) or None),
        ("Parameters", " ".join(f"{k}={v}" for k, v in parameters.items()) or None),
        (
            "Clock",
            f"virtual  {endpoints.clock_url}  (duelctl clock advance 90s)" if virtual else None,
        ),
        ("Faults", faults_row(endpoints.faults)),
        ("Template", str(template)),
        ("Endpoints file", str(file)),
    ]
    for key, value in rows:
        if value:  # other apps' templates lack some parts
            grid.add_row(key, value)
    if duel_backend:
        grid.add_row("", "")
        for index, line in enumerate(try_lines(parameters, virtual_clock=virtual)):
            grid.add_row("Try" if index == 0 else "", line)
    return Panel(grid, title="duelctl local stack", title_align="left", border_style="green")


def faults_row(faults: Mapping[str, Any] | None) -> str | None:
    """The panel's fault mode row: spec, seed (to repeat the run) and the counts route."""
    if not faults:
        return None
    return f"{faults.get('spec')}  seed {faults.get('seed')}  counts: GET {faults.get('url')}"


# `simulate`/`run` refuse a `wait until` longer than this by default (cli.py --max-wait).
DEFAULT_MAX_WAIT_S = 60.0


def longest_wait_s(parameters: Mapping[str, str]) -> float | None:
    """The longest a built-in scenario waits on this stack's timers, None if unknown.

    `no-response` waits out InviteTimeoutSeconds; `timeout` waits StartLeadSeconds
    plus DuelSeconds (duelctl/scenario/builtin.py).
    """
    try:
        invite = float(parameters["InviteTimeoutSeconds"])
        duel = float(parameters["DuelSeconds"]) + float(parameters.get("StartLeadSeconds", 0))
    except (KeyError, ValueError):
        return None
    return max(invite, duel)


def try_lines(parameters: Mapping[str, str], *, virtual_clock: bool = False) -> list[str]:
    """The commands the panel suggests: only those that work on this stack.

    Every built-in scenario (`--scenario all`) fits only when the stack's timers are
    short enough for `--max-wait`, or time runs on a virtual clock; with the template's
    defaults (10-minute duels) the timer scenarios would fail, so the panel suggests the
    default scenario here and every scenario on an embedded stack of their own.
    """
    lines = [
        "duelctl token alice",
        "duelctl connect alice   (and bob in another terminal)",
    ]
    longest = longest_wait_s(parameters)
    if virtual_clock or (longest is not None and longest <= DEFAULT_MAX_WAIT_S):
        lines.append("duelctl simulate alice bob --scenario all")
    else:
        lines.append("duelctl simulate alice bob")
        lines.append("duelctl simulate alice bob --scenario all --embedded   (short timers)")
    return lines


def app_rows(emu: Any) -> list[tuple[str, str]]:
    """Panel rows for a running Emulator's REST APIs and schedules (next firing, in UTC)."""
    import time

    rows: list[tuple[str, str]] = []
    for index, api in enumerate(emu.template.rest_apis):
        url = f"{emu.endpoints.http_url}/{api.stage}"
        rows.append(("REST API" if index == 0 else "", f"{url}  ({api.logical_id})"))
    firings = emu.scheduler.next_firings() if emu.scheduler is not None else []
    for index, (schedule, next_at) in enumerate(firings):
        when = (
            time.strftime("next %H:%M:%S UTC", time.gmtime(next_at))
            if next_at is not None
            else ("disabled" if not schedule.enabled else "no further firing")
        )
        key = "Schedules" if index == 0 else ""
        rows.append((key, f"{schedule.name}  {schedule.expression}  {when}"))
    if firings:
        rows.append(("", "fire one now: duelctl schedule fire NAME"))
    return rows


def web_client_dir() -> Path | None:
    """The built web client (duelctl/web/, shipped as package data), None if it is missing."""
    path = Path(__file__).resolve().parent / "web"
    return path if (path / "index.html").is_file() else None


async def serve(
    template: Any,
    template_path: Path,
    *,
    port: int,
    http_port: int,
    reload: bool,
    static_dir: Path | None = None,
    clock: str = "real",
    faults: str | None = None,
    faults_seed: int | None = None,
    moto: Any = None,
) -> int:
    """Run the stack until a signal; write and remove the endpoints file around it.

    `moto`: started early by `run_up` (`emulator.runtime.prestart_moto`); the stack adopts it.

    Returns the exit status for the signal that stopped it (130 for Ctrl-C, 0 for
    SIGTERM); raises Interrupted when a signal cut the start or the drain short.
    """
    from emulator.runtime import Emulator, EmulatorOptions

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    signals: list[signal.Signals] = []
    started = False

    def on_signal(sig: signal.Signals) -> None:
        signals.append(sig)
        if len(signals) == 1 and started:
            stop.set()
        elif main_task is not None:  # still starting, or a second Ctrl-C: stop now
            main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    options = EmulatorOptions(
        port=port,
        http_port=http_port,
        reload=reload,
        static_dir=static_dir,
        clock=clock,
        faults=faults,
        faults_seed=faults_seed,
    )
    parameters = {str(k): str(v) for k, v in template.parameters.items()}
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                emu = await stack.enter_async_context(
                    Emulator(template, options=options, moto=moto)
                )
            except OSError as exc:
                raise start_error(exc, {"--port": port, "--http-port": http_port}) from None
            started = True
            path = write_local_endpoints(emu.endpoints, parameters, template_path)
            try:
                console.out.print(
                    endpoints_panel(emu.endpoints, parameters, template_path, path, app_rows(emu))
                )
                console.info("streaming invocation logs; Ctrl-C stops the stack")
                await stop.wait()
                console.info("shutting down ...")
                if emu.faults is not None:  # counted before moto stops (README "Fault mode")
                    await emu.faults.refresh()
                    console.info(f"{emu.faults.fired_line()}; spec {emu.faults.describe()}")
            finally:
                remove_local_endpoints(path)
    except asyncio.CancelledError:
        if not signals:
            raise
        raise Interrupted(started=started, by=signals[0]) from None
    console.info("stopped")
    return EXIT_INTERRUPTED if signals and signals[0] == signal.SIGINT else 0


class Interrupted(Exception):
    """A signal cut the start (or the graceful shutdown) short."""

    def __init__(self, *, started: bool, by: signal.Signals) -> None:
        super().__init__("interrupted")
        self.started = started
        self.by = by


def run_up(
    *,
    port: int,
    http_port: int,
    overrides: list[str],
    template: Path | None,
    reload: bool,
    verbose: int,
    clock: str = "real",
    faults: str | None = None,
    faults_seed: int | None = None,
) -> int:
    """Load the template, refuse a second stack in this directory, serve until stopped."""
    if local_stack_running():
        existing = endpoints_path(LOCAL)
        pid = read_stack_info(existing).get("pid", "?")
        raise StackStartError(
            f"a local stack already runs here (pid {pid}, {existing}); stop it first"
        )
    check_ports_free({"--port": port, "--http-port": http_port})  # before seconds of start-up
    from emulator.runtime import EmulatorOptions, prestart_moto

    # moto's processes need nothing from the template: they start while it loads.
    moto = prestart_moto(EmulatorOptions(clock=clock, faults=faults))
    try:
        return _load_and_serve(
            port=port,
            http_port=http_port,
            overrides=overrides,
            template=template,
            reload=reload,
            verbose=verbose,
            clock=clock,
            faults=faults,
            faults_seed=faults_seed,
            moto=moto,
        )
    finally:
        if moto is not None:
            moto.stop()  # a no-op once the stack has stopped it


def _load_and_serve(
    *,
    port: int,
    http_port: int,
    overrides: list[str],
    template: Path | None,
    reload: bool,
    verbose: int,
    clock: str,
    faults: str | None,
    faults_seed: int | None,
    moto: Any,
) -> int:
    template_path = (template or default_template()).resolve()
    parsed = parse_overrides_checked(overrides) if overrides else {}
    loaded = load_template_checked(template_path, parsed)
    with emulator_logs(
        console.err,
        level=logging.INFO,
        frames=verbose > 0,
        authorizers=authorizer_functions(loaded),
    ):
        try:
            return asyncio.run(
                serve(
                    loaded,
                    template_path,
                    port=port,
                    http_port=http_port,
                    reload=reload,
                    static_dir=web_client_dir(),
                    clock=clock,
                    faults=faults,
                    faults_seed=faults_seed,
                    moto=moto,
                )
            )
        except Interrupted as exc:
            if exc.started:
                console.warn("forced shutdown")
            else:
                console.err.print("[yellow]interrupted while starting; nothing left running[/]")
            return EXIT_INTERRUPTED if exc.by == signal.SIGINT else 0
