"""Play scenarios and check the duel's invariants after each run (invariants.py).

`play_audited` runs each scenario like `duelctl run` does, plus a last step that lets the
stack settle with the run's sockets still open: until every session of the run has
ended and `grace_s` more has passed (on a virtual clock that costs no real time; on a
real one it is capped by `max_settle_s`, and the checks that need a longer window then
apply to no socket). Then `Auditor.audit` reads what the run left:

- the `Sessions` table's stream from where the last audit stopped (every write, in order),
  and the stored sessions of the run's users (index queries);
- the `Connections` items of the run's users, asking `@connections` (GetConnection)
  which are closed and the fault mode's route (`GET /_duelctl/faults?connection=ID`)
  what became of their `$disconnect`;
- the frames each of the run's sockets received, from its timeline.

Table names come from the endpoints file (the template's `ConnectionsTableName` /
`SessionsTableName` outputs), never from the emulator.

The stream is read with a fresh iterator each time (after the last record read), not one
kept between audits: nothing then depends on an iterator outliving the time between two
audits (AWS: 15 minutes), nor on the moto of a thread-mode stack (`DUELCTL_MOTO=thread`),
which still rolls a cancelled `TransactWriteItems` back onto a copy of the stream shard
that older iterators do not see (emulator/services/moto/patches.py, "stream-rollback").
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from duelctl.client.auth import CognitoTokens
from duelctl.scenario.clock import StackTime
from duelctl.scenario.engine import ScenarioRunner
from duelctl.scenario.invariants import (
    BACKSTOP_GRACE_S,
    Change,
    Socket,
    Violation,
    check_connections,
    check_final,
    check_frames,
    check_history,
    end_window,
    epoch,
    involves,
    plain,
    stamp,
)
from duelctl.scenario.model import Scenario, Step, Where
from duelctl.scenario.results import Result
from duelctl.targets import Target
from duelctl_endpoints import Endpoints

DEFAULT_GRACE_S = 200.0  # covers three SQS redeliveries at the timer queue's 60 s timeout
MIN_SETTLE_S = 2.0
REAL_MAX_SETTLE_S = 5.0  # a real clock cannot wait out redeliveries and backstops
DISCONNECT_WAIT_S = 10.0  # stack seconds for $disconnect to remove what it should


@dataclass(slots=True)
class Audit:
    """One run and what the invariant checks found."""

    result: Result
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def render(self) -> str:
        head = f"{self.result.scenario.name} ({self.result.scenario.path})"
        if self.ok:
            return f"{head}: invariants hold" + "".join(f"\n  note: {n}" for n in self.notes)
        body = "\n".join(v.render() for v in self.violations)
        return f"{head}: {len(self.violations)} violation(s)\n{body}"


class StackReader:
    """Blocking reads of the duel's tables (run them in a thread)."""

    def __init__(self, endpoints: Endpoints) -> None:
        import boto3

        if not endpoints.sessions_table or not endpoints.connections_table:
            raise ValueError("the endpoints name no Sessions/Connections tables")
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=endpoints.region,
        )
        url = endpoints.aws_endpoint_url
        self._ddb = session.client("dynamodb", endpoint_url=url)
        self._streams = session.client("dynamodbstreams", endpoint_url=url)
        self.sessions_table = endpoints.sessions_table
        self.connections_table = endpoints.connections_table
        self._last: dict[str, str] = {}
        self._stream_arn: str | None = None
        self.history: list[Change] = []

    def sessions_of(self, users: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored sessions (not lock items) the users are in, by id."""
        found: dict[str, dict[str, Any]] = {}
        for user in users:
            for index, key in (("byUserA", "userA"), ("byUserB", "userB")):
                for item in self._query(
                    TableName=self.sessions_table,
                    IndexName=index,
                    KeyConditionExpression="#u = :u",
                    ExpressionAttributeNames={"#u": key},
                    ExpressionAttributeValues={":u": {"S": user}},
                ):
                    session = plain(item)
                    if session is not None:
                        found[str(session["sessionId"])] = session
        return found

    def connections_of(self, users: Iterable[str]) -> list[tuple[str, str]]:
        """(userId, connectionId) of every Connections item of the users."""
        found = []
        for user in users:
            for item in self._query(
                TableName=self.connections_table,
                KeyConditionExpression="userId = :u",
                ExpressionAttributeValues={":u": {"S": user}},
                ConsistentRead=True,
            ):
                found.append((user, item["connectionId"]["S"]))
        return found

    def _query(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**params)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def read_stream(self) -> list[Change]:
        """Every Sessions stream record not read before, appended to `history`."""
        if self._stream_arn is None:
            table = self._ddb.describe_table(TableName=self.sessions_table)["Table"]
            self._stream_arn = table.get("LatestStreamArn")
            if not self._stream_arn:
                raise ValueError(f"{self.sessions_table} has no stream")
        shards = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        new: list[Change] = []
        for shard in shards.get("Shards", []):
            shard_id = shard["ShardId"]
            # A fresh iterator per read (see the module docstring).
            iterator = self._iterator(shard_id)
            while True:
                reply = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                records = reply.get("Records", [])
                iterator = reply.get("NextShardIterator") or iterator
                if not records:
                    break
                for record in records:
                    data = record["dynamodb"]
                    self._last[shard_id] = data["SequenceNumber"]
                    keys = plain(data.get("Keys")) or {}
                    new.append(
                        Change(
                            sequence=data["SequenceNumber"],
                            event=record["eventName"],
                            session_id=str(keys.get("sessionId", "")),
                            before=plain(data.get("OldImage")),
                            after=plain(data.get("NewImage")),
                        )
                    )
        self.history += new
        return new

    def _iterator(self, shard_id: str) -> str:
        last = self._last.get(shard_id)
        kind: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
            if last
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator: str = self._streams.get_shard_iterator(
            StreamArn=self._stream_arn, ShardId=shard_id, **kind
        )["ShardIterator"]
        return iterator


class Auditor:
    """Settles and audits runs against one stack (keeps its place in the stream)."""

    def __init__(
        self,
        endpoints: Endpoints,
        stack_time: StackTime,
        *,
        start_lead_s: float,
        grace_s: float = DEFAULT_GRACE_S,
        max_settle_s: float | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.time = stack_time
        self.start_lead_s = start_lead_s
        self.grace_s = grace_s
        virtual = stack_time.mode == "virtual"
        self.max_settle_s = (
            max_settle_s
            if max_settle_s is not None
            else (float("inf") if virtual else REAL_MAX_SETTLE_S)
        )
        self.reader = StackReader(endpoints)
        faults = endpoints.faults or {}
        self._faults_url: str | None = faults.get("url") if isinstance(faults, dict) else None
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ settling

    async def settle_until(self, users: Iterable[str]) -> float:
        """The stack time until which a run's sockets stay open before the audit."""
        sessions = await asyncio.to_thread(self.reader.sessions_of, list(users))
        now = self.time.now()
        target = now + MIN_SETTLE_S
        for session in sessions.values():
            window = end_window(session)
            expire_at = session.get("expireAt")
            if window is not None:
                target = max(target, window[1] + self.grace_s)
            elif isinstance(expire_at, int | float):
                # Live: its timer, or at the latest the TTL backstop, must end it.
                target = max(target, float(expire_at) + BACKSTOP_GRACE_S + 1)
        return min(target, now + self.max_settle_s)

    # ------------------------------------------------------------------ auditing

    async def audit(self, result: Result) -> Audit:
        """Check every invariant on what `result`'s run left behind."""
        users = set(result.user_ids.values())
        audit = Audit(result)
        stale = await self._stale_connections(users)
        await asyncio.to_thread(self.reader.read_stream)
        history = [c for c in self.reader.history if involves(c.after or c.before, users)]
        sessions = await asyncio.to_thread(self.reader.sessions_of, users)
        sockets = sockets_of(result)
        audit.violations += check_history(history, users, start_lead_s=self.start_lead_s)
        audit.violations += check_final(sessions, self.time.now())
        audit.violations += check_frames(
            sessions, sockets, start_lead_s=self.start_lead_s, grace_s=self.grace_s
        )
        audit.violations += check_connections(stale)
        dropped = [c for _u, c, state in stale if state == "dropped"]
        if dropped:
            audit.notes.append(
                f"{len(dropped)} Connections item(s) left by dropped $disconnects: "
                + ", ".join(dropped)
            )
        for session_id, session in sessions.items():
            window = end_window(session)
            deadline = session.get("endsAt" if session.get("startAt") else "expiresAt")
            if window is not None and session.get("endReason") in ("no_response", "timeout"):
                due = epoch(deadline)
                if due is not None and window[0] - due > 5:
                    audit.notes.append(
                        f"session {session_id[:8]} ended {window[0] - due:.0f}s after its "
                        f"deadline {stamp(due)} ({session.get('endReason')})"
                    )
        return audit

    async def _stale_connections(self, users: set[str]) -> list[tuple[str, str, str | None]]:
        """Connections items of closed connections, with what became of their $disconnect.

        Waits (stack time) while some item's `$disconnect` ran but may still be running.
        """
        give_up = self.time.now() + DISCONNECT_WAIT_S
        while True:
            items = await asyncio.to_thread(self.reader.connections_of, users)
            closed = [(u, c) for u, c in items if await self._closed(c)]
            states = await self._disconnects([c for _u, c in closed])
            stale = [(u, c, states.get(c)) for u, c in closed]
            if not any(state == "ran" for *_x, state in stale) or self.time.now() >= give_up:
                return stale
            await self._pause()

    async def _pause(self) -> None:
        if self.time.mode == "virtual":
            await self.time.wait(self.time.now() + 1.0, lambda: [])
        else:
            await asyncio.sleep(0.5)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10), trust_env=False
            )
        return self._session

    async def _closed(self, connection_id: str) -> bool:
        """GetConnection: 410 means closed (or never completed its handshake)."""
        url = f"{self.endpoints.management_url}/@connections/{quote(connection_id, safe='')}"
        async with self._http().get(url) as response:
            return response.status == 410

    async def _disconnects(self, connection_ids: Sequence[str]) -> dict[str, str | None]:
        if not connection_ids:
            return {}
        if self._faults_url is None:
            # Without fault mode the emulator runs every $disconnect.
            return dict.fromkeys(connection_ids, "ran")
        params = [("connection", c) for c in connection_ids]
        async with self._http().get(self._faults_url, params=params) as response:
            body = json.loads(await response.text() or "{}")
        found = body.get("disconnects") if isinstance(body, dict) else None
        return dict(found) if isinstance(found, dict) else {}


