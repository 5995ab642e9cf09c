"""Create the template's tables, queues and user pools in moto, as CloudFormation would.

Everything goes through boto3 against the moto server (real request parsing), except
one step only moto's own objects allow: Cognito ids. The model fixes the user pool and
client ids at load time (model.py, "PhysicalIds"), moto invents random ones, so after
creating a pool or client it is re-keyed to the model's id through the moto server's
internal `/_duelctl/cognito/...` route (moto/internal.py), which works whether moto runs
in this process or in child processes. Each service is asked at its own group's URL when
`aws_url` names them (`MotoServer.urls`), else everything goes to the one URL.

Provisioning is idempotent: after a hot reload it adds what is missing (tables, GSIs,
streams, TTL, queues, pools, clients), updates queue attributes and keeps all data.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from emulator.logs import SERVICE, emit
from emulator.services.aws import AwsUrl, client, url_for
from emulator.services.moto.internal import internal_call
from emulator.template.model import (
    Index,
    KeyAttr,
    Queue,
    Table,
    Template,
    UserPool,
    UserPoolClient,
)

# CloudFormation UserPool properties that CreateUserPool takes under the same name
# (AWS::Cognito::UserPool reference). UserPoolName becomes PoolName.
_USER_POOL_PARAMS = (
    "AccountRecoverySetting",
    "AdminCreateUserConfig",
    "AliasAttributes",
    "AutoVerifiedAttributes",
    "DeletionProtection",
    "DeviceConfiguration",
    "EmailConfiguration",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "LambdaConfig",
    "MfaConfiguration",
    "Policies",
    "Schema",
    "SmsAuthenticationMessage",
    "SmsConfiguration",
    "SmsVerificationMessage",
    "UserAttributeUpdateSettings",
    "UserPoolAddOns",
    "UserPoolTags",
    "UsernameAttributes",
    "UsernameConfiguration",
    "VerificationMessageTemplate",
)


class ProvisionError(RuntimeError):
    """A resource could not be created as the template describes (names it)."""


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What exists in moto after `provision`, keyed by logical id."""

    stream_arns: Mapping[str, str]  # table logical id -> moto's LatestStreamArn
    table_names: Mapping[str, str]
    queue_urls: Mapping[str, str]  # the model's AWS-style URL (moto resolves by name)
    user_pool_ids: Mapping[str, str]
    user_pool_client_ids: Mapping[str, str]
    created: tuple[str, ...] = field(default=())  # logical ids created by this call


def provision(
    template: Template, aws_url: AwsUrl, *, ready: Callable[[], None] | None = None
) -> Provisioned:
    """Create (or complete) every table, queue, user pool and client of `template`.

    Blocking; call it through `asyncio.to_thread` from async code. `ready`, if given, is
    called (from several threads) once the boto3 clients are built and before the first
    request: building them (botocore loading its models) overlaps moto's start that way.
    """
    region = template.region
    stream_arns: dict[str, str] = {}

    def await_moto() -> None:
        if ready is not None:
            ready()

    def tables() -> list[str]:
        done: list[str] = []
        ddb = client("dynamodb", aws_url, region)
        await_moto()
        for table in template.tables.values():
            arn = _ensure_table(ddb, table, done)
            if arn:
                stream_arns[table.logical_id] = arn
        return done

    def queues() -> list[str]:
        done: list[str] = []
        if template.queues:
            sqs = client("sqs", aws_url, region)
            await_moto()
            _ensure_queues(sqs, template.queues, done)
        return done

    def identity() -> list[str]:
        done: list[str] = []
        if not (template.user_pools or template.user_pool_clients):
            return done
        idp = client("cognito-idp", aws_url, region)
        idp_url = url_for(aws_url, "cognito-idp")
        await_moto()
        for pool in template.user_pools.values():
            _ensure_user_pool(idp, idp_url, pool, done)
        for app_client in template.user_pool_clients.values():
            owner = template.user_pools.get(app_client.pool)
            if owner is None:
                raise ProvisionError(
                    f"{app_client.logical_id}: user pool {app_client.pool!r} is not in the template"
                )
            _ensure_user_pool_client(idp, idp_url, owner, app_client, done)
        return done

    # The three services share nothing, so they are provisioned side by side: each one's
    # first request makes moto load that service's backend, and the client side
    # (botocore loading each service's model) overlaps with moto's side.
    with concurrent.futures.ThreadPoolExecutor(3, thread_name_prefix="provision") as pool:
        parts = [pool.submit(step) for step in (tables, queues, identity)]
        created = [logical_id for part in parts for logical_id in part.result()]

    emit(
        SERVICE,
        f"provisioned {len(created)} new resource(s)"
        + (f": {', '.join(created)}" if created else ""),
        created=created,
    )
    return Provisioned(
        stream_arns=MappingProxyType(stream_arns),
        table_names=MappingProxyType({t.logical_id: t.name for t in template.tables.values()}),
        queue_urls=MappingProxyType({q.logical_id: q.url for q in template.queues.values()}),
        user_pool_ids=MappingProxyType(
            {p.logical_id: p.pool_id for p in template.user_pools.values()}
        ),
        user_pool_client_ids=MappingProxyType(
            {c.logical_id: c.client_id for c in template.user_pool_clients.values()}
        ),
        created=tuple(created),
    )


