"""Backstop on the Sessions stream: tell both users about a session TTL removed while live.

The template's filter passes only TTL REMOVEs. TTL is never the timer (it deletes days
late, aws-fidelity §7); it only catches what the queue missed, so a session it removes
while pending ends as no_response and one removed while active as timeout. Lock items
and stopped sessions say nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from adapters import deps
from adapters.events import records
from adapters.notifier import Notifier
from adapters.sessions import session_from_item
from duel.machine import on_ttl_removed

log = logging.getLogger(__name__)


def _process(notifier: Notifier, record: Mapping[str, Any]) -> None:
    if record.get("eventName") != "REMOVE":
        return
    image = record.get("dynamodb", {}).get("OldImage")
    notifier.send(on_ttl_removed(session_from_item(image)))


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    d = deps.get()
    notifier = d.notifier(d.config.management_url)
    failures: list[dict[str, str]] = []
    for record in records(event):
        try:
            _process(notifier, record)
        except Exception:
            sequence = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
            log.exception("stream record %s failed", sequence)
            failures.append({"itemIdentifier": sequence})
    return {"batchItemFailures": failures}
