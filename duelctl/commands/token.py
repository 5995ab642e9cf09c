"""`duelctl token USER`: one line on stdout, a fresh JWT (docs/protocol.md)."""

from __future__ import annotations

from pathlib import Path

from duelctl.client.auth import CognitoTokens
from duelctl.targets import resolve_target


def run_token(user: str, *, target: str, password: str | None, endpoints: Path | None) -> str:
    """A fresh ID token for `user` on the target (created on first use when local)."""
    resolved = resolve_target(target, endpoints)
    return CognitoTokens(resolved.endpoints, password=password).token(user)
