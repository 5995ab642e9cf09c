"""SQS long polling, done in the event loop: a waiting ReceiveMessage holds no thread.

moto's own long poll sleeps on a condition that nothing notifies when a delayed message
comes due (so it answered up to a second late), and it would hold the SQS turn while
sleeping. Here a ReceiveMessage with a wait (`WaitTimeSeconds` > 0, or the queue's
`ReceiveMessageWaitTimeSeconds`) is first answered by moto as the same request with
`WaitTimeSeconds=0`; if that finds nothing, the request is parked and asked again:

- after another SQS request on its queue (a send, a visibility change; after a receive
  also on that queue's dead-letter queue, where moto moves messages), and after a
  virtual-clock jump (`wake_all`);
- when the queue's next delayed or in-flight message comes due (moto's `delayed_until`
  and `visible_at`; at most `MAX_SLEEP_S` apart, in case a due time is missed);
- at its deadline, one last time, and that answer is sent whatever it holds.

Parked polls of one queue are retried oldest first and the retrying stops at the first
empty answer: the ones behind it would find the queue just as empty. AWS: "long polling
... returns messages as soon as they become available" (SQS developer guide, "Amazon
SQS short and long polling").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from emulator.services.moto.httpd import HttpRequest, HttpResponse, Reply
from emulator.services.moto.internal import queue_next_due_ms

MAX_SLEEP_S = 1.0
UNKNOWN_QUEUE_STEP_S = 0.05  # a queue moto does not have (yet): look again soon
QueueKey = tuple[str, str, str]  # (region, account, name)
Receive = Callable[[HttpRequest], HttpResponse]
# Actions after which no message of the queue can have become receivable.
_NOTHING_RECEIVABLE = frozenset(
    {
        "GetQueueAttributes",
        "GetQueueUrl",
        "ListQueues",
        "ListQueueTags",
        "ListDeadLetterSourceQueues",
        "TagQueue",
        "UntagQueue",
    }
)


@dataclass(slots=True)
class _Poll:
    short: HttpRequest  # the same ReceiveMessage with WaitTimeSeconds=0
    is_json: bool
    key: QueueKey | None
    deadline: float  # loop time
    reply: Reply


def region_of(request: HttpRequest) -> str:
    """The region of a SigV4-signed request (its credential scope), '' if unsigned."""
    try:
        return request.header("authorization").split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return ""


def queue_key(queue_url: object, region: str) -> QueueKey | None:
    """(region, account, name) from a QueueUrl (AWS's or moto's host, same path)."""
    if not isinstance(queue_url, str):
        return None
    parts = queue_url.rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2].isdigit():
        return None
    return region, parts[-2], parts[-1]


def find_queue(key: QueueKey | None) -> Any:
    """moto's queue object for `key`, or None."""
    if key is None:
        return None
    from moto.sqs.models import sqs_backends

    region, account, name = key
    try:
        return sqs_backends[account][region].queues.get(name)
    except KeyError:
        return None


def request_params(request: HttpRequest) -> tuple[str, dict[str, Any], bool]:
    """(action, parameters, json protocol?) of an SQS request."""
    target = request.header("x-amz-target")
    if target:
        try:
            params = json.loads(request.body or b"{}")
        except ValueError:
            params = {}
        return target.partition(".")[2], params if isinstance(params, dict) else {}, True
    form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return form.get("Action", ""), form, False


def _wait_seconds(raw: object, key: QueueKey | None) -> float | None:
    """The long-poll wait of a ReceiveMessage, or None to hand it to moto unchanged.

    Out-of-range values go to moto so it answers AWS's InvalidParameterValue. Without
    WaitTimeSeconds the queue's ReceiveMessageWaitTimeSeconds applies (SQS API reference).
    """
    if raw is None:
        raw = int(getattr(find_queue(key), "receive_message_wait_time_seconds", 0) or 0)
    try:
        wait = int(str(raw))
    except ValueError:
        return None
    if wait < 0 or wait > 20:
        return None
    return float(wait)


def _has_messages(response: HttpResponse, *, is_json: bool) -> bool:
    if not is_json:
        return b"<Message>" in response.body
    try:
        return bool(json.loads(response.body or b"{}").get("Messages"))
    except (ValueError, AttributeError):
        return True  # not ours to judge: hand it back