def sockets_of(result: Result) -> list[Socket]:
    """The run's sockets with their open intervals and frames, from its timeline."""
    start = result.started_at
    end = start + result.duration_s
    sockets: list[Socket] = []
    latest: dict[str, Socket] = {}
    for event in sorted(result.events, key=lambda e: e.t_ms):
        at = start + event.t_ms / 1000
        user = result.user_ids.get(event.who.split("#")[0])
        if event.kind == "connect" and user is not None:
            latest[event.who] = Socket(event.who, user, opened_at=at, closed_at=end)
            sockets.append(latest[event.who])
        elif event.kind in ("disconnect", "closed") and event.who in latest:
            latest[event.who].closed_at = at
        elif event.kind == "recv" and event.data is not None and event.who in latest:
            latest[event.who].frames.append((at, event.data))
    return sockets


# ---------------------------------------------------------------------------- playing


class _Settle(Step):
    """The last step of an audited run: keep the sockets open while the stack settles."""


class AuditedRunner(ScenarioRunner):
    """A ScenarioRunner whose run ends with the audit's settle step."""

    def __init__(self, scenario: Scenario, *args: Any, auditor: Auditor, **kwargs: Any) -> None:
        self.original = scenario
        settle = _Settle(Where(scenario.path, scenario.line), "settle (invariant audit)")
        super().__init__(
            dataclasses.replace(scenario, steps=(*scenario.steps, settle)), *args, **kwargs
        )
        self._auditor = auditor

    async def _step(self, step: Step) -> None:
        if not isinstance(step, _Settle):
            await super()._step(step)
            return
        users = [identity.user_id for identity in self.identities.values()]
        until = await self._auditor.settle_until(users)
        self.record("", "wait", f"settle until {stamp(until)} (invariant audit)")
        while self.time.now() < until:
            await self.wait_until(until)

    async def run(self) -> Result:
        result = await super().run()
        result.scenario = self.original
        result.steps_run = min(result.steps_run, len(self.original.steps))
        return result


