"""The AWS services layer: moto in-process, provisioning, TTL and event source pollers.

`Services` wires the parts for one template; `emulator.runtime` may also use the parts
directly (`MotoServer`, `provision`, `TtlReaper`, `StreamPoller`, `SqsPoller`). Imports
are deferred so `import emulator.services` stays cheap.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from emulator.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from emulator.runner.base import FunctionRunner
    from emulator.services.moto_server import MotoServer
    from emulator.services.provision import Provisioned
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
    ) -> None:
        self._clock = clock
        self._ttl_interval_s = ttl_interval_s
        self._host, self._port = host, port
        self._moto: MotoServer | None = None
        self._template: Template | None = None
        self._provisioned: Provisioned | None = None
        self._marks: TtlMarks | None = None
        self._stream_pollers: list[Any] = []

    @property
    def aws_url(self) -> str:
        if self._moto is None:
            raise RuntimeError("services not started")
        return self._moto.url

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
        """Start moto if it is not running; return its URL (blocking)."""
        from emulator.services.moto_server import MotoServer
        from emulator.services.ttl import TtlMarks

        if self._moto is None:
            self._moto = MotoServer(self._host, self._port)
            self._moto.start()
            self._marks = TtlMarks()
        return self._moto.url

    def provision(self, template: Template) -> Provisioned:
        """Create `template`'s tables, queues and user pools in moto (blocking, idempotent)."""
        from emulator.services.provision import provision

        self._template = template
        self._provisioned = provision(template, self.moto.url)
        return self._provisioned

    def pollers(self, runner: FunctionRunner) -> list[Coroutine[Any, Any, None]]:
        """The TTL reaper and one poller per enabled event source, as run() coroutines."""
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
                self.aws_url,
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
                        self.aws_url,
                        source,
                        t.queues[source.source],
                        runner,
                        region=t.region,
                        account_id=t.account_id,
                    ).run()
                )
            else:
                poller = StreamPoller(
                    self.aws_url,
                    source,
                    t.tables[source.source],
                    runner,
                    region=t.region,
                    stream_arn=provisioned.stream_arns.get(source.source),
                    ttl_marks=marks,
                    clock=self._clock,
                )
                self._stream_pollers.append(poller)
                loops.append(poller.run())
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
