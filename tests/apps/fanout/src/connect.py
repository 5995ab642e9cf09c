"""$connect: store the connection, then let WelcomeFunction greet it asynchronously.

The greeting cannot be posted from here: API Gateway answers 410 to posts for a
connection whose $connect has not returned yet.
"""

import json
import os

import boto3

from fanout import connections

lambda_client = boto3.client("lambda")


def handler(event, context):
    ctx = event["requestContext"]
    connections.put_item(Item={"connectionId": ctx["connectionId"]})
    lambda_client.invoke(
        FunctionName=os.environ["WELCOME_FUNCTION"],
        InvocationType="Event",
        Payload=json.dumps(
            {
                "connectionId": ctx["connectionId"],
                "domainName": ctx["domainName"],
                "stage": ctx["stage"],
            }
        ),
    )
    return {"statusCode": 200}
