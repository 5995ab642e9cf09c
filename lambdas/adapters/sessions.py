"""The `Sessions` table: session items, per-user lock items, and exactly-once writes.

Every transition is a conditional write on the status it was decided from; a write
that loses a race reads the winner's item and decides again (aws-fidelity §10).

User locks make `user_busy` atomic: item `sessionId = "USER#<userId>"` with `holder`
(the session that last claimed the user) and its own `expireAt`. An invite puts the
session and both locks in one TransactWriteItems, each lock conditioned on being
exactly as it was read. A lock whose holder is stopped, past its deadline or gone is
free, so nothing has to release locks. Lock items have no userA/userB, so they stay
out of both GSIs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from adapters.dynamo import all_items, error_code, usable_key
from duel.errors import DuelError, ErrorCode
from duel.machine import Outcome, Timing, Transition, is_engaged, lock_expire_at, settle
from duel.session import EndReason, Session, Status

LOCK_PREFIX = "USER#"
# Statuses only move forward (pending -> active -> stopped), so a decision loses at
# most two races before it sees a final state.
MAX_ATTEMPTS = 4
# AWS: BatchGetItem takes at most 100 keys per call (DynamoDB API reference).
BATCH_GET_LIMIT = 100
BATCH_GET_RETRIES = 5

log = logging.getLogger(__name__)

_OPTIONAL = {"startAt": "start_at", "endsAt": "ends_at", "endReason": "end_reason"}


def session_to_item(session: Session) -> dict[str, Any]:
    """The item with exactly protocol.md's fields; absent ones are left out."""
    item: dict[str, Any] = {
        "sessionId": {"S": session.session_id},
        "userA": {"S": session.user_a},
        "userB": {"S": session.user_b},
        "status": {"S": session.status.value},
        "createdAt": {"S": session.created_at},
        "expiresAt": {"S": session.expires_at},
        "expireAt": {"N": str(session.expire_at)},
    }
    optional = {
        "startAt": session.start_at,
        "endsAt": session.ends_at,
        "endReason": session.end_reason.value if session.end_reason else None,
        "endedBy": session.ended_by,
    }
    item.update({key: {"S": value} for key, value in optional.items() if value is not None})
    return item


def session_from_item(item: Mapping[str, Any] | None) -> Session | None:
    """A session from a table item or stream image; None for a lock item or nothing.

    Images in Streams records use the same attribute-value form as GetItem (aws-fidelity §8).
    """
    if not item or "userA" not in item or "userB" not in item:
        return None

    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    end_reason = text("endReason")
    return Session(
        session_id=item["sessionId"]["S"],
        user_a=item["userA"]["S"],
        user_b=item["userB"]["S"],
        status=Status(item["status"]["S"]),
        created_at=item["createdAt"]["S"],
        expires_at=item["expiresAt"]["S"],
        expire_at=int(item["expireAt"]["N"]),
        start_at=text("startAt"),
        ends_at=text("endsAt"),
        end_reason=EndReason(end_reason) if end_reason else None,
        ended_by=text("endedBy"),
    )


def lock_key(user_id: str) -> dict[str, Any]:
    return {"sessionId": {"S": LOCK_PREFIX + user_id}}


class TransitionConflict(Exception):
    """The conditional write lost: `current` is the item as the winner left it."""

    def __init__(self, current: Session | None) -> None:
        super().__init__("session changed since it was read")
        self.current = current


