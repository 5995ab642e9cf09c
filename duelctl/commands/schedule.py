"""`duelctl schedule list` / `duelctl schedule fire NAME`: a local stack's schedules.

EventBridge has no "run this rule now"; locally, waiting an hour for `rate(1 hour)` to
see a handler run is no way to work, so the stack serves `GET /_duelctl/schedules` and
`POST /_duelctl/schedules/{name}/fire` on its HTTP origin (emulator/services/schedules.py)
and these commands call them. A firing started here is the same event the clock would
have sent, timed now; the command waits for the invocation and prints its outcome.
`register(app)` adds the command group to a Typer app.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from duelctl import console
from duelctl.app import guard
from duelctl.errors import EXIT_FAILED, StackNotRunning, UsageError
from duelctl.options import EndpointsOpt, JsonOpt

TIMEOUT_S = 960.0  # longer than any Lambda timeout (900 s)

NameArg = Annotated[
    str,
    typer.Argument(metavar="NAME", help="The schedule's name or logical id (see `schedule list`)."),
]


def _call(http_url: str, method: str, path: str) -> dict[str, Any]:
    """One JSON request to the local stack's management routes."""
    request = urllib.request.Request(
        f"{http_url}{path}", method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", str(exc))
        except ValueError:
            message = str(exc)
        if exc.code == 404:
            raise UsageError(message) from None
        raise StackNotRunning(f"the local stack answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StackNotRunning(
            f"the local stack does not answer at {http_url} ({exc}); start it with `duelctl up`"
        ) from None
    return body if isinstance(body, dict) else {}


def _http_url(endpoints_file: Path | None) -> str:
    """The local stack's HTTP origin from its endpoints file.

    Read directly rather than through `resolve_target`, which checks the WebSocket port:
    an app of schedules alone has no WebSocket API; `_call` reports a stack that is gone.
    """
    from duelctl.targets import LOCAL, endpoints_path, read_endpoints

    path = endpoints_file or endpoints_path(LOCAL)
    try:
        endpoints = read_endpoints(path)
    except FileNotFoundError:
        raise StackNotRunning(
            f"no local stack running (no {path}); start one with `duelctl up`"
        ) from None
    if endpoints.aws_endpoint_url is None:
        raise UsageError("schedules can be fired only on a local stack (duelctl up)")
    return endpoints.http_url


def list_schedules(endpoints: EndpointsOpt = None, json_out: JsonOpt = False) -> None:
    """List the local stack's schedules with their expressions and next firings (UTC)."""
    body = _call(_http_url(endpoints), "GET", "/_duelctl/schedules")
    schedules = body.get("schedules") or []
    if json_out:
        console.data(json.dumps({"schedules": schedules}, indent=2))
        return
    if not schedules:
        console.info("this stack has no schedules")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("name", "expression", "function", "next"):
        table.add_column(column, no_wrap=column != "name")
    for item in schedules:
        nxt = item.get("next") or ("disabled" if not item.get("enabled") else "-")
        table.add_row(item["name"], item["expression"], item["function"], nxt)
    console.out.print(table)


def fire(name: NameArg, endpoints: EndpointsOpt = None, json_out: JsonOpt = False) -> None:
    """Fire schedule NAME now: its function runs with the event the schedule would send.

    Waits for the invocation and prints its outcome; exits 1 if the function failed.
    """
    quoted = urllib.parse.quote(name, safe="")
    body = _call(_http_url(endpoints), "POST", f"/_duelctl/schedules/{quoted}/fire")
    fired = body.get("fired") or []
    if json_out:
        console.data(json.dumps({"fired": fired}, indent=2))
    else:
        for item in fired:
            console.info(
                f"{item['name']}: {item['function']} {item['outcome']} in "
                f"{item['durationMs']} ms (request {item['requestId']})"
            )
    if any(item.get("outcome") != "ok" for item in fired):
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add the `schedule` group (`list`, `fire`) to `app` ."""
    group = typer.Typer(
        name="schedule",
        help="List a local stack's schedules or fire one now.",
        no_args_is_help=True,
        add_completion=False,
    )
    group.command(
        "list",
        help="List the local stack's schedules with their expressions and next firings (UTC).",
    )(guard(list_schedules))
    group.command(
        "fire",
        help="Fire schedule NAME now and wait for its function; exit 1 if it failed.",
        epilog="Example: duelctl schedule fire HousekeepingFunctionSweep",
    )(guard(fire))
    app.add_typer(group)
