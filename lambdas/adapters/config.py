"""Handler settings from the environment template.yaml gives every function (Globals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from duel.machine import Timing


@dataclass(frozen=True, slots=True)
class Config:
    region: str
    connections_table: str
    sessions_table: str
    timer_queue_url: str
    management_url: str  # @connections endpoint for functions without a WebSocket event
    user_pool_id: str
    user_pool_client_id: str
    timing: Timing
    connection_ttl_s: int

    @property
    def issuer(self) -> str:
        """The pool's `iss` claim (docs/aws-behaviour.md §11): the AWS URL, never an override."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        """Read the variables of template.yaml's Globals; KeyError names a missing one.

        AWS: Lambda sets AWS_REGION for every function (docs/aws-behaviour.md §13).
        """
        return cls(
            region=env.get("AWS_REGION") or env["AWS_DEFAULT_REGION"],
            connections_table=env["CONNECTIONS_TABLE"],
            sessions_table=env["SESSIONS_TABLE"],
            timer_queue_url=env["TIMER_QUEUE_URL"],
            management_url=env["WEBSOCKET_MANAGEMENT_URL"],
            user_pool_id=env["USER_POOL_ID"],
            user_pool_client_id=env["USER_POOL_CLIENT_ID"],
            timing=Timing(
                invite_timeout_s=int(env["INVITE_TIMEOUT_SECONDS"]),
                duel_s=int(env["DUEL_SECONDS"]),
                start_lead_s=int(env["START_LEAD_SECONDS"]),
            ),
            connection_ttl_s=int(env["CONNECTION_TTL_SECONDS"]),
        )