class SessionsRepository:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # ------------------------------------------------------------ sessions

    def get(self, session_id: str) -> Session | None:
        """A consistent read; None for no such session (lock ids and unusable keys included)."""
        if not usable_key(session_id) or session_id.startswith(LOCK_PREFIX):
            return None
        item = self._client.get_item(
            TableName=self._table, Key={"sessionId": {"S": session_id}}, ConsistentRead=True
        ).get("Item")
        return session_from_item(item)

    def save(self, transition: Transition) -> None:
        """Write `transition.after` if the item still has `transition.before`'s status.

        Raises TransitionConflict with the current item otherwise.
        AWS: ReturnValuesOnConditionCheckFailure=ALL_OLD returns the item that failed the
        condition, saving a read (aws-fidelity §10).
        """
        if transition.before is None:
            raise ValueError("new sessions are written by open_invite")
        try:
            self._client.put_item(
                TableName=self._table,
                Item=session_to_item(transition.after),
                ConditionExpression="#s = :before",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":before": {"S": transition.before.status.value}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            current: Any = err.response.get("Item")
            raise TransitionConflict(session_from_item(current)) from None

    def run(self, session_id: str, decide: Callable[[Session | None], Outcome]) -> Outcome:
        """Decide on the current session and persist the decision, exactly once.

        On a lost race `decide` runs again on the winner's item, so the outcome always
        matches what is stored: e.g. a stop that loses to an accept stops the duel.
        """
        current = self.get(session_id)
        for _ in range(MAX_ATTEMPTS):
            outcome = decide(current)
            if outcome.transition is None:
                return outcome
            try:
                self.save(outcome.transition)
            except TransitionConflict as conflict:
                log.info("session %s changed under us; deciding again", session_id)
                current = conflict.current
                continue
            return outcome
        raise RuntimeError(f"session {session_id} kept changing; gave up")

    def for_user(self, user_id: str) -> list[Session]:
        """Every session the user is userA or userB of (GSIs: eventually consistent)."""
        found: list[Session] = []
        if not usable_key(user_id):
            return found
        for index, attribute in (("byUserA", "userA"), ("byUserB", "userB")):
            items = all_items(
                self._client.query,
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression="#u = :u",
                ExpressionAttributeNames={"#u": attribute},
                ExpressionAttributeValues={":u": {"S": user_id}},
            )
            found.extend(s for s in map(session_from_item, items) if s)
        return found

    # ------------------------------------------------------------ invites and locks

    def holder(self, user_id: str) -> str | None:
        """The session id in the user's lock item (consistent read), if there is one."""
        item = self._client.get_item(
            TableName=self._table, Key=lock_key(user_id), ConsistentRead=True
        ).get("Item")
        return item["holder"]["S"] if item and "holder" in item else None

    def open_invite(
        self,
        transition: Transition,
        now_ms: int,
        timing: Timing,
        on_settled: Callable[[Transition], None],
    ) -> None:
        """Create the pending session of `transition` if neither user is busy.

        Raises DuelError(user_busy) when a lock's holder is still pending or active. A
        holder past its deadline is ended first, and `on_settled` announces that at once
        (its users hear no_response/timeout now, not when its timer comes), before any
        later error can be raised.
        """
        session = transition.after
        users = (session.user_a, session.user_b)
        for _ in range(MAX_ATTEMPTS):
            seen = {user: self.holder(user) for user in users}
            holders = {h: self.get(h) for h in dict.fromkeys(seen.values()) if h is not None}
            for user, holder_id in seen.items():
                if holder_id is not None and is_engaged(holders[holder_id], now_ms):
                    who = "you are" if user == session.user_a else "the invitee is"
                    message = f"{who} already in a pending or active duel"
                    raise DuelError(ErrorCode.USER_BUSY, message)
            for holder_id, held in holders.items():
                if held is not None and held.status is not Status.STOPPED:
                    # Neither engaged nor stopped: past its deadline, so end it now.
                    outcome = self.run(holder_id, lambda s: _settle_outcome(s, now_ms, timing))
                    if outcome.transition is not None:
                        on_settled(outcome.transition)
            if self.try_create(session, seen, lock_expire_at(session, timing)):
                return
        raise RuntimeError(f"locks of {users} kept changing; gave up")

    def try_create(
        self, session: Session, seen: Mapping[str, str | None], lock_expire: int
    ) -> bool:
        """One transaction: put the session and re-point both locks, if the locks are as seen.

        False when a lock changed since it was read (another invite got there first).
        AWS: TransactWriteItems applies all puts or none (aws-fidelity §10).
        """
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": session_to_item(session),
                    "ConditionExpression": "attribute_not_exists(sessionId)",
                }
            }
        ]
        for user_id, holder_id in seen.items():
            put: dict[str, Any] = {
                "TableName": self._table,
                "Item": {
                    **lock_key(user_id),
                    "holder": {"S": session.session_id},
                    "expireAt": {"N": str(lock_expire)},
                },
            }
            if holder_id is None:
                put["ConditionExpression"] = "attribute_not_exists(sessionId)"
            else:
                put["ConditionExpression"] = "holder = :seen"
                put["ExpressionAttributeValues"] = {":seen": {"S": holder_id}}
            items.append({"Put": put})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as err:
            if error_code(err) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            log.info("invite %s lost a lock race: %s", session.session_id, reasons)
            return False
        return True

    def current_sessions(self, user_ids: Iterable[str]) -> dict[str, Session | None]:
        """Each user's lock holder as a session (None: no lock, or holder gone).

        Two BatchGetItem rounds, locks then holders: /online needs every user's status
        without a query per user.
        """
        users = [user for user in dict.fromkeys(user_ids) if usable_key(LOCK_PREFIX + user)]
        locks = self._batch_get([LOCK_PREFIX + user for user in users])
        holders = {
            user: locks[LOCK_PREFIX + user]["holder"]["S"]
            for user in users
            if "holder" in locks.get(LOCK_PREFIX + user, {})
        }
        items = self._batch_get(list(dict.fromkeys(holders.values())))
        return {user: session_from_item(items.get(holders.get(user, ""))) for user in users}

    def _batch_get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for first in range(0, len(ids), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"sessionId": {"S": i}} for i in ids[first : first + BATCH_GET_LIMIT]]
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


def _settle_outcome(session: Session | None, now_ms: int, timing: Timing) -> Outcome:
    return Outcome(transition=None if session is None else settle(session, now_ms, timing))
