"""Increment a named counter atomically and return its new value."""

import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["COUNTERS_TABLE"])


def handler(event, context):
    name = event.get("counter")
    if not name:
        raise ValueError("counter name is required")
    item = table.update_item(
        Key={"counter": name},
        UpdateExpression="ADD #v :one",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]
    return {"counter": name, "value": int(item["value"])}
