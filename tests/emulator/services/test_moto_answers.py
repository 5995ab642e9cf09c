"""moto's answers are moto's: patched algorithms and the direct request path change none.

A moto child patches some of moto's algorithms (moto/patches.py), and requests for the
hot services go straight into moto's response classes instead of through its Flask app
(moto/dispatch.py). Each must be invisible: the same script against patched children,
against unpatched moto (a thread-mode server in this process, which never patches) and
through moto's Flask app gives the same answers.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.services.moto import patches
from emulator.services.moto.internal import internal_call
from emulator.services.moto_server import MotoServer


def _clients(url: str, n: int) -> list[Any]:
    config = Config(retries={"max_attempts": 1}, max_pool_connections=n)
    return [
        boto3.session.Session().client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )
        for _ in range(n)
    ]


def _strip(value: Any) -> Any:
    """Drop what differs between any two runs: request ids, times, ARNs, receipt handles
    (and moto's SizeBytes, the length of a record's JSON including its time)."""
    volatile = {
        "ResponseMetadata",
        "ApproximateCreationDateTime",
        "SizeBytes",
        "eventID",
        "eventSourceARN",
        "ReceiptHandle",
        "MessageId",
        "awsRegion",
    }
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _exercise(url: str, prefix: str) -> dict[str, Any]:
    """Queries, transactions (one rolled back), stream records and receives, normalized."""
    ddb = _clients(url, 1)[0]
    streams = boto3.session.Session().client(
        "dynamodbstreams",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    conns, sessions, numbers = f"{prefix}-conns", f"{prefix}-sessions", f"{prefix}-numbers"
    arns = [
        ddb.create_table(
            TableName=conns,
            KeySchema=[
                {"AttributeName": "u", "KeyType": "HASH"},
                {"AttributeName": "c", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "u", "AttributeType": "S"},
                {"AttributeName": "c", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=stream,
        )["TableDescription"]["LatestStreamArn"],
        ddb.create_table(
            TableName=sessions,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "owner", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byOwner",
                    "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=stream,
        )["TableDescription"]["LatestStreamArn"],
    ]
    ddb.create_table(
        TableName=numbers,
        KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for u in range(5):
        for c in (3, 1, 2):
            ddb.put_item(
                TableName=conns,
                Item={"u": {"S": f"u{u}"}, "c": {"S": f"c{c}"}, "exp": {"N": str(10 * u + c)}},
            )
    for i in range(8):
        ddb.put_item(
            TableName=sessions,
            Item={"id": {"S": f"s{i}"}, "owner": {"S": f"o{i % 3}"}, "status": {"S": "pending"}},
        )
    for n in ("1", "2", "10"):
        ddb.put_item(TableName=numbers, Item={"n": {"N": n}, "v": {"S": n}})

    out: dict[str, Any] = {}
    u3 = {":u": {"S": "u3"}}
    out["query"] = ddb.query(
        TableName=conns, KeyConditionExpression="u = :u", ExpressionAttributeValues=u3
    )
    out["query_backwards"] = ddb.query(
        TableName=conns,
        KeyConditionExpression="u = :u",
        ExpressionAttributeValues=u3,
        ScanIndexForward=False,
    )
    page = ddb.query(
        TableName=conns, KeyConditionExpression="u = :u", ExpressionAttributeValues=u3, Limit=2
    )
    out["page1"] = page
    out["page2"] = ddb.query(
        TableName=conns,
        KeyConditionExpression="u = :u",
        ExpressionAttributeValues=u3,
        Limit=2,
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    out["query_filtered"] = ddb.query(
        TableName=conns,
        KeyConditionExpression="u = :u AND c > :c",
        FilterExpression="exp > :e",
        ExpressionAttributeValues={**u3, ":c": {"S": "c1"}, ":e": {"N": "32"}},
    )
    out["query_missing"] = ddb.query(
        TableName=conns,
        KeyConditionExpression="u = :u",
        ExpressionAttributeValues={":u": {"S": "nobody"}},
    )
    out["gsi"] = ddb.query(
        TableName=sessions,
        IndexName="byOwner",
        KeyConditionExpression="owner = :o",
        ExpressionAttributeValues={":o": {"S": "o1"}},
    )
    out["number_key"] = ddb.query(
        TableName=numbers,
        KeyConditionExpression="n = :n",
        ExpressionAttributeValues={":n": {"N": "1.0"}},
    )
    out["transaction_ok"] = ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": sessions, "Item": {"id": {"S": "s9"}, "owner": {"S": "o1"}}}},
            {
                "Update": {
                    "TableName": conns,
                    "Key": {"u": {"S": "u1"}, "c": {"S": "c1"}},
                    "UpdateExpression": "SET exp = :e",
                    "ExpressionAttributeValues": {":e": {"N": "99"}},
                }
            },
            {"Delete": {"TableName": conns, "Key": {"u": {"S": "u2"}, "c": {"S": "c2"}}}},
            {
                "ConditionCheck": {
                    "TableName": sessions,
                    "Key": {"id": {"S": "s0"}},
                    "ConditionExpression": "attribute_exists(id)",
                }
            },
        ]
    )
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": conns,
                        "Key": {"u": {"S": "u4"}, "c": {"S": "c3"}},
                        "UpdateExpression": "SET exp = :e",
                        "ExpressionAttributeValues": {":e": {"N": "-1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": sessions,
                        "Item": {"id": {"S": "s10"}, "owner": {"S": "o2"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": sessions,
                        "Key": {"id": {"S": "s1"}},
                        "ConditionExpression": "#s = :active",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":active": {"S": "active"}},
                    }
                },
            ]
        )
        out["transaction_failed"] = "no error"
    except ClientError as err:
        out["transaction_failed"] = err.response.get("CancellationReasons")
    out["conns"] = ddb.scan(TableName=conns)
    out["sessions"] = ddb.scan(TableName=sessions)
    out["gsi_after"] = ddb.query(
        TableName=sessions,
        IndexName="byOwner",
        KeyConditionExpression="owner = :o",
        ExpressionAttributeValues={":o": {"S": "o2"}},
    )
    for i, arn in enumerate(arns):
        [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out[f"stream{i}"] = streams.get_records(ShardIterator=iterator)["Records"]
    queue = sqs.create_queue(QueueName=f"{prefix}-q")["QueueUrl"]
    for i in range(6):
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}", DelaySeconds=900 if i % 2 else 0)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    out["received"] = sorted(m["Body"] for m in received)
    out["queue_counts"] = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=[
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        ],
    )["Attributes"]
    # FIFO sends read ContentBasedDeduplication (moto/patches.py "sqs-send").
    dedup = sqs.create_queue(
        QueueName=f"{prefix}-dedup.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=dedup, MessageBody="same", MessageGroupId="g")
    strict = sqs.create_queue(QueueName=f"{prefix}-strict.fifo", Attributes={"FifoQueue": "true"})
    try:
        sqs.send_message(QueueUrl=strict["QueueUrl"], MessageBody="x", MessageGroupId="g")
        out["fifo_without_dedup_id"] = "no error"
    except ClientError as err:
        out["fifo_without_dedup_id"] = err.response["Error"]
    out["dedup_counts"] = sqs.get_queue_attributes(
        QueueUrl=dedup, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    try:
        sqs.send_message(QueueUrl=f"{queue}-missing", MessageBody="x")
        out["missing_queue"] = "no error"
    except ClientError as err:
        out["missing_queue"] = err.response["Error"]
    try:
        ddb.get_item(TableName=f"{prefix}-missing", Key={"u": {"S": "x"}})
        out["missing_table"] = "no error"
    except ClientError as err:
        out["missing_table"] = err.response["Error"]
    stripped: dict[str, Any] = _strip(out)
    return stripped


def test_the_moto_children_apply_their_speed_ups(moto: MotoServer) -> None:
    """On a checked moto version each group's process reports its changes (none on any
    other version); thread mode changes nothing."""
    applied = {g: internal_call(u, "GET", "stats")["speedups"] for g, u in moto.urls.items()}
    if patches.checked():
        assert sorted(applied["dynamodb"]) == ["query", "transactions"]
        assert sorted(applied["sqs"]) == ["sqs-clock", "sqs-retention", "sqs-send"]
    else:
        assert applied["dynamodb"] == applied["sqs"] == []
    assert applied["default"] == []
    with MotoServer(mode="thread") as plain:
        assert internal_call(plain.url, "GET", "stats")["speedups"] == []


def test_speed_ups_change_no_answer(moto: MotoServer, build: Any) -> None:
    """Queries, transactions, rollbacks, stream records, sends and receives match
    unpatched moto."""
    prefix = build.name("same")
    patched = _exercise(moto.url, prefix)
    with MotoServer(mode="thread") as plain:
        unpatched = _exercise(plain.url, prefix)
    assert patched["transaction_failed"] != "no error"
    assert patched["number_key"]["Count"] == 1
    assert patched["dedup_counts"] == {"ApproximateNumberOfMessages": "1"}
    assert patched["missing_queue"] != "no error" != patched["missing_table"]
    assert patched == unpatched


def test_direct_dispatch_answers_as_moto_through_flask(
    build: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Straight into moto's response classes, or through its Flask app: same answers."""
    with MotoServer(mode="thread") as direct:
        assert internal_call(direct.url, "GET", "stats")["direct"] is patches.checked()
        straight = _exercise(direct.url, build.name("direct"))
        monkeypatch.setenv("DUELCTL_MOTO_DIRECT", "0")
        with MotoServer(mode="thread") as flask:
            assert internal_call(flask.url, "GET", "stats")["direct"] is False
            through_flask = _exercise(flask.url, build.name("flask"))
    assert straight == through_flask
