"""The front's relay: a request for another group's service, passed on as it came.

Clients that know one AWS endpoint only (the endpoints file's `aws_endpoint_url`, the
aws CLI's `--endpoint-url`, a browser calling Cognito) reach the front process; a
DynamoDB or SQS request there is written unchanged (method, target, headers, body; the
SigV4 signature stays valid, the Host header is kept) to its group's process over a
kept-alive connection, and the answer is sent back unchanged. Handlers never pay for
the hop: they reach each group directly (`groups.py`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from emulator.services.moto.httpd import HttpRequest, HttpResponse, Reply

# Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's own, not the request's.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
MAX_IDLE = 16  # kept-alive connections per group
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Relay:
    """Forwards requests to the processes of the groups in `targets` ({group: (host, port)})."""

    def __init__(self, targets: Mapping[str, tuple[str, int]]) -> None:
        self._targets = dict(targets)
        self._idle: dict[str, list[Connection]] = {group: [] for group in targets}
        self._tasks: set[asyncio.Task[None]] = set()

    def serves(self, group: str) -> bool:
        """True if requests for `group` go to another process."""
        return group in self._targets

    def forward(self, group: str, request: HttpRequest, reply: Reply) -> None:
        """Relay `request` to `group`'s process; `reply` gets its answer (or a 502)."""
        task = asyncio.get_running_loop().create_task(self._forward(group, request, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for connections in self._idle.values():
            for _reader, writer in connections:
                writer.close()
            connections.clear()

    async def _forward(self, group: str, request: HttpRequest, reply: Reply) -> None:
        try:
            try:
                response = await self._exchange(group, request, reuse=True)
            except _Stale:
                # The kept-alive connection had been closed before it carried anything:
                # the request never arrived, so sending it again on a new one is safe.
                response = await self._exchange(group, request, reuse=False)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            body = json.dumps({"message": f"moto {group} process unreachable: {e!r}"})
            response = HttpResponse(502, [("Content-Type", "application/json")], body.encode())
        reply(response)

    async def _exchange(self, group: str, request: HttpRequest, *, reuse: bool) -> HttpResponse:
        idle = self._idle[group]
        reused = reuse and bool(idle)
        if reused:
            reader, writer = idle.pop()
        else:
            reader, writer = await asyncio.open_connection(*self._targets[group])
        try:
            head = [f"{request.method} {request.target} HTTP/1.1"]
            head += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
            head.append(f"Content-Length: {len(request.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body)
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                nothing = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                if reused and nothing:
                    raise _Stale from exc
                raise
            status_line, headers = _parse_head(raw)
            status = int(status_line.split(" ", 2)[1])
            lower = {k.lower(): v for k, v in headers}
            length = 0 if request.method == "HEAD" or status in (204, 304) else None
            if length is None:
                length = int(lower.get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
        except BaseException:
            writer.close()
            raise
        if "close" in lower.get("connection", "").lower() or len(idle) >= MAX_IDLE:
            writer.close()
        else:
            idle.append((reader, writer))
        return HttpResponse(status, headers, body)


class _Stale(Exception):
    """A reused connection turned out closed before any answer began."""


def _parse_head(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    if not lines[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP response: {lines[0][:40]!r}")
    return lines[0], headers


__all__ = ["Relay"]
