"""`duelctl bench`: load a stack with real users over real WebSockets and report the figures.

`register(app)` adds the command to a Typer app. The run itself is `run_bench`: pick the
stack (a running one, a deployed stage, or an embedded one in a child process), make
2N users, let `duelctl.bench.engine` play (or `duelctl.bench.burst` with `--burst N`),
then print the table (stderr) or the JSON object (stdout). Exit 0 only when the run was
clean: no frame lost, duplicated or unexpected, and no error (and for a burst, every pair
started and ended in every round).

Safety: load is only ever sent to loopback addresses, or to a deployed stage named by
its endpoints file (`.duelctl/STAGE.json` from `duelctl deploy`, or `--endpoints`);
every run is bounded by count (pairs, idle connections) and time (ramp + duration +
bounded waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from duelctl import console
from duelctl.app import SpreadOverrides, examples, guard
from duelctl.errors import EXIT_FAILED, UsageError
from duelctl.options import EndpointsOpt, JsonOpt, PasswordOpt, TargetOpt, TemplateOpt

if TYPE_CHECKING:
    from duelctl.bench.burst_stats import BurstResult
    from duelctl.bench.config import BenchConfig, BurstConfig
    from duelctl.bench.engine import BenchResult
    from duelctl.client.auth import Identity
    from duelctl.targets import Target

# Typer reads annotations by name from this module's globals (postponed annotations):
# the shared options come from duelctl.options, the bench-only one is defined here.
EmbeddedOpt = Annotated[
    bool, typer.Option("--embedded", help="Always start an embedded stack (a child process).")
]

MAX_PAIRS = 2500
MAX_ROUNDS = 100
MAX_IDLE = 10_000
MAX_DURATION_S = 3600.0
MAX_RAMP_S = 600.0


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What the command line asked for (besides the load shape in `BenchConfig`)."""

    target: str = "local"
    endpoints_file: Path | None = None
    embedded: bool = False
    template: Path | None = None
    password: str | None = None
    users_file: Path | None = None
    overrides: tuple[tuple[str, str], ...] = ()  # --parameter-overrides, embedded stacks only


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_allowed(target: Target) -> None:
    """Refuse to load anything but loopback, or a deployed stage from its endpoints file."""
    host = urlsplit(target.endpoints.websocket_url).hostname
    if is_loopback(host):
        return
    deployed = (
        target.path is not None
        and target.endpoints.target != "local"
        and target.endpoints.aws_endpoint_url is None
    )
    if not deployed:
        raise UsageError(
            f"refusing to bench {host}: only a stack on this machine (127.0.0.1) or a deployed "
            "stage named by its endpoints file (.duelctl/STAGE.json, --endpoints) may be loaded"
        )


def validate(config: BenchConfig) -> None:
    """Bounds on count and time: a typo must not become a load test of a stage."""
    if not 0 <= config.pairs <= MAX_PAIRS:
        raise UsageError(f"--pairs must be between 0 and {MAX_PAIRS}")
    if not 0 <= config.idle <= MAX_IDLE:
        raise UsageError(f"--idle must be between 0 and {MAX_IDLE}")
    if config.connections < 1:
        raise UsageError("nothing to do: give --pairs or --idle")
    if not 0 < config.duration_s <= MAX_DURATION_S:
        raise UsageError(f"--duration must be above 0 and at most {MAX_DURATION_S:g} s")
    if not 0 <= config.ramp_s <= MAX_RAMP_S:
        raise UsageError(f"--ramp must be between 0 and {MAX_RAMP_S:g} s")
    shares = (config.reject_share, config.timeout_share)
    if any(not 0 <= s <= 1 for s in shares) or sum(shares) > 1:
        raise UsageError("--reject-share and --timeout-share must be in 0..1 and sum to <= 1")
    if min(config.pings, config.idle_ping_s, config.hold_s) < 0 or config.step_timeout_s <= 0:
        raise UsageError("--pings, --idle-ping and --hold must be >= 0, --step-timeout > 0")


