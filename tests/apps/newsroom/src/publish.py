"""POST /stories (REST API, editor key required): every reader gets the story."""

import json
import os

import newsdesk


def handler(event, context):
    try:
        story = json.loads(event["body"] or "{}")
    except ValueError:
        return {"statusCode": 400, "body": json.dumps({"error": "body must be JSON"})}
    if not isinstance(story, dict) or not story.get("headline"):
        return {"statusCode": 400, "body": json.dumps({"error": "headline is required"})}
    editor = event["requestContext"]["authorizer"]["editor"]
    message = {
        "type": "story",
        "headline": story["headline"],
        "editor": editor,
        "desk": event["stageVariables"]["desk"],
    }
    told = newsdesk.tell_everyone(os.environ["SOCKET_ENDPOINT"], message)
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Story-Tag": ["breaking", "metro"]},
        "body": json.dumps({"told": told, "editor": editor}),
    }
