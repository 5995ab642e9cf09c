"""Waiting on CloudFormation: polls until done, pages events, sleeps only between polls.

moto finishes every operation inside the API call, so the polling loops never loop
against it. Here botocore's Stubber plays CloudFormation's asynchronous answers to a
real client; it checks every request and response against the service model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from duelctl.deploy.errors import DeployError
from duelctl.deploy.stack import EventFeed, NoChanges, Poll, wait_change_set, wait_stack

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/duelctl-dev/1"
CHANGE_SET = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/duelctl-1/2"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def cfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "cloudformation",
        region_name="us-east-1",
        aws_access_key_id="stub",
        aws_secret_access_key="stub",
        endpoint_url="https://cloudformation.us-east-1.amazonaws.com",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def ev(i: int, logical_id: str = "Queue", status: str = "CREATE_COMPLETE") -> dict[str, Any]:
    return {
        "StackId": STACK_ID,
        "EventId": f"e{i}",
        "StackName": "duelctl-dev",
        "LogicalResourceId": logical_id,
        "ResourceType": "AWS::SQS::Queue",
        "ResourceStatus": status,
        "Timestamp": T0 + timedelta(seconds=i),
    }


def stack(status: str) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": STACK_ID,
                "StackName": "duelctl-dev",
                "CreationTime": T0,
                "StackStatus": status,
            }
        ]
    }


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_wait_stack_follows_paged_events_until_terminal(cfn: tuple[Any, Stubber]) -> None:
    """New events arrive oldest first, each once, across pages; one sleep per unfinished poll."""
    client, stub = cfn
    by_id = {"StackName": STACK_ID}
    stub.add_response("describe_stack_events", {"StackEvents": [ev(0)]}, by_id)  # feed opens
    stub.add_response("describe_stack_events", {"StackEvents": [ev(2), ev(1), ev(0)]}, by_id)
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), by_id)
    stub.add_response(
        "describe_stack_events", {"StackEvents": [ev(4), ev(3)], "NextToken": "page2"}, by_id
    )
    stub.add_response(
        "describe_stack_events",
        {"StackEvents": [ev(2), ev(1), ev(0)]},
        {"StackName": STACK_ID, "NextToken": "page2"},
    )
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), by_id)
    stub.add_response(
        "describe_stack_events", {"StackEvents": [ev(5, status="UPDATE_COMPLETE"), ev(4)]}, by_id
    )

    seen: list[str] = []
    sleeps = Sleeps()
    feed = EventFeed(client, STACK_ID)
    status, events = wait_stack(
        client, STACK_ID, feed, lambda e: seen.append(str(e["EventId"])), Poll(2.0, sleep=sleeps)
    )
    assert status == "UPDATE_COMPLETE"
    assert seen == ["e1", "e2", "e3", "e4", "e5"]
    assert [e["EventId"] for e in events] == seen
    assert sleeps.calls == [2.0]


def test_wait_change_set_polls_until_ready_and_reads_every_page(cfn: tuple[Any, Stubber]) -> None:
    """PENDING and IN_PROGRESS are waited out; all pages of changes are returned."""
    client, stub = cfn
    by_name = {"ChangeSetName": CHANGE_SET}

    def described(
        status: str, changes: list[dict[str, Any]], token: str | None = None
    ) -> dict[str, Any]:
        return {
            "ChangeSetId": CHANGE_SET,
            "StackId": STACK_ID,
            "Status": status,
            "Changes": changes,
            **({"NextToken": token} if token else {}),
        }

    change = {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Add",
            "LogicalResourceId": "Q",
            "ResourceType": "AWS::SQS::Queue",
        },
    }
    stub.add_response("describe_change_set", described("CREATE_PENDING", []), by_name)
    stub.add_response("describe_change_set", described("CREATE_IN_PROGRESS", []), by_name)
    stub.add_response("describe_change_set", described("CREATE_COMPLETE", [change], "p2"), by_name)
    stub.add_response(
        "describe_change_set",
        described("CREATE_COMPLETE", [change]),
        {**by_name, "NextToken": "p2"},
    )
    sleeps = Sleeps()
    changes = wait_change_set(client, CHANGE_SET, Poll(1.5, sleep=sleeps))
    assert len(changes) == 2
    assert sleeps.calls == [1.5, 1.5]


def test_an_empty_change_set_is_deleted_and_means_no_changes(cfn: tuple[Any, Stubber]) -> None:
    """AWS's FAILED 'didn't contain changes' change set is cleaned up and reported as NoChanges."""
    client, stub = cfn
    reason = (
        "The submitted information didn't contain changes. Submit different information to "
        "create a change set."
    )
    stub.add_response(
        "describe_change_set",
        {"ChangeSetId": CHANGE_SET, "Status": "FAILED", "StatusReason": reason},
        {"ChangeSetName": CHANGE_SET},
    )
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET})
    with pytest.raises(NoChanges):
        wait_change_set(client, CHANGE_SET, Poll(1.0, sleep=Sleeps()))


def test_a_change_set_that_never_finishes_times_out(cfn: tuple[Any, Stubber]) -> None:
    """Past the timeout the wait gives up with a pointer to the console."""
    client, stub = cfn
    for _ in range(3):
        stub.add_response(
            "describe_change_set",
            {"ChangeSetId": CHANGE_SET, "Status": "CREATE_IN_PROGRESS"},
            {"ChangeSetName": CHANGE_SET},
        )
    with pytest.raises(DeployError, match="still CREATE_IN_PROGRESS after 2 s"):
        wait_change_set(client, CHANGE_SET, Poll(1.0, change_set_timeout_s=2.0, sleep=Sleeps()))
