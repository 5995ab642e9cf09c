"""`GET {http_url}/online` with a Bearer token (protocol.md, "HTTP")."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from duelctl.errors import AuthRejected, TargetUnreachable


async def fetch_online(
    http_url: str, token: str, *, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """The users online except the caller, as the API lists them.

    401 means the API rejected the token (AuthRejected); no answer means the target is
    unreachable.
    """
    url = http_url.rstrip("/") + "/online"
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, trust_env=not _is_local(http_url)) as session,
            session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp,
        ):
            text = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TargetUnreachable(f"cannot reach {url} ({type(exc).__name__}: {exc})") from None
    if status in (401, 403):
        raise AuthRejected(f"{url} rejected the token (HTTP {status}: {text.strip()[:200]})")
    if status != 200:
        raise TargetUnreachable(f"{url} answered HTTP {status}: {text.strip()[:200]}")
    try:
        body = json.loads(text)
        users = body["users"]
    except (ValueError, KeyError, TypeError):
        raise TargetUnreachable(f"{url} answered something that is not a user list") from None
    if not isinstance(users, list):
        raise TargetUnreachable(f"{url} answered something that is not a user list")
    return [u for u in users if isinstance(u, dict)]


def _is_local(url: str) -> bool:
    return "//127.0.0.1" in url or "//localhost" in url
