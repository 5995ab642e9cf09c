"""Services: template.yaml provisioned and brought to life with a fake runner."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from emulator.clock import FakeClock
from emulator.services import Services
from emulator.services.aws import client
from emulator.template.load import load_template

ROOT = Path(__file__).resolve().parents[3]


async def test_project_template_runs_timers_and_the_ttl_backstop(moto: Any, build: Any) -> None:
    """A timer message reaches TimersFunction; a TTL-expired session reaches the backstop."""
    template = load_template(
        ROOT / "template.yaml", {}, stack_name=build.name("svc"), region="eu-west-1"
    )
    clock = FakeClock()
    services = Services(clock=clock, ttl_interval_s=1.0)
    provisioned = await asyncio.to_thread(services.start, template)
    tasks: list[asyncio.Task[None]] = []
    try:
        sessions = template.tables["SessionsTable"]
        assert set(provisioned.stream_arns) == {"SessionsTable"}
        runner = build.runner()
        loops = services.pollers(runner)
        assert len(loops) == 3  # the TTL reaper, the SQS poller, the stream poller
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        await services.wait_ready()

        sqs = client("sqs", services.aws_url, template.region)
        ddb = client("dynamodb", services.aws_url, template.region)
        timers = template.queues["TimerQueue"]
        sqs.send_message(QueueUrl=timers.url, MessageBody=json.dumps({"kind": "invite"}))
        await runner.wait_for(
            lambda: any(e["Records"][0].get("eventSource") == "aws:sqs" for e in runner.events)
        )
        [sqs_record] = [r for r in runner.records if r["eventSource"] == "aws:sqs"]
        assert sqs_record["eventSourceARN"] == timers.arn
        assert sqs_record["awsRegion"] == "eu-west-1"

        now = int(clock.now())
        for sid in ("expired", "user-deleted"):
            ddb.put_item(
                TableName=sessions.name,
                Item={
                    "sessionId": {"S": sid},
                    "status": {"S": "pending"},
                    "expireAt": {"N": str(now + 30)},
                },
            )
        ddb.delete_item(TableName=sessions.name, Key={"sessionId": {"S": "user-deleted"}})
        clock.advance(31)
        # The stream keeps the order of writes: a record that wrongly passed the filter (an
        # insert, the user delete) comes before the reaper's, so the first one tells.
        await runner.wait_for(
            lambda: any(r["eventSource"] == "aws:dynamodb" for r in runner.records)
        )
        stream_records = [r for r in runner.records if r["eventSource"] == "aws:dynamodb"]
        assert [r["dynamodb"]["Keys"] for r in stream_records] == [{"sessionId": {"S": "expired"}}]
        [record] = stream_records
        assert record["userIdentity"] == {
            "type": "Service",
            "principalId": "dynamodb.amazonaws.com",
        }
        assert record["eventSourceARN"] == provisioned.stream_arns["SessionsTable"]
        assert record["awsRegion"] == "eu-west-1"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        services.stop()
