"""Awaiting the end of a process without polling: a pidfd on Linux, else a thread.

A pidfd (Linux >= 5.3) becomes readable when its process ends, so the event loop learns
of an exit the moment it happens and no timer ever asks "has it exited yet?". Where there
is no pidfd, a child's exit is awaited by `Popen.wait` in a thread. Forked workers are
the fork server's children, which reports their exits; should it die first, their ends
are learned through pidfds too (without pidfds, a worker's exit grace runs out instead:
lifecycle.py gives up on it after two).
"""

from __future__ import annotations

import asyncio
import os
import subprocess

HAS_PIDFD = hasattr(os, "pidfd_open")


async def wait_ended(pid: int) -> bool:
    """Return once process `pid` (any process, our child or not) has ended.

    False (at once) when this platform cannot watch a process that way; True when the
    process has ended or no longer exists.
    """
    if not HAS_PIDFD:
        return False
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:  # a kernel without pidfd_open (ENOSYS), or out of descriptors
        return False
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _resolve, ended)
    try:
        await ended
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_child(proc: subprocess.Popen[bytes]) -> int:
    """The exit status of our child `proc` once it has ended; it is reaped (no zombie)."""
    if proc.returncode is not None:
        return proc.returncode
    if await wait_ended(proc.pid):
        return proc.wait()  # it has ended: the wait returns at once
    return await asyncio.to_thread(proc.wait)
