"""invite: open a pending session between the sender and an online, idle user.

Errors in protocol order: bad_request, self_invite, user_offline, user_busy.
"""

from __future__ import annotations

import uuid
from typing import Any

from adapters.routes import ws_route
from duel.errors import DuelError, ErrorCode
from duel.machine import Outcome, Party, check_invite, open_invite
from duel.messages import parse_invite


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    route = ws_route(event, context, parse_invite)
    if route is None:
        return {"statusCode": 200}
    d, request, message = route.deps, route.request, route.message
    now_ms = d.now_ms()
    try:
        refused = check_invite(request.user_id, message.to)
        if refused is not None:
            raise refused
        invitee_connections = d.connections.live(message.to, now_ms)
        if not invitee_connections:
            raise DuelError(ErrorCode.USER_OFFLINE, "that user is not online")
        latest = max(invitee_connections, key=lambda c: c.connected_at)
        transition = open_invite(
            str(uuid.uuid4()),
            inviter=Party(request.user_id, request.username),
            invitee=Party(message.to, latest.username),
            now_ms=now_ms,
            timing=d.config.timing,
            request_id=message.request_id,
        )
        # The invitee's connections were just read: the frames reuse them.
        effects = d.effects(route.notifier, now_ms, context, {message.to: invitee_connections})
        d.locks.open_invite(
            transition,
            now_ms,
            d.config.timing,
            on_settled=lambda ended: effects.carry_out(Outcome(ended)),
            lease_until=effects.lease_until,
            time_left=route.notifier.remaining_ms,
        )
    except DuelError as err:
        route.refuse(err)
        return {"statusCode": 200}
    effects.carry_out(Outcome(transition))
    return {"statusCode": 200}
