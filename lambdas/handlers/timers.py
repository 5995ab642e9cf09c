"""SQS consumer for timer messages: invite expiry and duel end, chained past 900 s.

AWS: standard queues deliver at least once, possibly early relative to the deadline
after a chain, possibly twice (aws-fidelity §9); the session item decides, and a timer
that finds its session moved on is dropped. Records that raise are reported in
`batchItemFailures` so only they are retried (ReportBatchItemFailures).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from adapters import deps
from adapters.deps import Deps
from adapters.effects import carry_out
from adapters.events import records
from adapters.notifier import Notifier
from duel.machine import on_timer
from duel.timers import decode_timer

log = logging.getLogger(__name__)


def _process(d: Deps, notifier: Notifier, record: Mapping[str, Any]) -> None:
    timer = decode_timer(record["body"])
    now_ms = d.now_ms()
    outcome = d.sessions.run(
        timer.session_id, lambda session: on_timer(session, timer, now_ms, d.config.timing)
    )
    carry_out(outcome, d.timers, notifier, now_ms)


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    d = deps.get()
    notifier = d.notifier(d.config.management_url)
    failures: list[dict[str, str]] = []
    for record in records(event):
        try:
            _process(d, notifier, record)
        except Exception:
            log.exception("timer message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failures}
