"""The runner's hook for injected Lambda faults (issue 14's fault mode builds on it).

`ProcessRunner(faults=...)` asks the object once per invoke, before the invocation is
queued; the answer applies to that invocation only:

- `"crash"`: the handler runs to its end (every side effect happens), then its runtime is
  killed before the answer gets out, so the caller gets `Runtime.ExitError` ("signal:
  killed") and the next invoke initialises a new environment. It imitates an environment
  dying mid-invocation, the case at-least-once delivery must survive: AWS retries async
  and event-source invocations, which then repeat work already done
  (docs/aws-behaviour.md §13).
- `"timeout"`: the handler runs to its end, then the invocation is reported as timed out
  after the function's configured timeout (`Sandbox.Timedout`) and the environment is
  reset, as AWS does after a timeout; no real time is spent waiting for it.

Seeding, rates and logging of when faults fire belong to the implementation.
"""

from __future__ import annotations

from typing import Literal, Protocol

Fault = Literal["crash", "timeout"]
FAULTS: tuple[Fault, ...] = ("crash", "timeout")


class InvokeFaults(Protocol):
    def fault_for(self, function: str, request_id: str) -> Fault | None:
        """The fault to inject into this invocation of `function` (logical id), or None."""
        ...
