"""`duelctl connect USER`: an interactive WebSocket client (duelctl/client/interactive.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from duelctl.app import examples, guard
from duelctl.options import EndpointsOpt, PasswordOpt, TargetOpt


def connect(
    user: Annotated[str, typer.Argument(metavar="USER", help="Connect as this user.")],
    target: TargetOpt = "local",
    endpoints: EndpointsOpt = None,
    password: PasswordOpt = None,
) -> None:
    """Open an interactive WebSocket client as USER (like wscat, but it knows the actions).

    Type [bold]invite bob[/], [bold]accept[/], [bold]reject[/], [bold]stop[/],
    [bold]ping[/], [bold]state[/], [bold]online[/] or raw JSON; incoming frames print as
    they arrive, and a countdown runs during a duel. [bold]help[/] lists commands.
    """
    import asyncio

    from duelctl.client.auth import CognitoTokens
    from duelctl.client.interactive import Interactive
    from duelctl.targets import resolve_target

    resolved = resolve_target(target, endpoints)
    tokens = CognitoTokens(resolved.endpoints, password=password)
    raise typer.Exit(asyncio.run(Interactive(resolved.endpoints, tokens, user).run()))


def register(app: typer.Typer) -> None:
    """Add `duelctl connect` to `app`."""
    app.command(
        epilog=examples(
            "duelctl connect alice",
            "printf 'ping\\nstate\\n' | duelctl connect alice",
            "DUELCTL_PASSWORD=... duelctl connect alice --target prod",
        )
    )(guard(connect))
