"""The endpoints file model: round trips, the named table keys, and files of older writers."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from duelctl_endpoints import NAMED_TABLE_OUTPUTS, Endpoints

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "target": "local",
    "region": "us-east-1",
    "stage": "local",
    "websocket_url": "ws://127.0.0.1:1/local",
    "management_url": "http://127.0.0.1:2/local",
    "http_url": "http://127.0.0.1:2",
}


def test_a_written_file_reads_back_the_same(tmp_path: Path) -> None:
    endpoints = Endpoints(**BASE, aws_endpoint_url="http://127.0.0.1:3", tables={"T": "t-1"})
    path = tmp_path / ".duelctl" / "local.json"
    endpoints.write(path)
    assert Endpoints.from_json(json.loads(path.read_text())) == endpoints
    assert not list(path.parent.glob("*.tmp"))


def test_named_table_outputs_fill_the_keys_older_readers_know() -> None:
    """`tables` is the generic map; the duel backend's two tables keep their own keys."""
    endpoints = Endpoints(
        **BASE, tables={"ConnectionsTableName": "c", "SessionsTableName": "s", "Scores": "x"}
    )
    data = endpoints.to_json()
    assert (data["connections_table"], data["sessions_table"]) == ("c", "s")
    assert data["tables"] == {"ConnectionsTableName": "c", "SessionsTableName": "s", "Scores": "x"}
    given = Endpoints(**BASE, connections_table="mine", tables={"ConnectionsTableName": "c"})
    assert given.connections_table == "mine"  # an explicit value wins
    named = Endpoints(**BASE, sessions_table="s")
    assert named.tables == {"SessionsTableName": "s"}  # and is a table like any other


def test_a_file_from_before_tables_gets_them_from_its_named_keys() -> None:
    data = {**BASE, "connections_table": "c", "sessions_table": "s", "unknown": 1}
    endpoints = Endpoints.from_json(data)
    assert endpoints.tables == {"ConnectionsTableName": "c", "SessionsTableName": "s"}
    assert Endpoints.from_json({**BASE}).tables == {}


@pytest.mark.parametrize("missing", ["target", "region", "stage", "websocket_url", "http_url"])
def test_a_file_without_a_required_key_is_refused(missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        Endpoints.from_json({k: v for k, v in BASE.items() if k != missing})


def test_the_documented_keys_are_the_model_fields() -> None:
    """docs/protocol.md's example file names only keys the model reads and writes."""
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    section = protocol.split("## Local stack endpoints file", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert example is not None
    documented = set(json.loads(example.group(1)))
    model = {f.name for f in fields(Endpoints)}
    assert documented <= model and set(NAMED_TABLE_OUTPUTS.values()) <= documented
    assert "tables" in documented
