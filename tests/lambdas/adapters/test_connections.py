"""Connections repository on moto: liveness by expireAt, refresh that restores."""

from __future__ import annotations

from adapters.connections import Connection, ConnectionsRepository, expire_at_from

NOW_MS = 1_767_225_600_000
NOW_S = NOW_MS // 1000


def repo(aws) -> ConnectionsRepository:
    return ConnectionsRepository(aws.dynamodb, "duelctl-connections")


def conn(user: str, cid: str, expire_at: int, name: str = "") -> Connection:
    return Connection(user, cid, name or user, "2026-01-01T00:00:00.000Z", expire_at)


def test_put_writes_protocol_fields(aws) -> None:
    """The item has userId, connectionId, username, connectedAt and a Number expireAt."""
    repo(aws).put(conn("u1", "c1=", NOW_S + 3600, "alice"))
    (item,) = aws.items("duelctl-connections")
    assert item == {
        "userId": {"S": "u1"},
        "connectionId": {"S": "c1="},
        "username": {"S": "alice"},
        "connectedAt": {"S": "2026-01-01T00:00:00.000Z"},
        "expireAt": {"N": str(NOW_S + 3600)},
    }


def test_live_filters_expired_items(aws) -> None:
    """An item whose expireAt has passed is not live although DynamoDB still holds it."""
    r = repo(aws)
    r.put(conn("u1", "fresh", NOW_S + 1))
    r.put(conn("u1", "stale", NOW_S))
    r.put(conn("u1", "older", NOW_S - 100))
    r.put(conn("u2", "other", NOW_S + 100))
    assert [c.connection_id for c in r.live("u1", NOW_MS)] == ["fresh"]
    assert r.live("u1", NOW_MS + 999) != []
    assert r.live("u1", NOW_MS + 1000) == []
    assert {c.connection_id for c in r.all_live(NOW_MS)} == {"fresh", "other"}


def test_live_for_impossible_ids_is_empty(aws) -> None:
    """Ids that cannot be keys (too long) simply have no connections."""
    assert repo(aws).live("x" * 5000, NOW_MS) == []


def test_all_live_pages_through_the_scan(aws) -> None:
    """A scan spanning several pages still returns every live connection."""
    r = repo(aws)
    big_name = "x" * 50_000  # 30 of these exceed a 1 MB scan page
    for i in range(30):
        r.put(conn(f"user-{i:02d}", f"c{i}=", NOW_S + 10, big_name))
    first_page = aws.dynamodb.scan(TableName="duelctl-connections")
    assert "LastEvaluatedKey" in first_page
    assert len(r.all_live(NOW_MS)) == 30


def test_refresh_moves_expiry_and_restores_a_missing_item(aws) -> None:
    """refresh moves expireAt of an existing item, keeping its fields; a missing item is
    written again whole (no half items)."""
    r = repo(aws)
    r.put(conn("u1", "c1", NOW_S + 5, "alice"))
    r.refresh(Connection("u1", "c1", "other-name", "2030-01-01T00:00:00.000Z", NOW_S + 3600))
    (kept,) = r.live("u1", NOW_MS + 10_000)
    assert kept == conn("u1", "c1", NOW_S + 3600, "alice")
    r.refresh(conn("u1", "missing", NOW_S + 3600, "alice"))
    restored = {c.connection_id: c for c in r.live("u1", NOW_MS)}["missing"]
    assert restored == conn("u1", "missing", NOW_S + 3600, "alice")
    assert len(aws.items("duelctl-connections")) == 2


def test_delete(aws) -> None:
    """delete removes exactly that connection."""
    r = repo(aws)
    r.put(conn("u1", "c1", NOW_S + 5))
    r.put(conn("u1", "c2", NOW_S + 5))
    r.delete("u1", "c1")
    assert [c.connection_id for c in r.live("u1", NOW_MS)] == ["c2"]


def test_expire_at_from() -> None:
    """expireAt is now + TTL in whole epoch seconds."""
    assert expire_at_from(NOW_MS + 999, 3600) == NOW_S + 3600