class LongPolls:
    """The parked ReceiveMessage calls of one process (see the module docstring)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._parked: list[_Poll] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False

    @property
    def waiting(self) -> int:
        return len(self._parked)

    def handle(self, request: HttpRequest, reply: Reply) -> None:
        """Answer any SQS request: a long poll here, anything else by moto, then wake."""
        action, params, is_json = request_params(request)
        key = queue_key(params.get("QueueUrl"), region_of(request))
        wait = None
        if action == "ReceiveMessage" and not self._closing:
            wait = _wait_seconds(params.get("WaitTimeSeconds"), key)
        if not wait:
            reply(self._receive(request))
            if self._parked:
                self.wake(self._touched(action, key, params))
            return
        short = self._without_wait(request, params, is_json)
        response = self._receive(short)
        if response.status != 200 or _has_messages(response, is_json=is_json):
            reply(response)
            if self._parked:
                self.wake(self._touched(action, key, params))
            return
        loop = asyncio.get_running_loop()
        self._parked.append(_Poll(short, is_json, key, loop.time() + wait, reply))
        self._schedule()

    def _without_wait(
        self, request: HttpRequest, params: dict[str, Any], is_json: bool
    ) -> HttpRequest:
        params = dict(params)
        params["WaitTimeSeconds"] = 0 if is_json else "0"
        body = json.dumps(params).encode() if is_json else urlencode(params).encode()
        headers = [(k, v) for k, v in request.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        return replace(request, headers=headers, body=body, _lower=None)

    def _touched(
        self, action: str, key: QueueKey | None, params: dict[str, Any]
    ) -> set[QueueKey] | None:
        """The queues a request may have given a receivable message; None = any."""
        if action in _NOTHING_RECEIVABLE:
            return set()
        if key is None:
            return None
        if action in ("DeleteMessage", "DeleteMessageBatch"):
            # Only a FIFO queue can hold a message back for another (its group's).
            return {key} if getattr(find_queue(key), "fifo_queue", True) else set()
        if action == "SendMessage":
            delay = params.get("DelaySeconds")
            if delay is None:
                delay = getattr(find_queue(key), "delay_seconds", 0)
            with contextlib.suppress(TypeError, ValueError):
                if int(str(delay)) > 0:
                    return set()  # due later: the timer (rescheduled by wake) sees to it
            return {key}
        if action == "ReceiveMessage":  # moto moves messages to the DLQ on receive
            policy = getattr(find_queue(key), "redrive_policy", None) or {}
            arn = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
            if isinstance(arn, str) and arn.count(":") >= 5:
                _, _, _, region, account, name = arn.split(":", 5)
                return {(region, account, name)}
            return set()
        return {key}

    def wake(self, queues: set[QueueKey] | None = None) -> None:
        """Ask moto again for the parked polls of `queues` (None: all), oldest first."""
        if not self._parked:
            return
        empty: set[QueueKey | None] = set()
        for poll in list(self._parked):
            if not poll.reply.open:
                # The client gave up: receiving for it would hide messages from everyone
                # else until their visibility timeout.
                self._parked.remove(poll)
                continue
            if queues is not None and poll.key not in queues:
                continue
            if poll.key in empty and poll.key is not None:
                continue
            response = self._receive(poll.short)
            if response.status == 200 and not _has_messages(response, is_json=poll.is_json):
                empty.add(poll.key)
                continue
            self._parked.remove(poll)
            poll.reply(response)
        self._schedule()

    def close(self) -> None:
        """Answer every parked poll now (the server stops)."""
        self._closing = True
        parked, self._parked = self._parked, []
        for poll in parked:
            poll.reply(self._receive(poll.short))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ timing

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parked:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = min(poll.deadline for poll in self._parked)
        for delay in self._due_delays():
            at = min(at, now + delay)
        self._timer = loop.call_at(max(at, now), self._tick)

    def _due_delays(self) -> list[float]:
        """Seconds until each parked queue's next message comes due (capped)."""
        delays = []
        now_ms = time.time() * 1000
        for key in {poll.key for poll in self._parked}:
            queue = find_queue(key)
            if queue is None:
                delays.append(UNKNOWN_QUEUE_STEP_S)
                continue
            due = queue_next_due_ms(queue, now_ms)
            delays.append(MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, (due - now_ms) / 1000))
        return delays

    def _tick(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        expired = [poll for poll in self._parked if poll.deadline <= now]
        for poll in expired:
            self._parked.remove(poll)
            if poll.reply.open:
                poll.reply(self._receive(poll.short))
        self.wake(None)  # due messages (or a missed change): retry; reschedules


__all__ = ["LongPolls", "find_queue", "queue_key", "region_of", "request_params"]
