"""TtlReaper: deletes expired items only, spares refreshed ones, marks TTL REMOVEs."""

from __future__ import annotations

import asyncio
from typing import Any

from emulator.clock import FakeClock
from emulator.services.provision import provision
from emulator.services.streams import StreamPoller
from emulator.services.ttl import FIVE_YEARS_S, TtlMarks, TtlReaper
from emulator.template.model import Table

NOW = 1_767_225_600  # FakeClock's default start
TTL_ONLY = (
    '{"eventName": ["REMOVE"], "userIdentity": {"type": ["Service"], '
    '"principalId": ["dynamodb.amazonaws.com"]}}'
)


def _provisioned_table(aws_url: str, build: Any, **kwargs: Any) -> Table:
    table: Table = build.table(ttl_attribute="expireAt", **kwargs)
    provision(build.template(tables=(table,)), aws_url)
    return table


def _put(ddb: Any, table: Table, pk: str, expire: dict[str, Any] | None) -> None:
    item: dict[str, Any] = {"pk": {"S": pk}, "status": {"S": "pending"}}
    if expire is not None:
        item["expireAt"] = expire
    ddb.put_item(TableName=table.name, Item=item)


def _keys(ddb: Any, table: Table) -> set[str]:
    return {i["pk"]["S"] for i in ddb.scan(TableName=table.name)["Items"]}


class SweepClock(FakeClock):
    """A FakeClock that says when the reaper sleeps on it, i.e. has finished a sweep."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.sleeping = asyncio.Event()

    async def sleep_until(self, deadline: float) -> None:
        self.sleeping.set()
        await super().sleep_until(deadline)


async def test_sweep_deletes_only_expired_numbers(aws_url: str, ddb: Any, build: Any) -> None:
    """Numbers <= now go; future, non-Number, missing and > 5-years-old values stay."""
    table = _provisioned_table(aws_url, build)
    _put(ddb, table, "past", {"N": str(NOW - 10)})
    _put(ddb, table, "exactly-now", {"N": str(NOW)})
    _put(ddb, table, "future", {"N": str(NOW + 10)})
    _put(ddb, table, "string", {"S": str(NOW - 10)})
    _put(ddb, table, "missing", None)
    _put(ddb, table, "ancient", {"N": str(NOW - FIVE_YEARS_S - 1)})
    _put(ddb, table, "millis", {"N": str(NOW * 1000)})
    _put(ddb, table, "fraction", {"N": f"{NOW - 1}.5"})
    removed: list[tuple[str, dict[str, Any]]] = []
    clock = FakeClock(NOW)
    reaper = TtlReaper(
        aws_url, [table], clock=clock, on_removed=lambda t, k: removed.append((t, k))
    )

    assert await reaper.sweep_once() == 3
    assert _keys(ddb, table) == {"future", "string", "missing", "ancient", "millis"}
    assert sorted(k["pk"]["S"] for _, k in removed) == ["exactly-now", "fraction", "past"]
    assert {t for t, _ in removed} == {table.name}

    clock.advance(10)
    assert await reaper.sweep_once() == 1
    assert _keys(ddb, table) == {"string", "missing", "ancient", "millis"}


async def test_item_refreshed_between_scan_and_delete_survives(
    aws_url: str, ddb: Any, build: Any
) -> None:
    """The delete is conditional on the scanned TTL value: a ping that moved it wins."""
    table = _provisioned_table(aws_url, build, range_key="sk")
    ddb.put_item(
        TableName=table.name,
        Item={"pk": {"S": "u1"}, "sk": {"S": "c1"}, "expireAt": {"N": str(NOW - 1)}},
    )
    ddb.put_item(
        TableName=table.name,
        Item={"pk": {"S": "u1"}, "sk": {"S": "c2"}, "expireAt": {"N": str(NOW - 1)}},
    )

    class RacingReaper(TtlReaper):
        def _expired(self, table: Table, now: int) -> Any:
            found = super()._expired(table, now)
            ddb.update_item(  # c1 is refreshed after the scan saw it expired
                TableName=table.name,
                Key={"pk": {"S": "u1"}, "sk": {"S": "c1"}},
                UpdateExpression="SET expireAt = :e",
                ExpressionAttributeValues={":e": {"N": str(NOW + 3600)}},
            )
            return found

    marks = TtlMarks()
    view = marks.view(table.name)
    reaper = RacingReaper(aws_url, [table], clock=FakeClock(NOW), marks=marks)
    assert await reaper.sweep_once() == 1
    items = ddb.scan(TableName=table.name)["Items"]
    assert [(i["sk"]["S"], i["expireAt"]["N"]) for i in items] == [("c1", str(NOW + 3600))]
    assert not await view.claim({"pk": {"S": "u1"}, "sk": {"S": "c1"}}, None)
    assert await view.claim({"sk": {"S": "c2"}, "pk": {"S": "u1"}}, None)


async def test_run_sweeps_as_the_clock_moves(
    aws_url: str, ddb: Any, build: Any, background: Any
) -> None:
    """run() sweeps once per interval of the injected clock."""
    table = _provisioned_table(aws_url, build)
    _put(ddb, table, "soon", {"N": str(NOW + 30)})
    clock = SweepClock(NOW)
    gone = asyncio.Event()
    reaper = TtlReaper(
        aws_url, [table], clock=clock, interval_s=10, on_removed=lambda t, k: gone.set()
    )
    background(reaper.run())
    for _ in range(3):
        await asyncio.wait_for(clock.sleeping.wait(), 10)  # a sweep is done
        assert not gone.is_set()
        clock.sleeping.clear()
        clock.advance(10)
    await asyncio.wait_for(gone.wait(), 10)
    assert _keys(ddb, table) == set()


async def test_ttl_removal_reaches_the_stream_with_user_identity(
    aws_url: str, ddb: Any, build: Any, background: Any
) -> None:
    """A reaper delete streams as REMOVE with userIdentity; a user delete does not pass."""
    table = build.table(ttl_attribute="expireAt", stream_view_type="NEW_AND_OLD_IMAGES")
    template = build.template(tables=(table,))
    arn = provision(template, aws_url).stream_arns["Table"]
    runner = build.runner()
    marks = TtlMarks()
    poller = StreamPoller(
        aws_url,
        build.source("dynamodb", "Table", filter_patterns=(TTL_ONLY,), starting_position="LATEST"),
        table,
        runner,
        region="us-east-1",
        stream_arn=arn,
        ttl_marks=marks,
        poll_interval_s=0.02,
    )
    background(poller.run())
    await poller.wait_ready()
    _put(ddb, table, "user-deleted", {"N": str(NOW - 5)})
    ddb.delete_item(TableName=table.name, Key={"pk": {"S": "user-deleted"}})
    _put(ddb, table, "expired", {"N": str(NOW - 5)})
    reaper = TtlReaper(aws_url, [table], clock=FakeClock(NOW), marks=marks)
    assert await reaper.sweep_once() == 1

    # The stream keeps the order of writes: a record that wrongly passed the filter (the
    # user delete) comes before the reaper's, so the first record to arrive tells.
    await runner.wait_for(lambda: len(runner.records) >= 1)
    [record] = runner.records
    assert record["eventName"] == "REMOVE"
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert record["dynamodb"]["Keys"] == {"pk": {"S": "expired"}}
    assert record["dynamodb"]["OldImage"] == {
        "pk": {"S": "expired"},
        "status": {"S": "pending"},
        "expireAt": {"N": str(NOW - 5)},
    }
    assert "NewImage" not in record["dynamodb"]


async def test_marks_wait_for_an_inflight_delete() -> None:
    """A poller asking while the reaper's delete is in flight gets the final answer."""
    marks = TtlMarks()
    view = marks.view("t")
    keys = {"pk": {"S": "a"}}
    image = {**keys, "expireAt": {"N": "1"}}
    marks.begin("t", keys)
    claim = asyncio.create_task(view.claim(keys, image))
    await asyncio.sleep(0.05)
    assert not claim.done()
    marks.end("t", keys, image, deleted=True)
    assert await claim
    assert not await view.claim(keys, image)  # each mark is claimed once

    marks.begin("t", keys)
    claim = asyncio.create_task(view.claim(keys, image))
    await asyncio.sleep(0.05)
    marks.end("t", keys, None, deleted=False)  # the condition failed: not a TTL delete
    assert not await claim


