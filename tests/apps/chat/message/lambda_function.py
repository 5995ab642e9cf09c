"""$default: post the frame's text, unchanged, to every open connection.

The management endpoint is built from the event, as AWS's samples do, and handed to
boto3 explicitly.
"""

import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def lambda_handler(event, context):
    ctx = event["requestContext"]
    endpoint = f"https://{ctx['domainName']}/{ctx['stage']}"
    api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    text = event.get("body") or ""
    connections = table.scan(ProjectionExpression="connectionId")["Items"]
    for item in connections:
        try:
            api.post_to_connection(ConnectionId=item["connectionId"], Data=text.encode("utf-8"))
        except api.exceptions.GoneException:
            table.delete_item(Key={"connectionId": item["connectionId"]})
    return {"statusCode": 200, "body": "Data sent."}
