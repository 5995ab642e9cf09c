"""Virtual time for one running Emulator: the clock file, the clock, the advancer, the probe.

`emulator.runtime.Emulator` builds a `VirtualTime` when `EmulatorOptions.clock` is
"virtual", hands `vt.clock` to every part that reads time (as it would `SYSTEM_CLOCK`),
counts invocations in `vt.activity`, gives handler workers and moto's processes the
clock file (env `DUELCTL_CLOCK_FILE`), and once its servers run calls `attach` so the
advancer can see the gateways and ask moto what is due. A real-clock stack builds none
of this.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from emulator.logs import SERVICE, emit
from emulator.timesync import ClockFile
from emulator.virtual.activity import Activity
from emulator.virtual.advancer import Advancer, DueUnknown
from emulator.virtual.clock import VirtualClock
from emulator.virtual.peers import PeerFrames

NEXT_DUE_PATH = "/_duelctl/next-due"
WARN_EVERY_S = 10.0  # a moto process that does not answer is reported this often
SYNC_PATH = "/_duelctl/clock/sync"


def parse_next_due(body: Any) -> float | None:
    """moto's answer to GET /_duelctl/next-due: a number, null, or {"next_due": ...}."""
    if isinstance(body, dict):
        body = body.get("next_due", body.get("due"))
    if isinstance(body, bool) or not isinstance(body, int | float):
        return None
    return float(body)


class RuntimeProbe:
    """The advancer's view of a running stack: its gateways and moto's processes."""

    def __init__(self, gateways: Iterable[Any], moto_urls: Callable[[], Iterable[str]]) -> None:
        self._gateways = list(gateways)
        self._moto_urls = moto_urls
        self._session: Any = None
        self._unsupported: set[str] = set()
        self._last_warning = -WARN_EVERY_S

    def not_quiet(self) -> str | None:
        for gateway in self._gateways:
            running = gateway.engine.tasks_in_flight
            if running:
                return f"{running} WebSocket task(s) running"
        return None

    def peer(self, port: int) -> PeerFrames | None:
        for gateway in self._gateways:
            peers = gateway.peers
            found = peers.get(port) if peers is not None else None
            if found is not None:
                return found
        return None

    async def _call(self, method: str, url: str) -> Any:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        async with self._session.request(method, url) as response:
            if response.status == 404:
                return NotImplemented
            response.raise_for_status()
            text = await response.text()
            return json.loads(text) if text else None

    async def next_due(self) -> float | None:
        """The earliest due time any moto process names; raises DueUnknown when one of
        them does not answer (time must not jump past what it may hold)."""
        dues: list[float] = []
        for base in self._moto_urls():
            url = base.rstrip("/") + NEXT_DUE_PATH
            if url in self._unsupported:
                continue
            try:
                body = await self._call("GET", url)
            except Exception as exc:  # aiohttp's errors, timeouts, a reply that is not JSON
                now = time.monotonic()
                if now - self._last_warning > WARN_EVERY_S:
                    self._last_warning = now
                    emit(SERVICE, f"virtual clock: {url}: {exc!r}", level=logging.WARNING)
                raise DueUnknown(url) from exc
            if body is NotImplemented:
                self._unsupported.add(url)
                emit(
                    SERVICE,
                    f"virtual clock: {url} is missing; SQS and TTL due times are not known",
                    level=logging.WARNING,
                )
                continue
            due = parse_next_due(body)
            if due is not None:
                dues.append(due)
        return min(dues, default=None)

    async def synced(self) -> None:
        for base in self._moto_urls():
            url = base.rstrip("/") + SYNC_PATH
            if url in self._unsupported:
                continue
            try:
                if await self._call("POST", url) is NotImplemented:
                    self._unsupported.add(url)
            except Exception as exc:  # best effort: each request syncs anyway
                emit(SERVICE, f"virtual clock: {url}: {exc!r}", level=logging.WARNING)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class VirtualTime:
    """Everything a virtual stack adds; `close` removes the clock file."""

    def __init__(self, directory: Path | None = None) -> None:
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="duelctl-clock-"))
        self.file = ClockFile(self.directory / f"offset-{os.getpid()}-{id(self):x}")
        self.activity = Activity()
        self.clock = VirtualClock(self.file, self.activity)
        self.advancer: Advancer | None = None
        self._probe: RuntimeProbe | None = None

    @property
    def env(self) -> Mapping[str, str]:
        """What a process that must follow this clock needs in its environment."""
        from emulator.timesync import ENV

        return {ENV: str(self.file.path)}

    def attach(self, gateways: Iterable[Any], moto_urls: Callable[[], Iterable[str]]) -> None:
        """Build the advancer once the gateways exist; run it with `run`."""
        gateways = list(gateways)
        for gateway in gateways:
            gateway.track_peers()
        self._probe = RuntimeProbe(gateways, moto_urls)
        self.advancer = Advancer(self.clock, self._probe)

    async def run(self) -> None:
        """The advancer's loop (until cancelled)."""
        if self.advancer is None:
            raise RuntimeError("attach() first")
        try:
            await self.advancer.run()
        finally:
            if self._probe is not None:
                await self._probe.aclose()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)


__all__ = ["NEXT_DUE_PATH", "SYNC_PATH", "RuntimeProbe", "VirtualTime", "parse_next_due"]
