"""info: answer (through the route response) with the configuration the template resolved."""

import json
import os

KEYS = (
    "STACK",
    "ACCOUNT",
    "PARTITION",
    "URL_SUFFIX",
    "QUEUE_NAME",
    "QUEUE_REGION",
    "COUNTER_NAME",
    "TABLES",
    "LOG_LEVEL",
    "MANAGEMENT_ENDPOINT",
    "CONNECTIONS_TABLE",
    "AWS_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
)


def handler(event, context):
    config = {key: os.environ.get(key) for key in KEYS}
    config["remaining_ms"] = context.get_remaining_time_in_millis()
    return {"statusCode": 200, "body": json.dumps(config)}
