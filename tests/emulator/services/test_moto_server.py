"""MotoServer: moto in child processes (one per service group) or a thread, with DynamoDB
one request at a time and SQS long polls parked in the event loop.

The race test is the reason the server exists in this form: moto evaluates conditions
and writes without a lock, so threads racing the same `pending -> active` update can
all win (see race_without_lock.py in this directory for the demonstration with moto's
own server). Through MotoServer exactly one wins, every time, whether the request goes
straight to the DynamoDB process (as handlers' do) or through the front.
"""

from __future__ import annotations

import json
import os
import socket
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


@pytest.mark.parametrize(("path", "trials"), [("direct", TRIALS), ("front", TRIALS // 4)])
def test_conditional_update_race_has_exactly_one_winner(
    moto: MotoServer, ddb: Any, build: Any, path: str, trials: int
) -> None:
    """Threads racing pending -> active through real boto3: one winner per trial."""
    table = build.name("race")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients = _clients(moto.url_for("dynamodb") if path == "direct" else moto.url, THREADS)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # widen moto's read-check-write window, as in the demo
    try:
        for trial in range(trials):
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


def test_url_and_port_name_the_front_and_each_group_has_its_own(moto: MotoServer) -> None:
    """url is the front (http://127.0.0.1:<port>); each group's URL is its own process."""
    assert moto.url == f"http://127.0.0.1:{moto.port}"
    assert moto.port > 0
    assert moto.urls["default"] == moto.url
    assert len(set(moto.urls.values())) == 3
    assert moto.url_for("cognito-idp") == moto.url
    assert moto.url_for("dynamodbstreams") == moto.urls["dynamodb"]
    assert moto.endpoint_env()["AWS_ENDPOINT_URL_SQS"] == moto.urls["sqs"]
    with urllib.request.urlopen(f"{moto.url}/moto-api/data.json") as reply:
        assert reply.status == 200
    for group, url in moto.urls.items():
        assert internal_call(url, "GET", "stats")["group"] == group


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


def test_process_mode_runs_moto_in_children_with_their_own_state(
    moto: MotoServer, build: Any
) -> None:
    """Each process-mode server runs its own moto in children (three when split, one
    otherwise); the front and the DynamoDB process agree; stop ends them all."""
    assert moto.mode == "process" and moto.split
    assert moto.pid != os.getpid()
    assert len(moto.pids) == 3 and os.getpid() not in moto.pids
    table = build.name("own")
    _clients(moto.url, 1)[0].create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert table in _clients(moto.url_for("dynamodb"), 1)[0].list_tables()["TableNames"]
    other = MotoServer(mode="process", split=False)
    other.start()
    children = other.pids
    try:
        assert len(children) == 1 and set(children).isdisjoint({os.getpid(), *moto.pids})
        assert set(other.urls.values()) == {other.url}
        assert table not in _clients(other.url, 1)[0].list_tables()["TableNames"]
    finally:
        other.stop()
        other.stop()
    for child in children:
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # stopped and reaped


def test_a_split_server_stops_every_process() -> None:
    server = MotoServer(mode="process")
    server.start()
    pids = server.pids
    server.stop()
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


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
    assert internal_call(moto.url, "GET", "no/such/route") is None


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


def test_a_long_poll_whose_client_left_takes_no_message(
    moto: MotoServer, sqs: Any, build: Any
) -> None:
    """A parked receive whose connection closed is dropped, not answered with a message
    nobody reads (which would hide it until its visibility timeout)."""
    url = sqs.create_queue(QueueName=build.name("left"))["QueueUrl"]
    other = sqs.create_queue(QueueName=build.name("other"))["QueueUrl"]
    host, port = moto.urls["sqs"].removeprefix("http://").split(":")
    body = json.dumps({"QueueUrl": url, "WaitTimeSeconds": 20}).encode()
    raw = socket.create_connection((host, int(port)))
    raw.sendall(
        b"POST / HTTP/1.1\r\nHost: sqs\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"X-Amz-Target: AmazonSQS.ReceiveMessage\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/"
        b"aws4_request, SignedHeaders=host, Signature=0\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    while moto.long_polls_waiting == 0:
        time.sleep(0.01)
    raw.close()
    for _ in range(500):  # any SQS request looks at the parked polls
        sqs.send_message(QueueUrl=other, MessageBody="nudge")
        if moto.long_polls_waiting == 0:
            break
    assert moto.long_polls_waiting == 0
    sqs.send_message(QueueUrl=url, MessageBody="for-a-live-client")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [m["Body"] for m in got["Messages"]] == ["for-a-live-client"]


def test_stop_ends_a_pending_long_poll() -> None:
    """Stopping the server answers a waiting receive instead of holding it for 20 s."""
    server = MotoServer()
    server.start()
    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=server.url_for("sqs"),
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
    from emulator.services.aws import client
    from emulator.services.moto import app

    # Thread mode: the test shortens the server's iterator lifetime in this process.
    with MotoServer(mode="thread") as moto:
        _check_iterator_expiry(moto, build, monkeypatch, app, client)


def _check_iterator_expiry(
    moto: MotoServer, build: Any, monkeypatch: pytest.MonkeyPatch, app: Any, client: Any
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

    monkeypatch.setattr(app, "SHARD_ITERATOR_TTL_S", -1.0)
    monkeypatch.setattr(app, "PRUNE_EVERY_S", 0.0)
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


def test_browser_requests_get_cors_headers_from_moto(moto: MotoServer) -> None:
    """A request with an Origin (a web page calling Cognito) gets flask-cors' headers;
    an SDK call gets none, as from AWS."""
    body = b'{"MaxResults": 1}'
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools",
    }
    plain = urllib.request.Request(moto.url + "/", data=body, headers=headers)
    with urllib.request.urlopen(plain) as reply:
        assert reply.headers.get("Access-Control-Allow-Origin") is None
    browser = urllib.request.Request(
        moto.url + "/", data=body, headers={**headers, "Origin": "http://127.0.0.1:9"}
    )
    with urllib.request.urlopen(browser) as reply:
        assert reply.headers.get("Access-Control-Allow-Origin") in ("*", "http://127.0.0.1:9")


def test_ttl_route_lists_expired_numbers_only(moto: MotoServer, build: Any) -> None:
    """Items with a Number TTL in [floor, now] are listed with their keys; others not."""
    ddb = _clients(moto.url_for("dynamodb"), 1)[0]
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
    request = {
        "account": "123456789012",
        "region": "us-east-1",
        "table": table,
        "attribute": "exp",
        "floor": 200,
        "now": 1000,
    }
    expected = [{"keys": {"pk": {"S": "due"}}, "ttl": {"N": "500"}}]
    assert internal_call(moto.url_for("dynamodb"), "POST", "dynamodb/ttl-expired", request) == {
        "items": expected
    }
    # Through the front too (relayed to the DynamoDB process).
    assert internal_call(moto.url, "POST", "dynamodb/ttl-expired", request)["items"] == expected
