"""CloudFormation decisions: stage names, the first failure, no-op reasons, outputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from duelctl.deploy.errors import DeployError
from duelctl.deploy.stack import (
    change_rows,
    describe_failure,
    endpoints_from_outputs,
    first_failure,
    is_busy,
    is_no_changes,
    is_terminal,
    stack_name,
)
from duelctl.errors import UsageError

STACK = "duelctl-dev"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def event(i: int, logical_id: str, rtype: str, status: str, reason: str = "") -> dict[str, Any]:
    """A stack event shaped like DescribeStackEvents returns it."""
    return {
        "EventId": f"e{i}",
        "StackName": STACK,
        "LogicalResourceId": logical_id,
        "ResourceType": rtype,
        "ResourceStatus": status,
        "Timestamp": T0 + timedelta(seconds=i),
        **({"ResourceStatusReason": reason} if reason else {}),
    }


ROLE_DENIED = (
    'Resource handler returned message: "User: arn:aws:iam::123456789012:user/dev is not '
    'authorized to perform: iam:CreateRole" (HandlerErrorCode: AccessDenied)'
)
FAILED_CREATE = [
    event(1, STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
    event(2, "SessionsTable", "AWS::DynamoDB::Table", "CREATE_IN_PROGRESS"),
    event(3, "ConnectFunctionRole", "AWS::IAM::Role", "CREATE_IN_PROGRESS"),
    event(4, "ConnectFunctionRole", "AWS::IAM::Role", "CREATE_FAILED", ROLE_DENIED),
    event(
        5, "SessionsTable", "AWS::DynamoDB::Table", "CREATE_FAILED", "Resource creation cancelled"
    ),
    event(
        6,
        STACK,
        "AWS::CloudFormation::Stack",
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [SessionsTable, ConnectFunctionRole]. "
        "Rollback requested by user.",
    ),
    event(7, "SessionsTable", "AWS::DynamoDB::Table", "DELETE_COMPLETE"),
    event(8, STACK, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
]


def test_the_first_failed_resource_explains_a_rollback() -> None:
    """The cause is the resource that failed first, not one cancelled because of it."""
    cause = first_failure(FAILED_CREATE, STACK)
    assert cause is not None and cause["LogicalResourceId"] == "ConnectFunctionRole"
    assert (
        describe_failure(cause)
        == f"ConnectFunctionRole (AWS::IAM::Role) CREATE_FAILED: {ROLE_DENIED}"
    )


def test_cancelled_only_and_stack_only_failures_still_explain() -> None:
    """Without a real resource failure, a cancelled one, then the stack's own reason, is used."""
    cancelled = [e for e in FAILED_CREATE if e["LogicalResourceId"] != "ConnectFunctionRole"]
    cause = first_failure(cancelled, STACK)
    assert cause is not None and cause["LogicalResourceId"] == "SessionsTable"
    timeout = [
        event(1, STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS"),
        event(
            2, STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS", "Stack timed out"
        ),
        event(3, STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE"),
    ]
    cause = first_failure(timeout, STACK)
    assert cause is not None and cause["ResourceStatusReason"] == "Stack timed out"
    assert first_failure(timeout[:1], STACK) is None
    assert describe_failure(None) == "CloudFormation gave no reason"


def test_status_classes() -> None:
    """In-progress states are busy (except REVIEW); only *_IN_PROGRESS is non-terminal."""
    assert is_busy("UPDATE_IN_PROGRESS") and is_busy("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    assert not is_busy("REVIEW_IN_PROGRESS") and not is_busy("UPDATE_ROLLBACK_COMPLETE")
    assert is_terminal("ROLLBACK_COMPLETE") and not is_terminal("ROLLBACK_IN_PROGRESS")


def test_both_no_change_wordings_are_recognised() -> None:
    """The change-set reason and the ValidationError both mean 'nothing to deploy'."""
    assert is_no_changes(
        "The submitted information didn't contain changes. Submit different information "
        "to create a change set."
    )
    assert is_no_changes("No updates are to be performed.")
    assert not is_no_changes("Template format error: Unresolved resource dependencies")


@pytest.mark.parametrize("bad", ["local", "my_stage", "", "a" * 101, "dev.1"])
def test_stage_names_must_make_a_stack_name(bad: str) -> None:
    """'local' is taken and stack names allow only letters, digits and '-'."""
    with pytest.raises(UsageError):
        stack_name(bad)
    assert stack_name("pr-42") == "duelctl-pr-42"


OUTPUTS = [
    {
        "OutputKey": "WebSocketUrl",
        "OutputValue": "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev",
    },
    {
        "OutputKey": "ManagementUrl",
        "OutputValue": "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
    },
    {"OutputKey": "HttpUrl", "OutputValue": "https://def456.execute-api.eu-west-1.amazonaws.com/"},
    {"OutputKey": "UserPoolId", "OutputValue": "eu-west-1_AbCdEfGhI"},
    {"OutputKey": "UserPoolClientId", "OutputValue": "client26"},
    {"OutputKey": "ConnectionsTableName", "OutputValue": "duelctl-dev-connections"},
    {"OutputKey": "SessionsTableName", "OutputValue": "duelctl-dev-sessions"},
    {"OutputKey": "TimerQueueUrl", "OutputValue": "https://sqs.eu-west-1.amazonaws.com/1/q"},
    {"OutputKey": "Region", "OutputValue": "eu-west-1"},
    {"OutputKey": "StageName", "OutputValue": "dev"},
]


def test_outputs_become_the_endpoints_file() -> None:
    """Each output lands on its docs/protocol.md key; a stage has no local AWS endpoint."""
    endpoints = endpoints_from_outputs("dev", "us-east-1", OUTPUTS)
    # Keys the file has beyond these (local-only ones such as the clock) are None here.
    data = endpoints.to_json()
    assert {k: v for k, v in data.items() if v is not None or k == "aws_endpoint_url"} == {
        "target": "dev",
        "region": "eu-west-1",
        "stage": "dev",
        "websocket_url": "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev",
        "management_url": "https://abc123.execute-api.eu-west-1.amazonaws.com/dev",
        "http_url": "https://def456.execute-api.eu-west-1.amazonaws.com",
        "aws_endpoint_url": None,
        "user_pool_id": "eu-west-1_AbCdEfGhI",
        "user_pool_client_id": "client26",
        "connections_table": "duelctl-dev-connections",
        "sessions_table": "duelctl-dev-sessions",
        "tables": {
            "ConnectionsTableName": "duelctl-dev-connections",
            "SessionsTableName": "duelctl-dev-sessions",
        },
    }


def test_only_the_outputs_naming_tables_are_tables() -> None:
    """`tables` holds the outputs the template says are tables, whatever their names."""
    outputs = [*OUTPUTS, {"OutputKey": "ScoresTableName", "OutputValue": "duelctl-dev-scores"}]
    endpoints = endpoints_from_outputs("dev", "us-east-1", outputs, ("ScoresTableName",))
    assert endpoints.tables == {"ScoresTableName": "duelctl-dev-scores"}
    assert endpoints.connections_table is None and endpoints.sessions_table is None


def test_missing_url_outputs_are_a_deploy_error() -> None:
    """Without the URLs no client could reach the stage, so no file is written."""
    partial = [o for o in OUTPUTS if o["OutputKey"] != "WebSocketUrl"]
    with pytest.raises(DeployError, match="no WebSocketUrl output"):
        endpoints_from_outputs("dev", "us-east-1", partial)


def test_a_stack_without_outputs_says_so() -> None:
    """No Outputs at all is the stack's answer, not the template's fault (issue 15)."""
    with pytest.raises(DeployError) as failed:
        endpoints_from_outputs("dev", "us-east-1", [])
    assert "returned no Outputs" in str(failed.value)
    assert "template.yaml must declare" not in str(failed.value)


def test_change_rows_put_removals_and_replacements_first() -> None:
    """Rows come as (action, resource, type, replacement), removals first, then modifies."""
    changes = [
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Add",
                "LogicalResourceId": "B",
                "ResourceType": "AWS::SQS::Queue",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "F",
                "ResourceType": "AWS::Lambda::Function",
                "Replacement": "False",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Remove",
                "LogicalResourceId": "T",
                "ResourceType": "AWS::DynamoDB::Table",
            },
        },
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Add",
                "LogicalResourceId": "A",
                "ResourceType": "AWS::SQS::Queue",
            },
        },
    ]
    assert change_rows(changes) == [
        ("Remove", "T", "AWS::DynamoDB::Table", ""),
        ("Modify", "F", "AWS::Lambda::Function", "False"),
        ("Add", "A", "AWS::SQS::Queue", ""),
        ("Add", "B", "AWS::SQS::Queue", ""),
    ]
