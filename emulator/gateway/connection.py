"""What the gateway's rules talk about: the deployed API, the opening-handshake request
as the client sent it, and what is remembered about an open connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.template.model import WebSocketApi


@dataclass(frozen=True, slots=True)
class Deployment:
    """A WebSocket API deployed to one stage in one account and region."""

    api: WebSocketApi
    region: str
    account_id: str

    @property
    def domain_name(self) -> str:
        return self.api.domain_name(self.region)

    @property
    def method_arn(self) -> str:
        """The ARN a REQUEST authorizer's policy must cover (docs/aws-behaviour.md §4)."""
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:"
            f"{self.api.api_id}/{self.api.stage}/$connect"
        )


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """The opening-handshake request as the client sent it.

    `target` is the raw request target (path plus optional `?query`); `headers` keep the
    client's order and casing, repeats included.
    """

    target: str
    headers: tuple[tuple[str, str], ...]
    source_ip: str

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query_string(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), or None."""
        found = None
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                found = value
        return found


@dataclass(slots=True)
class Connection:
    """What the gateway remembers about one WebSocket connection."""

    id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    last_active_at_ms: int
    # requestContext.authorizer: principalId + context + integrationLatency (docs/aws-behaviour.md
    # §4)
    authorizer: Mapping[str, Any] | None = None

    def identity(self) -> dict[str, str]:
        # AWS: userAgent only if the client sent one (docs/aws-behaviour.md §1, observed).
        identity = {"sourceIp": self.source_ip}
        if self.user_agent is not None:
            identity["userAgent"] = self.user_agent
        return identity
