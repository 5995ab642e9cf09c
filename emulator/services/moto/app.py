"""One moto process's request handling: the behaviour AWS has and moto's server lacks.

Each request first moves this process's clock to the stack's virtual time (when the
stack runs one: env `DUELCTL_CLOCK_FILE`, `emulator/timesync.py`), then:

- `/_duelctl/...`: the emulator's internal routes (`internal.py`), plus `clock/sync`
  (adopt the current virtual time now and ask parked long polls again, so a jump is
  seen at once) and `stats`.
- A request for another group's service, in the front process: relayed as it came to
  that group's process (`relay.py`), so one URL answers every service.
- DynamoDB and Streams: one request at a time. moto's `put_item`/`update_item` read the
  item, evaluate the condition and write with no lock, so two concurrent conditional
  writes could both win; DynamoDB guarantees one winner (docs/aws-behaviour.md §10,
  §14; tests/emulator/services/race_without_lock.py shows moto's server letting two
  win). Here requests are handled one after another on the event loop, under a
  per-service lock that also orders the servers sharing one process in thread mode.
  Shard iterators expire after 15 minutes as in AWS (moto keeps them forever, a leak at
  4 polls a second, and answers an unknown one with a 500).
- SQS: one at a time too (moto's `delete_message` rebuilds the message list without its
  lock), long polls parked in the loop (`sqs_wait.py`).
- Anything else (Cognito, other services, `/moto-api`): moto, one at a time.

Fault mode's `ddb-throttle` (env `DUELCTL_FAULTS`, `emulator/faults/ddb.py`) answers a
share of DynamoDB writes with AWS's throttling errors before moto sees them; what it
answered is read at `GET /_duelctl/faults?after=N`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from emulator.faults import ddb as ddb_faults
from emulator.services.moto import groups, internal, patches
from emulator.services.moto.dispatch import Dispatcher, fast_backend
from emulator.services.moto.httpd import HttpRequest, HttpResponse, Reply
from emulator.services.moto.relay import Relay
from emulator.services.moto.sqs_wait import LongPolls

ALL = "all"  # one process serving every group
# "0": every request through moto's Flask app (an escape hatch, and the bench's A/B).
DIRECT_ENV = "DUELCTL_MOTO_DIRECT"

# AWS: a shard iterator expires 15 minutes after it is returned (DynamoDB Streams API
# reference, GetShardIterator).
SHARD_ITERATOR_TTL_S = 900.0
PRUNE_EVERY_S = 60.0

# One turn per group for the whole process: moto's backends are process-wide, and in
# thread mode several servers (each on its own loop thread) share them.
_TURNS = {group: threading.Lock() for group in groups.GROUPS}
# Thread-mode servers of one process share moto's queues, so a change seen by one must
# wake the long polls parked in another.
_SQS_LISTENERS: list[tuple[asyncio.AbstractEventLoop, LongPolls]] = []
_LISTENERS_LOCK = threading.Lock()

# Warmed in the background as soon as a group serves: moto's models and routes of the
# services provisioning asks for first. moto's Flask app (other services, /moto-api,
# browsers) is built on its first use instead: at start-up every core is busy.
WARM: Mapping[str, tuple[str, ...]] = {
    groups.DYNAMODB: ("dynamodb", "dynamodbstreams"),
    groups.SQS: ("sqs",),
    groups.DEFAULT: ("cognitoidp",),
    ALL: ("dynamodb", "dynamodbstreams", "sqs", "cognitoidp"),
}


def json_response(status: int, body: object) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(body).encode())


class MotoApp:
    """The request handler (`httpd.Handler`) of one moto process or thread-mode server.

    `group` is the group this process serves (`groups.GROUPS`, or "all"); `relays` maps
    the groups served elsewhere to their `(host, port)` (the front only); `follower` is
    the virtual clock's `timesync.Follower`, if the stack runs one.
    """

    def __init__(
        self,
        group: str,
        server: tuple[str, int],
        *,
        relays: Mapping[str, tuple[str, int]] | None = None,
        follower: Any = None,
        direct: bool | None = None,
        faults: Mapping[str, str] | None = None,
    ) -> None:
        self.group = group
        self._follower = follower
        # Fault mode's ddb-throttle (emulator/faults/ddb.py): from the environment the
        # stack gave this process, or `faults` (thread mode shares the parent's).
        self._throttle = ddb_faults.from_env(faults)
        if direct is None:
            direct = patches.checked() and os.environ.get(DIRECT_ENV, "1") != "0"
        self.dispatcher = Dispatcher(server, direct=direct)
        self.polls = LongPolls(self._sqs_receive)
        self.relay = Relay(relays or {})
        self._iterator_births: dict[str, float] = {}
        self._last_prune = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ lifecycle

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called on the serving loop before the first request."""
        self._loop = loop
        with _LISTENERS_LOCK:
            _SQS_LISTENERS.append((loop, self.polls))

    async def aclose(self) -> None:
        """Answer parked long polls and close relayed connections."""
        with _LISTENERS_LOCK:
            _SQS_LISTENERS[:] = [(lp, p) for lp, p in _SQS_LISTENERS if p is not self.polls]
        self.polls.close()
        await self.relay.aclose()

    def warm(self) -> None:
        """Load this group's moto models and routes (blocking; run it in a thread)."""
        self.dispatcher.warm(WARM.get(self.group, ()))

    # ------------------------------------------------------------------ requests

    def handle(self, request: HttpRequest, reply: Reply) -> None:
        """Answer one request (module docstring), now or, for a long poll, later."""
        self._sync()
        path = request.path
        if path.startswith(internal.PREFIX):
            self._internal(request, reply)
            return
        target = request.header("x-amz-target")
        authorization = request.header("authorization")
        group = groups.group_of_request(target, authorization)
        if self.relay.serves(group):
            self.relay.forward(group, request, reply)
            return
        backend = fast_backend(target, authorization, path)
        if group == groups.DYNAMODB:
            reply(self._dynamodb(request, target, backend))
        elif group == groups.SQS:
            self.polls.handle(request, reply)
            if len(_SQS_LISTENERS) > 1:  # thread mode: servers sharing this moto
                self._notify_thread_servers()
        else:
            with _TURNS[groups.DEFAULT]:
                reply(self.dispatcher.handle(request, backend))

    def _sync(self) -> None:
        if self._follower is not None:
            self._follower.sync()

    def _dynamodb(self, request: HttpRequest, target: str, backend: str | None) -> HttpResponse:
        if self._throttle is not None:
            # Before moto: a throttled write changes nothing, as on AWS.
            throttled = self._throttle.answer(
                target, request.body, request.header("user-agent"), request.header("authorization")
            )
            if throttled is not None:
                return HttpResponse(*throttled)
        with _TURNS[groups.DYNAMODB]:
            if target == "DynamoDBStreams_20120810.GetRecords" and _unknown_iterator(request.body):
                return _expired_iterator()
            response = self.dispatcher.handle(request, backend)
            if target.startswith("DynamoDBStreams_"):
                self._prune_shard_iterators()
            return response

    def _sqs_receive(self, request: HttpRequest) -> HttpResponse:
        self._sync()  # also for retries from the poll timer
        backend = fast_backend(
            request.header("x-amz-target"), request.header("authorization"), request.path
        )
        with _TURNS[groups.SQS]:
            return self.dispatcher.handle(request, backend)

    # ------------------------------------------------------------------ internal routes

    def _internal(self, request: HttpRequest, reply: Reply) -> None:
        parts = [unquote(p) for p in request.path[len(internal.PREFIX) :].split("/")]
        if parts and parts[0] in (groups.DYNAMODB, groups.SQS) and self.relay.serves(parts[0]):
            self.relay.forward(parts[0], request, reply)
            return
        if request.method == "GET" and parts == ["faults"]:
            # What ddb-throttle answered, for the parent's counts and log (faults/ddb.py).
            after = parse_qs(request.target.partition("?")[2]).get("after", ["0"])[0]
            throttle = self._throttle
            report = throttle.report(int(after) if after.isdigit() else 0) if throttle else {}
            reply(json_response(200, report))
            return
        try:
            body = json.loads(request.body or b"{}")
            reply(self._route(request.method, parts, body))
        except (ValueError, KeyError, TypeError) as exc:
            reply(json_response(400, {"message": str(exc)}))

    def _route(self, method: str, parts: list[str], body: Any) -> HttpResponse:
        if method == "GET" and parts == ["stats"]:
            return json_response(200, self.stats())
        if method == "POST" and parts == ["clock", "sync"]:
            self.polls.wake(None)
            self._notify_thread_servers()
            offset = getattr(self._follower, "_applied", 0.0) if self._follower else 0.0
            return json_response(200, {"offset": offset, "now": time.time()})
        if method == "GET" and parts == ["next-due"]:
            return json_response(200, {"due": self.next_due()})
        if parts[:2] == ["cognito", "pools"] and len(parts) >= 3:
            with _TURNS[groups.DEFAULT]:
                status, answer = internal.cognito_route(method, parts[2:], body)
            return json_response(status, answer)
        if method == "POST" and parts == ["dynamodb", "ttl-expired"]:
            with _TURNS[groups.DYNAMODB]:
                return json_response(200, {"items": internal.ttl_expired(body)})
        return json_response(404, {"message": "no such internal route"})

    def _notify_thread_servers(self) -> None:
        with _LISTENERS_LOCK:
            others = [(lp, p) for lp, p in _SQS_LISTENERS if p is not self.polls]
        for loop, polls in others:
            if not loop.is_closed():
                loop.call_soon_threadsafe(polls.wake, None)

    def stats(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "pid": os.getpid(),
            "long_polls_waiting": self.polls.waiting,
            "speedups": list(patches.APPLIED),
            "direct": self.dispatcher.direct,
            "moto": patches.moto_version(),
        }

    def next_due(self) -> float | None:
        """The next moment something this process holds comes due by itself (epoch s)."""
        now = time.time()
        dues: list[float | None] = []
        if self.group in (groups.SQS, ALL):
            with _TURNS[groups.SQS]:
                dues.append(internal.sqs_next_due(now))
        if self.group in (groups.DYNAMODB, ALL):
            with _TURNS[groups.DYNAMODB]:
                dues.append(internal.ttl_next_due(now))
        known = [due for due in dues if due is not None]
        return min(known) if known else None

    # ------------------------------------------------------------------ Streams

    def _prune_shard_iterators(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        alive: set[str] = set()
        backend: Any
        for _account, _region, backend in dynamodbstreams_backends.iter_backends():
            iterators = backend.shard_iterators
            for arn in list(iterators):
                born = self._iterator_births.setdefault(arn, now)
                if now - born > SHARD_ITERATOR_TTL_S:
                    del iterators[arn]
                else:
                    alive.add(arn)
        self._iterator_births = {a: t for a, t in self._iterator_births.items() if a in alive}


def _unknown_iterator(body: bytes) -> bool:
    """True if a GetRecords names an iterator moto no longer (or never) had."""
    try:
        iterator = json.loads(body or b"{}").get("ShardIterator")
    except (ValueError, AttributeError):
        return False
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    backend: Any
    for _account, _region, backend in dynamodbstreams_backends.iter_backends():
        if iterator in backend.shard_iterators:
            return False
    return True


def _expired_iterator() -> HttpResponse:
    """AWS's answer to a GetRecords with an expired iterator; moto would crash (500)."""
    return HttpResponse(
        400,
        [("Content-Type", "application/x-amz-json-1.0")],
        json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
                "message": "Iterator expired. The iterator was created at a time more than "
                "15 minutes ago.",
            }
        ).encode(),
    )


__all__ = ["ALL", "WARM", "MotoApp", "json_response"]