def validate_burst(config: BurstConfig) -> None:
    """Bounds for a burst: as many pairs as the steady mode, a bounded number of rounds."""
    if not 1 <= config.pairs <= MAX_PAIRS:
        raise UsageError(f"--burst must be between 1 and {MAX_PAIRS} pairs")
    if not 1 <= config.rounds <= MAX_ROUNDS:
        raise UsageError(f"--rounds must be between 1 and {MAX_ROUNDS}")
    if not 0 <= config.run_out_share <= 1:
        raise UsageError("--run-out-share must be in 0..1")
    if config.step_timeout_s <= 0:
        raise UsageError("--step-timeout must be > 0")


def check_run_out(config: BurstConfig, target: Target) -> None:
    """A run-out duel lasts StartLeadSeconds + DuelSeconds: refuse one that cannot end soon."""
    from duelctl.bench.burst import MAX_RUN_OUT_S
    from duelctl.bench.config import Timers

    timers = Timers.from_parameters(target.parameters)
    if config.run_out_share <= 0 or timers.duel_s is None:
        return
    length = timers.duel_s + (timers.start_lead_s or 0.0)
    if length > MAX_RUN_OUT_S:
        raise UsageError(
            f"--run-out-share: this stack's duels last {length:g} s (StartLeadSeconds + "
            f"DuelSeconds); run-outs need at most {MAX_RUN_OUT_S:g} s, e.g. `duelctl up "
            "--parameter-overrides DuelSeconds=4 StartLeadSeconds=1`"
        )


@contextlib.contextmanager
def _stack(options: BenchOptions) -> Iterator[tuple[Target, Any]]:
    """(the target, the child stack or None): embedded when asked or nothing runs here."""
    from duelctl.stack import (
        FAST_PARAMETERS,
        load_template_checked,
        running_target,
        wants_embedded,
    )
    from duelctl.targets import Target, default_template

    if wants_embedded(options.target, options.endpoints_file, options.embedded):
        from duelctl.bench.stack import child_stack

        parameters = {**FAST_PARAMETERS, **dict(options.overrides)}
        template = (options.template or default_template()).resolve()
        # Checked here, so a missing or invalid template (an install without the
        # bundled backend, a bad override) is one `error:` line, as for `up`, and not
        # the child's traceback.
        load_template_checked(template, parameters)
        shown = " ".join(f"{k}={v}" for k, v in parameters.items())
        console.info(f"starting an embedded stack in a child process ({shown}) ...")
        with child_stack(parameters, template) as child:
            target = Target(
                name="embedded",
                endpoints=child.endpoints,
                path=None,
                parameters=child.parameters,
                embedded=True,
            )
            yield target, child
        return
    if options.overrides:
        raise UsageError(
            "--parameter-overrides sets the timers of an embedded stack the bench starts; "
            "a running stack keeps its own (restart `duelctl up --parameter-overrides ...`)"
        )
    target = running_target(options.target, options.endpoints_file)
    check_allowed(target)
    yield target, None


async def _identities(target: Target, options: BenchOptions, count: int) -> list[Identity]:
    from duelctl.bench.users import (
        bench_names,
        local_identities,
        read_user_list,
        stage_identities,
    )

    started = time.perf_counter()
    if options.users_file is not None:
        listed = read_user_list(options.users_file)
        if len(listed) < count:
            raise UsageError(f"--users {options.users_file} lists {len(listed)}, {count} needed")
        users = listed[:count]
    else:
        users = [(name, None) for name in bench_names(count)]
    console.info(f"signing in {count} users ...")
    if target.is_local and options.users_file is None:
        identities = await local_identities(target.endpoints, [name for name, _ in users])
    else:
        identities = await stage_identities(target.endpoints, users, password=options.password)
    console.info(f"{count} users ready in {time.perf_counter() - started:.1f} s")
    return identities


