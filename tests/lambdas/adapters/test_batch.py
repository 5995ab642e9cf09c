"""process_batch: which records a batch reports for a retry, and why."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.batch import message_id, process_batch, sequence_number
from adapters.events import EventError


class Clock:
    """Stands in for the Notifier: only `short_of_time` is asked."""

    def __init__(self, short_after: int) -> None:
        self.asked = 0
        self.short_after = short_after

    def short_of_time(self) -> bool:
        self.asked += 1
        return self.asked > self.short_after


def sqs(*ids: str) -> dict[str, Any]:
    return {"Records": [{"messageId": i, "body": i} for i in ids]}


def test_failed_false_and_unstarted_records_are_reported_in_order() -> None:
    def process(record: Any) -> bool:
        if record["body"] == "raises":
            raise RuntimeError("boom")
        return record["body"] != "incomplete"

    event = sqs("ok", "raises", "incomplete", "ok-2", "late")
    answer = process_batch(event, Clock(short_after=4), message_id, process, what="msg")
    assert answer == {
        "batchItemFailures": [
            {"itemIdentifier": "raises"},
            {"itemIdentifier": "incomplete"},
            {"itemIdentifier": "late"},  # not started: the invocation was short of time
        ]
    }


def test_a_record_left_for_lack_of_time_is_not_processed() -> None:
    seen: list[str] = []
    answer = process_batch(
        sqs("a", "b"),
        Clock(short_after=0),
        message_id,
        lambda r: seen.append(r["body"]) or True,
        what="m",
    )
    assert seen == [] and len(answer["batchItemFailures"]) == 2


def test_stream_records_are_named_by_sequence_number() -> None:
    record = {"dynamodb": {"SequenceNumber": "42"}}
    assert sequence_number(record) == "42" and message_id({"messageId": "m-1"}) == "m-1"


def test_an_event_without_records_is_a_wiring_bug() -> None:
    with pytest.raises(EventError):
        process_batch({}, Clock(0), message_id, lambda r: True, what="m")