async def test_marks_tell_a_later_user_delete_from_the_ttl_delete() -> None:
    """Same key, different old image: only the record of the TTL-deleted item is marked."""
    marks = TtlMarks()
    first, second = marks.view("t"), marks.view("t")
    keys = {"pk": {"S": "a"}}
    expired = {**keys, "expireAt": {"N": "1"}}
    recreated = {**keys, "expireAt": {"N": "2"}}
    marks.removed("t", keys, expired)
    assert not await first.claim(keys, recreated)
    assert await first.claim(keys, expired)
    assert await second.claim(keys, expired)  # every mapping sees the mark
    assert not await marks.view("other").claim(keys, expired)


async def test_a_plain_moto_endpoint_gets_a_scan_with_the_same_result(build: Any) -> None:
    """Without the emulator's internal route (plain moto) the reaper scans instead."""
    from moto.server import ThreadedMotoServer

    from emulator.services.aws import client

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        ddb = client("dynamodb", url, "us-east-1")
        table = _provisioned_table(url, build)
        _put(ddb, table, "past", {"N": str(NOW - 10)})
        _put(ddb, table, "future", {"N": str(NOW + 10)})
        _put(ddb, table, "string", {"S": str(NOW - 10)})
        reaper = TtlReaper(url, [table], clock=FakeClock(NOW))
        assert await reaper.sweep_once() == 1
        assert _keys(ddb, table) == {"future", "string"}
        assert reaper._internal is False  # it noticed and scans from now on
    finally:
        server.stop()


async def test_on_a_virtual_clock_a_jump_is_swept_at_once(
    aws_url: str, ddb: Any, build: Any, background: Any, tmp_path: Any
) -> None:
    """Virtual time: the reaper sweeps right after a jump (not at its next interval), is
    busy while it sweeps, and says it is caught up only once a sweep finds nothing."""
    import time

    from emulator.timesync import ClockFile
    from emulator.virtual.clock import VirtualClock

    table = _provisioned_table(aws_url, build)
    now = int(time.time())
    _put(ddb, table, "in-an-hour", {"N": str(now + 3600)})
    file = ClockFile(tmp_path / "offset")
    clock = VirtualClock(file)
    activity = clock.activity
    reaper = TtlReaper(aws_url, [table], clock=clock, interval_s=3600)
    background(reaper.run())

    async def quiet() -> bool:  # the reaper has registered and looked
        return bool(activity.pollers) and activity.not_quiet() is None

    async def emptied() -> bool:
        return await asyncio.to_thread(_keys, ddb, table) == set()

    await build.eventually(quiet)
    assert _keys(ddb, table) == {"in-an-hour"}
    changes = activity.seq
    clock.jump_to(now + 3601)
    assert activity.not_quiet() is not None  # the reaper must look first
    await build.eventually(emptied)
    await build.eventually(quiet)
    assert activity.seq >= changes + 2  # the jump, then the deletion (for stream pollers)
    file.close()