async def _ready_probe(target: Target, child: Any, client: Any) -> float:
    """Spawn -> a first connection accepted (a fresh user signed in, then connected)."""
    from duelctl.bench.conn import BenchConn, StepFailed, Tally
    from duelctl.bench.users import bench_names, create_local_user

    name = bench_names(1, prefix=f"ready-{int(time.time() * 1000) % 10**8}")[0]
    ident = await asyncio.to_thread(create_local_user, client, target.endpoints, name)
    conn = BenchConn(-1, ident.user_id, ident.username, ident.token, Tally())
    try:
        await conn.open(target.endpoints.websocket_url, 30.0)
    except StepFailed as failed:
        why = f"the embedded stack refused its first connection: {failed.code}"
        raise UsageError(why) from None
    ready = time.perf_counter() - child.spawned_at
    await conn.close()
    return float(ready)


async def _probe(target: Target, child: Any) -> float | None:
    """Spawn -> first connection for a stack the bench started; None for a running one."""
    from duelctl.bench.users import local_cognito_client

    if child is None:
        return None
    client = await asyncio.to_thread(local_cognito_client, target.endpoints)
    ready_s = await _ready_probe(target, child, client)
    console.info(
        f"embedded stack accepted its first connection {ready_s:.2f} s after it was "
        f"spawned (endpoints after {child.endpoints_after_s:.2f} s)"
    )
    return ready_s


async def _run(config: BenchConfig, options: BenchOptions) -> BenchResult:
    from duelctl.bench.config import Timers
    from duelctl.bench.engine import Bench
    from duelctl.bench.report import live_progress

    with _stack(options) as (target, child):
        ready_s = await _probe(target, child)
        identities = await _identities(target, options, config.connections)
        stack_pid = child.pid if child is not None else _local_pid(target)
        bench = Bench(
            config,
            target.endpoints.websocket_url,
            identities,
            Timers.from_parameters(target.parameters),
            stack_pid=stack_pid,
        )
        shape = f"{config.pairs} pairs" + (f" + {config.idle} idle" if config.idle else "")
        ramp = f" after a {config.ramp_s:g} s ramp" if config.ramp_s else ""
        console.info(
            f"bench: {shape} against {target.endpoints.websocket_url} "
            f"for {config.duration_s:g} s{ramp}"
        )
        async with live_progress(console.err, bench.progress):
            result = await bench.run()
        result.ready_s = ready_s
        return result


async def _run_burst(config: BurstConfig, options: BenchOptions) -> BurstResult:
    from duelctl.bench.burst import Burst
    from duelctl.bench.config import Timers
    from duelctl.bench.report import burst_progress_line, live_progress

    with _stack(options) as (target, child):
        check_run_out(config, target)
        ready_s = await _probe(target, child)
        identities = await _identities(target, options, config.connections)
        stack_pid = child.pid if child is not None else _local_pid(target)
        timers = Timers.from_parameters(target.parameters)
        burst = Burst(
            config, target.endpoints.websocket_url, identities, timers, stack_pid=stack_pid
        )
        run_out = f", {config.run_out_share:g} of them run out" if config.run_out_share else ""
        console.info(
            f"bench: burst of {config.pairs} pairs{run_out}, {config.rounds} round(s), against "
            f"{target.endpoints.websocket_url}"
        )
        async with live_progress(console.err, burst.progress, burst_progress_line):
            result = await burst.run()
        result.ready_s = ready_s
        return result


def _local_pid(target: Target) -> int | None:
    """The pid `duelctl up` recorded next to its endpoints file, if it runs on this host."""
    from duelctl.targets import read_stack_info

    if not target.is_local or target.path is None:
        return None
    pid = read_stack_info(target.path).get("pid")
    return pid if isinstance(pid, int) and Path(f"/proc/{pid}").exists() else None


def run_bench(config: BenchConfig, options: BenchOptions, *, as_json: bool) -> int:
    """Run the bench and report; the exit code is 0 only for a clean run."""
    from duelctl.bench.report import finished_line, result_view

    validate(config)
    started = time.perf_counter()
    result = asyncio.run(_run(config, options))
    console.err.print(result_view(result))
    console.info(finished_line(result, started))
    if as_json:
        console.data(json.dumps(result.to_json(), indent=2))
    return 0 if result.clean else EXIT_FAILED


