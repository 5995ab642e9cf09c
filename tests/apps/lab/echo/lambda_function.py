"""echo: send the frame back unchanged (the route response carries the body)."""


def handler(event, context):
    return {"statusCode": 200, "body": event["body"]}
