"""Two handlers that fail: one raises, one runs past its one-second Timeout."""

import time


def boom(event, context):
    raise RuntimeError("boom")


def slow(event, context):
    time.sleep(3)
    return {"statusCode": 200, "body": "too late"}