def run_burst(config: BurstConfig, options: BenchOptions, *, as_json: bool) -> int:
    """Run a burst and report; the exit code is 0 only when every pair started and ended
    cleanly in every round."""
    from duelctl.bench.report import burst_view, finished_line

    validate_burst(config)
    started = time.perf_counter()
    result = asyncio.run(_run_burst(config, options))
    console.err.print(burst_view(result))
    console.info(finished_line(result, started))
    if as_json:
        console.data(json.dumps(result.to_json(), indent=2))
    return 0 if result.clean else EXIT_FAILED


# Options of the steady mode that mean nothing to a burst, and the reverse: a mix is a
# usage error rather than a silently ignored flag.
STEADY_ONLY = {
    "pairs": "--pairs",
    "duration": "--duration",
    "ramp": "--ramp",
    "idle": "--idle",
    "idle_ping": "--idle-ping",
    "pings": "--pings",
    "hold": "--hold",
    "reject_share": "--reject-share",
    "timeout_share": "--timeout-share",
}
BURST_ONLY = {"rounds": "--rounds", "run_out_share": "--run-out-share"}


def check_mode_options(given: set[str], *, burst: bool) -> None:
    """Refuse options of the other mode (`given`: parameter names set on the command line)."""
    wrong = STEADY_ONLY if burst else BURST_ONLY
    named = sorted(flag for name, flag in wrong.items() if name in given)
    if named and burst:
        raise UsageError(f"{', '.join(named)} only apply to the steady mode, not to --burst")
    if named:
        raise UsageError(f"{', '.join(named)} only apply with --burst N")


