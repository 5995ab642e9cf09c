"""Fixtures for the runner tests: handler packages written to tmp dirs, real workers."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from emulator.runner.exits import wait_ended
from emulator.runner.process import ProcessRunner
from emulator.template.model import Function

REGION = "us-east-1"
ACCOUNT = "123456789012"

MakeCode = Callable[..., Path]
MakeFunction = Callable[..., Function]
MakeRunner = Callable[..., ProcessRunner]


@pytest.fixture
def make_code(tmp_path: Path) -> MakeCode:
    """Write `files` ({relative path: source}) into a new code root and return it."""
    count = 0

    def make(files: Mapping[str, str], name: str | None = None) -> Path:
        nonlocal count
        count += 1
        root = tmp_path / (name or f"code{count}")
        root.mkdir()
        for rel, source in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        return root

    return make


@pytest.fixture
def make_function() -> MakeFunction:
    def make(
        code_root: Path,
        handler: str = "app.handler",
        *,
        logical_id: str = "Fn",
        timeout_s: int = 10,
        runtime: str = "python3.12",
        environment: Mapping[str, str] | None = None,
        memory_mb: int = 256,
    ) -> Function:
        name = f"stack-{logical_id}-ABC123"
        return Function(
            logical_id=logical_id,
            name=name,
            handler=handler,
            runtime=runtime,
            code_root=code_root,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            environment=MappingProxyType(dict(environment or {})),
            arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        )

    return make


@pytest.fixture
async def make_runner() -> AsyncIterator[MakeRunner]:
    """Runners that are closed (all workers killed) after the test."""
    made: list[ProcessRunner] = []

    def make(functions: Mapping[str, Function], **options: Any) -> ProcessRunner:
        runner = ProcessRunner(functions, region=REGION, account_id=ACCOUNT, **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        await runner.aclose()


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def wait_gone() -> Callable[[int], Any]:
    """Wait (bounded: 5 s) until a process has ended; True if it did."""

    async def wait(pid: int) -> bool:
        try:
            async with asyncio.timeout(5):
                return await wait_ended(pid) or not process_exists(pid)
        except TimeoutError:
            return False

    return wait
