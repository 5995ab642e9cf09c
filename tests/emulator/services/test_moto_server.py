"""MotoServer: moto (in a child process or a thread) with DynamoDB serialized and SQS
long polls emulated.

The race test is the reason the server exists in this form: moto evaluates conditions
and writes without a lock, so threads racing the same `pending -> active` update can
all win (see race_without_lock.py in this directory for the demonstration). Through
MotoServer exactly one wins, every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.services.moto_server import MotoServer, internal_call

ROOT = Path(__file__).resolve().parents[3]
TRIALS = 40
THREADS = 8


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


def test_conditional_update_race_has_exactly_one_winner(
    moto: MotoServer, ddb: Any, build: Any
) -> None:
    """Threads racing pending -> active through real boto3: one winner per trial."""
    table = build.name("race")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients = _clients(moto.url, THREADS)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # widen moto's read-check-write window, as in the demo
    try:
        for trial in range(TRIALS):
            key = {"pk": {"S": f"session-{trial}"}}
            ddb.put_item(TableName=table, Item={**key, "status": {"S": "pending"}})
            winners: list[int] = []
            losers: list[str] = []
            barrier = threading.Barrier(THREADS)

            def attempt(
                i: int,
                key: dict[str, Any] = key,
                barrier: threading.Barrier = barrier,
                winners: list[int] = winners,
                losers: list[str] = losers,
            ) -> None:
                barrier.wait()
                try:
                    clients[i].update_item(
                        TableName=table,
                        Key=key,
                        UpdateExpression="SET #s = :a, winner = :w",
                        ConditionExpression="#s = :p",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={
                            ":a": {"S": "active"},
                            ":p": {"S": "pending"},
                            ":w": {"N": str(i)},
                        },
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                    winners.append(i)
                except ClientError as exc:
                    losers.append(exc.response["Error"]["Code"])

            threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(winners) == 1, f"trial {trial}: winners {winners}"
            assert losers == ["ConditionalCheckFailedException"] * (THREADS - 1)
            item = ddb.get_item(TableName=table, Key=key)["Item"]
            assert item["winner"] == {"N": str(winners[0])}
    finally:
        sys.setswitchinterval(old_interval)


def test_url_and_port_name_the_listening_socket(moto: MotoServer) -> None:
    """url is http://127.0.0.1:<port> and moto answers there."""
    assert moto.url == f"http://127.0.0.1:{moto.port}"
    assert moto.port > 0
    with urllib.request.urlopen(f"{moto.url}/moto-api/data.json") as reply:
        assert reply.status == 200


def test_a_second_thread_server_shares_moto_state_and_stop_is_idempotent(build: Any) -> None:
    """In thread mode a server started while another runs sees the same resources."""
    first = MotoServer(mode="thread")
    first.start()
    try:
        ddb = _clients(first.url, 1)[0]
        table = build.name("shared")
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        second = MotoServer(mode="thread")
        second.start()
        try:
            assert second.port != first.port
            other = _clients(second.url, 1)[0]
            assert table in other.list_tables()["TableNames"]
        finally:
            second.stop()
            second.stop()
        with pytest.raises(RuntimeError):
            _ = second.url
        assert table in ddb.list_tables()["TableNames"]  # the first server is unaffected
    finally:
        first.stop()


def test_process_mode_runs_moto_in_a_child_with_its_own_state(moto: MotoServer, build: Any) -> None:
    """Each process-mode server is a child process with its own moto; stop ends it."""
    assert moto.mode == "process"
    assert moto.pid != os.getpid()
    table = build.name("own")
    _clients(moto.url, 1)[0].create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    other = MotoServer(mode="process")
    other.start()
    child = other.pid
    try:
        assert child not in (os.getpid(), moto.pid)
        assert table not in _clients(other.url, 1)[0].list_tables()["TableNames"]
    finally:
        other.stop()
        other.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # stopped and reaped


