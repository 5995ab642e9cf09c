"""Timer messages: bodies, delays capped at 900 s, and which timer a session waits on."""

from __future__ import annotations

import pytest

from duel.session import Session, Status
from duel.timers import (
    Timer,
    TimerKind,
    decode_timer,
    delay_seconds,
    encode_timer,
    owed_ending_timer,
    timer_for,
    wanted,
)

NOW = 1_767_225_600_000


def test_delay_rounds_up_and_caps_at_900() -> None:
    """Delays never fire early and never exceed SQS's 900 s maximum."""
    assert delay_seconds(NOW + 60_000, NOW) == 60
    assert delay_seconds(NOW + 60_001, NOW) == 61
    assert delay_seconds(NOW + 603_000, NOW) == 603
    assert delay_seconds(NOW + 3_600_000, NOW) == 900
    assert delay_seconds(NOW - 5_000, NOW) == 0
    assert delay_seconds(NOW, NOW) == 0


def test_encode_decode_round_trip() -> None:
    """A timer survives the queue as JSON with kind, sessionId and due."""
    timer = Timer(TimerKind.DUEL_END, "s-1", "2026-01-01T00:10:03.000Z")
    assert decode_timer(encode_timer(timer)) == timer
    assert decode_timer(
        '{"kind": "invite_expiry", "sessionId": "s", "due": "2026-01-01T00:01:00.000Z"}'
    ) == Timer(TimerKind.INVITE_EXPIRY, "s", "2026-01-01T00:01:00.000Z")


@pytest.mark.parametrize(
    "body",
    [
        "x",
        "[]",
        '{"kind":"nap","sessionId":"s","due":"2026-01-01T00:01:00.000Z"}',
        '{"kind":"duel_end","due":"2026-01-01T00:01:00.000Z"}',
        '{"kind":"duel_end","sessionId":"s"}',
        '{"kind":"duel_end","sessionId":"s","due":"soon"}',
        '{"kind":5,"sessionId":"s","due":"2026-01-01T00:01:00.000Z"}',
    ],
)
def test_decode_rejects_malformed(body: str) -> None:
    """A malformed body raises, so the record is reported as a batch item failure."""
    with pytest.raises(ValueError):
        decode_timer(body)


def test_timer_for_each_state() -> None:
    """Pending waits on expiresAt, active on endsAt, stopped on nothing."""
    pending = Session("s", "a", "b", Status.PENDING, "c", "2026-01-01T00:01:00.000Z", 1)
    assert timer_for(pending) == Timer(TimerKind.INVITE_EXPIRY, "s", pending.expires_at)
    active = Session(
        "s", "a", "b", Status.ACTIVE, "c", pending.expires_at, 1, "x", "2026-01-01T00:10:03.000Z"
    )
    assert timer_for(active) == Timer(TimerKind.DUEL_END, "s", "2026-01-01T00:10:03.000Z")
    stopped = Session("s", "a", "b", Status.STOPPED, "c", pending.expires_at, 1)
    assert timer_for(stopped) is None


def test_a_recorded_timer_is_queued_only_while_still_wanted() -> None:
    """A deadline timer while the session still waits on it; an owed ending's once the
    session has ended; nothing for a session that is gone."""
    pending = Session("s", "a", "b", Status.PENDING, "c", "2026-01-01T00:01:00.000Z", 1)
    expiry = timer_for(pending)
    assert expiry is not None and wanted(pending, expiry)
    stopped = Session("s", "a", "b", Status.STOPPED, "c", pending.expires_at, 1)
    assert not wanted(stopped, expiry)
    owed = owed_ending_timer("s", NOW + 10_000)
    assert owed == Timer(TimerKind.OWED_ENDING, "s", "2026-01-01T00:00:10.000Z")
    assert decode_timer(encode_timer(owed)) == owed
    assert wanted(stopped, owed) and not wanted(pending, owed)
    assert not wanted(None, owed) and not wanted(None, expiry)
