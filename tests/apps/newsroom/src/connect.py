"""$connect: only readers speaking newsdesk.v1 get in, and the 101 says so.

The client lists the subprotocols it speaks in Sec-WebSocket-Protocol; API Gateway
answers with one only if this function returns the header. `?legacy=1` lets an old
reader in without naming a subprotocol in the answer.
"""

import newsdesk


def handler(event, context):
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    query = event.get("queryStringParameters") or {}
    desk = query.get("desk", "front")
    if query.get("legacy") == "1":
        newsdesk.remember(event["requestContext"]["connectionId"], desk)
        return {"statusCode": 200}
    if newsdesk.PROTOCOL not in offered:
        return {"statusCode": 400, "body": "speak newsdesk.v1"}
    newsdesk.remember(event["requestContext"]["connectionId"], desk)
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": newsdesk.PROTOCOL}}
