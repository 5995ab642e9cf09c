"""`GET /_duelctl/faults` on the stack's HTTP origin: the fault mode's current counts.

The endpoints file's `faults.url` names this route (README "Fault mode"). It answers
`{"spec", "seed", "counts"}` with counts fetched fresh from moto, so a client always sees
what has fired so far; `?connection=ID` (repeatable) adds `"disconnects": {ID: "ran" |
"dropped" | null}`, what became of those connections' `$disconnect` (the invariant
checker's question). A stack without fault mode answers 404 with a one-line message.
"""

from __future__ import annotations

import json

from aiohttp import web

from emulator.faults.plan import ROUTE, FaultPlan

NOT_ENABLED = "this stack runs without fault mode; start it with --faults SPEC (or --faults none)"


class FaultsApi:
    """Serves ROUTE for one stack (`plan` None: fault mode is off)."""

    def __init__(self, plan: FaultPlan | None) -> None:
        self._plan = plan

    @staticmethod
    def matches(raw_path: str) -> bool:
        return raw_path.split("?", 1)[0].rstrip("/") == ROUTE

    async def handle(self, request: web.Request) -> web.Response:
        if request.method != "GET":
            return _json(405, {"message": "use GET"})
        if self._plan is None:
            return _json(404, {"message": NOT_ENABLED})
        await self._plan.refresh()
        body = self._plan.summary()
        wanted = request.query.getall("connection", [])
        if wanted:
            body["disconnects"] = self._plan.disconnects(wanted)
        return _json(200, body)


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


__all__ = ["NOT_ENABLED", "FaultsApi"]
