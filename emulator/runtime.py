"""The local stack as one object: `async with Emulator(template) as emu:` serves it all.

Entering starts the services in dependency order and returns once the WebSocket
gateway accepts connections; leaving stops accepting, closes sockets with 1001, drains
in-flight invocations, then stops pollers, workers and moto (style.md §9). One place
owns every task, so nothing outlives the stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duelctl_endpoints import Endpoints
from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.logs import SERVICE, emit
from emulator.runner.base import FunctionRunner, Invocation
from emulator.template.model import Template

if TYPE_CHECKING:
    from emulator.faults.plan import FaultPlan
    from emulator.services.moto_server import MotoServer
    from emulator.virtual.activity import Activity
    from emulator.virtual.stack import VirtualTime


@dataclass(frozen=True, slots=True)
class EmulatorOptions:
    host: str = "127.0.0.1"
    port: int = 0  # WebSocket gateway; 0 = a free port
    http_port: int = 0  # @connections, HTTP API, Lambda Invoke API, web client; 0 = free
    reload: bool = False  # restart workers when a file under a code root changes
    idle_timeout_s: float = 600.0  # AWS: 10 min idle (docs/aws-behaviour.md §6)
    max_duration_s: float = 7200.0  # AWS: 2 h per connection
    ttl_interval_s: float = 1.0  # how often the TTL reaper sweeps
    prewarm: bool = True  # start one worker per function in the background once ready
    state_dir: Path | None = None  # CA certificates; default: a per-user cache dir
    static_dir: Path | None = None  # web client assets served on the HTTP origin
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # "virtual": time jumps ahead while the stack is quiet (emulator/virtual/, README
    # "Virtual time"); "real": the wall clock, and nothing of virtual time runs.
    clock: str = "real"
    # Fault mode (emulator/faults/, README "Fault mode"): a SPEC such as
    # "sqs-duplicate,gone-window=500" ("none": record only); None: no fault mode.
    faults: str | None = None
    faults_seed: int | None = None  # None: a random seed, logged and in the endpoints file


class _RunnerRef:
    """Lets servers that start before the runner exists hold a runner that appears later.

    The runner's environment names the ports of the HTTP server and the proxy, so those
    start first; no invocation can arrive before `set` because no client can connect yet.
    """

    def __init__(self, activity: Activity | None = None) -> None:
        self._runner: FunctionRunner | None = None
        # Virtual time: every invoke (gateway, HTTP API, Invoke API, pollers) passes
        # here, so this is where invocations in flight are counted.
        self._activity = activity

    def set(self, runner: FunctionRunner) -> None:
        self._runner = runner

    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        if self._runner is None:  # pragma: no cover - guarded by start-up order
            raise RuntimeError("function runner not started")
        if self._activity is None:
            return await self._runner.invoke(function, event, route=route)
        with self._activity.invocation():
            return await self._runner.invoke(function, event, route=route)


def prestart_moto(options: EmulatorOptions) -> MotoServer | None:
    """Start moto's processes now, for an `Emulator` made later with these options.

    moto's start (~0.5 s, mostly importing moto) is the longest step of a stack's start
    and needs nothing from the template, so `duelctl up` calls this before it loads the
    template (bench/README.md, "Where the time goes"). Returns at once (the sockets are
    bound here). None when these options need moto started with an environment of its
    own (a virtual clock, fault mode) or in this process: the Emulator then starts it.
    The caller passes the server to `Emulator(moto=...)`, or stops it.
    """
    if options.clock != "real" or options.faults is not None:
        return None
    from emulator.services.moto_server import MotoServer, default_mode

    if default_mode() != "process":
        return None
    moto = MotoServer(options.host)
    moto.start(wait=False)
    return moto


def default_state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "duelctl"


class Emulator:
    """The whole local stack for one template."""

    def __init__(
        self,
        template: Template,
        *,
        options: EmulatorOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        runner: FunctionRunner | None = None,
        moto: MotoServer | None = None,
    ) -> None:
        """`moto`: from `prestart_moto` (the stack adopts and stops it), so moto's
        processes start while the caller still loads the template."""
        self.template = template
        self.options = options or EmulatorOptions()
        self.clock = clock
        self._injected_runner = runner
        self._moto = moto
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._endpoints: Endpoints | None = None
        self.gateways: dict[str, Any] = {}  # api logical id -> WebSocketGateway
        self.runner: Any = None
        self.virtual: VirtualTime | None = None  # set when options.clock == "virtual"
        self.scheduler: Any = None  # services.schedules.Scheduler: next firings, fire now
        self.started_at = 0.0
        self.ready_after_s = 0.0
        self.faults: FaultPlan | None = None  # set when options.faults is given

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise RuntimeError("the emulator is not running")
        return self._endpoints

    async def __aenter__(self) -> Emulator:
        self.started_at = time.perf_counter()
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        self.ready_after_s = time.perf_counter() - self.started_at
        emit(
            SERVICE,
            f"stack ready in {self.ready_after_s * 1000:.0f} ms",
            ready_ms=self.ready_after_s * 1000,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self._endpoints = None

    async def _start(self) -> None:
        from emulator.services import Services

        t = self.template
        opts = self.options
        state_dir = opts.state_dir or default_state_dir()
        if opts.clock == "virtual":
            from emulator.services.moto_server import default_mode
            from emulator.virtual.stack import VirtualTime

            if default_mode() == "thread":
                # moto would share this process's clock, which must stay real (the
                # VirtualClock adds the offset itself); its processes follow the file.
                raise ValueError(
                    "a virtual clock needs moto in its own processes: unset DUELCTL_MOTO=thread"
                )
            self.virtual = VirtualTime()
            self._stack.callback(self.virtual.close)
            self.clock = self.virtual.clock
        elif opts.clock != "real":
            raise ValueError(f"clock must be 'real' or 'virtual', not {opts.clock!r}")
        vt = self.virtual

        # moto's processes follow a virtual clock too (moto/app.py).
        moto_env = dict(vt.env) if vt is not None else None
        plan = self.faults = self._fault_plan()
        if plan is not None:
            moto_env = {**(moto_env or {}), **plan.moto_env()}
        early, self._moto = self._moto, None
        if early is not None and moto_env is not None:
            early.stop()  # started without the environment this stack's moto needs
            early = None
        if early is not None:  # its own start line went out before anyone listened
            emit(SERVICE, f"moto on {early.url} (started early)", url=early.url, urls=early.urls)
        services = Services(
            clock=self.clock,
            ttl_interval_s=opts.ttl_interval_s,
            moto_env=moto_env,
            faults=plan,
            moto=early,
        )
        self._stack.callback(services.stop)
        # moto first: its processes import moto while this one imports the rest of the
        # stack; its sockets are bound here, so every URL is known at once.
        aws_url = services.start_moto()
        if plan is not None:
            plan.attach_moto(services.url_for("dynamodb"))
            # Runs before services.stop (LIFO): moto's last counts are read first.
            self._stack.push_async_callback(plan.aclose)

        # Imported here so `import emulator.runtime` stays cheap for the CLI's --help.
        from emulator.faults.api import FaultsApi
        from emulator.gateway.server import WebSocketGateway
        from emulator.http_server import HttpServer
        from emulator.local_auth import LocalWebApi
        from emulator.proxy.certs import ensure_certificates
        from emulator.proxy.connect import ConnectProxy, aws_route
        from emulator.runner.process import ProcessRunner
        from emulator.services.schedules import ScheduleApi
        from emulator.template.load import note_ignored

        certs = await asyncio.to_thread(ensure_certificates, state_dir / "certs", t.region)
        # Provisioning runs in a thread while the servers below start; clients can reach
        # nothing before the gateway starts, after it has finished. (Started before the
        # imports above it made start-up slower: its thread and the imports share one
        # interpreter lock.)
        provisioning = asyncio.create_task(asyncio.to_thread(services.provision, t))

        runner_ref = _RunnerRef(vt.activity if vt is not None else None)
        gateways = {
            api.logical_id: WebSocketGateway(
                api,
                functions=t.functions,
                runner=runner_ref,
                region=t.region,
                account_id=t.account_id,
                clock=self.clock,
                host=opts.host,
                port=opts.port if i == 0 else 0,
                idle_timeout_s=opts.idle_timeout_s,
                max_duration_s=opts.max_duration_s,
            )
            for i, api in enumerate(t.websocket_apis)
        }
        self.gateways = gateways
        if plan is not None:
            for gateway in gateways.values():
                gateway.engine.faults = plan.gateway
        from emulator.virtual.control import ClockApi

        if vt is not None:
            vt.attach(gateways.values(), lambda: sorted(set(services.urls.values())))
        clock_api = ClockApi(self.clock, vt.advancer if vt is not None else None)
        self.scheduler = services.scheduler(t, runner_ref)

        http = HttpServer(
            t,
            runner=runner_ref,
            gateways={api.api_id: gateways[api.logical_id] for api in t.websocket_apis},
            aws_url=aws_url,
            clock=self.clock,
            host=opts.host,
            port=opts.http_port,
            static_dir=opts.static_dir,
            local_web=LocalWebApi(lambda: self._endpoints),
            clock_api=clock_api,
            schedule_api=ScheduleApi(self.scheduler),
            faults_api=FaultsApi(plan),
        )
        await http.start()
        self._stack.push_async_callback(http.aclose)

        # Hosts outside AWS get a plain tunnel, so handlers calling other https APIs still work.
        proxy = ConnectProxy(
            certs, aws_route(http.port, services.moto.ports), host=opts.host, passthrough=True
        )
        await proxy.start()
        self._stack.push_async_callback(proxy.aclose)

        if self._injected_runner is not None:
            runner: Any = self._injected_runner
        else:
            runner = ProcessRunner(
                t.functions,
                region=t.region,
                account_id=t.account_id,
                extra_env=self._function_env(
                    services.endpoint_env(), http.port, proxy.url, certs.trust_bundle
                ),
                clock=self.clock,
                # A virtual stack's workers follow its clock file (runner/bootstrap.py).
                clock_file=vt.file.path if vt is not None else None,
                faults=plan.invoke_faults if plan is not None else None,
            )
            self._stack.push_async_callback(runner.aclose)
        self.runner = runner
        runner_ref.set(runner)
        await provisioning

        # Pollers stop before the workers they invoke (the exit stack unwinds LIFO).
        tasks: list[asyncio.Task[Any]] = []

        async def cancel_tasks() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._stack.push_async_callback(cancel_tasks)
        tasks.extend(asyncio.create_task(loop) for loop in services.pollers(runner_ref))
        if vt is not None:
            tasks.append(asyncio.create_task(vt.run()))
        if plan is not None:
            tasks.append(asyncio.create_task(plan.run()))
        if opts.reload and self._injected_runner is None:
            tasks.append(asyncio.create_task(self._watch(runner)))
        # A LATEST stream position is fixed only once its poller holds an iterator;
        # writes made before that would never reach the function.
        await services.wait_ready()

        for gw in gateways.values():
            await gw.start()
            self._stack.push_async_callback(gw.aclose)

        if opts.prewarm and self._injected_runner is None:
            tasks.append(asyncio.create_task(runner.prewarm()))

        self._endpoints = self._build_endpoints(http.port, aws_url)
        note_ignored(t)

    def _function_env(
        self, aws_env: Mapping[str, str], http_port: int, proxy_url: str, trust_bundle: Path
    ) -> dict[str, str]:
        """The standard variables that point unmodified boto3 and urllib at the local stack.

        Nothing here is emulator-specific: a developer pointing a handler at moto by hand
        sets the same ones (README, "How unmodified handlers reach the local stack").
        """
        loopback = "127.0.0.1,localhost"
        return {
            # AWS_ENDPOINT_URL and per-service ones: each service's own moto process.
            **aws_env,
            "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{http_port}",
            "HTTPS_PROXY": proxy_url,
            "https_proxy": proxy_url,
            "NO_PROXY": loopback,
            "no_proxy": loopback,
            # The local CA plus the public roots: AWS names verify against the former,
            # every other https host against the latter.
            "AWS_CA_BUNDLE": str(trust_bundle),
            "SSL_CERT_FILE": str(trust_bundle),
            "REQUESTS_CA_BUNDLE": str(trust_bundle),
            **self.options.extra_env,
        }

    async def _watch(self, runner: Any) -> None:
        from emulator.runner.reload import watch_code

        roots = {fn.code_root for fn in self.template.functions.values()}
        roots |= {layer for fn in self.template.functions.values() for layer in fn.layers}
        stop = asyncio.Event()

        def changed(paths: set[Path]) -> None:
            emit(SERVICE, f"code changed ({len(paths)} file(s)); functions reload on next invoke")
            runner.update(self.template.functions, changed=None)

        try:
            await watch_code(roots, changed, stop=stop)
        finally:
            stop.set()

    def _build_endpoints(self, http_port: int, aws_url: str) -> Endpoints:
        t = self.template
        ws = t.websocket_apis[0] if t.websocket_apis else None
        first_gw = self.gateways[ws.logical_id] if ws else None
        stage = ws.stage if ws else "local"

        # The tables the template publishes: every Output whose value is a table's name.
        names = {table.name for table in t.tables.values()}
        tables = {key: out.value for key, out in t.outputs.items() if out.value in names}
        pool = next(iter(t.user_pools.values()), None)
        client = next(iter(t.user_pool_clients.values()), None)
        http_base = f"http://127.0.0.1:{http_port}"
        return Endpoints(
            target="local",
            region=t.region,
            stage=stage,
            websocket_url=first_gw.url if first_gw else "",
            management_url=f"{http_base}/{stage}",
            http_url=http_base,
            aws_endpoint_url=aws_url,
            user_pool_id=pool.pool_id if pool else None,
            user_pool_client_id=client.client_id if client else None,
            tables=tables,
            clock=self.options.clock,
            clock_url=f"{http_base}/_duelctl/clock",
            faults=(
                {**self.faults.summary(), "url": f"{http_base}/_duelctl/faults"}
                if self.faults is not None
                else None
            ),
        )

    def _fault_plan(self) -> FaultPlan | None:
        """The stack's fault mode from its options (None without `faults`)."""
        if self.options.faults is None:
            return None
        from emulator.faults.plan import FaultPlan
        from emulator.faults.record import new_seed
        from emulator.faults.spec import parse_spec

        spec = parse_spec(self.options.faults)  # FaultSpecError (a ValueError) if malformed
        seed = self.options.faults_seed if self.options.faults_seed is not None else new_seed()
        plan = FaultPlan(spec, seed, clock=self.clock)
        emit(
            SERVICE,
            f"fault mode: {plan.describe()}",
            faults=str(spec),
            seed=seed,
        )
        return plan


@contextlib.contextmanager
def run_in_thread(
    template: Template, *, options: EmulatorOptions | None = None
) -> Iterator[Endpoints]:
    """Run an Emulator on its own event loop in a daemon thread; yield its endpoints.

    For synchronous callers (pytest session fixtures, the CLI's embedded stack): under
    pytest-asyncio a TaskGroup held across a fixture's yield would be entered and left
    in different tasks (style.md §10), so the stack gets a loop of its own.
    """
    started = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with Emulator(template, options=options) as emu:
                box["endpoints"] = emu.endpoints
                started.set()
                await stop.wait()
        except BaseException as exc:
            box["error"] = exc
            started.set()

    def target() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=target, name="duelctl-emulator", daemon=True)
    thread.start()
    started.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield box["endpoints"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


__all__ = ["Emulator", "EmulatorOptions", "prestart_moto", "run_in_thread"]
