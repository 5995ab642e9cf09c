"""CloudFormation for one stage: stack state, change sets, the event feed and outputs.

The pure functions (status classes, `first_failure`, `endpoints_from_outputs`) decide;
the thin boto3 functions around them ask CloudFormation and wait. Waiting polls, as the
AWS CLI's waiters do; the `Poll` holding the interval and the sleep is injected so tests
do not sleep.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from duelctl.deploy.aws import aws_errors, error_code, error_message
from duelctl.deploy.errors import DeployError, DeployTemplateError, StackBusy
from duelctl.errors import UsageError
from duelctl_endpoints import NAMED_TABLE_OUTPUTS, Endpoints

STACK_PREFIX = "duelctl-"
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
# AWS: stack names are [A-Za-z][-A-Za-z0-9]*, at most 128 characters (CloudFormation
# API reference, CreateStack StackName); the stage also names API stages and tables.
_STAGE = re.compile(r"^[A-Za-z0-9-]{1,100}$")

SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"})
# A stack that only exists as the target of a change set nobody executed yet.
REVIEW = "REVIEW_IN_PROGRESS"
# Terminal states in which CloudFormation refuses an update (User Guide, "Stack status codes").
NOT_UPDATABLE = {
    "ROLLBACK_COMPLETE": "its first deploy failed and was rolled back, so it cannot be updated",
    "ROLLBACK_FAILED": "its first deploy failed and the rollback failed too",
    "CREATE_FAILED": "its first deploy failed",
    "DELETE_FAILED": "a destroy failed half way",
    "UPDATE_ROLLBACK_FAILED": "an update failed and so did its rollback",
}
# AWS: the two ways CloudFormation says "nothing to do" (CreateChangeSet StatusReason,
# and the ValidationError of UpdateStack/CreateChangeSet).
NO_CHANGES_MARKERS = ("didn't contain changes", "No updates are to be performed")
# Follow-on failures: resources CloudFormation stopped because another one failed.
CANCELLED_MARKERS = ("cancelled", "canceled")

# template.yaml Outputs -> Endpoints fields (docs/protocol.md, "Local stack endpoints file").
OUTPUT_FIELDS = {
    "WebSocketUrl": "websocket_url",
    "ManagementUrl": "management_url",
    "HttpUrl": "http_url",
    "UserPoolId": "user_pool_id",
    "UserPoolClientId": "user_pool_client_id",
}
REQUIRED_OUTPUTS = ("WebSocketUrl", "ManagementUrl", "HttpUrl")

Event = Mapping[str, Any]


class NoChanges(Exception):
    """CloudFormation found nothing to change: the stack already matches."""


@dataclass(frozen=True, slots=True)
class Poll:
    """How to wait for CloudFormation: the interval and the sleep (tests pass a no-op)."""

    interval_s: float = 3.0
    change_set_timeout_s: float = 900.0
    sleep: Callable[[float], None] = time.sleep


# -- pure decisions ------------------------------------------------------------------------


def stack_name(stage: str) -> str:
    """`duelctl-{stage}`, after checking the stage can name a stack."""
    if stage == "local":
        raise UsageError("'local' names the local stack (`duelctl up`); pick another stage name")
    if not _STAGE.match(stage):
        raise UsageError(
            f"bad stage {stage!r}: the stack is named duelctl-STAGE, so use letters, digits "
            "and '-' (at most 100)"
        )
    return f"{STACK_PREFIX}{stage}"


def is_busy(status: str) -> bool:
    """Whether an operation is running on the stack (CloudFormation refuses another)."""
    return status.endswith("_IN_PROGRESS") and status != REVIEW


def is_terminal(status: str) -> bool:
    return not status.endswith("_IN_PROGRESS")


def is_no_changes(reason: str) -> bool:
    return any(marker in reason for marker in NO_CHANGES_MARKERS)


def first_failure(events: Sequence[Event], stack: str) -> Event | None:
    """The event that explains a failed operation: the first resource that failed.

    `events` are chronological. Resources CloudFormation cancelled because another one
    failed come later and say only "cancelled", so they are skipped; a stack-level
    event is the fallback when no resource failed (e.g. a rollback for a timeout).
    """
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    for event in failed:
        reason = str(event.get("ResourceStatusReason", "")).lower()
        if event.get("LogicalResourceId") != stack and not any(
            marker in reason for marker in CANCELLED_MARKERS
        ):
            return event
    for event in failed:
        if event.get("LogicalResourceId") != stack:
            return event
    for event in events:
        if event.get("LogicalResourceId") == stack and event.get("ResourceStatusReason"):
            status = str(event.get("ResourceStatus", ""))
            if "ROLLBACK" in status or status.endswith("_FAILED"):
                return event
    return None


def describe_failure(event: Event | None) -> str:
    """One line: `Resource (Type) STATUS: reason`."""
    if event is None:
        return "CloudFormation gave no reason"
    reason = " ".join(str(event.get("ResourceStatusReason") or "no reason given").split())
    return (
        f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}) "
        f"{event.get('ResourceStatus')}: {reason}"
    )


def endpoints_from_outputs(
    stage: str,
    region: str,
    outputs: Iterable[Mapping[str, Any]],
    table_outputs: Iterable[str] = tuple(NAMED_TABLE_OUTPUTS),
) -> Endpoints:
    """The endpoints file of a deployed stage, from the stack's Outputs; `table_outputs`
    are the ones that name tables (template.table_outputs)."""
    values = {str(o.get("OutputKey")): str(o.get("OutputValue", "")) for o in outputs}
    if not values:
        raise DeployError(
            "CloudFormation returned no Outputs for the stack (DescribeStacks); the "
            "endpoints file needs "
            f"{', '.join(REQUIRED_OUTPUTS)}: check the stack's Outputs tab in the console"
        )
    missing = [key for key in REQUIRED_OUTPUTS if not values.get(key)]
    if missing:
        raise DeployError(
            f"the stack has no {', '.join(missing)} output; template.yaml must declare "
            f"Outputs {', '.join(REQUIRED_OUTPUTS)} "
            "(docs/protocol.md, 'Local stack endpoints file')"
        )
    fields = {field_name: values.get(key) or None for key, field_name in OUTPUT_FIELDS.items()}
    return Endpoints(
        target=stage,
        region=values.get("Region") or region,
        stage=values.get("StageName") or stage,
        websocket_url=values["WebSocketUrl"],
        management_url=values["ManagementUrl"],
        http_url=values["HttpUrl"].rstrip("/"),
        aws_endpoint_url=None,  # a deployed stage talks to AWS itself
        user_pool_id=fields["user_pool_id"],
        user_pool_client_id=fields["user_pool_client_id"],
        tables={key: values[key] for key in table_outputs if values.get(key)},
    )


_ACTION_ORDER = {"Remove": 0, "Modify": 1, "Add": 2}


def change_rows(changes: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(action, logical id, type, replacement) per resource change: removals first, then by type.

    AWS lists changes in no useful order; grouped this way, what goes away and what is
    replaced stands out in a long first-deploy list.
    """
    rows = []
    for change in changes:
        rc = change.get("ResourceChange") or {}
        rows.append(
            (
                str(rc.get("Action", "")),
                str(rc.get("LogicalResourceId", "")),
                str(rc.get("ResourceType", "")),
                str(rc.get("Replacement") or ""),
            )
        )
    rows.sort(key=lambda row: (_ACTION_ORDER.get(row[0], 3), row[2], row[1]))
    return rows