def test_mode_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """DUELCTL_MOTO=thread picks thread mode; anything else (or nothing) process mode."""
    monkeypatch.setenv("DUELCTL_MOTO", "thread")
    assert MotoServer().mode == "thread"
    monkeypatch.setenv("DUELCTL_MOTO", "process")
    assert MotoServer().mode == "process"
    monkeypatch.delenv("DUELCTL_MOTO")
    assert MotoServer().mode == "process"
    assert MotoServer(mode="thread").mode == "thread"


def test_internal_routes_answer_stats_and_unknown_pools(moto: MotoServer) -> None:
    """/_duelctl/ routes are the emulator's own: stats, and 404 for an unknown pool."""
    assert internal_call(moto.url, "GET", "stats")["long_polls_waiting"] == 0
    assert internal_call(moto.url, "GET", "cognito/pools/us-east-1_nothere1") is None


def test_first_start_in_a_process_wipes_moto_state() -> None:
    """A thread-mode server started after all others stopped begins with no resources."""
    script = """
import boto3
from emulator.services.moto_server import MotoServer, internal_call

def tables(url):
    c = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing")
    return c, c.list_tables()["TableNames"]

with MotoServer(mode="thread") as a:
    c, _ = tables(a.url)
    c.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                   BillingMode="PAY_PER_REQUEST")
    print(tables(a.url)[1])
with MotoServer(mode="thread") as b:
    print(tables(b.url)[1])
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert out == ["['t']", "[]"]


def test_delayed_message_is_not_received_early_and_long_poll_returns_it(
    sqs: Any, build: Any
) -> None:
    """DelaySeconds hides a message; a long poll started before it is due returns it."""
    url = sqs.create_queue(QueueName=build.name("delay"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["All"])
    [message] = got["Messages"]
    assert message["Body"] == "later"
    attrs = message["Attributes"]
    assert int(attrs["ApproximateFirstReceiveTimestamp"]) - int(attrs["SentTimestamp"]) >= 1000


def test_long_poll_wakes_for_a_message_sent_meanwhile(sqs: Any, build: Any) -> None:
    """A waiting receive does not block senders and returns their message."""
    url = sqs.create_queue(QueueName=build.name("wake"))["QueueUrl"]
    result: dict[str, Any] = {}

    def receive() -> None:
        result.update(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10))

    waiter = threading.Thread(target=receive)
    waiter.start()
    sqs.send_message(QueueUrl=url, MessageBody="now")
    waiter.join(timeout=15)
    assert [m["Body"] for m in result["Messages"]] == ["now"]


def test_queue_default_wait_time_applies_without_wait_parameter(sqs: Any, build: Any) -> None:
    """ReceiveMessageWaitTimeSeconds on the queue makes a plain receive long-poll."""
    url = sqs.create_queue(
        QueueName=build.name("default-wait"),
        Attributes={"ReceiveMessageWaitTimeSeconds": "5"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=1)
    got = sqs.receive_message(QueueUrl=url)
    assert [m["Body"] for m in got["Messages"]] == ["soon"]


def test_invalid_wait_time_still_gets_aws_error(sqs: Any, build: Any) -> None:
    """Out-of-range WaitTimeSeconds reaches moto, which answers InvalidParameterValue."""
    url = sqs.create_queue(QueueName=build.name("bad-wait"))["QueueUrl"]
    with pytest.raises(ClientError) as info:
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=25)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_stop_ends_a_pending_long_poll() -> None:
    """Stopping the server answers a waiting receive instead of holding it for 20 s."""
    server = MotoServer()
    server.start()
    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = sqs.create_queue(QueueName=f"stop-wait-{time.time_ns()}")["QueueUrl"]
    done = threading.Event()
    result: dict[str, Any] = {}

    def receive() -> None:
        result.update(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
        done.set()

    waiter = threading.Thread(target=receive, daemon=True)
    waiter.start()
    while server.long_polls_waiting == 0 and waiter.is_alive():
        time.sleep(0.01)  # until the receive is waiting inside the server
    server.stop()
    assert done.wait(10)
    assert result.get("Messages", []) == []


def test_shard_iterators_expire_like_aws(build: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An old iterator gets ExpiredIteratorException; a new one resumes after a record."""
    from emulator.services import moto_server
    from emulator.services.aws import client

    # Thread mode: the test shortens the server's iterator lifetime in this process.
    with MotoServer(mode="thread") as moto:
        _check_iterator_expiry(moto, build, monkeypatch, moto_server, client)


