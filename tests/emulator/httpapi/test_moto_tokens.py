"""Real moto Cognito tokens pass the JWT authorizer with keys fetched from moto's JWKS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from emulator.clock import SYSTEM_CLOCK
from emulator.httpapi.authorizer import JwtError, authorize
from emulator.httpapi.keys import JwksKeyProvider
from emulator.local_auth import sign_in_local_user
from emulator.template.model import JwtAuthorizer

PASSWORD = "Passw0rd!x"


@dataclass
class Pool:
    moto_url: str
    pool_id: str
    client_id: str
    id_token: str
    access_token: str


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """A moto server with one pool, one app client and alice's tokens."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    try:
        pool_id = cognito.create_user_pool(PoolName="duel-users")["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="duel-client",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
        )["UserPoolClient"]["ClientId"]
        tokens = sign_in_local_user(cognito, pool_id, client_id, "alice", password=PASSWORD)
        yield Pool(url, pool_id, client_id, tokens["IdToken"], tokens["AccessToken"])
    finally:
        cognito.close()
        server.stop()


def config(pool: Pool, audience: str) -> JwtAuthorizer:
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    return JwtAuthorizer("CognitoJwt", "$request.header.Authorization", issuer, (audience,))


async def test_moto_id_and_access_tokens_pass(pool: Pool) -> None:
    """Both token kinds pass: the ID token by aud, the access token by client_id."""
    keys = JwksKeyProvider.for_local_pools(pool.moto_url, {pool.pool_id})
    cfg = config(pool, pool.client_id)
    now = SYSTEM_CLOCK.now()
    id_claims = await authorize(cfg, {"authorization": pool.id_token}, keys, now=now)
    assert (id_claims["token_use"], id_claims["cognito:username"]) == ("id", "alice")
    headers = {"authorization": f"Bearer {pool.access_token}"}
    access_claims = await authorize(cfg, headers, keys, now=now)
    assert (access_claims["token_use"], access_claims["username"]) == ("access", "alice")
    assert keys.fetches == 1


async def test_moto_token_for_another_audience_fails(pool: Pool) -> None:
    """A token checked against another app client's id is refused."""
    keys = JwksKeyProvider.for_local_pools(pool.moto_url)
    with pytest.raises(JwtError) as info:
        await authorize(
            config(pool, "someotherclient"),
            {"authorization": pool.access_token},
            keys,
            now=SYSTEM_CLOCK.now(),
        )
    assert info.value.description == "the token does not have a valid audience"
