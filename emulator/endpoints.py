"""The endpoints of a running stack: the keys of `.duelctl/<target>.json` (docs/protocol.md).

Local stacks and deployed stages publish the same keys, so every client command works
against either.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Endpoints:
    target: str  # "local" or the stage name
    region: str
    stage: str
    websocket_url: str  # ws://127.0.0.1:WS_PORT/local or wss://{api}.execute-api.../{stage}
    management_url: str  # endpoint_url for boto3's apigatewaymanagementapi
    http_url: str  # base of the HTTP API (GET /online)
    aws_endpoint_url: str | None  # local AWS API (moto); None for a deployed stage
    user_pool_id: str | None
    user_pool_client_id: str | None
    connections_table: str | None
    sessions_table: str | None
    # Local stacks: "real" or "virtual" (README "Virtual time"), and the clock control
    # API's URL (`GET` it for the stack's time); None for a deployed stage.
    clock: str | None = None
    clock_url: str | None = None
    # Fault mode (README "Fault mode"): {"spec", "seed", "counts", "url"}; `url` answers
    # the current counts (the file's are those at start). None without fault mode.
    faults: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoints:
        """Build from a parsed endpoints file; unknown keys are ignored, missing ones are None."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {name: data.get(name) for name in known}
        for required in ("target", "region", "stage", "websocket_url", "http_url"):
            if not isinstance(values.get(required), str):
                raise ValueError(f"endpoints file lacks {required!r}")
        if values.get("management_url") is None:
            values["management_url"] = ""
        return cls(**values)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)  # readers never see a half-written file
