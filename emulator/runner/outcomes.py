"""What an invocation that did not return normally looks like, in AWS's words.

Pure functions: the driver passes the facts (exit status, elapsed time, the time now) and
gets the error object and log line AWS's runtime would produce (docs/aws-behaviour.md §13).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from typing import Any

from emulator.logs import caller_name

TIMEOUT_TYPE = "Sandbox.Timedout"
EXIT_TYPE = "Runtime.ExitError"


def iso_time(ts: float) -> str:
    """`2026-01-01T00:00:00.000Z`: the timestamp AWS puts in front of a timeout line."""
    millis = int(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{millis:03d}Z"


def exit_reason(returncode: int) -> str:
    """Describe an exit as Lambda's Runtime.ExitError message does (Go's wording)."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name.lower()}"


KILLED = exit_reason(-signal.SIGKILL)  # "signal: killed"


def exit_error(request_id: str, reason: str) -> dict[str, Any]:
    """AWS's error object for a runtime that exited during an invocation."""
    if reason == "exit status 0":
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    return {"errorMessage": message, "errorType": EXIT_TYPE}


def timeout_line(now: float, request_id: str, seconds: float) -> str:
    """AWS: `<ISO time> <request id> Task timed out after 3.01 seconds` (elapsed, 2 decimals)."""
    return f"{iso_time(now)} {request_id} Task timed out after {seconds:.2f} seconds"


def timeout_error(line: str) -> dict[str, Any]:
    """AWS's invoke payload for a timeout: the log line as message (§13, partly unverified)."""
    return {"errorMessage": line, "errorType": TIMEOUT_TYPE}


def user_of(event: Any) -> str | None:
    """The caller's name from the authorizer context, for the invocation's log line.

    A username when the context carries one, else the user id (`caller_name`).
    """
    if not isinstance(event, Mapping):
        return None
    ctx = event.get("requestContext")
    auth = ctx.get("authorizer") if isinstance(ctx, Mapping) else None
    return caller_name(auth) if isinstance(auth, Mapping) else None