# -- CloudFormation calls ----------------------------------------------------------------


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack called `name` (or with that id), or None when there is none."""
    from botocore.exceptions import ClientError

    with aws_errors(f"reading stack {name}"):
        try:
            stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            # AWS: "Stack with id NAME does not exist" (ValidationError, DescribeStacks).
            if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
                return None
            raise
    return dict(stacks[0]) if stacks else None


def recent_events(cfn: Any, stack_id: str) -> list[dict[str, Any]]:
    """The newest page of the stack's events, oldest first."""
    with aws_errors(f"reading the events of {stack_id}"):
        page = cfn.describe_stack_events(StackName=stack_id)
    return list(reversed(page.get("StackEvents", [])))


@dataclass
class EventFeed:
    """The stack's events since the feed was opened, each delivered once, oldest first.

    AWS lists events newest first, 100 a page; a poll reads pages until it meets an
    event it has already seen (or the newest event from before the feed opened).
    """

    cfn: Any
    stack_id: str
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        with aws_errors(f"reading the events of {self.stack_id}"):
            page = self.cfn.describe_stack_events(StackName=self.stack_id)
        for event in page.get("StackEvents", [])[:1]:
            self.seen.add(str(event["EventId"]))

    def poll(self) -> list[dict[str, Any]]:
        fresh: list[dict[str, Any]] = []
        token: str | None = None
        with aws_errors(f"reading the events of {self.stack_id}"):
            while True:
                kwargs = {"StackName": self.stack_id, **({"NextToken": token} if token else {})}
                page = self.cfn.describe_stack_events(**kwargs)
                done = False
                for event in page.get("StackEvents", []):
                    if str(event["EventId"]) in self.seen:
                        done = True
                        break
                    fresh.append(dict(event))
                token = page.get("NextToken")
                if done or not token:
                    break
        fresh.reverse()
        self.seen.update(str(e["EventId"]) for e in fresh)
        return fresh


