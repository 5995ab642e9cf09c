"""User locks: at most one pending or active session per user, whatever the interleaving.

A lock is the item `sessionId = "USER#<userId>"` in the Sessions table, with `holder`
(the session that last claimed the user) and its own `expireAt`. A lock whose holder
is stopped, past its deadline or gone is free, so nothing ever releases a lock. Lock
items have no userA/userB, so they stay out of both GSIs.

An invite is one TransactWriteItems: put the session, re-point both locks (each
conditioned on holding exactly the holder read), and a ConditionCheck that every
holder relied on is stopped or gone (docs/protocol.md: "a transaction that relies on a
user's previous session being over checks that in the same write"). Checking the
locks alone is not enough: an accept decided before its invite's deadline may be
written after this invite read the lock and found that invite overdue.
AWS: all items or none, and each failed condition returns its item
(ReturnValuesOnConditionCheckFailure), so a lost race costs no read (docs/aws-behaviour.md §10).

A transaction cancelled without a failed condition (`TransactionConflict`: another
transaction held one of its items; or throttled) taught nothing: the invite waits a
short random time before trying again, as AWS advises for conflicts, but never so long
that the frames still to post could not be posted. Should every try fail, the answer is
`user_busy` (docs/protocol.md, Error codes): nothing was written, and what kept the
transaction failing was other requests engaging one of the two users at that moment.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from adapters.dynamo import error_code, usable_key
from adapters.notifier import POST_RESERVE_MS, never_short_of_time
from adapters.sessions import (
    LOCK_PREFIX,
    MAX_ATTEMPTS,
    SessionsRepository,
    session_from_item,
    session_key,
    session_to_item,
)
from duel.errors import DuelError, ErrorCode
from duel.machine import Outcome, Timing, Transition, is_engaged, lock_expire_at, settle
from duel.session import Session, Status

# AWS: BatchGetItem takes at most 100 keys per call (DynamoDB API reference).
BATCH_GET_LIMIT = 100
BATCH_GET_RETRIES = 5
# Cancellation reasons that name no failed condition, only contention; AWS advises
# retrying them with backoff (DynamoDB dev guide, "Transaction conflict handling").
CONTENTION = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
# Full jitter: a random wait up to BASE * 2**attempt ms, at most CAP ms.
BACKOFF_BASE_MS = 25
BACKOFF_CAP_MS = 250
GAVE_UP = "another request is changing your or the invitee's duels; try again"

log = logging.getLogger(__name__)


def lock_key(user_id: str) -> dict[str, Any]:
    return session_key(LOCK_PREFIX + user_id)


class _Try(Enum):
    """What one invite transaction came to."""

    CREATED = "created"
    CHANGED = "changed"  # a condition failed: `known` learned what changed
    CONTENDED = "contended"  # cancelled for contention alone: nothing learned


@dataclass
class _Knowledge:
    """What an invite knows about the locks and their holders, refreshed by lost races."""

    holders: dict[str, str | None]  # user -> holder session id as last seen
    sessions: dict[str, Session | None] = field(default_factory=dict)  # holder id -> item


class LockRepository:
    def __init__(
        self,
        client: Any,
        table: str,
        sessions: SessionsRepository,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        self._sessions = sessions
        self._sleep = sleep

    def holder(self, user_id: str) -> str | None:
        """The session id in the user's lock item (consistent read), if there is one."""
        return self._holders([user_id])[user_id]

    def open_invite(
        self,
        transition: Transition,
        now_ms: int,
        timing: Timing,
        on_settled: Callable[[Transition], object],
        lease_until: int | None = None,
        time_left: Callable[[], int] = never_short_of_time,
    ) -> None:
        """Create the pending session of `transition` if neither user is busy.

        Raises DuelError(user_busy) when a lock's holder is still pending or active, or
        when the transaction kept failing (see the module docstring; `time_left`, the
        invocation's remaining ms, bounds the waits between tries). A holder past its
        deadline is ended first, and `on_settled` announces that at once (its users hear
        no_response/timeout now, not when its timer comes). Busy is decided on
        everything known before anything is settled, so an error never follows an
        ending nobody was told about.
        """
        session = transition.after
        users = (session.user_a, session.user_b)
        known = _Knowledge(self._holders(users))
        for attempt in range(MAX_ATTEMPTS):
            for user in users:
                holder_id = known.holders[user]
                if holder_id is not None and is_engaged(known.sessions.get(holder_id), now_ms):
                    who = "you are" if user == session.user_a else "the invitee is"
                    raise DuelError(
                        ErrorCode.USER_BUSY, f"{who} already in a pending or active duel"
                    )
            for holder_id, held in list(known.sessions.items()):
                if held is None or held.status is Status.STOPPED:
                    continue
                # Neither engaged nor stopped: past its deadline, so end it now.
                outcome = self._sessions.decide_and_save(
                    holder_id, held, lambda s: _settle_outcome(s, now_ms, timing), lease_until
                )
                if outcome.transition is not None:
                    on_settled(outcome.transition)
                    known.sessions[holder_id] = outcome.transition.after
                else:  # it moved on under us: the transaction's check will tell
                    known.sessions.pop(holder_id)
            result = self._try_create(session, known, lock_expire_at(session, timing))
            if result is _Try.CREATED:
                return
            last = attempt == MAX_ATTEMPTS - 1
            if result is _Try.CONTENDED and (last or not self._back_off(attempt, time_left)):
                break
        log.warning("invite %s: the locks of %s kept changing; gave up", session.session_id, users)
        raise DuelError(ErrorCode.USER_BUSY, GAVE_UP)

    def _back_off(self, attempt: int, time_left: Callable[[], int]) -> bool:
        """Wait a jittered while before the next try; False if there is no time for it."""
        wait_ms = random.uniform(0, min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2**attempt))
        if time_left() - wait_ms < POST_RESERVE_MS:
            return False
        self._sleep(wait_ms / 1000)
        return True

    def _try_create(self, session: Session, known: _Knowledge, lock_expire: int) -> _Try:
        """One transaction; on a lost race, `known` learns what the failed conditions saw."""
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": session_to_item(session),
                    "ConditionExpression": "attribute_not_exists(sessionId)",
                }
            }
        ]
        users = list(known.holders)
        for user_id in users:
            holder_id = known.holders[user_id]
            put: dict[str, Any] = {
                "TableName": self._table,
                "Item": {
                    **lock_key(user_id),
                    "holder": {"S": session.session_id},
                    "expireAt": {"N": str(lock_expire)},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if holder_id is None:
                put["ConditionExpression"] = "attribute_not_exists(sessionId)"
            else:
                put["ConditionExpression"] = "holder = :seen"
                put["ExpressionAttributeValues"] = {":seen": {"S": holder_id}}
            items.append({"Put": put})
        checked = [h for h in dict.fromkeys(known.holders.values()) if h is not None]
        for holder_id in checked:
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": session_key(holder_id),
                        "ConditionExpression": "attribute_not_exists(sessionId) OR #s = :stopped",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":stopped": {"S": Status.STOPPED.value}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as err:
            if error_code(err) != "TransactionCanceledException":
                raise
            reasons = err.response.get("CancellationReasons") or []
            codes = [r.get("Code") for r in reasons]
            log.info("invite %s lost a race: %s", session.session_id, codes)
            _learn(known, users, checked, reasons)
            if "ConditionalCheckFailed" not in codes and CONTENTION.intersection(codes):
                return _Try.CONTENDED
            return _Try.CHANGED
        return _Try.CREATED

    def _holders(self, users: Iterable[str]) -> dict[str, str | None]:
        """Each user's lock holder, in one consistent BatchGetItem."""
        wanted = list(dict.fromkeys(users))
        locks = self.batch_get(
            [LOCK_PREFIX + u for u in wanted if usable_key(LOCK_PREFIX + u)], True
        )
        return {user: _holder_of(locks.get(LOCK_PREFIX + user)) for user in wanted}

    def current_sessions(self, user_ids: Iterable[str]) -> dict[str, Session | None]:
        """Each user's lock holder as a session (None: no lock, or holder gone).

        Two BatchGetItem rounds, locks then holders: /online needs every user's status
        without a query per user.
        """
        users = [user for user in dict.fromkeys(user_ids) if usable_key(LOCK_PREFIX + user)]
        locks = self.batch_get([LOCK_PREFIX + user for user in users])
        holders = {user: _holder_of(locks.get(LOCK_PREFIX + user)) for user in users}
        items = self.batch_get([h for h in dict.fromkeys(holders.values()) if h])
        return {user: session_from_item(items.get(holders[user] or "")) for user in users}

    def batch_get(self, ids: list[str], consistent: bool = False) -> dict[str, dict[str, Any]]:
        """Items by sessionId, BATCH_GET_LIMIT keys a call, unprocessed keys retried."""
        found: dict[str, dict[str, Any]] = {}
        for first in range(0, len(ids), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [session_key(i) for i in ids[first : first + BATCH_GET_LIMIT]],
                    **({"ConsistentRead": True} if consistent else {}),
                }
            }
            for retry in range(BATCH_GET_RETRIES + 1):
                page = self._client.batch_get_item(RequestItems=request)
                for item in page.get("Responses", {}).get(self._table, []):
                    found[item["sessionId"]["S"]] = item
                # AWS: keys it could not read come back as UnprocessedKeys, to be asked
                # for again with exponential backoff (DynamoDB API reference, BatchGetItem).
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
                if retry == BATCH_GET_RETRIES:
                    raise RuntimeError(f"BatchGetItem left keys unprocessed: {request}")
                time.sleep(0.05 * 2**retry)
        return found


def _holder_of(lock: Mapping[str, Any] | None) -> str | None:
    return lock["holder"]["S"] if lock and "holder" in lock else None


def _learn(
    known: _Knowledge, users: list[str], checked: list[str], reasons: list[Mapping[str, Any]]
) -> None:
    """Update `known` from CancellationReasons (in TransactItems order: session, locks, checks).

    A failed lock condition returns the lock as it is (no item: it vanished); a failed
    holder check returns the holder, pending or active. A check that passed says nothing
    certain (the transaction may have stopped evaluating), so it is left to the next try.
    """
    for offset, user in enumerate(users, start=1):
        reason = reasons[offset] if offset < len(reasons) else {}
        if reason.get("Code") == "ConditionalCheckFailed":
            known.holders[user] = _holder_of(reason.get("Item"))
    known.sessions.clear()
    for offset, holder_id in enumerate(checked, start=1 + len(users)):
        reason = reasons[offset] if offset < len(reasons) else {}
        if reason.get("Code") == "ConditionalCheckFailed":
            known.sessions[holder_id] = session_from_item(reason.get("Item"))


def _settle_outcome(session: Session | None, now_ms: int, timing: Timing) -> Outcome:
    return Outcome(transition=None if session is None else settle(session, now_ms, timing))
