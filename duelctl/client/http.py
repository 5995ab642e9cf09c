"""`GET {http_url}/online` with a Bearer token (docs/protocol.md, "HTTP").

One request per call, so the standard library does it: `duelctl online` then starts
without importing an HTTP client framework. Local stacks are reached directly (never
through a proxy from the environment); stages as the environment says (HTTPS_PROXY).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from duelctl.errors import AuthRejected, TargetUnreachable

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def get_online(http_url: str, token: str, *, timeout_s: float = 15.0) -> list[dict[str, Any]]:
    """Blocking: the users online except the caller, as the API lists them.

    401/403 means the API rejected the token (AuthRejected); no answer, or an answer
    that is not a user list, means the target is unreachable.
    """
    import urllib.error
    import urllib.request

    url = http_url.rstrip("/") + "/online"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    handlers = [urllib.request.ProxyHandler({})] if _is_local(http_url) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout_s) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TargetUnreachable(f"cannot reach {url} ({type(exc).__name__}: {reason})") from None
    if status in (401, 403):
        raise AuthRejected(f"{url} rejected the token (HTTP {status}: {text.strip()[:200]})")
    if status != 200:
        raise TargetUnreachable(f"{url} answered HTTP {status}: {text.strip()[:200]}")
    try:
        users = json.loads(text)["users"]
    except (ValueError, KeyError, TypeError):
        raise TargetUnreachable(f"{url} answered something that is not a user list") from None
    if not isinstance(users, list):
        raise TargetUnreachable(f"{url} answered something that is not a user list")
    return [u for u in users if isinstance(u, dict)]


async def fetch_online(
    http_url: str, token: str, *, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """`get_online` for async callers (`connect`), off the event loop."""
    return await asyncio.to_thread(get_online, http_url, token, timeout_s=timeout_s)


def _is_local(url: str) -> bool:
    return urlsplit(url).hostname in _LOOPBACK
