"""$disconnect: forget the connection."""

from fanout import connections


def handler(event, context):
    connections.delete_item(Key={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}
