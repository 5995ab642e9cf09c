"""HTTP API route selection: most specific route wins, `$default` catches the rest."""

from __future__ import annotations

from emulator.httpapi.routing import match_route, route_key, split_path
from emulator.template.model import HttpRoute

ONLINE = HttpRoute("GET", "/online", "OnlineFunction", None)
ANY_ONLINE = HttpRoute("ANY", "/online", "AnyOnline", None)
USER = HttpRoute("GET", "/users/{userId}", "UserFunction", None)
USER_ME = HttpRoute("GET", "/users/me", "MeFunction", None)
PROXY = HttpRoute("ANY", "/files/{proxy+}", "FilesFunction", None)
DEFAULT = HttpRoute("ANY", "$default", "DefaultFunction", None)


def test_exact_route_matches_with_its_key() -> None:
    """`GET /online` selects its route and reports routeKey "GET /online"."""
    match = match_route([ONLINE], "GET", "/online")
    assert match is not None
    assert (match.route, match.route_key, dict(match.path_parameters)) == (
        ONLINE,
        "GET /online",
        {},
    )


def test_method_must_match_unless_any() -> None:
    """POST /online misses a GET route but an ANY route takes it."""
    assert match_route([ONLINE], "POST", "/online") is None
    match = match_route([ONLINE, ANY_ONLINE], "POST", "/online")
    assert match is not None and match.route is ANY_ONLINE


def test_exact_method_beats_any() -> None:
    """On the same path the route with the exact method wins over ANY."""
    match = match_route([ANY_ONLINE, ONLINE], "GET", "/online")
    assert match is not None and match.route is ONLINE


def test_literal_beats_parameter_and_params_are_decoded() -> None:
    """`/users/me` beats `/users/{userId}`; other ids fill the decoded parameter."""
    me = match_route([USER, USER_ME], "GET", "/users/me")
    assert me is not None and me.route is USER_ME
    other = match_route([USER, USER_ME], "GET", "/users/al%20ice")
    assert other is not None and other.route is USER
    assert dict(other.path_parameters) == {"userId": "al ice"}


def test_greedy_takes_the_rest_but_not_nothing() -> None:
    """`{proxy+}` captures one or more segments and never an empty rest."""
    match = match_route([PROXY], "DELETE", "/files/a/b/c.txt")
    assert match is not None
    assert match.route_key == "ANY /files/{proxy+}"
    assert dict(match.path_parameters) == {"proxy": "a/b/c.txt"}
    assert match_route([PROXY], "GET", "/files") is None
    assert match_route([PROXY], "GET", "/files/") is None


def test_default_only_catches_unmatched_requests() -> None:
    """`$default` gets what no other route matches; without it there is no match."""
    routes = [DEFAULT, ONLINE]
    online = match_route(routes, "GET", "/online")
    assert online is not None and online.route is ONLINE
    other = match_route(routes, "PUT", "/anything/else")
    assert other is not None
    assert (other.route, other.route_key) == (DEFAULT, "$default")
    assert match_route([ONLINE], "GET", "/offline") is None


def test_parameter_segment_must_not_be_empty() -> None:
    """`/users/` does not match `/users/{userId}`."""
    assert match_route([USER], "GET", "/users/") is None


def test_route_key_and_split_path() -> None:
    """Route keys read like AWS's; encoded slashes stay inside a segment."""
    assert route_key(PROXY) == "ANY /files/{proxy+}"
    assert route_key(DEFAULT) == "$default"
    assert split_path("/a%2Fb/c?q=1") == ["a/b", "c"]