# ---------------------------------------------------------------------- DynamoDB


def _key_schema(hash_key: KeyAttr, range_key: KeyAttr | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return schema


def _projection(index: Index) -> dict[str, Any]:
    projection: dict[str, Any] = _thaw(index.projection) or {"ProjectionType": "ALL"}
    return projection


def _index_spec(index: Index) -> dict[str, Any]:
    return {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.hash_key, index.range_key),
        "Projection": _projection(index),
    }


def _attribute_definitions(table: Table, indexes: tuple[Index, ...]) -> list[dict[str, str]]:
    attrs: dict[str, str] = {}
    keys = [table.hash_key, table.range_key]
    for index in indexes:
        keys += [index.hash_key, index.range_key]
    for key in keys:
        if key is not None:
            attrs.setdefault(key.name, key.type)
    return [{"AttributeName": n, "AttributeType": t} for n, t in attrs.items()]


def _ensure_table(ddb: Any, table: Table, created: list[str]) -> str | None:
    """Create or complete `table`; return its stream ARN (None without a stream)."""
    try:
        desc = ddb.describe_table(TableName=table.name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        desc = None
    if desc is None:
        params: dict[str, Any] = {
            "TableName": table.name,
            "KeySchema": _key_schema(table.hash_key, table.range_key),
            "AttributeDefinitions": _attribute_definitions(
                table, table.global_indexes + table.local_indexes
            ),
            "BillingMode": "PAY_PER_REQUEST",
        }
        if table.global_indexes:
            params["GlobalSecondaryIndexes"] = [_index_spec(i) for i in table.global_indexes]
        if table.local_indexes:
            params["LocalSecondaryIndexes"] = [_index_spec(i) for i in table.local_indexes]
        if table.stream_view_type:
            params["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": table.stream_view_type,
            }
        desc = ddb.create_table(**params)["TableDescription"]
        created.append(table.logical_id)
    else:
        desc = _complete_table(ddb, table, desc)

    if table.ttl_attribute:
        ttl = ddb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        current = (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName"))
        if current != ("ENABLED", table.ttl_attribute):
            if current[0] == "ENABLED":
                # AWS: a new TTL attribute means disable, then enable (docs/aws-behaviour.md §7).
                ddb.update_time_to_live(
                    TableName=table.name,
                    TimeToLiveSpecification={"Enabled": False, "AttributeName": current[1]},
                )
            ddb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )

    if not table.stream_view_type:
        return None
    arn: str | None = desc.get("LatestStreamArn")
    if not arn:
        raise ProvisionError(f"{table.logical_id}: moto created no stream for {table.name}")
    return arn


def _complete_table(ddb: Any, table: Table, desc: Mapping[str, Any]) -> Mapping[str, Any]:
    """Add the GSIs and the stream a hot reload brought; keep items."""
    existing = {g["IndexName"] for g in desc.get("GlobalSecondaryIndexes", [])}
    missing = [i for i in table.global_indexes if i.name not in existing]
    if missing:
        ddb.update_table(
            TableName=table.name,
            AttributeDefinitions=_attribute_definitions(table, tuple(missing)),
            GlobalSecondaryIndexUpdates=[{"Create": _index_spec(i)} for i in missing],
        )
        emit(SERVICE, f"{table.logical_id}: added index(es) {', '.join(i.name for i in missing)}")
    spec = desc.get("StreamSpecification") or {}
    if table.stream_view_type and not spec.get("StreamEnabled"):
        ddb.update_table(
            TableName=table.name,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": table.stream_view_type},
        )
    elif table.stream_view_type and spec.get("StreamViewType") != table.stream_view_type:
        emit(
            SERVICE,
            f"{table.logical_id}: stream view type changed; restart to apply it",
            level=logging.WARNING,
        )
    if missing or (table.stream_view_type and not spec.get("StreamEnabled")):
        fresh: Mapping[str, Any] = ddb.describe_table(TableName=table.name)["Table"]
        return fresh
    return desc


# ---------------------------------------------------------------------- SQS


def _queue_attributes(queue: Queue) -> dict[str, str]:
    return {
        "DelaySeconds": str(queue.delay_seconds),
        "VisibilityTimeout": str(queue.visibility_timeout_s),
        "MessageRetentionPeriod": str(queue.message_retention_s),
    }


def _ensure_queues(sqs: Any, queues: Mapping[str, Queue], created: list[str]) -> None:
    """Create every queue, then point redrive policies at the DLQs' ARNs.

    All queues exist before any RedrivePolicy is set, because SQS (and moto) refuse a
    policy naming a queue that does not exist yet.
    """
    for queue in queues.values():
        attrs = _queue_attributes(queue)
        try:
            sqs.get_queue_url(QueueName=queue.name)
        except sqs.exceptions.QueueDoesNotExist:
            if queue.fifo:
                attrs["FifoQueue"] = "true"
            sqs.create_queue(QueueName=queue.name, Attributes=attrs)
            created.append(queue.logical_id)
        else:
            sqs.set_queue_attributes(QueueUrl=queue.url, Attributes=attrs)
    for queue in queues.values():
        if queue.redrive_target is None:
            continue
        dlq = queues.get(queue.redrive_target)
        if dlq is None:
            raise ProvisionError(
                f"{queue.logical_id}: dead-letter queue {queue.redrive_target!r} "
                "is not in the template"
            )
        policy = {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": queue.max_receive_count or 1}
        sqs.set_queue_attributes(
            QueueUrl=queue.url, Attributes={"RedrivePolicy": json.dumps(policy)}
        )


# ---------------------------------------------------------------------- Cognito


def _thaw(value: object) -> Any:
    """The model's frozen properties (MappingProxyType, tuples) as botocore's dicts/lists."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def _moto_pool(aws_url: str, pool_id: str) -> dict[str, Any] | None:
    """`{"id", "clients"}` of the pool moto holds under `pool_id`, or None."""
    found: dict[str, Any] | None = internal_call(aws_url, "GET", f"cognito/pools/{pool_id}")
    return found


def _ensure_user_pool(idp: Any, aws_url: str, pool: UserPool, created: list[str]) -> None:
    if _moto_pool(aws_url, pool.pool_id) is not None:
        return
    params = {k: _thaw(pool.properties[k]) for k in _USER_POOL_PARAMS if k in pool.properties}
    moto_id = idp.create_user_pool(PoolName=pool.name, **params)["UserPool"]["Id"]
    # Re-key to the model's id: moto derives `iss` and the ARN from `id`.
    if (
        internal_call(aws_url, "POST", f"cognito/pools/{moto_id}/rekey", {"id": pool.pool_id})
        is None
    ):
        raise ProvisionError(f"{pool.logical_id}: moto lost user pool {moto_id}")
    created.append(pool.logical_id)


def _ensure_user_pool_client(
    idp: Any, aws_url: str, pool: UserPool, app_client: UserPoolClient, created: list[str]
) -> None:
    located = _moto_pool(aws_url, pool.pool_id)
    if located is None:
        raise ProvisionError(f"{app_client.logical_id}: user pool {pool.pool_id} does not exist")
    flows = list(app_client.explicit_auth_flows)
    if app_client.client_id in located["clients"]:
        idp.update_user_pool_client(
            UserPoolId=pool.pool_id,
            ClientId=app_client.client_id,
            ClientName=app_client.name,
            ExplicitAuthFlows=flows,
        )
        return
    params: dict[str, Any] = {
        "UserPoolId": pool.pool_id,
        "ClientName": app_client.name,
        "GenerateSecret": app_client.generate_secret,
    }
    if flows:
        params["ExplicitAuthFlows"] = flows
    moto_id = idp.create_user_pool_client(**params)["UserPoolClient"]["ClientId"]
    path = f"cognito/pools/{pool.pool_id}/clients/{moto_id}/rekey"
    if internal_call(aws_url, "POST", path, {"id": app_client.client_id}) is None:
        raise ProvisionError(f"{app_client.logical_id}: moto lost client {moto_id}")
    created.append(app_client.logical_id)


__all__ = ["ProvisionError", "Provisioned", "provision"]
