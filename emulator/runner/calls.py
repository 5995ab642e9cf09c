"""One accepted invocation, from `invoke()` to its `Invocation`, and its summary log line.

A `Call` is created when `ProcessRunner.invoke` accepts a request (the request is already
framed), queued in its function's pool, sent by a worker, and finished exactly once by
whichever part learns how it ended: the worker (a reply, a timeout, an exit), the pool
(an init that failed before a worker could take it, a function removed by a reload) or
the runner (closing). `finish` builds the `Invocation`, logs the summary and tells the
runner, which counts invocations in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.logs import INVOKE, emit, enabled
from emulator.runner.base import Invocation, Outcome
from emulator.runner.faults import Fault


@dataclass(slots=True, eq=False)
class Call:
    """One invocation in flight: queued for a worker, or running on one."""

    function: str  # logical id
    request_id: str
    frame: bytes  # the framed request (wire.request_frame)
    timeout_s: float
    route: str | None
    user: str | None
    fault: Fault | None
    future: asyncio.Future[Invocation]
    on_done: Callable[[Call], None]  # the runner's in-flight count
    started: float = field(default_factory=time.perf_counter)  # reset when sent
    cold: bool = False
    logs: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def abandoned(self) -> bool:
        """The caller gave up before the call was sent (a queued call is then dropped)."""
        return self.future.cancelled()

    def finish(self, outcome: Outcome, result: Any, *, init_ms: float | None = None) -> None:
        """Resolve the caller's future with the Invocation and log the summary (once)."""
        if self.done:
            return
        self.done = True
        duration_ms = round((time.perf_counter() - self.started) * 1000, 3)
        invocation = Invocation(
            function=self.function,
            request_id=self.request_id,
            outcome=outcome,
            result=result,
            duration_ms=duration_ms,
            cold_start=self.cold,
            logs="".join(line + "\n" for line in self.logs),
        )
        level = logging.INFO if outcome == "ok" else logging.WARNING
        if enabled(INVOKE, level):  # nobody listening: no fields, no message
            emit(
                INVOKE,
                self._summary(outcome, duration_ms, init_ms),
                level=level,
                **self._fields(outcome, duration_ms, init_ms),
            )
        if not self.future.done():
            self.future.set_result(invocation)
        self.on_done(self)

    def drop(self) -> None:
        """Forget a queued call whose caller gave up before it was sent."""
        if not self.done:
            self.done = True
            self.on_done(self)

    def fail(self, exc: BaseException) -> None:
        """End a call that never ran with an exception for its caller (no Invocation)."""
        if self.done:
            return
        self.done = True
        if not self.future.done():
            self.future.set_exception(exc)
            # A caller that already left never retrieves it; that is not an error.
            self.future.add_done_callback(_retrieve)
        self.on_done(self)

    def _summary(self, outcome: Outcome, duration_ms: float, init_ms: float | None) -> str:
        cold = " (cold start)" if self.cold else ""
        return f"{self.function} {self.route or '-'} {outcome} {duration_ms:.1f} ms{cold}"

    def _fields(
        self, outcome: Outcome, duration_ms: float, init_ms: float | None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "function": self.function,
            "route": self.route,
            "request_id": self.request_id,
            "duration_ms": duration_ms,
            "outcome": outcome,
            "cold_start": self.cold,
        }
        if self.cold and init_ms is not None:
            fields["init_ms"] = round(init_ms, 3)
        if self.user is not None:
            fields["user"] = self.user
        if self.fault is not None:
            fields["fault"] = self.fault
        return fields


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
