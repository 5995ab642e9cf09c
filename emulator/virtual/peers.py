"""Frames through each WebSocket connection, keyed by the client's port.

A scenario runner waiting on virtual time tells the stack, per connection (named by its
local port, which is the gateway's peer port), how many messages it has sent and read.
The gateway counts the same from its side here, so the advancer knows exactly whether
a client has frames in flight either way: the stack never jumps while a waiting client
has unread frames or frames the stack has not read yet (docs: "Virtual time").
"""

from __future__ import annotations

from dataclasses import dataclass

# Closed connections are kept so a client can still see how one ended; past this many
# entries the closed ones are dropped (a port is reused only after its connection ends).
MAX_CLOSED = 4096


@dataclass(slots=True)
class PeerFrames:
    """One connection as the gateway sees it."""

    received: int = 0  # messages read from the client
    sent: int = 0  # messages the gateway started sending to the client
    open: bool = True  # False once the gateway started closing it, or it ended
    ended: bool = False  # the connection is gone (its `$disconnect` has started)


@dataclass(frozen=True, slots=True)
class ClientConnection:
    """One connection as a waiting client reports it."""

    port: int
    sent: int  # messages the client has sent
    received: int  # messages the client has read
    open: bool = True  # False once the client saw it close (or closed it)


class PeerTable:
    """`port -> PeerFrames` for one gateway; `opened` replaces any older entry."""

    def __init__(self) -> None:
        self._by_port: dict[int, PeerFrames] = {}
        self._closed = 0

    def opened(self, port: int) -> PeerFrames:
        frames = PeerFrames()
        self._by_port[port] = frames
        return frames

    def closed(self, frames: PeerFrames) -> None:
        """The connection ended (the transport reported it lost)."""
        if frames.ended:
            return
        frames.open = False
        frames.ended = True
        self._closed += 1
        if self._closed > MAX_CLOSED:
            self._by_port = {p: f for p, f in self._by_port.items() if not f.ended}
            self._closed = 0

    def get(self, port: int) -> PeerFrames | None:
        return self._by_port.get(port)


def news_for(conn: ClientConnection, peer: PeerFrames | None) -> bool:
    """Whether the stack has something for this client to read: a frame, or a close."""
    if peer is None:
        return False
    return peer.sent > conn.received or (conn.open and not peer.open)


def settled(conn: ClientConnection, peer: PeerFrames | None) -> str | None:
    """Why frames are still in flight on this connection; None when there are none."""
    if peer is None:
        return None
    if peer.received < conn.sent:
        return f"port {conn.port}: the stack has not read {conn.sent - peer.received} frame(s)"
    if peer.sent > conn.received:
        return f"port {conn.port}: the client has not read {peer.sent - conn.received} frame(s)"
    if conn.open and not peer.open:
        return f"port {conn.port}: the client has not seen the stack's close yet"
    if not conn.open and not peer.ended:
        return f"port {conn.port}: the stack has not seen the client's close yet"
    return None


__all__ = ["ClientConnection", "PeerFrames", "PeerTable", "news_for", "settled"]
