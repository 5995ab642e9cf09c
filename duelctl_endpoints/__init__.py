"""The endpoints file of a running stack: the keys of `.duelctl/<target>.json`
(docs/protocol.md, "Local stack endpoints file").

Two producers write it, `duelctl up` (the emulator, from its template model) and `duelctl
deploy` (from a CloudFormation stack's Outputs), and every client command reads it, so a
command works against either. That makes the file a contract between the emulator and the
CLI, and this package holds it on its own: it imports neither, so the deploy code reads
and writes endpoints without importing the emulator, and the emulator writes them
without importing the CLI (tests/test_layering.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Outputs that name the duel backend's tables are also written under the keys readers of
# the first files know (docs/protocol.md). Any other table output is in `tables` only.
NAMED_TABLE_OUTPUTS = {
    "ConnectionsTableName": "connections_table",
    "SessionsTableName": "sessions_table",
}


@dataclass(frozen=True, slots=True)
class Endpoints:
    target: str  # "local" or the stage name
    region: str
    stage: str
    websocket_url: str  # ws://127.0.0.1:WS_PORT/local or wss://{api}.execute-api.../{stage}
    management_url: str  # endpoint_url for boto3's apigatewaymanagementapi
    http_url: str  # base of the HTTP API (GET /online)
    aws_endpoint_url: str | None = None  # local AWS API (moto); None for a deployed stage
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    # Filled from `tables` when not given (NAMED_TABLE_OUTPUTS).
    connections_table: str | None = None
    sessions_table: str | None = None
    # Local stacks: "real" or "virtual" (README "Virtual time"), and the clock control
    # API's URL (`GET` it for the stack's time); None for a deployed stage.
    clock: str | None = None
    clock_url: str | None = None
    # Fault mode (README "Fault mode"): {"spec", "seed", "counts", "url"}; `url` answers
    # the current counts (the file's are those at start). None without fault mode.
    faults: dict[str, Any] | None = None
    # Every table an Output of the template names: {output key: table name}.
    tables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Keep the named table keys and `tables` in step, whichever was given."""
        tables = dict(self.tables)  # a plain dict, for JSON
        for output, name in NAMED_TABLE_OUTPUTS.items():
            if getattr(self, name) is None and output in tables:
                object.__setattr__(self, name, tables[output])
            elif getattr(self, name) is not None:
                tables.setdefault(output, getattr(self, name))
        object.__setattr__(self, "tables", tables)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Endpoints:
        """Build from a parsed endpoints file; unknown keys are ignored, missing ones are None.

        A file written before `tables` existed gets it from its named table keys.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {name: data.get(name) for name in known}
        for required in ("target", "region", "stage", "websocket_url", "http_url"):
            if not isinstance(values.get(required), str):
                raise ValueError(f"endpoints file lacks {required!r}")
        if values.get("management_url") is None:
            values["management_url"] = ""
        tables = values.get("tables")
        values["tables"] = (
            {str(k): str(v) for k, v in tables.items()} if isinstance(tables, dict) else {}
        )
        return cls(**values)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)  # readers never see a half-written file


__all__ = ["NAMED_TABLE_OUTPUTS", "Endpoints"]