def _check_iterator_expiry(
    moto: MotoServer, build: Any, monkeypatch: pytest.MonkeyPatch, moto_server: Any, client: Any
) -> None:
    ddb = client("dynamodb", moto.url, "us-east-1")
    streams = client("dynamodbstreams", moto.url, "us-east-1")
    table = build.name("iter")
    arn = ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )["TableDescription"]["LatestStreamArn"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}})
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = streams.get_records(ShardIterator=iterator, Limit=1)["Records"][0]

    monkeypatch.setattr(moto_server, "SHARD_ITERATOR_TTL_S", -1.0)
    monkeypatch.setattr(moto_server, "_PRUNE_EVERY_S", 0.0)
    streams.describe_stream(StreamArn=arn)  # any Streams call prunes
    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=iterator)
    monkeypatch.undo()

    resumed = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=shard["ShardId"],
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=first["dynamodb"]["SequenceNumber"],
    )["ShardIterator"]
    rest = streams.get_records(ShardIterator=resumed)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in rest] == ["b"]


# ---------------------------------------------------------------------- moto speed-ups
#
# A moto child patches three of moto's algorithms (moto_server.py docstring). Each must
# be invisible: the same script against a patched child and against unpatched moto (a
# thread-mode server in this process, which never patches) gives the same answers.


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
    stripped: dict[str, Any] = _strip(out)
    return stripped


def test_the_moto_child_applies_its_speed_ups(moto: MotoServer) -> None:
    """A process-mode server reports the three speed-ups; thread mode patches nothing."""
    stats = internal_call(moto.url, "GET", "stats")
    assert sorted(stats["speedups"]) == ["query", "sqs-retention", "transactions"]
    with MotoServer(mode="thread") as plain:
        assert internal_call(plain.url, "GET", "stats")["speedups"] == []


def test_speed_ups_change_no_answer(moto: MotoServer, build: Any) -> None:
    """Queries, transactions, rollbacks, stream records and receives match unpatched moto."""
    prefix = build.name("same")
    patched = _exercise(moto.url, prefix)
    with MotoServer(mode="thread") as plain:
        unpatched = _exercise(plain.url, prefix)
    assert patched["transaction_failed"] != "no error"
    assert patched["number_key"]["Count"] == 1
    assert patched == unpatched


def test_ttl_route_lists_expired_numbers_only(moto: MotoServer, build: Any) -> None:
    """Items with a Number TTL in [floor, now] are listed with their keys; others not."""
    ddb = _clients(moto.url, 1)[0]
    table = build.name("ttl")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for pk, ttl in (("old", {"N": "100"}), ("due", {"N": "500"}), ("later", {"N": "2000"})):
        ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "exp": ttl})
    ddb.put_item(TableName=table, Item={"pk": {"S": "text"}, "exp": {"S": "500"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "none"}})
    reply = internal_call(
        moto.url,
        "POST",
        "dynamodb/ttl-expired",
        {
            "account": "123456789012",
            "region": "us-east-1",
            "table": table,
            "attribute": "exp",
            "floor": 200,
            "now": 1000,
        },
    )
    assert reply["items"] == [{"keys": {"pk": {"S": "due"}}, "ttl": {"N": "500"}}]


def test_next_due_time_of_a_queue_follows_its_delayed_messages(build: Any) -> None:
    """A long poll sleeps until the queue's next message comes due, or the maximum."""
    from emulator.services import moto_server

    with MotoServer(mode="thread") as plain:
        sqs = boto3.session.Session().client(
            "sqs",
            endpoint_url=plain.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        url = sqs.create_queue(QueueName=build.name("due"))["QueueUrl"]
        environ = {
            "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/x"
        }
        assert moto_server._next_due_s(url, environ) == moto_server.LONG_POLL_MAX_SLEEP_S
        sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=1)
        pause = moto_server._next_due_s(url, environ)
        assert 0 < pause <= 1.001
        assert moto_server._next_due_s("not a url", environ) == moto_server.LONG_POLL_STEP_S
