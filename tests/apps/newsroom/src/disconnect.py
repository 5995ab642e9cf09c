"""$disconnect: forget the reader."""

import newsdesk


def handler(event, context):
    newsdesk.forget(event["requestContext"]["connectionId"])
    return {"statusCode": 200}
