"""SQS consumer: post every queued notice to every connection."""

import json

from fanout import broadcast


def handler(event, context):
    for record in event["Records"]:
        notice = json.loads(record["body"])
        broadcast({"type": "notice", "text": notice["text"]})
    return {"batchItemFailures": []}
