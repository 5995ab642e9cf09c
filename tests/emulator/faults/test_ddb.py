"""ddb-throttle's answers: AWS's error shapes for a share of writes, nothing else touched."""

from __future__ import annotations

import json

from emulator.faults.ddb import (
    EMULATOR_AGENT,
    ENV,
    SEED_ENV,
    DdbThrottle,
    from_env,
)

AUTH = "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/dynamodb/aws4_request, ..."


def test_single_writes_get_provisioned_throughput_exceeded_for_their_table() -> None:
    throttle = DdbThrottle(1.0, seed=1)
    body = json.dumps({"TableName": "duel-sessions", "Item": {}}).encode()
    answer = throttle.answer("DynamoDB_20120810.PutItem", body, "Boto3/1.43", AUTH)
    assert answer is not None
    status, headers, raw = answer
    assert status == 400
    assert ("Content-Type", "application/x-amz-json-1.0") in headers
    error = json.loads(raw)
    assert error["__type"].endswith("#ProvisionedThroughputExceededException")
    assert error["ThrottlingReasons"] == [
        {
            "reason": "TableWriteKeyRangeThroughputExceeded",
            "resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/duel-sessions",
        }
    ]
    assert throttle.report()["counts"] == {"ddb-throttle": 1}


def test_transactions_are_cancelled_with_one_transaction_conflict() -> None:
    throttle = DdbThrottle(1.0, seed=1)
    items = [{"Put": {"TableName": "s", "Item": {}}}, {"ConditionCheck": {"TableName": "s"}}]
    body = json.dumps({"TransactItems": items}).encode()
    answer = throttle.answer("DynamoDB_20120810.TransactWriteItems", body, "Boto3")
    assert answer is not None
    error = json.loads(answer[2])
    assert error["__type"].endswith("#TransactionCanceledException")
    codes = [r["Code"] for r in error["CancellationReasons"]]
    assert sorted(codes) == ["None", "TransactionConflict"]
    assert error["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(codes)}]"
    )


def test_reads_and_the_emulators_own_writes_are_never_throttled() -> None:
    throttle = DdbThrottle(1.0, seed=1)
    body = b'{"TableName": "t"}'
    assert throttle.answer("DynamoDB_20120810.GetItem", body, "Boto3") is None
    assert throttle.answer("DynamoDB_20120810.Query", body, "Boto3") is None
    agent = f"Boto3/1.43 md/x {EMULATOR_AGENT}"
    assert throttle.answer("DynamoDB_20120810.DeleteItem", body, agent) is None
    assert throttle.report() == {"counts": {"ddb-throttle": 0}, "events": []}


def test_a_share_of_writes_is_throttled_and_reported_after_a_cursor() -> None:
    throttle = DdbThrottle(0.3, seed=5)
    body = b'{"TableName": "t"}'
    hits = [throttle.answer("DynamoDB_20120810.UpdateItem", body, "x") for _ in range(200)]
    fired = sum(h is not None for h in hits)
    assert 0 < fired < 200 and throttle.count == fired
    events = throttle.report()["events"]
    assert [e["seq"] for e in events] == list(range(1, fired + 1))
    assert throttle.report(after=fired - 1)["events"] == events[-1:]
    assert events[0]["operation"] == "UpdateItem" and events[0]["tables"] == ["t"]


def test_the_moto_process_reads_the_spec_from_its_environment() -> None:
    assert from_env({}) is None
    assert from_env({ENV: "sqs-duplicate"}) is None
    throttle = from_env({ENV: "ddb-throttle=0.5", SEED_ENV: "3"})
    assert throttle is not None
    assert from_env({ENV: "not-a-fault"}) is None
