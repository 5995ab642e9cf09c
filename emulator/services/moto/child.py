"""`python -m emulator.services.moto.child`: moto's processes, one per service group.

The parent (`MotoServer`) binds one listening socket per group and passes them down
(`--serve GROUP=FD`), so every URL is known before moto is even imported and requests
wait in the listen backlog meanwhile. This process imports what all groups share (moto's
core, botocore, werkzeug: most of moto's import time) once, then forks one process per
further group, which share those pages copy-on-write; each process then loads only its
own services' models, side by side on the machine's cores. Forking happens before any
thread or event loop exists.

Each process prints `serving GROUP` on stdout once its socket is served (the parent
waits for all of them), then sends stdout to stderr (moto prints now and then). All of
them end when stdin reaches EOF (the parent stopped, or died); this one waits for the
forked ones before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading

from emulator.services.moto import groups, httpd, patches
from emulator.services.moto.app import MotoApp


def _import_shared() -> None:
    """What every group needs, imported before forking (shared copy-on-write)."""
    import moto.backends
    import moto.core.request
    import moto.core.responses
    import moto.moto_api  # noqa: F401


def _serve(group: str, sock: socket.socket, relays: dict[str, tuple[str, int]]) -> None:
    """Serve `group` on `sock` until stdin closes (runs in the process it will end in)."""
    from emulator import timesync

    follower = timesync.follower_from_env()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    host, port = sock.getsockname()[:2]
    app = MotoApp(group, (host, port), relays=relays, follower=follower)

    # Before the first request (each answer is moto's either way; this way every answer
    # comes from the same code): ~10 ms once moto's core is imported.
    patches.apply(patches.BY_GROUP.get(group, ()))

    async def run() -> None:
        app.attach(loop)
        server = await httpd.serve(sock, app.handle)
        try:
            os.write(1, f"serving {group}\n".encode())
        except BrokenPipeError:
            # The parent stopped before this group served (e.g. `duelctl up` started moto
            # early and then refused the template): nothing to serve, nobody to tell.
            server.close()
            return
        os.dup2(2, 1)
        threading.Thread(target=app.warm, name=f"moto-warm-{group}", daemon=True).start()
        stopped = asyncio.Event()

        def on_stdin() -> None:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(0)
                stopped.set()

        loop.add_reader(0, on_stdin)
        await stopped.wait()
        server.close()
        await app.aclose()  # parked long polls answered now
        await asyncio.sleep(0.05)  # let their replies reach the sockets

    try:
        loop.run_until_complete(run())
    finally:
        loop.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator.services.moto.child")
    parser.add_argument(
        "--serve", action="append", required=True, metavar="GROUP=FD", help="a group and its socket"
    )
    args = parser.parse_args(argv)
    sockets: dict[str, socket.socket] = {}
    for spec in args.serve:
        group, _, fd = spec.partition("=")
        if group not in (*groups.GROUPS, "all"):
            parser.error(f"unknown group {group!r}")
        sockets[group] = socket.socket(fileno=int(fd))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("moto: %(levelname)s %(message)s"))
    log = logging.getLogger("emulator")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)

    # The front relays what the other groups serve; a lone group serves all it gets.
    addresses = {g: s.getsockname()[:2] for g, s in sockets.items()}
    relays = {g: a for g, a in addresses.items() if g != groups.DEFAULT}
    _import_shared()
    order = list(sockets)
    children: list[int] = []
    for group in order[1:]:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for other, sock in sockets.items():
                    if other != group:
                        sock.close()
                _serve(group, sockets[group], relays if group == groups.DEFAULT else {})
            except BaseException:
                logging.getLogger("emulator").exception("moto %s process failed", group)
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    first = order[0]
    for other, sock in sockets.items():
        if other != first:
            sock.close()
    try:
        _serve(first, sockets[first], relays if first == groups.DEFAULT else {})
    finally:
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
