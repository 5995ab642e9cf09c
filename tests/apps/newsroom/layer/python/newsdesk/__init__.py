"""Shared by the newsroom's functions: who is reading, and telling all of them.

Lives in a Lambda layer (layer/python/newsdesk), so every function that lists the layer
imports it as `newsdesk`, the way Lambda unpacks a layer's python/ under /opt/python.
"""

import json
import os

import boto3

PROTOCOL = "newsdesk.v1"

_readers = boto3.resource("dynamodb").Table(os.environ["READERS_TABLE"])


def remember(connection_id, desk):
    _readers.put_item(Item={"connectionId": connection_id, "desk": desk})


def forget(connection_id):
    _readers.delete_item(Key={"connectionId": connection_id})


def tell_everyone(endpoint, message):
    """Post `message` (a dict) to every stored reader; drop readers that have gone."""
    api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    data = json.dumps(message).encode()
    told = 0
    for item in _readers.scan(ProjectionExpression="connectionId")["Items"]:
        try:
            api.post_to_connection(ConnectionId=item["connectionId"], Data=data)
            told += 1
        except api.exceptions.GoneException:
            forget(item["connectionId"])
    return told
