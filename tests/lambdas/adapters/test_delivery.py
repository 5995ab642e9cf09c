"""Delivery state on moto: who may deliver an ending, and when (adapters/delivery.py)."""

from __future__ import annotations

import dataclasses

import pytest

from adapters.delivery import LeaseHeld, Receipts, user_receipt
from adapters.sessions import session_to_item
from duel.machine import Ending, ending_of
from duel.session import EndReason, Session, Status

TABLE = "duelctl-sessions"
NOW = 1_767_225_600_000
STOPPED = Session(
    "s1",
    "ua",
    "ub",
    Status.STOPPED,
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:01:00.000Z",
    5,
    "2026-01-01T00:00:13.000Z",
    "2026-01-01T00:10:13.000Z",
    EndReason.STOP,
    "ua",
)


@pytest.fixture
def receipts(aws) -> Receipts:
    return Receipts(aws.dynamodb, TABLE)


def put(aws, session: Session) -> None:
    aws.dynamodb.put_item(TableName=TABLE, Item=session_to_item(session))


def ending() -> Ending:
    found = ending_of(STOPPED)
    assert found is not None
    return found


def test_claim_reads_the_stored_ending_and_takes_the_lease(aws, receipts) -> None:
    """A stopped session nobody is delivering: claimed with its receipts; a second claim
    while the first may still run is refused."""
    put(aws, STOPPED)
    receipts.record("s1", [user_receipt(ending().notices[0])], complete=False)
    claimed = receipts.claim("s1", NOW, NOW + 10_000)
    assert claimed == (STOPPED, frozenset({"stop@ua"}))
    with pytest.raises(LeaseHeld):
        receipts.claim("s1", NOW + 9_999, NOW + 20_000)
    assert receipts.claim("s1", NOW + 10_000, NOW + 20_000) is not None


def test_claim_finds_nothing_to_deliver(aws, receipts) -> None:
    """No item, or a session that has not ended: nothing is claimed."""
    assert receipts.claim("s1", NOW, NOW + 10_000) is None
    put(aws, dataclasses.replace(STOPPED, status=Status.ACTIVE, end_reason=None, ended_by=None))
    assert receipts.claim("s1", NOW, NOW + 10_000) is None


def test_an_accept_still_posting_start_holds_off_every_other_delivery(aws, receipts) -> None:
    """Until the accepting invocation's lease has passed, neither a retry (take_over) nor
    an owed-ending timer (claim) may deliver: that invocation may be announcing it."""
    put(aws, dataclasses.replace(STOPPED, start_lease=NOW + 5_000))
    with pytest.raises(LeaseHeld):
        receipts.take_over(ending(), NOW, NOW + 10_000)
    with pytest.raises(LeaseHeld):
        receipts.claim("s1", NOW, NOW + 10_000)
    assert receipts.take_over(ending(), NOW + 5_000, NOW + 15_000) == frozenset()
