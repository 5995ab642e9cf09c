"""One batch of SQS messages or stream records, with per-record failures reported.

AWS: with ReportBatchItemFailures the function answers `{"batchItemFailures":
[{"itemIdentifier": id}]}` and only those records are retried (SQS: by messageId; a
stream resumes at the lowest reported sequence number) (docs/aws-behaviour.md §8, §9).
A record is not started when the invocation is short of time: it is reported and
retried untouched rather than cut off half way by the timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from adapters import deps
from adapters.deps import Deps
from adapters.events import records
from adapters.notifier import Notifier

log = logging.getLogger(__name__)

Record = Mapping[str, Any]


def process_batch(
    event: Mapping[str, Any],
    notifier: Notifier,
    item_id: Callable[[Record], str],
    process: Callable[[Record], bool],
    *,
    what: str,
) -> dict[str, Any]:
    """Run `process` on each record of `event`; the answer names every record that raised,
    returned False (its work is not complete: retry it) or was left for lack of time.

    `item_id` is the record's identifier for the event source (messageId, sequence
    number); `what` names a record in log lines ("timer message", "stream record").
    """
    failures: list[dict[str, str]] = []
    for record in records(event):
        item = item_id(record)
        if notifier.short_of_time():
            log.warning("%s %s left for a retry: out of time", what, item)
            failures.append({"itemIdentifier": item})
            continue
        try:
            if not process(record):
                failures.append({"itemIdentifier": item})
        except Exception:
            log.exception("%s %s failed", what, item)
            failures.append({"itemIdentifier": item})
    return {"batchItemFailures": failures}


def consume_batch(
    event: Mapping[str, Any],
    context: object,
    item_id: Callable[[Record], str],
    process: Callable[[Deps, Notifier, object, Record], bool],
    *,
    what: str,
) -> dict[str, Any]:
    """A consumer's whole handler: `process(deps, notifier, context, record)` for each
    record, posting through the stage's @connections endpoint (process_batch)."""
    d = deps.get()
    notifier = d.notifier(d.config.management_url, context)

    def one(record: Record) -> bool:
        return process(d, notifier, context, record)

    return process_batch(event, notifier, item_id, one, what=what)


def message_id(record: Record) -> str:
    """An SQS record's identifier for batchItemFailures."""
    return str(record.get("messageId", ""))


def sequence_number(record: Record) -> str:
    """A DynamoDB stream record's identifier for batchItemFailures."""
    return str(record.get("dynamodb", {}).get("SequenceNumber", ""))
