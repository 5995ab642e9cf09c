"""Helpers shared by this app's handlers (they all have this directory as CodeUri)."""

import json
import os

import boto3

connections = boto3.resource("dynamodb").Table(os.environ["CONNECTIONS_TABLE"])


def management_api(endpoint=None):
    """The @connections client for `endpoint`, else the one configured for the stage."""
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint or os.environ["MANAGEMENT_ENDPOINT"]
    )


def broadcast(message, *, endpoint=None, skip=()):
    """Post `message` (JSON) to every stored connection; drop the ones that are gone."""
    api = management_api(endpoint)
    data = json.dumps(message).encode("utf-8")
    sent = 0
    for item in connections.scan(ProjectionExpression="connectionId")["Items"]:
        connection_id = item["connectionId"]
        if connection_id in skip:
            continue
        try:
            api.post_to_connection(ConnectionId=connection_id, Data=data)
            sent += 1
        except api.exceptions.GoneException:
            connections.delete_item(Key={"connectionId": connection_id})
    return sent
