"""Tokens for the bench's users: created in a local pool, or signed in on a stage.

Local: each bench user is new (the run's random prefix), so it is created straight away
(emulator.local_auth.sign_in_local_user with `new=True`: three calls, no failed sign-in
first), from a few threads at once. Stage: `CognitoTokens` signs each
user in with the password, creating missing users when the caller's AWS credentials
allow it; or the names come from a prepared list (`--users FILE`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from duelctl.client.auth import CognitoTokens, Identity, identity_of
from duelctl.errors import AuthRejected, TargetUnreachable, UsageError
from duelctl_endpoints import Endpoints

LOCAL_THREADS = 8
STAGE_CONCURRENCY = 4  # Cognito's InitiateAuth quota is per account; stay polite


def bench_names(count: int, prefix: str | None = None) -> list[str]:
    """`bench-<6 hex>-0001`, ...: fresh names per run, so runs never share users."""
    run = prefix or f"bench-{secrets.token_hex(3)}"
    return [f"{run}-{i:04d}" for i in range(1, count + 1)]


def read_user_list(path: Path) -> list[tuple[str, str | None]]:
    """A prepared user list: one `username` or `username password` per line; `#` comments."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"--users {path}: {exc}") from None
    users: list[tuple[str, str | None]] = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise UsageError(f"{path}:{number}: expected 'username [password]'")
        users.append((words[0], words[1] if len(words) == 2 else None))
    return users


def local_cognito_client(endpoints: Endpoints) -> Any:
    """A Cognito client for the local pool, shared by the bench's user threads."""
    from emulator.local_auth import local_cognito

    url = endpoints.aws_endpoint_url or ""
    return local_cognito(url, endpoints.region, own_session=True, connections=LOCAL_THREADS)


def create_local_user(client: Any, endpoints: Endpoints, username: str) -> Identity:
    """Create `username` in the local pool with the local password; return its identity."""
    from emulator.local_auth import LocalAuthError, sign_in_local_user

    pool, app = endpoints.user_pool_id or "", endpoints.user_pool_client_id or ""
    try:
        tokens = sign_in_local_user(client, pool, app, username, new=True)
    except LocalAuthError as exc:
        raise AuthRejected(f"the local pool issued no token for {username!r}: {exc}") from None
    return identity_of(tokens["IdToken"])


async def local_identities(
    endpoints: Endpoints,
    names: Sequence[str],
    *,
    on_done: Callable[[int], None] | None = None,
) -> list[Identity]:
    """Create `names` in the local pool (a few threads at once); identities in order."""
    if not endpoints.user_pool_id or not endpoints.user_pool_client_id:
        raise UsageError("the local stack's endpoints name no Cognito user pool/client")
    from botocore.exceptions import BotoCoreError, ClientError

    client = await asyncio.to_thread(local_cognito_client, endpoints)
    loop = asyncio.get_running_loop()
    done = 0

    def one(name: str) -> Identity:
        return create_local_user(client, endpoints, name)

    with concurrent.futures.ThreadPoolExecutor(LOCAL_THREADS, "bench-users") as pool:
        futures = [loop.run_in_executor(pool, one, name) for name in names]
        try:
            for future in asyncio.as_completed(futures):
                await future
                done += 1
                if on_done is not None:
                    on_done(done)
        except ClientError as exc:
            raise AuthRejected(f"the local pool refused a bench user: {exc}") from None
        except BotoCoreError as exc:
            raise TargetUnreachable(f"cannot reach the local Cognito: {exc}") from None
        finally:
            for future in futures:
                future.cancel()
    return [f.result() for f in futures]


async def stage_identities(
    endpoints: Endpoints,
    users: Sequence[tuple[str, str | None]],
    *,
    password: str | None,
    on_done: Callable[[int], None] | None = None,
) -> list[Identity]:
    """Sign `users` in on a stage (a few at once); a per-user password beats `password`."""
    sources: dict[str | None, CognitoTokens] = {}
    limit = asyncio.Semaphore(STAGE_CONCURRENCY)
    done = 0

    async def one(name: str, own: str | None) -> Identity:
        nonlocal done
        secret = own if own is not None else password
        source = sources.get(secret)
        if source is None:
            source = sources[secret] = CognitoTokens(endpoints, password=secret)
        async with limit:
            identity = await source.identity(name)
        done += 1
        if on_done is not None:
            on_done(done)
        return identity

    return list(await asyncio.gather(*(one(name, own) for name, own in users)))
