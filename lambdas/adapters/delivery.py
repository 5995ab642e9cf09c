"""Exactly-once fan-out of endings across redeliveries: system endings (no_response,
timeout), and endings left to an accepting invocation (duel.machine.ending_left_to_accepter).

Timer messages and stream records are retried and duplicated (docs/aws-behaviour.md §8, §9),
and the transition they carry is committed before its frames are posted: a retry
finds the session already ended. So the ending's delivery is recorded on the session
item itself:

- `receipts` (string set): `<frame type>@<userId>` once every live connection of that
  user got the frame, `<frame type>#<connectionId>` for connections done while their
  user is not (a delivery cut short by time or a failing post);
- `lease` (epoch ms): the invocation delivering holds the ending until then. The
  transition's own write takes it (adapters/sessions.py) for the committing
  invocation's remaining time; a retry takes it over only once it has passed, with a
  conditional write that also fails when every user already has a receipt.

A retry therefore sends only what no receipt covers, and never while another
invocation may still be sending: that includes the accepting invocation of the session
until its `startLease` has passed (it may be announcing the ending itself, after
`start`). The one window left: an environment that dies between a post and the write
recording it resends that post (AWS has no transaction spanning @connections and
DynamoDB).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from adapters.connections import Connection
from adapters.dynamo import error_code
from adapters.notifier import Notifier
from adapters.sessions import LEASE, START_LEASE, session_from_item, session_key
from duel.machine import Ending, Notice
from duel.session import Session, Status

RECEIPTS = "receipts"
# Nobody may be delivering: no live delivery lease, and no accepting invocation that may
# still be posting `start` (placeholders #l, #sl, :now). A lease is held until, not at,
# its time: an invocation has ended once its deadline is reached.
_FREE = "(attribute_not_exists(#l) OR #l <= :now) AND (attribute_not_exists(#sl) OR #sl <= :now)"

log = logging.getLogger(__name__)


class LeaseHeld(Exception):
    """Another invocation is delivering this ending and may still be alive.

    The message at hand is reported failed: when it comes back, that invocation has
    either finished (every receipt written) or died (its lease has passed).
    """


def user_receipt(notice: Notice) -> str:
    return f"{notice.frame['type']}@{notice.user_id}"


def connection_receipt(notice: Notice, connection_id: str) -> str:
    return f"{notice.frame['type']}#{connection_id}"


class Receipts:
    """The delivery state on session items (see the module docstring)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def take_over(self, ending: Ending, now_ms: int, lease_until: int) -> frozenset[str] | None:
        """Take the delivery lease of an ending some user has no receipt for.

        Returns the receipts recorded so far, or None when there is nothing to do (every
        user has a receipt, or the session is gone). Raises LeaseHeld while an
        invocation that may still be alive holds the lease, or may still be posting
        `start` (and then the ending: its `startLease`).
        """
        keys = [user_receipt(n) for n in ending.notices]
        values: dict[str, Any] = {":now": {"N": str(now_ms)}, ":mine": {"N": str(lease_until)}}
        done = []
        for index, key in enumerate(keys):
            values[f":k{index}"] = {"S": key}
            done.append(f"contains(#r, :k{index})")
        condition = f"attribute_exists(sessionId) AND {_FREE}"
        names = {"#l": LEASE, "#sl": START_LEASE}
        if done:
            condition += f" AND NOT ({' AND '.join(done)})"
            names["#r"] = RECEIPTS
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=session_key(ending.session_id),
                UpdateExpression="SET #l = :mine",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            item: Mapping[str, Any] = err.response.get("Item") or {}
            recorded = set(item.get(RECEIPTS, {}).get("SS", []))
            if not item or recorded.issuperset(keys):
                return None
            raise LeaseHeld(ending.session_id) from None
        return frozenset(answer.get("Attributes", {}).get(RECEIPTS, {}).get("SS", []))

    def claim(
        self, session_id: str, now_ms: int, lease_until: int
    ) -> tuple[Session, frozenset[str]] | None:
        """Take the delivery lease of whatever ending a stopped session has stored.

        For an owed ending's timer, which knows only the session id: one write that also
        reads (no GetItem). Returns the session and its receipts, or None when there is
        no stopped session. Raises LeaseHeld as `take_over` does. Unlike `take_over` it
        cannot tell beforehand whether every receipt is in: `deliver` then posts nothing
        and its `record` gives the lease back.
        AWS: ReturnValues=ALL_NEW / ReturnValuesOnConditionCheckFailure=ALL_OLD return the
        item either way (docs/aws-behaviour.md §10).
        """
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression="SET #l = :mine",
                ConditionExpression=f"#s = :stopped AND {_FREE}",
                ExpressionAttributeNames={"#l": LEASE, "#sl": START_LEASE, "#s": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now_ms)},
                    ":mine": {"N": str(lease_until)},
                    ":stopped": {"S": Status.STOPPED.value},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            current = session_from_item(err.response.get("Item"))
            if current is None or current.status is not Status.STOPPED:
                return None
            raise LeaseHeld(session_id) from None
        item = answer.get("Attributes", {})
        session = session_from_item(item)
        if session is None:  # a lock item cannot pass the status condition; still, be sure
            return None
        return session, frozenset(item.get(RECEIPTS, {}).get("SS", []))

    def record(self, session_id: str, receipts: Sequence[str], complete: bool) -> None:
        """Add receipts; release the lease (for good when complete, for a retry otherwise)."""
        names = {"#l": LEASE}
        values: dict[str, Any] = {}
        parts = []
        if receipts:
            names["#r"] = RECEIPTS
            values[":r"] = {"SS": sorted(set(receipts))}
            parts.append("ADD #r :r")
        if complete:
            parts.append("REMOVE #l")
        else:
            values[":zero"] = {"N": "0"}
            parts.append("SET #l = :zero")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression=" ".join(parts),
                ConditionExpression="attribute_exists(sessionId)",
                ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            log.info("session %s vanished before its receipts were written", session_id)


def deliver(
    receipts: Receipts,
    notifier: Notifier,
    ending: Ending,
    done: frozenset[str] = frozenset(),
    known: Mapping[str, Sequence[Connection]] | None = None,
) -> bool:
    """Post what `done` does not cover, record it; True when every user is covered."""
    new: list[str] = []
    complete = True
    for notice in ending.notices:
        if user_receipt(notice) in done:
            continue
        connections = (known or {}).get(notice.user_id)
        if connections is None:
            connections = notifier.live(notice.user_id)
        pending = [
            c for c in connections if connection_receipt(notice, c.connection_id) not in done
        ]
        finished: list[str] = []
        out_of_time = False
        for conn in pending:
            if notifier.short_of_time():
                log.warning("ending of %s cut short: out of time", ending.session_id)
                out_of_time = True
                break
            posted = notifier.post(
                notice.user_id, conn.connection_id, notice.frame, conn.connected_at
            )
            if posted.settled:
                finished.append(connection_receipt(notice, conn.connection_id))
        if len(finished) == len(pending):
            new.append(user_receipt(notice))
        else:
            complete = False
            new.extend(finished)
        if out_of_time:
            break
    receipts.record(ending.session_id, new, complete)
    return complete
