"""One stack's fault mode: the spec, the seed, one object per fault kind, and the counts.

`emulator.runtime.Emulator` builds a `FaultPlan` when `EmulatorOptions.faults` is set and
hands each part its hook: the runner gets `invoke_faults`, the SQS and stream pollers
`sqs` and `streams`, the gateways `gateway`, and moto's processes `moto_env()` (DynamoDB
throttling runs there, ddb.py). What fires is logged on the `faults` channel as it fires
and counted here; moto's share is fetched from its `/_duelctl/faults` route (`refresh`),
every second while the stack runs and whenever someone asks (`report`).

A plan with an empty spec (`--faults none`) injects nothing but still records every
close (`gateway.disconnects`), which the invariant checker reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from emulator.clock import SYSTEM_CLOCK, Clock
from emulator.faults import ddb
from emulator.faults.gateway import GatewayFaults
from emulator.faults.lambdas import LambdaFaults
from emulator.faults.record import FAULTS, FaultLog, rng_for
from emulator.faults.spec import FaultSpec
from emulator.faults.sqs import SqsFaults
from emulator.faults.streams import StreamFaults
from emulator.logs import emit

REFRESH_S = 1.0  # how often (real seconds) moto's fired faults are fetched and logged
ROUTE = "/_duelctl/faults"


class FaultPlan:
    """The faults one stack injects (module docstring)."""

    def __init__(self, spec: FaultSpec, seed: int, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.spec = spec
        self.seed = seed
        self.log = FaultLog()
        self.invoke_faults: LambdaFaults | None = None
        if spec.lambda_crash or spec.lambda_timeout:
            self.invoke_faults = LambdaFaults(
                self.log,
                crash=spec.lambda_crash,
                timeout=spec.lambda_timeout,
                crash_rng=rng_for(seed, "lambda-crash"),
                timeout_rng=rng_for(seed, "lambda-timeout"),
            )
        self.sqs: SqsFaults | None = None
        if spec.sqs_duplicate or spec.sqs_delay_s or spec.sqs_reorder_s:
            self.sqs = SqsFaults(
                self.log,
                clock,
                duplicate=spec.sqs_duplicate,
                delay_s=spec.sqs_delay_s,
                reorder_s=spec.sqs_reorder_s,
                duplicate_rng=rng_for(seed, "sqs-duplicate"),
                delay_rng=rng_for(seed, "sqs-delay"),
                reorder_rng=rng_for(seed, "sqs-reorder"),
            )
        self.streams: StreamFaults | None = None
        if spec.stream_duplicate:
            self.streams = StreamFaults(
                self.log, duplicate=spec.stream_duplicate, rng=rng_for(seed, "stream-duplicate")
            )
        self.gateway = GatewayFaults(
            self.log,
            gone_window_s=spec.gone_window_s,
            drop_disconnect=spec.drop_disconnect,
            rng=rng_for(seed, "drop-disconnect"),
        )
        self._moto_url: str | None = None
        self._moto_cursor = 0
        self._session: Any = None
        self._refreshing = asyncio.Lock()

    # ------------------------------------------------------------------ moto's share

    def moto_env(self) -> dict[str, str]:
        """What moto's processes need in their environment (empty without ddb-throttle)."""
        if self.spec.ddb_throttle is None:
            return {}
        return {ddb.ENV: str(self.spec), ddb.SEED_ENV: str(self.seed)}

    def attach_moto(self, dynamodb_url: str) -> None:
        """Where moto's DynamoDB process answers (its `/_duelctl/faults` route)."""
        if self.spec.ddb_throttle is not None:
            self._moto_url = dynamodb_url.rstrip("/")

    async def refresh(self) -> None:
        """Fetch the throttles moto answered since the last call; log and count them."""
        if self._moto_url is None:
            return
        async with self._refreshing:
            try:
                body = await self._get(f"{self._moto_url}{ROUTE}?after={self._moto_cursor}")
            except (OSError, TimeoutError, ValueError) as exc:
                emit(FAULTS, f"could not read moto's fault counts: {exc!r}", level=logging.DEBUG)
                return
            for event in body.get("events", []):
                self._moto_cursor = max(self._moto_cursor, int(event.get("seq", 0)))
                tables = ", ".join(event.get("tables") or []) or "?"
                emit(
                    FAULTS,
                    f"{ddb.KIND}: {event.get('operation')} on {tables} answered "
                    f"{event.get('error')}",
                    fault=ddb.KIND,
                    operation=event.get("operation"),
                    tables=event.get("tables"),
                    error=event.get("error"),
                    at=event.get("at"),
                )
            count = body.get("counts", {}).get(ddb.KIND)
            if isinstance(count, int):
                self.log.counts[ddb.KIND] = count

    async def _get(self, url: str) -> dict[str, Any]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=5), trust_env=False
            )
        async with self._session.get(url) as response:
            response.raise_for_status()
            data = json.loads(await response.text() or "{}")
        return data if isinstance(data, dict) else {}

    async def run(self) -> None:
        """Refresh every REFRESH_S until cancelled (no-op without ddb-throttle)."""
        if self._moto_url is None:
            return
        while True:
            await asyncio.sleep(REFRESH_S)
            await self.refresh()

    async def aclose(self) -> None:
        """Take moto's last counts (call before moto stops), then close the HTTP session."""
        with contextlib.suppress(Exception):
            await self.refresh()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ reporting

    @property
    def counts(self) -> dict[str, int]:
        """Fired faults per SPEC name, zeros included for every fault of the spec."""
        return {name: self.log.counts.get(name, 0) for name in self.spec.names}

    def summary(self) -> dict[str, Any]:
        """The endpoints file's `faults` key (without the route URL the runtime adds)."""
        return {"spec": str(self.spec), "seed": self.seed, "counts": self.counts}

    def disconnects(self, connection_ids: Iterable[str]) -> dict[str, str | None]:
        """What happened to each connection's `$disconnect`: "ran", "dropped" or None
        (not closed yet, unknown, or a handshake that never completed)."""
        return {cid: self.gateway.disconnects.get(cid) for cid in connection_ids}

    def describe(self) -> str:
        """One line for people: `sqs-duplicate=0.25,gone-window=500ms (seed 42)`."""
        return f"{self.spec} (seed {self.seed})"

    def fired_line(self) -> str:
        """The shutdown summary: `fired: sqs-duplicate 3, gone-window 0` (or nothing)."""
        counts = self.counts
        if not counts:
            return "no faults injected"
        return "faults fired: " + ", ".join(f"{name} {n}" for name, n in counts.items())


__all__ = ["REFRESH_S", "ROUTE", "FaultPlan"]
