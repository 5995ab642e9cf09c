"""The contract between the emulator and whatever runs Lambda functions.

The gateway, pollers and the local Lambda Invoke API only ever see `FunctionRunner`;
`emulator.runner.process.ProcessRunner` is the real one, tests may pass their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Outcome = Literal["ok", "error", "timeout"]


@dataclass(frozen=True, slots=True)
class Invocation:
    """What one invoke produced.

    `result` is the handler's return value on "ok" (any JSON value), AWS's error object
    `{"errorMessage", "errorType", "requestId", "stackTrace"}` on "error", and
    `{"errorMessage": "... Task timed out after N seconds", "errorType": "Sandbox.Timedout"}`
    on "timeout".
    """

    function: str  # logical id
    request_id: str
    outcome: Outcome
    result: Any
    duration_ms: float
    cold_start: bool = False
    logs: str = ""  # what the handler wrote to stdout/stderr during this invoke

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class FunctionRunner(Protocol):
    async def invoke(
        self, function: str, event: Mapping[str, Any], *, route: str | None = None
    ) -> Invocation:
        """Run `function` (logical id) with `event` and wait for its result.

        Never raises for handler failures: those are `Invocation`s with outcome
        "error"/"timeout". `route` only labels the log line.
        """
        ...
