"""DynamoDB stream of the connections table: announce each new connection to the others."""

from fanout import broadcast


def handler(event, context):
    for record in event["Records"]:
        if record["eventName"] != "INSERT":
            continue
        new_id = record["dynamodb"]["NewImage"]["connectionId"]["S"]
        broadcast({"type": "joined", "connectionId": new_id}, skip={new_id})
