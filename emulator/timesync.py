"""One stack-wide clock across processes: a file holding how far virtual time is ahead.

A virtual stack (`duelctl up --clock virtual`) runs its handlers in worker processes and
moto in child processes; all of them must read the same time, and none of them may see
time jump while it is working. The emulator owns the offset (virtual minus real seconds)
and writes it to a small memory-mapped file; every other process maps the same file and,
at the start of each unit of work (an invocation, an AWS request), moves its own clock to
match with time-machine, which patches `time.time`, `time.time_ns`, `datetime.now` and
friends at the C level, so unmodified handlers, boto3 and moto all follow it. Between
jumps virtual time flows at the real rate, so durations inside one invocation are real.

The offset only grows, and only while the stack is quiet (no invocation in flight), so a
process that syncs at the start of its work sees the same time as the emulator for the
whole of that work. In a real-clock stack nothing here runs: no file, no time-machine.

`emulator/runner/bootstrap.py` cannot import this package (handlers must not see the
emulator) and carries a copy of `Follower.sync`'s few lines; the file format is the
contract: 8 bytes, one little-endian IEEE-754 double.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any

ENV = "DUELCTL_CLOCK_FILE"
_OFFSET = struct.Struct("<d")


class ClockFile:
    """The writer's side: the emulator creates the file and moves the offset forward."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(_OFFSET.pack(0.0))
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, _OFFSET.size)

    @property
    def offset(self) -> float:
        return float(_OFFSET.unpack_from(self._map)[0])

    def set_offset(self, offset: float) -> None:
        _OFFSET.pack_into(self._map, 0, offset)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


class Follower:
    """A reader's side: call `sync()` before each unit of work to adopt the current offset."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self._map = mmap.mmap(fd, _OFFSET.size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self._applied = 0.0
        self._traveller: Any = None

    def sync(self) -> None:
        offset = _OFFSET.unpack_from(self._map)[0]
        if offset == self._applied:
            return
        import time

        time_machine = _import_time_machine()
        if self._traveller is None:
            # Started once, from real time; later changes shift it, so the
            # invariant "process time = real time + offset" holds without reading real time.
            self._traveller = _start_travel(time_machine, time.time() + offset, offset)
        else:
            self._traveller.shift(offset - self._applied)
        self._applied = offset


def _import_time_machine() -> Any:
    """`import time_machine`, without the pytest import it makes for its test helpers
    (most of its ~90 ms import time) unless pytest is loaded already."""
    import sys

    hidden = "pytest" not in sys.modules
    if hidden:
        sys.modules["pytest"] = None  # type: ignore[assignment]
    try:
        import time_machine
    finally:
        if hidden:
            del sys.modules["pytest"]
    return time_machine


def _start_travel(time_machine: Any, destination: float, offset: float) -> Any:
    """Start a ticking traveller whose time is real time + `offset`, to the microsecond.

    time-machine starts the ticking at the first time a patched clock is read, not at
    `start()`; whatever ran in between (the patching itself, a busy machine) would leave
    this process's clock behind the emulator's for good. Reading it at once and shifting
    by the difference from the real clock (time-machine's escape hatch) removes that lag.
    """
    import time

    traveller = time_machine.travel(destination, tick=True).start()
    virtual = time.time()  # the first read: the ticking starts here
    real = time_machine.escape_hatch.time.time()
    traveller.shift(real + offset - virtual)
    return traveller


def follower_from_env() -> Follower | None:
    """This process's follower if its parent runs a virtual clock (env DUELCTL_CLOCK_FILE)."""
    path = os.environ.get(ENV)
    return Follower(path) if path else None


__all__ = ["ENV", "ClockFile", "Follower", "follower_from_env"]
