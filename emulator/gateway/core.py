"""API Gateway WebSocket rules as plain functions: inputs in, decisions out.

The sans-I/O core of the gateway (style §1), one import for its two drivers: `local.py`
(socketless) and `server.py` (websockets) feed it the current time and fresh ids and
carry out what it returns, so both follow exactly the same rules. Nothing here awaits,
touches a socket, reads the clock or draws randomness. Each seam is a module of its own:

- limits.py: AWS's numbers (frame, message, post, integration, idle, duration);
- ids.py: connection/request ids and `requestTime`;
- connection.py: the deployed API, the client's upgrade request, an open connection;
- events.py: the Lambda proxy events (`$connect`, authorizer, MESSAGE, `$disconnect`);
- error_frames.py: the frames API Gateway itself sends (Forbidden, Internal server error);
- frames.py: data-frame limits on the way in, fragments on the way out;
- closes.py: close codes, the one `$disconnect` reports, idle and duration limits;
- routing.py: route selection and what a message and its result cause;
- authorizer.py: identity sources, the policy and context an authorizer returns;
- handshake.py: the opening handshake as a step machine.

Facts come from docs/aws-behaviour.md (cited as "docs/aws-behaviour.md §N").
"""

from __future__ import annotations

from emulator.gateway.authorizer import (
    IDENTITY_SOURCE,
    MalformedAuthorizerResult,
    authorizer_block,
    check_identity_sources,
    policy_allows,
)
from emulator.gateway.closes import (
    ABNORMAL,
    DELETED,
    GOING_AWAY,
    MESSAGE_TOO_BIG,
    NO_STATUS_REASON,
    UNSUPPORTED_DATA,
    CloseWith,
    Expired,
    OpenUntil,
    TimeLimit,
    observed_close,
    time_limit,
)
from emulator.gateway.connection import ClientRequest, Connection, Deployment
from emulator.gateway.error_frames import forbidden_frame, internal_error_frame
from emulator.gateway.events import (
    Event,
    authorizer_event,
    connect_event,
    disconnect_event,
    message_event,
)
from emulator.gateway.frames import FrameKind, FrameTracker, on_frame, outbound_fragments
from emulator.gateway.handshake import (
    Accept,
    Handshake,
    Invoke,
    Refuse,
    Step,
    authorizer_verdict,
    connect_subprotocol,
    connect_verdict,
)
from emulator.gateway.ids import ID_RANDOM_BYTES, id_from_bytes, request_time
from emulator.gateway.limits import (
    IDLE_TIMEOUT_S,
    MAX_AUTHORIZER_RESULT_BYTES,
    MAX_DURATION_S,
    MAX_FRAME_BYTES,
    MAX_INTEGRATION_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    MAX_POST_BYTES,
)
from emulator.gateway.routing import (
    Dispatch,
    Reply,
    body_path,
    on_message,
    on_message_result,
    route_key_of,
    select_route,
)
from emulator.template.model import WebSocketApi


def validate(api: WebSocketApi) -> None:
    """Raise ValueError if the gateway cannot serve `api` as AWS would, so a bad template
    fails at start-up, not on the first message or handshake."""
    body_path(api.route_selection_expression)
    check_identity_sources(api)


__all__ = [
    "ABNORMAL",
    "DELETED",
    "GOING_AWAY",
    "IDENTITY_SOURCE",
    "IDLE_TIMEOUT_S",
    "ID_RANDOM_BYTES",
    "MAX_AUTHORIZER_RESULT_BYTES",
    "MAX_DURATION_S",
    "MAX_FRAME_BYTES",
    "MAX_INTEGRATION_TIMEOUT_S",
    "MAX_MESSAGE_BYTES",
    "MAX_POST_BYTES",
    "MESSAGE_TOO_BIG",
    "NO_STATUS_REASON",
    "UNSUPPORTED_DATA",
    "Accept",
    "ClientRequest",
    "CloseWith",
    "Connection",
    "Deployment",
    "Dispatch",
    "Event",
    "Expired",
    "FrameKind",
    "FrameTracker",
    "Handshake",
    "Invoke",
    "MalformedAuthorizerResult",
    "OpenUntil",
    "Refuse",
    "Reply",
    "Step",
    "TimeLimit",
    "authorizer_block",
    "authorizer_event",
    "authorizer_verdict",
    "body_path",
    "connect_event",
    "connect_subprotocol",
    "connect_verdict",
    "disconnect_event",
    "forbidden_frame",
    "id_from_bytes",
    "internal_error_frame",
    "message_event",
    "observed_close",
    "on_frame",
    "on_message",
    "on_message_result",
    "outbound_fragments",
    "policy_allows",
    "request_time",
    "route_key_of",
    "select_route",
    "time_limit",
    "validate",
]
