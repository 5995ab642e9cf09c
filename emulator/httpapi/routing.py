"""HTTP API route selection: `GET /online`, `ANY`, `{param}`, `{proxy+}` and `$default`.

Pure functions, no I/O. AWS (API Gateway dev guide, "Working with routes for HTTP APIs"):
the most specific route wins: a full match on route and method, then a route with a
greedy path variable, then `$default`. Here a literal segment beats `{param}`, which beats
`{proxy+}`, compared left to right, and an exact method beats `ANY` on an equal path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import unquote

from emulator.template.model import HttpRoute

DEFAULT_ROUTE_KEY = "$default"

_LITERAL, _PARAM, _GREEDY = 2, 1, 0


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route a request selected, with its decoded path parameters."""

    route: HttpRoute
    route_key: str  # "GET /online" or "$default", as the event's routeKey
    path_parameters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def is_default_route(route: HttpRoute) -> bool:
    """True for the catch-all `$default` route (either field may carry the key)."""
    return DEFAULT_ROUTE_KEY in (route.path, route.method)


def route_key(route: HttpRoute) -> str:
    """The route key AWS reports: `"GET /online"`, `"ANY /{proxy+}"` or `"$default"`."""
    if is_default_route(route):
        return DEFAULT_ROUTE_KEY
    return f"{route.method.upper()} {route.path}"


def split_path(raw_path: str) -> list[str]:
    """Decoded segments of a raw path; an encoded `/` (`%2F`) stays inside its segment."""
    path = raw_path.split("?", 1)[0]
    return [unquote(part) for part in path.lstrip("/").split("/")]


def _match_segments(
    pattern: Sequence[str], segments: Sequence[str]
) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match one route path against request segments; (specificity, params) or None."""
    score: list[int] = []
    params: dict[str, str] = {}
    for index, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            # A greedy variable must be last and takes at least one non-empty segment.
            if index != len(pattern) - 1 or not rest or rest == [""]:
                return None
            params[part[1:-2]] = "/".join(rest)
            score.append(_GREEDY)
            return tuple(score), params
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not segments[index]:
                return None
            params[part[1:-1]] = segments[index]
            score.append(_PARAM)
        elif part == segments[index]:
            score.append(_LITERAL)
        else:
            return None
    if len(segments) != len(pattern):
        return None
    return tuple(score), params


def match_route(routes: Iterable[HttpRoute], method: str, path: str) -> RouteMatch | None:
    """Select the route for `method` and the stage-relative raw `path`; None = 404.

    `$default` only catches what no other route matched.
    """
    segments = split_path(path)
    method = method.upper()
    best: tuple[tuple[tuple[int, ...], int], RouteMatch] | None = None
    default: HttpRoute | None = None
    for route in routes:
        if is_default_route(route):
            default = default or route
            continue
        route_method = route.method.upper()
        if route_method not in (method, "ANY"):
            continue
        matched = _match_segments(split_path(route.path), segments)
        if matched is None:
            continue
        score, params = matched
        rank = (score, 1 if route_method == method else 0)
        if best is None or rank > best[0]:
            best = (rank, RouteMatch(route, route_key(route), MappingProxyType(params)))
    if best is not None:
        return best[1]
    if default is not None:
        return RouteMatch(default, DEFAULT_ROUTE_KEY)
    return None