def register(app: typer.Typer) -> None:
    """Add `duelctl bench` to `app` (the CLI's error handling wraps it, as every command)."""
    from duelctl.bench.config import BenchConfig, BurstConfig

    defaults = BenchConfig()
    burst_defaults = BurstConfig()

    @app.command(
        name="bench",
        cls=SpreadOverrides,
        epilog=examples(
            "duelctl bench --pairs 100 --duration 30",
            "duelctl bench --pairs 2 --duration 3 --json | jq .ping_ms",
            "duelctl bench --pairs 200 --idle 600 --ramp 10 --duration 30",
            "duelctl bench --pairs 0 --idle 50 --idle-ping 0 --duration 10   # ping throughput",
            "duelctl bench --burst 50 --rounds 3 --run-out-share 0.5   # 50 pairs at once",
            "DUELCTL_PASSWORD=... duelctl bench --target staging --users bench-users.txt",
        ),
    )
    @guard
    def bench(
        ctx: typer.Context,
        target: TargetOpt = "local",
        pairs: Annotated[
            int, typer.Option("--pairs", "-n", help="Dueling pairs (2N users).", min=0)
        ] = defaults.pairs,
        duration: Annotated[
            float, typer.Option("--duration", "-d", help="Seconds of dueling after the ramp.")
        ] = defaults.duration_s,
        ramp: Annotated[
            float, typer.Option("--ramp", help="Spread connection opening over this many seconds.")
        ] = defaults.ramp_s,
        idle: Annotated[
            int, typer.Option("--idle", help="Extra connections that only ping.", min=0)
        ] = defaults.idle,
        idle_ping: Annotated[
            float,
            typer.Option(
                "--idle-ping",
                help="Seconds between an idle connection's pings (0 = back to back).",
            ),
        ] = defaults.idle_ping_s,
        pings: Annotated[
            int, typer.Option("--pings", help="Pings per accepted duel.", min=0)
        ] = defaults.pings,
        hold: Annotated[
            float,
            typer.Option(
                "--hold",
                help="Seconds an accepted duel runs before it is stopped, its pings spread "
                "over them (0 = stop right after the pings).",
            ),
        ] = defaults.hold_s,
        reject_share: Annotated[
            float, typer.Option("--reject-share", help="Share of invites rejected.")
        ] = defaults.reject_share,
        timeout_share: Annotated[
            float,
            typer.Option(
                "--timeout-share",
                help="Share of invites left to expire or duels left to time out "
                "(needs short timers, as an embedded stack has).",
            ),
        ] = defaults.timeout_share,
        step_timeout: Annotated[
            float,
            typer.Option("--step-timeout", help="Longest wait for one expected frame, seconds."),
        ] = defaults.step_timeout_s,
        seed: Annotated[
            int | None, typer.Option("--seed", help="Seed for the duel mix (repeatable runs).")
        ] = None,
        users: Annotated[
            Path | None,
            typer.Option(
                "--users",
                # rich markup would take "[password]" for a style tag and drop it.
                help="Prepared users for a stage: 'username \\[password]' per line.",
                dir_okay=False,
            ),
        ] = None,
        burst: Annotated[
            int | None,
            typer.Option(
                "--burst",
                help="Burst mode: N pairs connect, then all invite within 100 ms, accept on "
                "arrival and stop; per-phase latencies and accepts after expiresAt.",
                min=1,
            ),
        ] = None,
        rounds: Annotated[
            int, typer.Option("--rounds", help="Bursts to play, one after another.", min=1)
        ] = burst_defaults.rounds,
        run_out_share: Annotated[
            float,
            typer.Option(
                "--run-out-share",
                help="Share of a burst's duels not stopped but left to time out together "
                "(their timeout's lateness after endsAt is reported).",
            ),
        ] = burst_defaults.run_out_share,
        json_out: JsonOpt = False,
        endpoints: EndpointsOpt = None,
        password: PasswordOpt = None,
        embedded: EmbeddedOpt = False,
        template: TemplateOpt = None,
        parameter_overrides: Annotated[
            list[str] | None,
            typer.Option(
                "--parameter-overrides",
                help="Timers of an embedded stack, over InviteTimeoutSeconds=2 DuelSeconds=5 "
                "StartLeadSeconds=1 (KEY=VALUE words, as for `duelctl up`).",
            ),
        ] = None,
    ) -> None:
        """Load a stack with 2N real users dueling over real WebSockets; report the figures.

        Users connect (spread over --ramp), then each pair plays duels in a loop for
        --duration: invite, accept, a few pings, stop, plus a share of rejects and
        timeouts. Every expected frame is tracked. The table shows connect, invite,
        start, stop and ping latencies (p50/p95/p99/max), duels, lost and duplicated
        frames, errors by code, and the client's own CPU. Exit 0 only for a clean run.
        Without a running local stack an embedded one is started in a child process.

        --burst N: N pairs connect first, then all invite at once, each invitee accepts
        as its invite arrives and each inviter stops once both have start (--rounds
        times). Reports invite → invite_sent, invite → invite delivered, accept → both
        start, stop → both stop, and the accepts that reached the stack after expiresAt.
        """
        from duelctl.stack import parse_overrides_checked

        # By name: typer may bring its own copy of click, with its own ParameterSource.
        given = {
            name
            for name in (*STEADY_ONLY, *BURST_ONLY)
            if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
        }
        check_mode_options(given, burst=burst is not None)
        options = BenchOptions(
            target=target,
            endpoints_file=endpoints,
            embedded=embedded,
            template=template,
            password=password,
            users_file=users,
            overrides=tuple(parse_overrides_checked(list(parameter_overrides or [])).items()),
        )
        if burst is not None:
            burst_config = replace(
                burst_defaults,
                pairs=burst,
                rounds=rounds,
                run_out_share=run_out_share,
                step_timeout_s=step_timeout,
                seed=seed,
            )
            code = run_burst(burst_config, options, as_json=json_out)
            if code:
                raise typer.Exit(code)
            return
        config = replace(
            defaults,
            pairs=pairs,
            duration_s=duration,
            ramp_s=ramp,
            idle=idle,
            idle_ping_s=idle_ping,
            pings=pings,
            hold_s=hold,
            reject_share=reject_share,
            timeout_share=timeout_share,
            step_timeout_s=step_timeout,
            seed=seed,
        )
        code = run_bench(config, options, as_json=json_out)
        if code:
            raise typer.Exit(code)
