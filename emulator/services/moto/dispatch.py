"""One HTTP request into moto and its answer back, the way moto's own server does it.

moto's server is a Flask app per service: a werkzeug URL map from the service's
`url_paths` to handlers, each wrapped by `convert_to_flask_response`, which builds moto's
`Request` from the WSGI environ and calls `handler(request, request.raw_url, headers)`
(moto/core/utils.py). For the services on the emulator's hot path (DynamoDB, Streams,
SQS, Cognito) `Dispatcher` does the same without Flask: the same environ (as werkzeug's
server builds it), the same moto `Request` class, the service's same URL patterns and
handlers, and the same conversion of the result. The handler is moto's
`BaseResponse.dispatch`, so every request is parsed by moto's real protocol parsers.

Everything else goes through moto's Flask apps as before: other services, `/moto-api`,
and any request carrying an `Origin` header (a browser: flask-cors must answer it, as
it does with moto's own server), or one whose path no pattern matches (Flask then
answers exactly as it would have, 404 included). Two costs of that path are cut, as in
the previous server: the backend lookup per request is cached (moto lists its package
directory for each one) and flask-cors runs only for requests with an `Origin` (it
formats the headers for a debug line on every response; AWS sends CORS headers only to
browsers as well).
"""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from emulator.services.moto.httpd import HttpRequest, HttpResponse

# moto backends served without Flask. Their URL patterns do not overlap, so the first
# pattern that matches is the one werkzeug's map would pick.
FAST_BACKENDS = frozenset({"dynamodb", "dynamodbstreams", "sqs", "cognitoidp"})
_COGNITO_WELL_KNOWN = ("/.well-known/jwks.json", "/.well-known/openid-configuration")


def fast_backend(target: str, authorization: str, path: str) -> str | None:
    """The moto backend a hot-path request is for, None for any other request.

    moto's dispatcher decides from the same headers (werkzeug_app.py
    `infer_service_region_host`): X-Amz-Target's service prefix, else the SigV4 scope;
    Cognito's JWKS and OpenID documents are unsigned GETs recognized by their path.
    """
    if target:
        if target.startswith("DynamoDBStreams_"):
            return "dynamodbstreams"
        if target.startswith("DynamoDB_"):
            # moto routes the 2011 API version to a backend of its own.
            version = target.split("_", 1)[1].split(".", 1)[0]
            return "dynamodb" if version > "20111205" else None
        if target.startswith("AmazonSQS."):
            return "sqs"
        if target.startswith("AWSCognitoIdentityProviderService."):
            return "cognitoidp"
        return None
    if "/sqs/aws4_request" in authorization:
        return "sqs"
    if not authorization and path.rstrip("/").endswith(_COGNITO_WELL_KNOWN):
        return "cognitoidp"
    return None


def _wsgi_text(value: str) -> str:
    """PEP 3333's str-as-bytes form, as werkzeug's server writes it (`_wsgi_encoding_dance`)."""
    return value.encode("utf-8").decode("latin-1")


def make_environ(request: HttpRequest, server: tuple[str, int]) -> dict[str, Any]:
    """The WSGI environ werkzeug's server (moto's `MotoRequestHandler`) builds for `request`."""
    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    target = request.target
    path, _, query = target.partition("?")
    host_from_target = None
    if "://" in path:  # absolute form (RFC 9112 §3.2.2): the host comes from the URL
        _scheme, _, rest = path.partition("://")
        host_from_target, slash, tail = rest.partition("/")
        path = slash + tail
    elif path.startswith("//"):
        path = "/" + path.lstrip("/")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "duelctl-moto",
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": _wsgi_text(unquote(path)),
        "QUERY_STRING": _wsgi_text(query),
        "REQUEST_URI": _wsgi_text(target),
        "RAW_URI": _wsgi_text(target),
        "REMOTE_ADDR": request.client[0],
        "REMOTE_PORT": request.client[1],
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": request.version,
    }
    names: dict[str, str] = {}
    preserved: dict[str, list[str]] = {}
    for name, value in request.headers:
        value = value.replace("\r\n", "")
        if should_preserve_original_header_name(name):
            # moto keeps S3 metadata names with underscores (MotoRequestHandler).
            key = environ_key_for_header(name)
            names.setdefault(key, name)
            preserved.setdefault(key, []).append(value)
            continue
        if "_" in name:
            continue  # werkzeug drops these: X_Foo must not pass for X-Foo
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = f"HTTP_{key}"
            if key in environ:
                value = f"{environ[key]},{value}"
        environ[key] = value
    for key, values in preserved.items():
        if key not in environ:
            environ[key] = ",".join(values)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
    if host_from_target:
        environ["HTTP_HOST"] = host_from_target
    return environ


Route = tuple["re.Pattern[str]", Callable[..., Any]]


