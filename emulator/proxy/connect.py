"""A TLS-terminating HTTP CONNECT proxy that serves real AWS host names from local servers.

Handlers run with `HTTPS_PROXY=http://127.0.0.1:<port>` and trust the local CA (TEAM.md
decision 2). botocore, urllib3, requests and urllib all reach an `https://` URL through an
HTTPS proxy the same way: `CONNECT host:443`, then TLS inside the tunnel. This proxy answers
the CONNECT itself, terminates TLS with the leaf certificate from `certs.py`, and relays the
decrypted HTTP/1.1 bytes unchanged to a local backend picked by host name, so the backend
sees the real `Host` header (`{apiId}.execute-api.{region}.amazonaws.com`, ...).

Requests other than CONNECT (plain-HTTP proxying, `GET http://...`) get 405 with
`Allow: CONNECT`: every AWS endpoint is https, and `NO_PROXY=127.0.0.1,localhost` keeps the
local plain-HTTP endpoints off the proxy.

A CONNECT to a host the route does not claim is refused (403), or, with `passthrough`,
tunnelled to that host untouched (no TLS termination): a deployed function reaches the
internet, so a handler calling a third-party API must work locally too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Callable, Mapping

from emulator.logs import SERVICE, emit
from emulator.proxy.certs import CertPaths

Backend = tuple[str, int]
Route = Callable[[str], Backend | None]
"""host name (lower-case, no port) -> (backend host, backend port), None = refuse (403)."""

MAX_HEAD_BYTES = 64 * 1024
CHUNK = 64 * 1024

_EXECUTE_API = re.compile(r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com$")
_LAMBDA = re.compile(r"^lambda\.[a-z0-9-]+\.amazonaws\.com$")


def aws_route(http_port: int, moto_port: int | Mapping[str, int], host: str = "127.0.0.1") -> Route:
    """The emulator's routing: execute-api and Lambda hosts -> its HTTP server, other AWS
    hosts -> moto's process for that service.

    `moto_port` is `MotoServer.ports` (each service group's port; moto/groups.py maps
    `dynamodb.{region}.amazonaws.com`, `streams.dynamodb...` and `sqs.{region}...` to
    their groups) or one port for all. `lambda.{region}.amazonaws.com` is the emulator's
    own Invoke API (moto's needs Docker), for clients that call the real endpoint instead
    of following AWS_ENDPOINT_URL_LAMBDA. `cognito-idp.{region}.amazonaws.com` goes to the
    front with every other service host, so a JWKS fetched from
    `{iss}/.well-known/jwks.json` is moto's (docs/aws-behaviour.md §11).
    """
    from emulator.services.moto.groups import group_of_host

    def route(name: str) -> Backend | None:
        if _EXECUTE_API.match(name) or _LAMBDA.match(name):
            return host, http_port
        if name == "amazonaws.com" or name.endswith(".amazonaws.com"):
            if isinstance(moto_port, int):
                return host, moto_port
            return host, moto_port[group_of_host(name)]
        return None

    return route


def _status(code: int, reason: str, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {code} {reason}", *headers]
    if code != 200:
        lines += ["Content-Length: 0", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_connect_target(target: str) -> tuple[str, int] | None:
    """`host:port` of a CONNECT request line (IPv6 in brackets), None when malformed."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    host = host.strip("[]").lower().rstrip(".")
    return (host, int(port)) if host else None


class ConnectProxy:
    """CONNECT proxy on 127.0.0.1 (port 0 = free) terminating TLS with the leaf in `tls`.

    `tls` is the `CertPaths` from `ensure_certificates` (or a ready server SSLContext);
    `route` picks the backend for each CONNECT host, e.g. `aws_route(http_port, moto_port)`.
    `passthrough` tunnels other hosts to themselves, unopened (clients then need the public
    roots too: `CertPaths.trust_bundle`); without it they get 403.
    """

    def __init__(
        self,
        tls: CertPaths | ssl.SSLContext,
        route: Route,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        passthrough: bool = False,
    ) -> None:
        self._route = route
        self._passthrough = passthrough
        self._ssl = tls if isinstance(tls, ssl.SSLContext) else tls.server_context()
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """What goes into `HTTPS_PROXY`."""
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        """Listen; returns once connections are accepted."""
        self._server = await asyncio.start_server(self._on_client, self._host, self._port)
        emit(SERVICE, f"TLS proxy listening on {self.url}", port=self.port)

    async def aclose(self) -> None:
        """Stop listening and drop every open tunnel."""
        if self._server is not None:
            self._server.close()
        # Aborting both ends makes every relay see EOF and return on its own; cancelling
        # the handler tasks instead makes asyncio's stream callback log the cancellation.
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ConnectProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        backend: list[asyncio.StreamWriter] = []
        try:
            await self._tunnel(reader, writer, backend)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError) as exc:
            emit(SERVICE, f"proxy tunnel ended: {exc!r}", level=logging.DEBUG)
        finally:
            for w in (writer, *backend):
                w.close()
                self._writers.discard(w)
            if task is not None:
                self._tasks.discard(task)

    async def _tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        backend: list[asyncio.StreamWriter],
    ) -> None:
        """Answer one CONNECT and relay the tunnel; opened backend writers go in `backend`."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            writer.write(_status(431, "Request Header Fields Too Large"))
            return
        except asyncio.IncompleteReadError:
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3:
            writer.write(_status(400, "Bad Request"))
            return
        method, target, _version = parts
        if method.upper() != "CONNECT":
            writer.write(_status(405, "Method Not Allowed", "Allow: CONNECT"))
            return
        parsed = parse_connect_target(target)
        if parsed is None:
            writer.write(_status(400, "Bad Request"))
            return
        host, port = parsed
        backend_addr = self._route(host)
        terminate = backend_addr is not None
        if backend_addr is None:
            if not self._passthrough:
                emit(SERVICE, f"proxy refused CONNECT {target}", level=logging.DEBUG, host=host)
                writer.write(_status(403, "Forbidden"))
                return
            backend_addr = (host, port)  # not ours: the real host, end to end encrypted
        try:
            b_reader, b_writer = await asyncio.open_connection(*backend_addr)
        except OSError as exc:
            emit(SERVICE, f"proxy backend for {host} unreachable: {exc}", level=logging.WARNING)
            writer.write(_status(502, "Bad Gateway"))
            return
        backend.append(b_writer)
        self._writers.add(b_writer)
        writer.write(_status(200, "Connection Established"))
        await writer.drain()
        if terminate:
            await writer.start_tls(self._ssl)
        await self._relay(reader, writer, b_reader, b_writer)

    async def _relay(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        backend_r: asyncio.StreamReader,
        backend_w: asyncio.StreamWriter,
    ) -> None:
        """Pump bytes both ways until the backend side ends (or the client goes away)."""
        upstream = asyncio.create_task(_pump(client_r, backend_w))
        downstream = asyncio.create_task(_pump(backend_r, client_w))
        try:
            # The client half-closing only ends the request direction: the backend may
            # still be sending its response.
            await asyncio.wait({downstream, upstream}, return_when=asyncio.FIRST_COMPLETED)
            if upstream.done() and not downstream.done():
                await downstream
        finally:
            for pump in (upstream, downstream):
                pump.cancel()
            for pump in (upstream, downstream):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close the other side where the transport allows it."""
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, ssl.SSLError, OSError):
        return
