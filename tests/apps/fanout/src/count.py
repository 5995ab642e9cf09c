"""count: ask CounterFunction (synchronous Lambda invoke) and tell the sender the result."""

import json
import os

import boto3

from fanout import management_api

lambda_client = boto3.client("lambda")


def handler(event, context):
    ctx = event["requestContext"]
    body = json.loads(event["body"])
    response = lambda_client.invoke(
        FunctionName=os.environ["COUNTER_FUNCTION"],
        InvocationType="RequestResponse",
        Payload=json.dumps({"counter": body.get("counter", "")}),
    )
    payload = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        frame = {"type": "count_error", "errorType": payload.get("errorType")}
    else:
        frame = {"type": "count", "counter": payload["counter"], "value": payload["value"]}
    api = management_api(f"https://{ctx['domainName']}/{ctx['stage']}")
    api.post_to_connection(ConnectionId=ctx["connectionId"], Data=json.dumps(frame).encode())
    return {"statusCode": 200}
