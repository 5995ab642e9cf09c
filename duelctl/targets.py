"""Where a command finds the stack it talks to: targets, endpoints files and templates.

A target is `local` (the stack `duelctl up` runs, described by `.duelctl/local.json`
in the working directory) or a stage name (`.duelctl/STAGE.json`, written by
`duelctl deploy`). `--endpoints FILE` names the file directly. Both kinds of file hold
the same keys (docs/protocol.md, "Local stack endpoints file"), so every client command
works against either.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duelctl
from duelctl.errors import StackNotRunning, TargetUnreachable, UsageError
from duelctl_endpoints import Endpoints

LOCAL = "local"
ENDPOINTS_DIR = ".duelctl"
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # template.yaml StageName AllowedPattern


def endpoints_path(target: str, cwd: Path | None = None) -> Path:
    """`.duelctl/<target>.json` under `cwd` (default: the working directory)."""
    if not _STAGE_NAME.match(target):
        raise UsageError(f"bad target {target!r}: use 'local' or a stage name ([A-Za-z0-9_-]+)")
    return (cwd or Path.cwd()) / ENDPOINTS_DIR / f"{target}.json"


def stack_info_path(endpoints_file: Path) -> Path:
    """The side file `duelctl up` writes next to `local.json`: parameters and pid.

    The endpoints file keeps exactly the protocol's keys; what only duelctl needs (the
    stack's resolved parameters, to warn when a scenario expects others) lives here.
    """
    return endpoints_file.with_name(endpoints_file.stem + ".stack.json")


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved target: its endpoints and, for a local stack, what `up` recorded."""

    name: str
    endpoints: Endpoints
    path: Path | None  # the endpoints file, None for an embedded stack
    parameters: dict[str, str] | None  # the stack's template parameters, when known
    embedded: bool = False

    @property
    def is_local(self) -> bool:
        return self.endpoints.aws_endpoint_url is not None


def read_endpoints(path: Path) -> Endpoints:
    """Parse an endpoints file; a malformed one is a usage error naming the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable endpoints file ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not an endpoints file (expected a JSON object)")
    try:
        return Endpoints.from_json(data)
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None


def read_stack_info(endpoints_file: Path) -> dict[str, Any]:
    """What `up` recorded next to the endpoints file, or {} when there is nothing."""
    try:
        data = json.loads(stack_info_path(endpoints_file).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve_target(target: str = LOCAL, endpoints_file: Path | None = None) -> Target:
    """Find the endpoints of `target`; raise StackNotRunning/TargetUnreachable if none.

    A local target must also answer: an endpoints file left behind by a stack that
    died is reported as "no stack running", not as a connection error later.
    """
    if endpoints_file is not None:
        path = endpoints_file
        if not path.exists():
            raise UsageError(f"endpoints file {path} does not exist")
    else:
        path = endpoints_path(target)
        if not path.exists():
            if target == LOCAL:
                raise StackNotRunning(
                    f"no local stack running (no {ENDPOINTS_DIR}/local.json here); "
                    "start one with `duelctl up`"
                )
            if target.lower() == LOCAL:  # stage names are case-sensitive; "local" is not one
                raise UsageError(f"unknown target {target!r}; did you mean 'local'?")
            close = _close_match(target, known_targets(path.parent))
            advice = (
                f"did you mean {close!r}?"
                if close
                else f"deploy it with `duelctl deploy --stage {target}` or pass --endpoints FILE"
            )
            raise TargetUnreachable(
                f"no endpoints for stage {target!r} ({ENDPOINTS_DIR}/{target}.json missing); "
                + advice
            )
    endpoints = read_endpoints(path)
    info = read_stack_info(path)
    params = info.get("parameters")
    resolved = Target(
        name=endpoints.target,
        endpoints=endpoints,
        path=path,
        parameters={str(k): str(v) for k, v in params.items()}
        if isinstance(params, dict)
        else None,
    )
    if resolved.is_local and not answers(endpoints.websocket_url):
        if endpoints_file is None and target == LOCAL:
            raise StackNotRunning(
                f"no local stack running ({path} is left over from a stack that stopped; "
                f"nothing listens on {_host_port(endpoints.websocket_url)}); "
                "start one with `duelctl up`"
            )
        raise TargetUnreachable(
            f"{endpoints.target}: nothing listens on {_host_port(endpoints.websocket_url)} "
            f"(from {path})"
        )
    return resolved


def known_targets(directory: Path) -> list[str]:
    """The targets that have an endpoints file in `directory` (.duelctl/)."""
    try:
        names = [p.stem for p in directory.glob("*.json") if not p.stem.endswith(".stack")]
    except OSError:
        return []
    return sorted(n for n in names if _STAGE_NAME.match(n))


def _close_match(name: str, candidates: list[str]) -> str | None:
    """The candidate `name` is most likely a misspelling of, if any."""
    import difflib

    same = [c for c in candidates if c.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


def local_stack_running(cwd: Path | None = None) -> bool:
    """Whether `.duelctl/local.json` exists here and its WebSocket port answers."""
    path = endpoints_path(LOCAL, cwd)
    try:
        endpoints = read_endpoints(path)
    except (FileNotFoundError, UsageError):
        return False
    return answers(endpoints.websocket_url)


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def answers(url: str, timeout_s: float = 0.5) -> bool:
    """Whether a TCP connection to the host and port of `url` is accepted right now."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


BACKEND_DIR = "_backend"  # inside the installed package: template.yaml + lambdas/ (setup.py)


def bundled_template() -> Path:
    """The duel backend's template.yaml shipped with duelctl.

    A built wheel carries it as package data, `duelctl/_backend/template.yaml` beside
    `lambdas/` (copied there by setup.py, so `CodeUri: lambdas/` resolves); a checkout
    or an editable install uses the repository's own `template.yaml` next to the
    package. One function owns this lookup.
    """
    package = Path(duelctl.__file__).resolve().parent
    installed = package / BACKEND_DIR / "template.yaml"
    return installed if installed.is_file() else package.parent / "template.yaml"


def default_template(cwd: Path | None = None) -> Path:
    """./template.yaml (or template.yml) when present, else the bundled duel backend."""
    here = cwd or Path.cwd()
    for name in ("template.yaml", "template.yml"):
        candidate = here / name
        if candidate.is_file():
            return candidate
    return bundled_template()


def write_local_endpoints(
    endpoints: Endpoints, parameters: dict[str, str], template: Path, cwd: Path | None = None
) -> Path:
    """Write `.duelctl/local.json` (and its side file) for a running `duelctl up`."""
    path = endpoints_path(LOCAL, cwd)
    info = {"pid": os.getpid(), "template": str(template), "parameters": parameters}
    side = stack_info_path(path)
    side.parent.mkdir(parents=True, exist_ok=True)
    tmp = side.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(side)
    endpoints.write(path)  # last: readers treat local.json as "the stack is ready"
    return path


def remove_local_endpoints(path: Path) -> None:
    """Remove the endpoints file and its side file; missing files are fine."""
    for p in (path, stack_info_path(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
