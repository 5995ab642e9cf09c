"""What the @connections API needs from the WebSocket gateway.

The HTTP layer (emulator/management/http.py) parses requests and maps errors; the
gateway (emulator/gateway/server.py) owns the sockets and implements `ConnectionPort`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    connected_at_ms: int
    last_active_at_ms: int
    source_ip: str
    user_agent: str | None


class ConnectionPort(Protocol):
    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """Send `data` as one text message. Raises Gone, PayloadTooLarge (> 128 KB)."""
        ...

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        """Raises Gone for unknown, closed or still-connecting ids."""
        ...

    async def delete_connection(self, connection_id: str) -> None:
        """Close the socket (1000) so $disconnect fires. Raises Gone."""
        ...