def create_change_set(
    cfn: Any,
    *,
    stack: str,
    change_set_type: str,
    template: Mapping[str, str],
    parameters: Mapping[str, str],
    tags: Mapping[str, str],
) -> tuple[str, str]:
    """Create a change set; return its id and the stack id. NoChanges when nothing differs."""
    from botocore.exceptions import ClientError

    name = f"duelctl-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    with aws_errors(f"creating a change set for {stack}"):
        try:
            created = cfn.create_change_set(
                StackName=stack,
                ChangeSetName=name,
                ChangeSetType=change_set_type,
                Capabilities=list(CAPABILITIES),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                Description="duelctl deploy",
                **template,
            )
        except ClientError as exc:
            raise _change_set_error(stack, exc) from None
    return str(created["Id"]), str(created["StackId"])


def _change_set_error(stack: str, exc: Exception) -> Exception:
    code, message = error_code(exc), " ".join(error_message(exc).split())
    if is_no_changes(message):
        return NoChanges(message)
    if code == "ValidationError" and "_IN_PROGRESS state" in message:
        return StackBusy(f"stack {stack} is busy: {message}; wait for it and deploy again")
    if code in ("ValidationError", "InsufficientCapabilitiesException"):
        return DeployTemplateError(f"CloudFormation refused the template: {message}")
    return exc  # aws_errors translates it


def wait_change_set(cfn: Any, change_set_id: str, poll: Poll) -> list[dict[str, Any]]:
    """Wait until the change set is ready; return its resource changes.

    A change set that fails because nothing differs raises NoChanges; one that fails
    otherwise (a template or transform error) is deleted and reported.
    """
    waited = 0.0
    with aws_errors("waiting for the change set"):
        while True:
            described = cfn.describe_change_set(ChangeSetName=change_set_id)
            status = str(described.get("Status", ""))
            if status == "CREATE_COMPLETE":
                break
            if status == "FAILED":
                reason = " ".join(str(described.get("StatusReason") or "no reason").split())
                cfn.delete_change_set(ChangeSetName=change_set_id)
                if is_no_changes(reason):
                    raise NoChanges(reason)
                error = (
                    DeployTemplateError
                    if re.search(r"template|transform|parameter", reason, re.IGNORECASE)
                    else DeployError
                )
                raise error(f"CloudFormation refused the change set: {reason}")
            if waited >= poll.change_set_timeout_s:
                raise DeployError(
                    f"the change set was still {status} after {int(waited)} s; look at it in "
                    "the CloudFormation console"
                )
            poll.sleep(poll.interval_s)
            waited += poll.interval_s
        changes = list(described.get("Changes", []))
        token = described.get("NextToken")
        while token:
            described = cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=token)
            changes += described.get("Changes", [])
            token = described.get("NextToken")
    return changes


def execute_change_set(cfn: Any, change_set_id: str) -> None:
    with aws_errors("executing the change set"):
        cfn.execute_change_set(ChangeSetName=change_set_id)


def wait_stack(
    cfn: Any, stack_id: str, feed: EventFeed, on_event: Callable[[Event], None], poll: Poll
) -> tuple[str, list[dict[str, Any]]]:
    """Follow the stack until its status is terminal; return it and the events seen.

    The stack is read by id, so a stack deleted under our feet still answers
    (DELETE_COMPLETE) instead of "does not exist".
    """
    events: list[dict[str, Any]] = []
    while True:
        for event in feed.poll():
            events.append(event)
            on_event(event)
        stack = describe_stack(cfn, stack_id)
        status = str(stack["StackStatus"]) if stack else "DELETE_COMPLETE"
        if is_terminal(status):
            for event in feed.poll():  # the last events can land after the status flips
                events.append(event)
                on_event(event)
            return status, events
        poll.sleep(poll.interval_s)


def delete_stack(cfn: Any, stack_id: str) -> None:
    with aws_errors(f"deleting stack {stack_id}"):
        cfn.delete_stack(StackName=stack_id)
