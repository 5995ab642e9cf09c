"""Who is connected (`duelctl online`, `online` in `duelctl connect`): GET /online as a
user of the target, shown as a table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duelctl.client.auth import CognitoTokens
from duelctl.client.http import get_online
from duelctl.errors import UsageError
from duelctl.targets import resolve_target

if TYPE_CHECKING:
    from rich.table import Table

DEFAULT_LOCAL_OBSERVER = "duelctl"  # a local user that asks; it is never listed itself


def run_online(
    *, target: str, as_user: str | None, password: str | None, endpoints: Path | None
) -> list[dict[str, Any]]:
    """GET /online as `as_user` (else DUELCTL_USER, else a local observer that is never
    listed); a stage needs to be told who asks."""
    resolved = resolve_target(target, endpoints)
    user = as_user or os.environ.get("DUELCTL_USER")
    if not user:
        if not resolved.is_local:
            raise UsageError(
                f"on stage {resolved.name!r} say who asks: --as USER (or set DUELCTL_USER)"
            )
        user = DEFAULT_LOCAL_OBSERVER
    token = CognitoTokens(resolved.endpoints, password=password).token(user)
    return get_online(resolved.endpoints.http_url, token)


def online_table(users: list[dict[str, Any]]) -> Table:
    """The users as a table: name, status (coloured), user id."""
    from rich.table import Table

    table = Table(title=f"{len(users)} online", title_justify="left")
    table.add_column("username", style="bold")
    table.add_column("status")
    table.add_column("userId", style="dim")
    colours = {"idle": "green", "invited": "yellow", "in_duel": "red"}
    for user in users:
        status = str(user.get("status", ""))
        table.add_row(
            str(user.get("username", "")),
            f"[{colours.get(status, 'white')}]{status}[/]",
            str(user.get("userId", "")),
        )
    return table
