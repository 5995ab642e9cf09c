"""moto as the emulator runs it: one process per service group, served without a framework.

`emulator.services.moto_server.MotoServer` starts and stops it; the modules here are what
runs inside moto's processes, plus the facts both sides share:

- `groups`: which AWS services each process serves, the per-service endpoint variables
  handlers get, and how a request or a host name maps to its group. No moto import.
- `httpd`: a small asyncio HTTP/1.1 keep-alive server (no moto, no WSGI).
- `dispatch`: a parsed request into moto's own response classes (`BaseResponse.dispatch`
  through the service's URL map), Flask only for services outside the hot path.
- `app`: one process's request handling: virtual-clock sync, DynamoDB one at a time,
  Streams iterator expiry, relaying to sibling processes (the front), internal routes.
- `relay`: the front passing DynamoDB and SQS requests on to their groups' processes.
- `sqs_wait`: SQS long polls parked in the event loop until a message may be there.
- `internal`: the `/_duelctl/` routes and the client the emulator calls them with.
- `patches`: the changes to moto's algorithms, gated on the moto versions checked.
- `child`: the child process's main: import moto once, fork one process per group.

Environment: `DUELCTL_MOTO_DIRECT=0` sends every request through moto's Flask app, and
`DUELCTL_MOTO_PATCHES=0` runs moto's own algorithms (escape hatches; the bench's A/B).
"""
