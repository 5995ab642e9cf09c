"""A run that fails or is interrupted ends the sessions its users are still in.

Otherwise a failed `simulate alice bob --scenario timeout` against a stack with
10-minute duels leaves alice and bob inside a duel, and the next run meets `user_busy`.
Each user does what a person would: asks `state` (on an open socket, else a fresh one),
stops its active duels, withdraws its own pending invites (`stop`) and declines the ones
addressed to it (`response` with accept false). Best effort, on either clock: a failure
here is noted in the timeline and never hides the scenario's own.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from duelctl.client.auth import Identity
from duelctl.client.ws import DuelSocket, Frame
from duelctl.scenario.results import StepFailed

if TYPE_CHECKING:
    from duelctl.scenario.engine import ScenarioRunner

CLEANUP_ID = "duelctl-cleanup"
CLEANUP_WAIT_S = 5.0  # stack seconds to wait for each answer


async def end_sessions(runner: ScenarioRunner) -> None:
    """End every session the scenario's users are still in, as they would themselves.

    Each user asks `state` (on an open socket, else a fresh one) and then stops its
    active duels and withdraws its own pending invites (`stop`), and declines the ones
    addressed to it (`response` with accept false). Best effort: a failure here must
    not hide the scenario's own.
    """
    for user, identity in runner.identities.items():
        try:
            await _end_sessions_of(runner, user, identity)
        except Exception as exc:  # a closed socket, an unreachable stack, a refusal
            runner.record(user, "note", f"could not end {user}'s sessions: {exc}")


async def _end_sessions_of(runner: ScenarioRunner, user: str, identity: Identity) -> None:
    sock = next(
        (s for c, s in runner.sockets.items() if c.split("#")[0] == user and s.is_open), None
    )
    if sock is None:
        try:
            sock = await runner.open_connection(None, f"{user}#cleanup", identity.token)
        except StepFailed:
            return
    state = await _ask(runner, sock, {"action": "state", "requestId": CLEANUP_ID}, "state")
    if state is None:
        return
    sessions = state.get("sessions")
    for session in sessions if isinstance(sessions, list) else []:
        if not isinstance(session, dict):
            continue
        session_id = session.get("sessionId")
        status = session.get("status")
        if status == "pending" and session.get("userB") == identity.user_id:
            body: dict[str, Any] = {
                "action": "response",
                "sessionId": session_id,
                "accept": False,
            }
            ends = "rejected"
        elif status in ("pending", "active"):
            body, ends = {"action": "stop", "sessionId": session_id}, "stop"
        else:
            continue
        runner.record(user, "note", f"ending {status} session {session_id} ({body['action']})")
        await _ask(runner, sock, body, ends, session_id=session_id)


async def _ask(
    runner: ScenarioRunner,
    sock: DuelSocket,
    body: dict[str, Any],
    frame_type: str,
    *,
    session_id: object = None,
) -> dict[str, Any] | None:
    """Send `body` and wait for its answer (a frame of `frame_type`, or an error)."""
    text = json.dumps(body, separators=(",", ":"))
    await runner.send_text(sock, text)
    runner.record(sock.name, "send", text, body)

    def answer(frame: Frame) -> bool:
        data = frame.data or {}
        if data.get("type") == "error":
            return data.get("requestId") == body.get("requestId") or session_id is not None
        if data.get("type") != frame_type:
            return False
        return session_id is None or data.get("sessionId") == session_id

    deadline = runner.time.now() + CLEANUP_WAIT_S
    while sock.is_open:
        frame = runner.take(sock, answer)
        if frame is not None:
            return frame.data if frame.type == frame_type else None
        if runner.time.now() >= deadline:
            return None
        await runner.wait_until(deadline)
    return None


__all__ = ["CLEANUP_ID", "CLEANUP_WAIT_S", "end_sessions"]
