"""`duelctl token USER`: one line on stdout, a fresh JWT (docs/protocol.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duelctl import console
from duelctl.app import examples, guard
from duelctl.options import EndpointsOpt, PasswordOpt, TargetOpt


def run_token(user: str, *, target: str, password: str | None, endpoints: Path | None) -> str:
    """A fresh ID token for `user` on the target (created on first use when local)."""
    from duelctl.client.auth import CognitoTokens
    from duelctl.targets import resolve_target

    resolved = resolve_target(target, endpoints)
    return CognitoTokens(resolved.endpoints, password=password).token(user)


def token(
    user: Annotated[str, typer.Argument(metavar="USER", help="Username.")],
    target: TargetOpt = "local",
    password: PasswordOpt = None,
    endpoints: EndpointsOpt = None,
) -> None:
    """Print one line: a fresh JWT (ID token) for USER.

    On a local stack the user is created on first use. On a stage, USER signs in with
    --password (or DUELCTL_PASSWORD); a missing user is created when your AWS
    credentials allow it.
    """
    console.data(run_token(user, target=target, password=password, endpoints=endpoints))


def register(app: typer.Typer) -> None:
    """Add `duelctl token` to `app`."""
    wscat = 'npx wscat -c "$(jq -r .websocket_url .duelctl/local.json)'
    wscat += '?token=$(duelctl token alice)"'
    app.command(
        epilog=examples(
            "duelctl token alice", wscat, "DUELCTL_PASSWORD=... duelctl token alice --target prod"
        )
    )(guard(token))
