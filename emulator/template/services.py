"""DynamoDB tables, SQS queues, Cognito pools and clients, and event source mappings.

These become the resources the emulator creates on its local AWS endpoint (moto) under
the exact names and ids chosen at load, plus the pollers that feed queue messages and
stream records to functions. AWS's own creation-time checks (key schema, FIFO names,
DLQ type, SQS visibility vs function timeout) are repeated here so a template that
CloudFormation would refuse does not quietly run locally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal, cast

from emulator.template.errors import TemplateError
from emulator.template.functions import PendingSource, deep_freeze, pending_source
from emulator.template.intrinsics import as_text
from emulator.template.model import (
    EventSource,
    Function,
    Index,
    KeyAttr,
    Queue,
    Table,
    UserPool,
    UserPoolClient,
)
from emulator.template.physical import SAM_SIMPLE_TABLE, PhysicalIds, Props, to_bool, to_int

_STREAM_VIEWS = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
_SIMPLE_TABLE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}
_QUEUE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")
_TABLE_STREAM_RE = re.compile(r"arn:[^:]+:dynamodb:[^:]*:[^:]*:table/([^/]+)/stream/.+")


# ---------------------------------------------------------------------- DynamoDB


def build_table(props: Props, ids: PhysicalIds) -> Table:
    """A DynamoDB table (AWS::DynamoDB::Table/GlobalTable or AWS::Serverless::SimpleTable)."""
    resource = props.resource
    name = ids.name(resource)
    if resource.type == SAM_SIMPLE_TABLE:
        # AWS SAM: SimpleTable's PrimaryKey defaults to {Name: id, Type: String}.
        key = props.mapping("PrimaryKey")
        key_type = as_text(key.get("Type", "String"), props.label, "PrimaryKey.Type")
        if key_type not in _SIMPLE_TABLE_TYPES:
            raise TemplateError(
                f"{props.label}: PrimaryKey.Type {key_type} must be String, Number or Binary; "
                "fix it"
            )
        hash_key = KeyAttr(
            as_text(key.get("Name", "id"), props.label, "PrimaryKey.Name"),
            cast(Literal["S", "N", "B"], _SIMPLE_TABLE_TYPES[key_type]),
        )
        return Table(
            logical_id=resource.logical_id,
            name=name,
            arn=ids.table_arn(resource),
            hash_key=hash_key,
            range_key=None,
            global_indexes=(),
            local_indexes=(),
            ttl_attribute=None,
            stream_view_type=None,
            stream_arn=None,
        )
    types: dict[str, str] = {}
    for item in props.items("AttributeDefinitions"):
        if not isinstance(item, dict) or item.get("AttributeType") not in ("S", "N", "B"):
            raise TemplateError(
                f"{props.label}: each AttributeDefinitions entry needs AttributeName and "
                "AttributeType S, N or B; fix it"
            )
        types[as_text(item.get("AttributeName"), props.label, "AttributeName")] = item[
            "AttributeType"
        ]
    used: set[str] = set()
    hash_key, range_key = _key_schema(props.label, "KeySchema", props.get("KeySchema"), types, used)
    global_indexes = tuple(
        _index(props.label, "GlobalSecondaryIndexes", item, types, used)
        for item in props.items("GlobalSecondaryIndexes")
    )
    local_indexes = tuple(
        _index(props.label, "LocalSecondaryIndexes", item, types, used)
        for item in props.items("LocalSecondaryIndexes")
    )
    for index in local_indexes:
        if index.hash_key != hash_key:
            raise TemplateError(
                f"{props.label}: local index {index.name} must use the table's hash key "
                f"{hash_key.name}; fix its KeySchema"
            )
    unused = sorted(set(types) - used)
    if unused:
        # AWS: every AttributeDefinitions entry must be a key of the table or an index.
        raise TemplateError(
            f"{props.label}: AttributeDefinitions has {', '.join(unused)}, which no key schema "
            "uses; remove it (only key attributes are declared)"
        )
    ttl = props.mapping("TimeToLiveSpecification")
    ttl_attribute = None
    # AWS: TTL applies only while the specification says Enabled: true.
    if to_bool(ttl.get("Enabled"), props.label, "TimeToLiveSpecification.Enabled", False):
        ttl_attribute = as_text(
            ttl.get("AttributeName"), props.label, "TimeToLiveSpecification.AttributeName"
        )
    stream = props.mapping("StreamSpecification")
    view = stream.get("StreamViewType")
    if view is not None and view not in _STREAM_VIEWS:
        raise TemplateError(
            f"{props.label}: StreamViewType {view} is not one of {', '.join(_STREAM_VIEWS)}; fix it"
        )
    return Table(
        logical_id=resource.logical_id,
        name=name,
        arn=ids.table_arn(resource),
        hash_key=hash_key,
        range_key=range_key,
        global_indexes=global_indexes,
        local_indexes=local_indexes,
        ttl_attribute=ttl_attribute,
        stream_view_type=view,
        stream_arn=ids.stream_arn(resource) if view else None,
    )


def _key_schema(
    label: str, where: str, schema: Any, types: Mapping[str, str], used: set[str]
) -> tuple[KeyAttr, KeyAttr | None]:
    keys: dict[str, KeyAttr] = {}
    for item in schema if isinstance(schema, list) else []:
        name = item.get("AttributeName") if isinstance(item, dict) else None
        role = item.get("KeyType") if isinstance(item, dict) else None
        if not isinstance(name, str) or role not in ("HASH", "RANGE") or role in keys:
            raise TemplateError(
                f"{label}: {where} needs one HASH and at most one RANGE "
                "{AttributeName, KeyType}; fix it"
            )
        if name not in types:
            raise TemplateError(
                f"{label}: {where} uses {name}, which AttributeDefinitions does not declare; "
                "add it there with its AttributeType"
            )
        used.add(name)
        keys[role] = KeyAttr(name, cast(Literal["S", "N", "B"], types[name]))
    if "HASH" not in keys:
        raise TemplateError(f"{label}: {where} has no HASH key; add one")
    return keys["HASH"], keys.get("RANGE")


def _index(label: str, where: str, item: Any, types: Mapping[str, str], used: set[str]) -> Index:
    if not isinstance(item, dict) or not isinstance(item.get("IndexName"), str):
        raise TemplateError(f"{label}: each of {where} needs an IndexName; fix it")
    name = item["IndexName"]
    hash_key, range_key = _key_schema(
        label, f"{where} {name} KeySchema", item.get("KeySchema"), types, used
    )
    projection = item.get("Projection") or {"ProjectionType": "ALL"}
    if not isinstance(projection, dict):
        raise TemplateError(f"{label}: {where} {name} Projection must be a mapping; fix it")
    return Index(name, hash_key, range_key, deep_freeze(projection))


# ---------------------------------------------------------------------- SQS


def build_queue(props: Props, ids: PhysicalIds, queue_arns: Mapping[str, str]) -> Queue:
    """An SQS queue; `queue_arns` maps every queue ARN of the template to its logical id."""
    resource = props.resource
    name = ids.name(resource)
    fifo = ids.is_fifo(resource)
    base = name.removesuffix(".fifo") if fifo else name
    if fifo != name.endswith(".fifo") or _QUEUE_NAME_RE.fullmatch(base) is None:
        raise TemplateError(
            f"{props.label}: QueueName {name!r} is invalid: up to 80 letters, digits, - and _, "
            "ending in .fifo exactly when FifoQueue is true; rename it"
        )
    # AWS: defaults DelaySeconds 0, VisibilityTimeout 30 s, MessageRetentionPeriod 4 days.
    delay = props.integer("DelaySeconds", 0, 0, 900)
    visibility = props.integer("VisibilityTimeout", 30, 0, 43200)
    retention = props.integer("MessageRetentionPeriod", 345600, 60, 1209600)
    target: str | None = None
    max_receive: int | None = None
    redrive = props.get("RedrivePolicy")
    if isinstance(redrive, str):
        try:
            redrive = json.loads(redrive)
        except ValueError:
            redrive = None
            raise TemplateError(
                f"{props.label}: RedrivePolicy is not valid JSON; write it as a mapping"
            ) from None
    if redrive is not None:
        if not isinstance(redrive, dict) or "deadLetterTargetArn" not in redrive:
            raise TemplateError(
                f"{props.label}: RedrivePolicy needs deadLetterTargetArn and maxReceiveCount; "
                "fix it"
            )
        arn = as_text(redrive["deadLetterTargetArn"], props.label, "deadLetterTargetArn")
        target = queue_arns.get(arn)
        if target is None:
            raise TemplateError(
                f"{props.label}: RedrivePolicy deadLetterTargetArn {arn} is not a queue of this "
                "template; use !GetAtt <Queue>.Arn of a queue declared here"
            )
        dlq = ids.live[target]
        if ids.is_fifo(dlq) != fifo:
            raise TemplateError(
                f"{props.label}: the dead-letter queue {target} must be "
                f"{'a FIFO' if fifo else 'a standard'} queue like this one; fix FifoQueue"
            )
        max_receive = to_int(
            redrive.get("maxReceiveCount"), props.label, "maxReceiveCount", 10, 1, 1000
        )
    return Queue(
        logical_id=resource.logical_id,
        name=name,
        url=ids.queue_url(resource),
        arn=ids.queue_arn(resource),
        fifo=fifo,
        delay_seconds=delay,
        visibility_timeout_s=visibility,
        message_retention_s=retention,
        redrive_target=target,
        max_receive_count=max_receive,
    )


# ---------------------------------------------------------------------- Cognito


def build_user_pool(props: Props, ids: PhysicalIds) -> UserPool:
    """A user pool; its properties are kept (resolved) for whoever creates it in moto."""
    resource = props.resource
    properties = ids.resolver.resolve_lenient(resource.properties, props.label)
    return UserPool(
        logical_id=resource.logical_id,
        pool_id=ids.pool_id(resource),
        name=ids.name(resource),
        arn=ids.pool_arn(resource),
        properties=deep_freeze(properties),
    )


def build_user_pool_client(
    props: Props, ids: PhysicalIds, pools: Mapping[str, UserPool]
) -> UserPoolClient:
    """An app client; its UserPoolId must resolve to a pool of this template."""
    pool_id = props.required_text("UserPoolId", "set it to !Ref <UserPool>")
    pool = next((p.logical_id for p in pools.values() if p.pool_id == pool_id), None)
    if pool is None:
        raise TemplateError(
            f"{props.label}: UserPoolId {pool_id} is not a user pool of this template; "
            "use !Ref <UserPool> of a pool declared here"
        )
    flows = tuple(
        as_text(f, props.label, "ExplicitAuthFlows") for f in props.items("ExplicitAuthFlows")
    )
    return UserPoolClient(
        logical_id=props.resource.logical_id,
        client_id=ids.client_id(props.resource),
        pool=pool,
        name=ids.name(props.resource),
        explicit_auth_flows=flows,
        generate_secret=props.flag("GenerateSecret", False),
    )


# ---------------------------------------------------------------------- event sources


def find_function(functions: Mapping[str, Function], ref: str) -> str | None:
    """The logical id of the function `ref` names: name, ARN, or ARN with a qualifier."""
    if ref.startswith("arn:") and ref.count(":") == 7:
        ref = ref.rsplit(":", 1)[0]  # drop ":alias" / ":version"
    elif not ref.startswith("arn:") and ":" in ref:
        ref = ref.split(":", 1)[0]
    for fn in functions.values():
        if ref in (fn.name, fn.arn):
            return fn.logical_id
    return None


def raw_event_source(
    props: Props, functions: Mapping[str, Function], ignored: list[str]
) -> PendingSource | None:
    """An AWS::Lambda::EventSourceMapping; sources other than SQS/DynamoDB are ignored."""
    arn = props.required_text("EventSourceArn", "set it to the queue or stream ARN")
    kind: Literal["sqs", "dynamodb"]
    if arn.startswith("arn:") and arn.split(":")[2:3] == ["sqs"]:
        kind = "sqs"
    elif _TABLE_STREAM_RE.fullmatch(arn):
        kind = "dynamodb"
    else:
        ignored.append(
            f"{props.label}: only SQS and DynamoDB stream sources are emulated, not {arn}"
        )
        return None
    target = props.required_text("FunctionName", "set it to !Ref <Function>")
    function = find_function(functions, target)
    if function is None:
        raise TemplateError(
            f"{props.label}: FunctionName {target} is not a function of this template; "
            "use !Ref <Function> of a function declared here"
        )
    return pending_source(
        props.resource.logical_id,
        props.label,
        kind,
        arn,
        function,
        props.get,
        enabled_key="Enabled",
    )


def resolve_sources(
    pending: list[PendingSource],
    functions: Mapping[str, Function],
    queues: Mapping[str, Queue],
    tables: Mapping[str, Table],
) -> tuple[EventSource, ...]:
    """Match each pending source's ARN to a queue or table and apply AWS's creation checks."""
    out: list[EventSource] = []
    for item in pending:
        function = functions[item.function]
        if item.kind == "sqs":
            queue = next((q for q in queues.values() if item.source_arn == q.arn), None)
            if queue is None:
                raise TemplateError(
                    f"{item.label}: queue {item.source_arn} is not a queue of this template; "
                    "use !GetAtt <Queue>.Arn of a queue declared here"
                )
            if queue.visibility_timeout_s < function.timeout_s:
                # AWS: CreateEventSourceMapping refuses this (docs/aws-behaviour.md §9).
                raise TemplateError(
                    f"{item.label}: Queue visibility timeout: {queue.visibility_timeout_s} "
                    f"seconds is less than Function timeout: {function.timeout_s} seconds; "
                    f"raise {queue.logical_id}'s VisibilityTimeout (6x the timeout is advised)"
                )
            if queue.fifo and item.batch_size > 10:
                raise TemplateError(
                    f"{item.label}: BatchSize {item.batch_size} is above 10, the FIFO queue "
                    "limit; lower it"
                )
            source = queue.logical_id
        else:
            match = _TABLE_STREAM_RE.fullmatch(item.source_arn)
            table = None
            if match is not None:
                table = next((t for t in tables.values() if t.name == match.group(1)), None)
            if table is None:
                raise TemplateError(
                    f"{item.label}: stream {item.source_arn} is not a table stream of this "
                    "template; use !GetAtt <Table>.StreamArn of a table declared here"
                )
            if table.stream_view_type is None:
                raise TemplateError(
                    f"{item.label}: table {table.logical_id} has no stream; add "
                    "StreamSpecification.StreamViewType to it"
                )
            source = table.logical_id
        out.append(
            EventSource(
                logical_id=item.logical_id,
                kind=item.kind,
                source=source,
                function=item.function,
                batch_size=item.batch_size,
                enabled=item.enabled,
                report_batch_item_failures=item.report_batch_item_failures,
                filter_patterns=item.filter_patterns,
                starting_position=item.starting_position,
                maximum_retry_attempts=item.maximum_retry_attempts,
                maximum_batching_window_s=item.maximum_batching_window_s,
            )
        )
    return tuple(out)
