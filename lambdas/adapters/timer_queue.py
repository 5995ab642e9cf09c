"""Enqueue timer messages on the SQS queue with a per-message delay."""

from __future__ import annotations

from typing import Any

from duel.timers import Timer, delay_seconds, encode_timer


class TimerQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def schedule(self, timer: Timer, now_ms: int) -> int:
        """Send `timer` to arrive at its due time, or after 900 s if that is further away.

        Returns the DelaySeconds used. AWS: a per-message DelaySeconds (0..900) wins over
        the queue's (docs/aws-behaviour.md §9); the consumer chains what remains.
        """
        delay = delay_seconds(timer.due_ms, now_ms)
        self._client.send_message(
            QueueUrl=self._url, MessageBody=encode_timer(timer), DelaySeconds=delay
        )
        return delay
