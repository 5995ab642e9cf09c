"""notify: queue the notice; NoticeFunction delivers it."""

import json
import os

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    body = json.loads(event["body"])
    sqs.send_message(
        QueueUrl=os.environ["QUEUE_URL"],
        MessageBody=json.dumps({"text": body.get("text", "")}),
    )
    return {"statusCode": 202}
