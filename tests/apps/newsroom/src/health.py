"""GET /health on SAM's implicit REST API (stage Prod); reports the URLs it was given."""

import json
import os


def handler(event, context):
    names = ("HEALTH_URL", "STORIES_URL", "IMPLICIT_STAGE", "PUBLISH_ROLE", "PUBLISH_PERMISSION")
    body = {name: os.environ[name] for name in names}
    body["stage"] = event["requestContext"]["stage"]
    return {"statusCode": 200, "body": json.dumps(body)}
