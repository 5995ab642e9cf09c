"""StreamPoller with stream-duplicate (emulator/faults/streams.py) on a real moto stream."""

from __future__ import annotations

from typing import Any

from emulator.faults.record import FaultLog, rng_for
from emulator.faults.streams import StreamFaults
from emulator.services.aws import client
from emulator.services.provision import provision
from emulator.services.streams import StreamPoller
from emulator.services.ttl import TtlMarks


def start(
    aws_url: str, build: Any, background: Any, faults: StreamFaults, script: Any = None
) -> Any:
    table = build.table(stream_view_type="NEW_AND_OLD_IMAGES")
    provisioned = provision(build.template(tables=(table,)), aws_url)
    runner = build.runner(script)
    poller = StreamPoller(
        aws_url,
        build.source("dynamodb", "Table", batch_size=2, starting_position="TRIM_HORIZON"),
        table,
        runner,
        region="us-east-1",
        stream_arn=provisioned.stream_arns["Table"],
        ttl_marks=TtlMarks(),
        poll_interval_s=0.02,
        faults=faults,
    )
    ddb = client("dynamodb", aws_url, "us-east-1")
    for i in range(3):
        ddb.put_item(TableName=table.name, Item={"pk": {"S": f"k{i}"}})
    background(poller.run())
    return runner


def keys(runner: Any) -> list[list[str]]:
    return [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in runner.events]


async def test_every_batch_is_delivered_twice_in_order(
    aws_url: str, build: Any, background: Any
) -> None:
    log = FaultLog()
    faults = StreamFaults(log, duplicate=1.0, rng=rng_for(1, "stream-duplicate"))
    runner = start(aws_url, build, background, faults)
    await runner.wait_for(lambda: len(runner.events) >= 4)
    assert keys(runner) == [["k0", "k1"], ["k0", "k1"], ["k2"], ["k2"]]
    assert runner.events[0] == runner.events[1]  # the same records, eventIDs included
    assert log.counts["stream-duplicate"] == 2


async def test_the_redelivery_decides_how_the_shard_moves_on(
    aws_url: str, build: Any, background: Any
) -> None:
    """A redelivery that fails is retried like any failed batch (the shard blocks on it)."""

    def script(event: dict[str, Any], n: int) -> tuple[str, Any]:
        return ("error", {"errorMessage": "boom"}) if n == 1 else ("ok", None)

    log = FaultLog()
    faults = StreamFaults(log, duplicate=1.0, rng=rng_for(1, "stream-duplicate"))
    runner = start(aws_url, build, background, faults, script)
    await runner.wait_for(lambda: len(runner.events) >= 5)
    assert keys(runner)[:5] == [["k0", "k1"], ["k0", "k1"], ["k0", "k1"], ["k0", "k1"], ["k2"]]
