"""What every WebSocket message route does first: read the event, parse the body, and
answer a body the rules refuse with an `error` frame to its sender (docs/protocol.md).

AWS never retries a WebSocket route invocation, and its return value is discarded
(docs/aws-behaviour.md §2), so a refused message is answered here and the handler simply
returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from adapters import deps
from adapters.deps import Deps
from adapters.effects import reply
from adapters.events import WsRequest, ws_request
from adapters.notifier import Notifier
from duel.errors import DuelError
from duel.frames import Frame, error_frame
from duel.machine import Expectation, Outcome
from duel.messages import request_id_of
from duel.session import Session

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Route(Generic[M]):
    """One message on one route, parsed: who sent it, where to answer, what it says."""

    deps: Deps
    request: WsRequest
    notifier: Notifier
    message: M

    def reply(self, frame: Frame) -> None:
        """A frame for the sending connection only."""
        reply(self.notifier, self.request, frame)

    def decide(
        self,
        session_id: str,
        decide: Callable[[Session | None], Outcome],
        *,
        expect: Expectation,
        now_ms: int,
        context: object,
        request_id: str | None,
    ) -> None:
        """Run a user's command on a session (SessionsRepository.run, write first on the
        `expect`ed common case): the sender gets the error if any, both users the notices."""
        effects = self.deps.effects(self.notifier, now_ms, context)
        outcome = self.deps.sessions.run(
            session_id, decide, expect=expect, lease_until=effects.lease_until
        )
        if outcome.error is not None:
            self.refuse(outcome.error, request_id)
        effects.carry_out(outcome)

    def refuse(self, error: DuelError, request_id: str | None = None) -> None:
        """The `error` frame for `error`, echoing the message's requestId if it had one."""
        rid = request_id if request_id is not None else request_id_of(self.request.body)
        self.reply(error_frame(error, rid))


def ws_route(
    event: Mapping[str, Any], context: object, parse: Callable[[str | None], M]
) -> Route[M] | None:
    """The route's parsed message, or None after answering a body `parse` refuses."""
    d = deps.get()
    request = ws_request(event)
    notifier = d.notifier(request.endpoint, context)
    try:
        message = parse(request.body)
    except DuelError as err:
        reply(notifier, request, error_frame(err, request_id_of(request.body)))
        return None
    return Route(d, request, notifier, message)
