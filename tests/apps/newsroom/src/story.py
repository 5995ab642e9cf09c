"""GET /stories/{storyId}, ANY /archive/{proxy+} and GET /broken.

Answers with what API Gateway handed over, so a client can see the REST event; it has
no layer, so the shared newsdesk module is not importable here. /broken returns what a
REST API cannot turn into a response.
"""

import json


def handler(event, context):
    if event["resource"] == "/broken":
        return {"statusCode": 200, "body": {"not": "a string"}}
    try:
        import newsdesk  # noqa: F401

        has_layer = True
    except ImportError:
        has_layer = False
    seen = {
        "resource": event["resource"],
        "path": event["path"],
        "httpMethod": event["httpMethod"],
        "pathParameters": event["pathParameters"],
        "queryStringParameters": event["queryStringParameters"],
        "multiValueQueryStringParameters": event["multiValueQueryStringParameters"],
        "stageVariables": event["stageVariables"],
        "headerNames": sorted(event["headers"]),
        "multiValueHeaders": event["multiValueHeaders"],
        "body": event["body"],
        "isBase64Encoded": event["isBase64Encoded"],
        "context": event["requestContext"],
        "hasLayer": has_layer,
    }
    return {"statusCode": 200, "body": json.dumps(seen)}
