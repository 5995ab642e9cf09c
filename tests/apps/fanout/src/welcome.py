"""Invoked asynchronously by $connect: post the welcome frame once the socket is open."""

import json
import time

import boto3


def handler(event, context):
    endpoint = f"https://{event['domainName']}/{event['stage']}"
    api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    data = json.dumps({"type": "welcome", "connectionId": event["connectionId"]})
    # Until the $connect handler returns, the connection does not exist yet (410).
    while True:
        try:
            api.post_to_connection(ConnectionId=event["connectionId"], Data=data.encode())
            return {"delivered": True}
        except api.exceptions.GoneException:
            if context.get_remaining_time_in_millis() < 1000:
                return {"delivered": False}
            time.sleep(0.05)
