"""Structured log events: the emulator logs, only the CLI renders.

Every part logs through `emit`, which sends one stdlib logging record on the
"emulator" logger tree with the structured fields in `record.event`. `duelctl up`
attaches a handler that renders them with rich; tests can capture them with caplog.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

INVOKE = (
    "emulator.invoke"  # one per invocation: function, route, request_id, duration_ms, outcome, user
)
FRAME = "emulator.frame"  # debug: direction ("in"/"out"), connection_id, size, text (truncated)
CONNECTION = "emulator.connection"  # connect / refuse / disconnect with status and reason
SERVICE = "emulator.service"  # start-up, pollers, reaper, reload notes


# Loggers by channel: logging.getLogger takes the logging module's lock on every call;
# a logger, once made, lives as long as the process, so holding it here is safe.
_LOGGERS: dict[str, logging.Logger] = {}


def _logger(channel: str) -> logging.Logger:
    logger = _LOGGERS.get(channel)
    if logger is None:
        logger = _LOGGERS[channel] = logging.getLogger(channel)
    return logger


def enabled(channel: str, level: int = logging.INFO) -> bool:
    """Whether anyone reads `channel` at `level`: a caller whose message or fields cost
    something to build asks first, so a log nobody reads costs nothing."""
    return _logger(channel).isEnabledFor(level)


def emit(channel: str, message: str, *, level: int = logging.INFO, **event: Any) -> None:
    """Log `message` on `channel` with the structured fields the CLI renders.

    With nobody listening (the level is off for the channel) this is one cached check.
    """
    logger = _logger(channel)
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"event": event})


def caller_name(authorizer: Mapping[str, Any] | None) -> str | None:
    """Who made a request, as a person knows them, from its `requestContext.authorizer`.

    For log lines only (handlers see the context unchanged): a Lambda authorizer's
    context `username`, else its `userId`/`principalId`; an HTTP API JWT authorizer's
    claim `cognito:username` or `username`, else `sub`. None when nothing names the
    caller. Cognito names the claim `cognito:username` in ID tokens and `username` in
    access tokens (Cognito developer guide, "Understanding user pool JSON web tokens").
    """
    if not authorizer:
        return None
    jwt = authorizer.get("jwt")
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
    sources: list[tuple[Mapping[str, Any], tuple[str, ...]]] = [
        (authorizer, ("username", "userId", "principalId")),
    ]
    if isinstance(claims, Mapping):
        sources.insert(0, (claims, ("cognito:username", "username", "sub")))
    for source, keys in sources:
        for key in keys:
            value = source.get(key)
            if isinstance(value, str | int) and str(value):
                return str(value)
    return None
