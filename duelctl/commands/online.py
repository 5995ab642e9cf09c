"""`duelctl online`: who is connected, as a table or JSON (duelctl/client/online.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from duelctl import console
from duelctl.app import examples, guard
from duelctl.options import EndpointsOpt, JsonOpt, PasswordOpt, TargetOpt


def online(
    target: TargetOpt = "local",
    as_user: Annotated[
        str | None,
        typer.Option("--as", help="Who asks (default: env DUELCTL_USER; locally 'duelctl')."),
    ] = None,
    json_out: JsonOpt = False,
    endpoints: EndpointsOpt = None,
    password: PasswordOpt = None,
) -> None:
    """List the users online (GET /online with a Bearer token), as a table or JSON."""
    import json

    from duelctl.client.online import online_table, run_online

    users = run_online(target=target, as_user=as_user, password=password, endpoints=endpoints)
    if json_out:
        console.data(json.dumps({"users": users}, indent=2))
    elif not users:
        console.info("nobody else is online")
    else:
        console.out.print(online_table(users))


def register(app: typer.Typer) -> None:
    """Add `duelctl online` to `app`."""
    app.command(
        epilog=examples(
            "duelctl online",
            "duelctl online --json | jq -r '.users[].username'",
            "DUELCTL_PASSWORD=... duelctl online --target prod --as alice",
        )
    )(guard(online))
