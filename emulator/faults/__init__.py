"""Fault mode: a local stack that delivers the way AWS may, not only its happy path.

`duelctl up --faults SPEC` (README "Fault mode", docs/aws-behaviour.md §17) injects the
faults AWS's delivery guarantees allow: duplicated, delayed and reordered SQS messages,
duplicated stream batches, 410s while a connection completes its handshake, lost
`$disconnect`s, throttled DynamoDB writes, crashed and timed-out Lambda invocations.

- `spec.py`: the SPEC grammar -> `FaultSpec`;
- `record.py`: seeded randomness per kind, counters, the `faults` log channel;
- one module per place a fault acts: `lambdas.py` (the runner), `sqs.py` and
  `streams.py` (the pollers), `gateway.py` (the WebSocket gateway), `ddb.py` (moto's
  DynamoDB process);
- `plan.py`: one stack's `FaultPlan`, built by `emulator.runtime`; `api.py`: its
  `GET /_duelctl/faults` route.

Only `spec` is imported here: moto's processes import `faults.ddb` and nothing else.
"""

from emulator.faults.spec import NAMES, FaultSpec, FaultSpecError, parse_spec

__all__ = ["NAMES", "FaultSpec", "FaultSpecError", "parse_spec"]
