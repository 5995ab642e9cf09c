"""Wire time formatting: UTC, milliseconds, Z."""

from __future__ import annotations

import pytest

from duel.times import ceil_seconds, iso, parse_iso, seconds_iso


def test_iso_has_milliseconds_and_z() -> None:
    """A time is formatted as UTC with exactly three fraction digits and a Z."""
    assert iso(1_767_225_603_000) == "2026-01-01T00:00:03.000Z"
    assert iso(1_767_225_603_007) == "2026-01-01T00:00:03.007Z"
    assert iso(0) == "1970-01-01T00:00:00.000Z"


def test_parse_iso_round_trips() -> None:
    """Parsing a formatted time gives back the same milliseconds."""
    for ms in (0, 1, 999, 1_767_225_603_456, 4_102_444_799_999):
        assert parse_iso(iso(ms)) == ms


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:03Z", "2026-01-01T00:00:03.000+00:00", "2026-01-01 00:00:03.000Z"]
)
def test_parse_iso_rejects_other_shapes(text: str) -> None:
    """Only the wire shape parses."""
    with pytest.raises(ValueError):
        parse_iso(text)


def test_ceil_seconds_never_rounds_down() -> None:
    """A TTL in seconds is never earlier than the moment it stands for."""
    assert ceil_seconds(1_767_225_603_000) == 1_767_225_603
    assert ceil_seconds(1_767_225_603_001) == 1_767_225_604


def test_seconds_iso() -> None:
    """Whole epoch seconds format with .000."""
    assert seconds_iso(1_767_229_200) == "2026-01-01T01:00:00.000Z"
