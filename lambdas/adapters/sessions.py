"""The `Sessions` table's session items and their exactly-once transitions.

Every transition is a conditional write on the status it was decided from; a write
that loses a race gets the winner's item back (ReturnValuesOnConditionCheckFailure)
and decides again on it (docs/aws-behaviour.md §10). Where the common case is known in advance
(an accept, a stop, a due timer) the write goes first, conditioned on exactly the
facts that decision needs, and returns the item it replaced: no read before the write.

Besides docs/protocol.md's fields, a session item may carry delivery state: for
endings (`lease`, `receipts`: adapters/delivery.py), for `start` (`startLease`, the
accepting invocation's deadline, written by the accept; `startSent`, written once
`start` is out: an ending committed in between is the accepter's to announce,
duel.machine.ending_left_to_accepter), and `lostTimer`, the body of a timer message a
handler could not queue itself (adapters/effects.py): the stream consumer schedules it.
User locks (`USER#<userId>` items) live in the same table: adapters/locks.py.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from adapters.dynamo import all_items, error_code, usable_key
from duel.machine import SYSTEM_COMMANDS, Command, Expectation, Outcome, Role, Transition
from duel.session import EndReason, Session, Status
from duel.times import iso

LOCK_PREFIX = "USER#"
# Statuses only move forward (pending -> active -> stopped), so a decision loses at
# most two races before it sees a final state.
MAX_ATTEMPTS = 4
LEASE = "lease"  # epoch ms until which a delivery of the session's ending is in progress
LOST_TIMER = "lostTimer"
START_LEASE = "startLease"  # epoch ms until which the accepting invocation may post `start`
START_SENT = "startSent"  # BOOL: the accepting invocation has posted `start`

log = logging.getLogger(__name__)

# Session field -> (item attribute, DynamoDB type), for the fields transitions change.
_ATTRIBUTES: Mapping[str, tuple[str, str]] = {
    "status": ("status", "S"),
    "start_at": ("startAt", "S"),
    "ends_at": ("endsAt", "S"),
    "expire_at": ("expireAt", "N"),
    "end_reason": ("endReason", "S"),
    "ended_by": ("endedBy", "S"),
}


def session_to_item(session: Session) -> dict[str, Any]:
    """The item with docs/protocol.md's fields (absent ones left out) and the start's
    delivery state, so a session written back by the TTL backstop keeps it."""
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
    if session.start_lease is not None:
        item[START_LEASE] = {"N": str(session.start_lease)}
    if session.start_sent:
        item[START_SENT] = {"BOOL": True}
    return item


def session_from_item(item: Mapping[str, Any] | None) -> Session | None:
    """A session from a table item or stream image; None for a lock item or nothing.

    Images in Streams records use the same attribute-value form as GetItem
    (docs/aws-behaviour.md §8).
    """
    if not item or "userA" not in item or "userB" not in item:
        return None

    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    end_reason = text("endReason")
    start_lease = item.get(START_LEASE)
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
        start_lease=int(start_lease["N"]) if start_lease else None,
        start_sent=bool(item.get(START_SENT, {}).get("BOOL")),
    )


def session_key(session_id: str) -> dict[str, Any]:
    return {"sessionId": {"S": session_id}}


def is_session_key(session_id: str) -> bool:
    """Whether a client-supplied id can name a session item (not a lock, not unusable)."""
    return usable_key(session_id) and not session_id.startswith(LOCK_PREFIX)


class TransitionConflict(Exception):
    """The conditional write lost: `current` is the item as the winner left it."""

    def __init__(self, current: Session | None) -> None:
        super().__init__("session changed since it was read")
        self.current = current


class _Update:
    """An UpdateExpression under construction, with its placeholders."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def assign(self, field: str, value: Any) -> None:
        attribute, kind = _ATTRIBUTES[field]
        if value is None:
            self.removes.append(self.name(attribute))
            return
        text = str(value.value if isinstance(value, Enum) else value)
        self.sets.append(f"{self.name(attribute)} = {self.value({kind: text})}")

    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)


