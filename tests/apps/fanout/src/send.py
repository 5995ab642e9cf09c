"""sendmessage: post {"type": "message", "data": ...} to every connection."""

import json

from fanout import broadcast


def handler(event, context):
    ctx = event["requestContext"]
    body = json.loads(event["body"])
    sent = broadcast(
        {"type": "message", "from": ctx["connectionId"], "data": body.get("data")},
        endpoint=f"https://{ctx['domainName']}/{ctx['stage']}",
    )
    return {"statusCode": 200, "body": f"sent to {sent}"}
