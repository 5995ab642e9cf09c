"""A handler the refused templates point at; it never runs."""


def handler(event, context):
    return {"statusCode": 200}
