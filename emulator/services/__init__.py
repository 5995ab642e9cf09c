"""The AWS services layer: moto, provisioning, TTL and event source pollers.

`Services` wires the parts for one template; `emulator.runtime` may also use the parts
directly (`MotoServer`, `provision`, `TtlReaper`, `StreamPoller`, `SqsPoller`). Imports
are deferred so `import emulator.services` stays cheap.

moto runs as one process per service group (moto_server.py, moto/groups.py): each
poller talks to its own service's process, and `endpoint_env()` gives handlers the
per-service endpoint variables that do the same for boto3.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from emulator.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from emulator.faults.plan import FaultPlan
    from emulator.runner.base import FunctionRunner
    from emulator.services.moto_server import MotoServer
    from emulator.services.provision import Provisioned
    from emulator.services.schedules import Scheduler
    from emulator.services.ttl import TtlMarks
    from emulator.template.model import Template


class Services:
    """moto, the template's resources in it, and the loops that bring it to life.

    `start` is blocking (run it via `asyncio.to_thread`); the coroutines from `pollers`
    run until cancelled; `stop` stops moto (cancel the pollers first).
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        ttl_interval_s: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        moto_env: Mapping[str, str] | None = None,
        faults: FaultPlan | None = None,
        moto: MotoServer | None = None,
    ) -> None:
        """`moto`: one already started (`start(wait=False)`) with this environment, which
        these services adopt and stop, instead of starting their own."""
        self._clock = clock
        self._faults = faults  # fault mode: the pollers' hooks (emulator/faults/)
        self._ttl_interval_s = ttl_interval_s
        self._host, self._port = host, port
        self._moto_env = dict(moto_env or {})  # e.g. the virtual clock's DUELCTL_CLOCK_FILE
        self._moto: MotoServer | None = moto
        self._template: Template | None = None
        self._provisioned: Provisioned | None = None
        self._marks: TtlMarks | None = None
        self._stream_pollers: list[Any] = []
        self._scheduler: Scheduler | None = None

    @property
    def aws_url(self) -> str:
        """The front: one URL answering every service (the endpoints file's)."""
        if self._moto is None:
            raise RuntimeError("services not started")
        return self._moto.url

    @property
    def urls(self) -> dict[str, str]:
        """Each service group's own URL ("dynamodb", "sqs", "default")."""
        return self.moto.urls

    def url_for(self, service: str) -> str:
        """The URL serving boto3's client `service` ("dynamodb", "sqs", "cognito-idp", ...)."""
        return self.moto.url_for(service)

    def endpoint_env(self) -> dict[str, str]:
        """`AWS_ENDPOINT_URL` and botocore's per-service variables, for a handler."""
        return self.moto.endpoint_env()

    @property
    def moto(self) -> MotoServer:
        if self._moto is None:
            raise RuntimeError("services not started")
        return self._moto

    def start(self, template: Template) -> Provisioned:
        """Start moto (once) and provision `template`; call again after a reload."""
        self.start_moto()
        return self.provision(template)

    def start_moto(self) -> str:
        """Start moto if it is not running; return the front's URL.

        Returns as soon as moto's processes are spawned (milliseconds: the sockets are
        bound here, so every URL is known); `provision` waits until they serve.
        """
        from emulator.services.moto_server import MotoServer
        from emulator.services.ttl import TtlMarks

        if self._moto is None:
            self._moto = MotoServer(self._host, self._port, env=self._moto_env)
            self._moto.start(wait=False)
        if self._marks is None:
            self._marks = TtlMarks()
        return self._moto.url

    def provision(self, template: Template) -> Provisioned:
        """Create `template`'s tables, queues and user pools in moto (blocking, idempotent)."""
        from emulator.services.provision import provision

        self._template = template
        self._provisioned = provision(template, self.moto.urls, ready=self.moto.wait_ready)
        return self._provisioned

    def clock_sync(self) -> None:
        """Tell moto's processes the virtual clock moved (blocking; `MotoServer.clock_sync`)."""
        self.moto.clock_sync()

    def next_due(self) -> float | None:
        """When moto next has something come due by itself (blocking; epoch s or None)."""
        return self.moto.next_due()

    def scheduler(self, template: Template, runner: FunctionRunner) -> Scheduler:
        """The template's schedules on this clock (made once; `pollers` runs its loop).

        Made before the pollers start because the HTTP server's `/_duelctl/schedules`
        routes need it as soon as the server listens.
        """
        from emulator.services.schedules import Scheduler

        if self._scheduler is None:
            self._scheduler = Scheduler(
                template.schedules,
                runner,
                region=template.region,
                account_id=template.account_id,
                clock=self._clock,
            )
        return self._scheduler

    def pollers(self, runner: FunctionRunner) -> list[Coroutine[Any, Any, None]]:
        """The TTL reaper, one poller per enabled event source and the schedules, as
        run() coroutines."""
        from emulator.services.sqs import SqsPoller
        from emulator.services.streams import StreamPoller
        from emulator.services.ttl import TtlReaper

        t, provisioned, marks = self._template, self._provisioned, self._marks
        if t is None or provisioned is None or marks is None:
            raise RuntimeError("call start(template) first")
        loops: list[Coroutine[Any, Any, None]] = []
        self._stream_pollers = []
        ttl_tables = [table for table in t.tables.values() if table.ttl_attribute]
        if ttl_tables:
            reaper = TtlReaper(
                self.url_for("dynamodb"),
                ttl_tables,
                clock=self._clock,
                interval_s=self._ttl_interval_s,
                marks=marks,
            )
            loops.append(reaper.run())
        for source in t.event_sources:
            if not source.enabled:
                continue
            if source.kind == "sqs":
                loops.append(
                    SqsPoller(
                        self.url_for("sqs"),
                        source,
                        t.queues[source.source],
                        runner,
                        region=t.region,
                        account_id=t.account_id,
                        faults=self._faults.sqs if self._faults is not None else None,
                        clock=self._clock,  # a virtual clock makes it short-poll (sqs.py)
                    ).run()
                )
            else:
                poller = StreamPoller(
                    self.url_for("dynamodbstreams"),
                    source,
                    t.tables[source.source],
                    runner,
                    region=t.region,
                    stream_arn=provisioned.stream_arns.get(source.source),
                    ttl_marks=marks,
                    clock=self._clock,
                    faults=self._faults.streams if self._faults is not None else None,
                )
                self._stream_pollers.append(poller)
                loops.append(poller.run())
        if self._scheduler is not None and self._scheduler.schedules:
            loops.append(self._scheduler.run())
        return loops

    async def wait_ready(self) -> None:
        """Return once every stream poller holds its shard iterators (LATEST is fixed).

        Only meaningful while the coroutines from `pollers` run.
        """
        for poller in self._stream_pollers:
            await poller.wait_ready()

    def stop(self) -> None:
        if self._moto is not None:
            self._moto.stop()
            self._moto = None


__all__ = ["Services"]