class Dispatcher:
    """moto's request handling for this process: direct for the hot services, else Flask."""

    def __init__(self, server: tuple[str, int], *, direct: bool = True) -> None:
        self._server = server
        # False: every request through Flask (a moto version dispatch.py was not checked
        # against, patches.CHECKED_VERSIONS).
        self.direct = direct
        self._lock = threading.Lock()
        self._routes: dict[str, list[Route]] = {}
        self._flask: Any = None
        self._request_class: Any = None

    # ------------------------------------------------------------------ set-up

    def warm(self, backends: Iterable[str]) -> None:
        """Import moto's models and build the routes of `backends` now (moto would on the
        first request to each); "flask" builds the fallback dispatcher too."""
        for name in backends:
            if name == "flask":
                self._fallback()
            elif name in FAST_BACKENDS:
                self._routes_of(name)

    def _routes_of(self, backend_name: str) -> list[Route]:
        routes = self._routes.get(backend_name)
        if routes is not None:
            return routes
        with self._lock:
            if backend_name not in self._routes:
                from moto import backends
                from moto.core import DEFAULT_ACCOUNT_ID

                # As moto's create_backend_app: any account and region resolve the URLs.
                backend = backends.get_backend(backend_name)[DEFAULT_ACCOUNT_ID]["us-east-1"]  # type: ignore[call-overload]
                self._routes[backend_name] = [
                    (re.compile(path), handler) for path, handler in backend.url_paths.items()
                ]
            return self._routes[backend_name]

    def _fallback(self) -> Any:
        if self._flask is None:
            with self._lock:
                if self._flask is None:
                    self._flask = _caching_dispatcher_class()(_backend_app)
        return self._flask

    def _request(self, environ: dict[str, Any]) -> Any:
        if self._request_class is None:
            from moto.core.request import Request

            class ServerRequest(Request):
                """moto's request type as its server makes it (werkzeug_app.BackendRequest)
                minus Flask's request mix-in, which only Flask's routing reads."""

                from_wsgi_server = True

            self._request_class = ServerRequest
        return self._request_class(environ)

    # ------------------------------------------------------------------ requests

    def handle(self, request: HttpRequest, backend_name: str | None) -> HttpResponse:
        """Answer `request`; `backend_name` from `fast_backend` (None: through Flask)."""
        environ = make_environ(request, self._server)
        if self.direct and backend_name is not None and not request.header("origin"):
            path = environ["PATH_INFO"]
            for pattern, handler in self._routes_of(backend_name):
                if pattern.fullmatch(path) or pattern.fullmatch(path.rstrip("/") or "/"):
                    return self._direct(environ, handler)
        return self._through_flask(environ)

    def _direct(self, environ: dict[str, Any], handler: Callable[..., Any]) -> HttpResponse:
        """`convert_to_flask_response` and Flask's `Response`, without the framework."""
        from botocore.exceptions import ClientError
        from moto.moto_api import recorder

        request = self._request(environ)
        try:
            recorder._record_request(request)
            result = handler(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        return to_response(status, headers, content)

    def _through_flask(self, environ: dict[str, Any]) -> HttpResponse:
        app = self._fallback()
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return HttpResponse(
            int(str(captured["status"]).split(" ", 1)[0]), list(captured["headers"]), body
        )


def to_response(status: Any, headers: Any, content: Any) -> HttpResponse:
    """A moto result as werkzeug's `Response(content, status, headers)` would send it."""
    if isinstance(status, str):
        status = int(status.split(" ", 1)[0])
    pairs = [(str(k), str(v)) for k, v in dict(headers or {}).items()]
    if not any(k.lower() == "content-type" for k, _ in pairs):
        pairs.append(("Content-Type", "text/html; charset=utf-8"))  # Flask's default
    if content is None:
        body = b""
    elif isinstance(content, bytes | bytearray):
        body = bytes(content)
    else:
        body = str(content).encode("utf-8")
    return HttpResponse(int(status), pairs, body)


def _backend_app(service: Any) -> Any:
    """moto's Flask app for `service`, with flask-cors only for browser requests."""
    from flask import request
    from moto.moto_server.werkzeug_app import create_backend_app

    app = create_backend_app(service)
    hooks = app.after_request_funcs.get(None, [])

    def only_with_origin(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def run(response: Any) -> Any:
            return hook(response) if request.headers.get("Origin") else response

        return run

    app.after_request_funcs[None] = [
        only_with_origin(h) if getattr(h, "__name__", "") == "cors_after_request" else h
        for h in hooks
    ]
    return app


def _caching_dispatcher_class() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    class CachingDispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves each host it computed."""

        def __init__(self, create_app: Callable[[Any], Any]) -> None:
            super().__init__(create_app)
            self._backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            try:
                return self._backends[host]
            except KeyError:
                backend = self._backends[host] = super().get_backend_for_host(host)
                return backend

    return CachingDispatcher


__all__ = ["FAST_BACKENDS", "Dispatcher", "fast_backend", "make_environ", "to_response"]
