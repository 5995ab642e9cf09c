"""Timer messages on moto SQS: body, per-message delay, 900 s cap."""

from __future__ import annotations

import json

from adapters.timer_queue import TimerQueue
from duel.timers import Timer, TimerKind
from duel.times import iso

NOW_MS = 1_767_225_600_000


def test_due_now_is_sent_without_delay(aws) -> None:
    """A timer already due is visible at once, with the documented JSON body."""
    queue = TimerQueue(aws.sqs, aws.queue_url)
    timer = Timer(TimerKind.INVITE_EXPIRY, "s1", iso(NOW_MS))
    assert queue.schedule(timer, NOW_MS) == 0
    (message,) = aws.sqs.receive_message(QueueUrl=aws.queue_url)["Messages"]
    assert json.loads(message["Body"]) == {
        "kind": "invite_expiry",
        "sessionId": "s1",
        "due": "2026-01-01T00:00:00.000Z",
    }


def test_future_timer_is_delayed(aws) -> None:
    """A timer 60 s out is sent with DelaySeconds=60 and is not visible yet."""
    queue = TimerQueue(aws.sqs, aws.queue_url)
    assert queue.schedule(Timer(TimerKind.INVITE_EXPIRY, "s1", iso(NOW_MS + 60_000)), NOW_MS) == 60
    assert "Messages" not in aws.sqs.receive_message(QueueUrl=aws.queue_url)


def test_far_timer_is_capped_for_chaining(aws) -> None:
    """A duel end an hour away is enqueued 900 s out; the consumer chains the rest."""
    queue = TimerQueue(aws.sqs, aws.queue_url)
    timer = Timer(TimerKind.DUEL_END, "s1", iso(NOW_MS + 3_600_000))
    assert queue.schedule(timer, NOW_MS) == 900