async def play_audited(
    scenarios: Sequence[Scenario],
    target: Target,
    *,
    users: Callable[[Scenario], Mapping[str, str]],
    grace_s: float = DEFAULT_GRACE_S,
    max_wait_s: float = 60.0,
    on_audit: Callable[[Audit], None] | None = None,
) -> list[Audit]:
    """Play `scenarios` in order against `target`, auditing each run."""
    from duelctl.scenario.play import stack_time

    tokens = CognitoTokens(target.endpoints)
    clock = stack_time(target)
    await clock.start()
    parameters = target.parameters or {}
    auditor = Auditor(
        target.endpoints,
        clock,
        start_lead_s=float(parameters.get("StartLeadSeconds", 0)),
        grace_s=grace_s,
    )
    audits: list[Audit] = []
    try:
        for scenario in scenarios:
            runner = AuditedRunner(
                scenario,
                target.endpoints,
                tokens,
                auditor=auditor,
                usernames=users(scenario),
                stack_parameters=parameters,
                max_wait_s=max_wait_s,
                stack_time=clock,
            )
            audit = await auditor.audit(await runner.run())
            audits.append(audit)
            if on_audit is not None:
                on_audit(audit)
    finally:
        await auditor.aclose()
        await clock.close()
    return audits


__all__ = [
    "DEFAULT_GRACE_S",
    "Audit",
    "AuditedRunner",
    "Auditor",
    "StackReader",
    "play_audited",
    "sockets_of",
]
