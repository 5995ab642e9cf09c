"""`lambda-crash=P` and `lambda-timeout=P`: the runner's `InvokeFaults` (runner/faults.py).

The runner asks once per invocation of any function; what happens next is AWS's own
handling of a failed invocation, which the emulator already reproduces where the
invocation came from (docs/aws-behaviour.md §17):

- WebSocket routes and the authorizer: no retry; the client gets API Gateway's
  `Internal server error` frame, a 500 or a 502 refusal (§2, §3, §4);
- SQS event sources: the batch stays on the queue and comes back after the visibility
  timeout (§9, services/sqs.py);
- DynamoDB streams: the batch is retried, blocking the shard (§8, services/streams.py);
- asynchronous `Invoke` (`Event`): retried twice (§13, lambda_api.py).

A crash lets the handler finish its work first (every write and post happens), so a
retry repeats work that was done: the case at-least-once delivery must survive.
"""

from __future__ import annotations

import random

from emulator.faults.record import FaultLog
from emulator.runner.faults import Fault


class LambdaFaults:
    """Decides, per invocation, whether it crashes, times out, or runs normally."""

    def __init__(
        self,
        log: FaultLog,
        *,
        crash: float | None,
        timeout: float | None,
        crash_rng: random.Random,
        timeout_rng: random.Random,
    ) -> None:
        self._log = log
        self._crash = crash
        self._timeout = timeout
        self._crash_rng = crash_rng
        self._timeout_rng = timeout_rng

    def fault_for(self, function: str, request_id: str) -> Fault | None:
        """`runner.faults.InvokeFaults`: the fault for this invocation, or None.

        Both kinds draw for every invocation, so one never shifts the other's sequence.
        """
        crash = bool(self._crash) and self._crash_rng.random() < (self._crash or 0.0)
        timeout = bool(self._timeout) and self._timeout_rng.random() < (self._timeout or 0.0)
        if crash:
            self._log.fired(
                "lambda-crash",
                f"{function} {request_id}: the environment dies before its answer gets out",
                function=function,
                request_id=request_id,
            )
            return "crash"
        if timeout:
            self._log.fired(
                "lambda-timeout",
                f"{function} {request_id}: reported as timed out after the handler ran",
                function=function,
                request_id=request_id,
            )
            return "timeout"
        return None


__all__ = ["LambdaFaults"]
