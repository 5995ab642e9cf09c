"""What each schedule runs: count the firing and keep the last event it delivered."""

import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TICKS_TABLE"])


def _record(source, event):
    table.update_item(
        Key={"source": source},
        UpdateExpression="ADD fired :one SET lastEvent = :event",
        ExpressionAttributeValues={":one": 1, ":event": json.dumps(event, sort_keys=True)},
    )
    return {"source": source}


def heartbeat(event, context):
    return _record(event["source"], event)


def digest(event, context):
    if event.get("fail"):
        raise RuntimeError(f"{event['source']} has nothing to send")
    return _record(event["source"], event)


def sweep(event, context):
    return _record("sweep", event)
