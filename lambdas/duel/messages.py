"""Client -> server frames: decode, validate, and name what is wrong (docs/protocol.md).

Every parser raises `DuelError(bad_request)` for a body that is not a JSON object or a
missing or wrongly typed field, so `bad_request` is decided before any lookup and so
wins over every other code.

Input limits (docs/protocol.md, "Input limits"): JSON text may escape a lone surrogate
(`"\ud800"`), which decodes to a string that is not Unicode and can be neither stored
in DynamoDB nor posted as UTF-8, so any such string is bad_request; a body nested too
deeply for the decoder is bad_request (Python's decoder gives up near 1,000 levels);
a requestId longer than MAX_REQUEST_ID is bad_request and never echoed, so no reply
can outgrow a post (128 KB, docs/aws-behaviour.md §6).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from duel.errors import DuelError, ErrorCode

# The actions template.yaml routes to their own functions; anything else reaches $default.
ROUTED_ACTIONS = frozenset({"invite", "response", "stop", "ping", "state"})
# docs/protocol.md, "Input limits": the longest requestId echoed, and how much of an unknown
# action an unknown_action error repeats.
MAX_REQUEST_ID = 256
MAX_ECHOED_ACTION = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class InviteMessage:
    to: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseMessage:
    session_id: str
    accept: bool
    request_id: str | None


@dataclass(frozen=True, slots=True)
class StopMessage:
    session_id: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class BareMessage:
    """`ping` and `state`: no fields beyond the action and an optional requestId."""

    request_id: str | None


def _bad(message: str) -> DuelError:
    return DuelError(ErrorCode.BAD_REQUEST, message)


def _load(body: str | None) -> dict[str, Any]:
    """The frame as a JSON object (strings unchecked), or bad_request."""
    if body is None:
        raise _bad("empty message")
    try:
        value = json.loads(body)
    except ValueError:
        raise _bad("message is not JSON") from None
    except RecursionError:
        raise _bad("message is nested too deeply") from None
    if not isinstance(value, dict):
        raise _bad("message is not a JSON object")
    return value


def _not_unicode(value: Any) -> bool:
    """Whether any key or string inside `value` holds a lone surrogate.

    Iterative, so a structure the decoder only just managed cannot exhaust the stack here.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def decode(body: str | None) -> dict[str, Any]:
    """The frame as a JSON object whose strings are all Unicode, or bad_request."""
    fields = _load(body)
    if _not_unicode(fields):
        raise _bad("message holds a string that is not Unicode (an unpaired surrogate)")
    return fields


def _echoable(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_REQUEST_ID and not _SURROGATE.search(value)


def request_id_of(body: str | None) -> str | None:
    """The `requestId` to echo on frames to the sender, if the body carries a valid one.

    Best effort on purpose: even a request refused as bad_request echoes its id when
    the id itself was readable (a string of Unicode, at most MAX_REQUEST_ID long).
    """
    try:
        fields = _load(body)
    except DuelError:
        return None
    value = fields.get("requestId")
    return value if _echoable(value) else None


def _request_id(fields: dict[str, Any]) -> str | None:
    value = fields.get("requestId")
    if value is not None and not isinstance(value, str):
        raise _bad("requestId must be a string")
    if value is not None and len(value) > MAX_REQUEST_ID:
        raise _bad(f"requestId is longer than {MAX_REQUEST_ID} characters")
    return value


def _id_field(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(f"{name} must be a non-empty string")
    return value


def parse_invite(body: str | None) -> InviteMessage:
    """`{"action":"invite","to":"<userId>"}`."""
    fields = decode(body)
    return InviteMessage(to=_id_field(fields, "to"), request_id=_request_id(fields))


def parse_response(body: str | None) -> ResponseMessage:
    """`{"action":"response","sessionId":"…","accept":true}`; accept must be a JSON boolean."""
    fields = decode(body)
    session_id = _id_field(fields, "sessionId")
    accept = fields.get("accept")
    if not isinstance(accept, bool):
        raise _bad("accept must be true or false")
    return ResponseMessage(session_id=session_id, accept=accept, request_id=_request_id(fields))


def parse_stop(body: str | None) -> StopMessage:
    """`{"action":"stop","sessionId":"…"}`."""
    fields = decode(body)
    return StopMessage(session_id=_id_field(fields, "sessionId"), request_id=_request_id(fields))


def parse_bare(body: str | None) -> BareMessage:
    """`{"action":"ping"}` or `{"action":"state"}`."""
    return BareMessage(request_id=_request_id(decode(body)))


def unroutable(body: str | None) -> DuelError:
    """The error for a frame that reached `$default`.

    An object whose `action` is a string no route matched is `unknown_action`; anything
    else (not JSON, not an object, no `action`, a non-string `action`) is `bad_request`.
    AWS stringifies a non-string `action` for route selection (docs/aws-behaviour.md §2), but the
    protocol only defines string actions, so such a frame is malformed, not unknown. A
    bad requestId is bad_request too: bad_request wins over every other code.
    """
    try:
        fields = decode(body)
        _request_id(fields)
    except DuelError as err:
        return err
    action = fields.get("action")
    if not isinstance(action, str):
        return _bad("message has no string action")
    if action in ROUTED_ACTIONS:
        # Only reachable if the gateway failed to route it: report it as malformed.
        return _bad(f"malformed {action} message")
    # Echo a bounded prefix: a 120 KB action would otherwise make a frame too big to post.
    shown = action[:MAX_ECHOED_ACTION] + ("..." if len(action) > MAX_ECHOED_ACTION else "")
    return DuelError(ErrorCode.UNKNOWN_ACTION, f"unknown action {shown!r}")