class SessionsRepository:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, session_id: str) -> Session | None:
        """A consistent read; None for no such session (lock ids and unusable keys included)."""
        if not is_session_key(session_id):
            return None
        item = self._client.get_item(
            TableName=self._table, Key=session_key(session_id), ConsistentRead=True
        ).get("Item")
        return session_from_item(item)

    def save(self, transition: Transition, lease_until: int | None = None) -> Session | None:
        """Write `transition.after` if the item still has `transition.before`'s status;
        return the item the write replaced.

        Raises TransitionConflict with the current item otherwise. An update, not a put,
        so attributes outside the session (delivery state) survive. A system ending
        also takes the delivery lease, an accept the start lease (`lease_until`, epoch ms).
        AWS: ReturnValuesOnConditionCheckFailure=ALL_OLD returns the item that failed the
        condition, saving a read; ReturnValues=ALL_OLD the item replaced, with the delivery
        state the status condition does not cover (docs/aws-behaviour.md §10).
        """
        if transition.before is None:
            raise ValueError("new sessions are written by LockRepository.open_invite")
        update = _Update()
        after = transition.after
        for field in _ATTRIBUTES:
            update.assign(field, getattr(after, field))
        before = update.value({"S": transition.before.status.value})
        condition = f"{update.name('status')} = {before}"
        return self._write(
            after.session_id, update, condition, _leases(transition.command, lease_until), old=True
        )

    def run(
        self,
        session_id: str,
        decide: Callable[[Session | None], Outcome],
        *,
        expect: Expectation | None = None,
        lease_until: int | None = None,
    ) -> Outcome:
        """Decide on the current session and persist the decision, exactly once.

        With `expect`, the expected transition is written blind first; its ALL_OLD item
        is what `decide` runs on (and must agree with), and a failed condition hands back
        the item to decide on instead: one call in the common case, never a read. On a
        lost race `decide` runs again on the winner's item, so the outcome always matches
        what is stored: e.g. a stop that loses to an accept stops the duel. The
        transition's `before` is always the item its write replaced, delivery state
        included (duel.machine.ending_left_to_accepter relies on it).
        """
        if not is_session_key(session_id):
            return decide(None)
        if expect is None:
            return self.decide_and_save(session_id, self.get(session_id), decide, lease_until)
        try:
            before = self._write_expected(session_id, expect, lease_until)
        except TransitionConflict as conflict:
            return self.decide_and_save(session_id, conflict.current, decide, lease_until)
        outcome = decide(before)
        written = outcome.transition
        if (
            written is None
            or written.command is not expect.command
            or any(getattr(written.after, f) != v for f, v in expect.changes.items())
        ):
            raise RuntimeError(
                f"session {session_id}: {expect.command} was written but decided {outcome}"
            )
        return outcome

    def decide_and_save(
        self,
        session_id: str,
        current: Session | None,
        decide: Callable[[Session | None], Outcome],
        lease_until: int | None = None,
    ) -> Outcome:
        """`run` from an item already in hand (read, or returned by a failed write)."""
        for _ in range(MAX_ATTEMPTS):
            outcome = decide(current)
            if outcome.transition is None:
                return outcome
            try:
                replaced = self.save(outcome.transition, lease_until)
            except TransitionConflict as conflict:
                log.info("session %s changed under us; deciding again", session_id)
                current = conflict.current
                continue
            if replaced is not None and replaced != outcome.transition.before:
                # Same status (the condition), newer delivery state (e.g. startSent).
                written = dataclasses.replace(outcome.transition, before=replaced)
                return dataclasses.replace(outcome, transition=written)
            return outcome
        raise RuntimeError(f"session {session_id} kept changing; gave up")

    def _write_expected(
        self, session_id: str, expect: Expectation, lease_until: int | None
    ) -> Session | None:
        """The conditional write of `expect`; returns the item it replaced."""
        update = _Update()
        for field, value in expect.changes.items():
            update.assign(field, value)
        status = update.name("status")
        conditions = [f"{status} = {update.value({'S': expect.status.value})}"]
        if expect.by is not None:
            by = update.value({"S": expect.by})
            user_a, user_b = update.name("userA"), update.name("userB")
            # Who may issue it, as `apply` checks (docs/protocol.md: the inviter never answers).
            conditions.append(
                {
                    Role.INVITER: f"{user_a} = {by}",
                    Role.INVITEE: f"{user_b} = {by} AND {user_a} <> {by}",
                    Role.EITHER: f"({user_a} = {by} OR {user_b} = {by})",
                }[expect.role]
            )
        # Wire times compare as strings: fixed width, UTC, most significant part first.
        deadline = update.name("expiresAt" if expect.status is Status.PENDING else "endsAt")
        now = update.value({"S": iso(expect.now_ms)})
        conditions.append(
            f"{deadline} > {now}" if expect.before_deadline else f"{deadline} <= {now}"
        )
        leases = _leases(expect.command, lease_until)
        return self._write(session_id, update, " AND ".join(conditions), leases, old=True)

    def _write(
        self,
        session_id: str,
        update: _Update,
        condition: str,
        leases: Mapping[str, int],
        *,
        old: bool = False,
    ) -> Session | None:
        for attribute, until in leases.items():
            update.sets.append(f"{update.name(attribute)} = {update.value({'N': str(until)})}")
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression=update.expression(),
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_OLD" if old else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            current: Any = err.response.get("Item")
            raise TransitionConflict(session_from_item(current)) from None
        return session_from_item(answer.get("Attributes"))

    def restore_ended(self, transition: Transition, lease_until: int) -> None:
        """Write back, ended, a session TTL removed while live (the backstop's transition).

        Raises TransitionConflict with the item found when one exists already: a retry or
        a duplicate of the same stream record wrote it first.
        """
        item = {**session_to_item(transition.after), LEASE: {"N": str(lease_until)}}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(sessionId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            current: Any = err.response.get("Item")
            raise TransitionConflict(session_from_item(current)) from None

    def mark_start_sent(self, session_id: str) -> Session | None:
        """Record that `start` went out; return the session as it now stands.

        The accepter's fence against enders (duel.machine.ending_left_to_accepter): an
        ending is written either before this (this returns it stopped: the accepter
        announces it) or after (its write returns `startSent`: the ender announces it).
        None if the item is gone.
        AWS: each write applies to the item as a whole, one after another, and
        ReturnValues=ALL_NEW / ALL_OLD return the item right after / before that write
        (docs/aws-behaviour.md §10; DynamoDB API reference, UpdateItem "ReturnValues").
        """
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression="SET #s = :t",
                ConditionExpression="attribute_exists(sessionId)",
                ExpressionAttributeNames={"#s": START_SENT},
                ExpressionAttributeValues={":t": {"BOOL": True}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise
            return None
        return session_from_item(answer.get("Attributes"))

    def mark_lost_timer(self, session_id: str, body: str) -> None:
        """Record a timer for the Sessions stream consumer to schedule: one SQS refused, or
        one the calling function may not queue (adapters/effects.py)."""
        self._client.update_item(
            TableName=self._table,
            Key=session_key(session_id),
            UpdateExpression="SET #t = :t",
            ConditionExpression="attribute_exists(sessionId)",
            ExpressionAttributeNames={"#t": LOST_TIMER},
            ExpressionAttributeValues={":t": {"S": body}},
        )

    def clear_lost_timer(self, session_id: str, body: str) -> None:
        """Forget a lost timer once scheduled (if it is still the one recorded)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression="REMOVE #t",
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": LOST_TIMER},
                ExpressionAttributeValues={":t": {"S": body}},
            )
        except ClientError as err:
            if error_code(err) != "ConditionalCheckFailedException":
                raise

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


def _leases(command: Command, lease_until: int | None) -> dict[str, int]:
    """The leases a transition's write takes: a system ending the delivery lease (its
    frames are delivered with receipts), an accept the start lease."""
    if lease_until is None:
        return {}
    if command in SYSTEM_COMMANDS:
        return {LEASE: lease_until}
    if command is Command.ACCEPT:
        return {START_LEASE: lease_until}
    return {}
