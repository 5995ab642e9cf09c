"""One Lambda execution environment: import a handler once, then serve invokes one at a time.

`process.py` starts this file as a script (`python -u bootstrap.py FD HANDLER CODE_ROOT ARN
[HIDDEN_PATH...]`), never imports it. It is the local stand-in for AWS's Python runtime
(awslambdaric): the handler module is the only user code in the process, so this file uses
the standard library only and nothing from the emulator package; keeping imports few keeps
a cold start close to the interpreter's own start-up.

Channel to the parent: the socket inherited as FD, frames of a 4-byte big-endian length
and a body whose first byte is a tag:

- parent -> worker: `{"id": request id, "ms": timeout in ms, "event": event}` (JSON, no tag)
- worker -> parent: `r` + `{"init_ms", "python"}` once init is done (even if it failed),
  `o` + the handler's JSON result, `e` + AWS's error object.

stdout and stderr belong to the handler (AWS sends both to CloudWatch Logs); the parent
reads them from a pipe and files each line under the invocation that was running.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# Packages of the emulator itself: a handler must not be able to import them, as in AWS.
HIDDEN_PACKAGES = ("emulator", "duelctl")
# Error types of AWS's Python runtime (docs/aws-behaviour.md §13).
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MARSHAL_ERROR = "Runtime.MarshalError"
SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
BUILTIN_CONFLICT = "Runtime.BuiltInModuleConflict"

_request_id = [""]  # the running invocation's id, for the log records' prefix


class RuntimeFault(Exception):
    """A failure the runtime reports with its own errorType (import, handler lookup)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class LambdaContext:
    """The `context` argument as AWS's Python runtime builds it (docs/aws-behaviour.md §13)."""

    def __init__(self, request_id: str, deadline: float, arn: str) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = arn
        # AWS: a string, not an int (docs/aws-behaviour.md §13).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the parent kills this invocation, never below 0."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(message)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id[0]
        return True


def _install_log_handler() -> None:
    """Give the root logger a handler in AWS's text format; the root level stays WARNING.

    AWS: the runtime attaches a handler to the root logger before importing the handler
    module, so `logger.info` shows up once the handler lowers the level; lines look like
    `[INFO]\\t2026-01-01T00:00:00.000Z\\t<request id>\\tmessage`.
    """
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def _isolate(code_root: str, hidden: list[str]) -> None:
    """Make `code_root` the first and only project directory on sys.path.

    Drops this file's directory, the working directory and the emulator's own source
    root, and an editable-install finder that would still resolve the emulator packages.
    Modules under the code root compile from source on every import (see `_FreshSource`).
    """

    def norm(path: str) -> str:
        return os.path.normcase(os.path.abspath(path))

    root = norm(code_root)
    drop = {norm(os.path.dirname(__file__)), norm(os.getcwd()), *map(norm, hidden), root}
    sys.path[:] = [code_root] + [p for p in sys.path if p and norm(p) not in drop]
    for finder in list(sys.meta_path):
        # setuptools' editable installs put a finder (module "__editable___<dist>_finder")
        # on sys.meta_path that maps package names straight to the source tree.
        if getattr(finder, "__module__", "").startswith("__editable__"):
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is not None and any(find_spec(p, None) for p in HIDDEN_PACKAGES):
                sys.meta_path.remove(finder)
    _install_fresh_source_hook(root)


def _install_fresh_source_hook(root: str) -> None:
    from importlib import machinery

    class _FreshSource(machinery.SourceFileLoader):
        """Compile from source, ignoring __pycache__.

        A .pyc is trusted when the source's size and whole-second mtime match, so an edit
        of the same length within the second after the last import would run stale code
        after a hot reload. Handler code is small; compiling it per cold start is cheap,
        and nothing is written into the user's tree.
        """

        def get_code(self, fullname: str) -> Any:
            path = self.get_filename(fullname)
            return self.source_to_code(self.get_data(path), path)

    loaders: list[tuple[Any, list[str]]] = [
        (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (_FreshSource, machinery.SOURCE_SUFFIXES),
        (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
    ]

    def hook(path: str) -> machinery.FileFinder:
        full = os.path.normcase(os.path.abspath(path))
        if full != root and not full.startswith(root + os.sep):
            raise ImportError("not under the code root")
        return machinery.FileFinder(path, *loaders)

    sys.path_hooks.insert(0, hook)
    sys.path_importer_cache.clear()


def _user_frames(tb: Any) -> list[str]:
    """Format a traceback as awslambdaric's stackTrace: user frames only."""
    import traceback

    frames = [
        f
        for f in traceback.extract_tb(tb)
        if f.filename != __file__ and not f.filename.startswith("<frozen importlib")
    ]
    return traceback.format_list(frames)


def _load_handler(spec: str) -> Callable[[Any, LambdaContext], Any]:
    """Import the handler module and look the function up, raising AWS's faults."""
    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise RuntimeFault(
            MALFORMED_HANDLER,
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        )
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise RuntimeFault(
            BUILTIN_CONFLICT, f"Cannot use built-in module {module_name} as a handler module"
        )
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeFault(
            IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise RuntimeFault(
            SYNTAX_ERROR, f"Syntax error in module '{module_name}': {exc}", trace
        ) from exc
    try:
        handler = getattr(module, attr)
    except AttributeError:
        raise RuntimeFault(
            HANDLER_NOT_FOUND, f"Handler '{attr}' missing on module '{module_name}'"
        ) from None
    return handler


def _json_default(value: Any) -> Any:
    """Encode Decimal as a JSON number, as AWS's runtime does (DynamoDB hands out Decimals)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return float(value)
        return int(value) if value.as_tuple().exponent == 0 else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error_object(exc: BaseException, request_id: str) -> dict[str, Any]:
    if isinstance(exc, RuntimeFault):
        return {
            "errorMessage": exc.message,
            "errorType": exc.error_type,
            "requestId": request_id,
            "stackTrace": exc.trace,
        }
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": _user_frames(exc.__traceback__),
    }


def _log_error(error: dict[str, Any]) -> None:
    """Write the error to the log stream the way AWS's runtime does, with the traceback."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.append("".join(error["stackTrace"]).rstrip("\n"))
    sys.stderr.write("\n".join(lines) + "\n")


class Channel:
    """Length-prefixed frames over the inherited socket; blocking, one request at a time."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)

    def send(self, tag: bytes, body: bytes) -> None:
        self.sock.sendall((len(body) + 1).to_bytes(4, "big") + tag + body)

    def receive(self) -> bytes | None:
        header = self._read(4)
        return None if header is None else self._read(int.from_bytes(header, "big"))

    def _read(self, size: int) -> bytes | None:
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            n = self.sock.recv_into(view[got:])
            if n == 0:
                return None  # the parent is gone: end this environment
            got += n
        return bytes(buf)


def _trace_id() -> str:
    # AWS: the runtime sets _X_AMZN_TRACE_ID for each invocation (docs/aws-behaviour.md §13).
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled=0"


def _invoke(
    handler: Callable[[Any, LambdaContext], Any], request: dict[str, Any], arn: str
) -> tuple[bytes, bytes]:
    request_id = request["id"]
    _request_id[0] = request_id
    os.environ["_X_AMZN_TRACE_ID"] = _trace_id()
    context = LambdaContext(request_id, time.monotonic() + request["ms"] / 1000, arn)
    try:
        result = handler(request["event"], context)
    except Exception as exc:
        error = _error_object(exc, request_id)
        _log_error(error)
        return b"e", json.dumps(error).encode()
    try:
        return b"o", json.dumps(result, default=_json_default, ensure_ascii=False).encode()
    except (TypeError, ValueError, OverflowError) as exc:
        error = {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": MARSHAL_ERROR,
            "requestId": request_id,
            "stackTrace": [],
        }
        _log_error(error)
        return b"e", json.dumps(error).encode()


# ---------------------------------------------------------------------- virtual clock
#
# A `--clock virtual` stack names a clock file in DUELCTL_CLOCK_FILE: 8 bytes, one
# little-endian double, the seconds virtual time is ahead of real time. Before init and
# before each invoke the worker moves its own clock to match with time-machine, which
# patches time.time, datetime.now and friends at the C level, so the handler reads the
# stack's time without knowing it. The emulator only moves the offset while no invocation
# is in flight. This is a copy of emulator/timesync.py `Follower.sync` (this file may not
# import the emulator); the variable is removed so the handler never sees it.

CLOCK_FILE_ENV = "DUELCTL_CLOCK_FILE"


class _ClockFollower:
    def __init__(self, path: str) -> None:
        import mmap

        fd = os.open(path, os.O_RDONLY)
        try:
            self._map = mmap.mmap(fd, 8, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self._applied = 0.0
        self._traveller: Any = None

    def sync(self) -> None:
        import struct

        offset = struct.unpack_from("<d", self._map)[0]
        if offset == self._applied:
            return
        # time_machine imports pytest when it can, for its test helpers only: 80 ms per
        # worker. Hidden during the import (and only then) when the handler has not
        # imported it itself.
        hidden = "pytest" not in sys.modules
        if hidden:
            sys.modules["pytest"] = None  # type: ignore[assignment]
        try:
            import time_machine
        finally:
            if hidden:
                del sys.modules["pytest"]

        if self._traveller is None:
            # Started once from real time; later changes shift it, so process time stays
            # real time + offset without reading real time again. time-machine ticks from
            # the first read, not from start(): read at once, then remove the lag.
            traveller = time_machine.travel(time.time() + offset, tick=True).start()
            virtual = time.time()
            traveller.shift(time_machine.escape_hatch.time.time() + offset - virtual)
            self._traveller = traveller
        else:
            self._traveller.shift(offset - self._applied)
        self._applied = offset


def _clock_follower() -> Callable[[], None]:
    """What to call before init and each invoke: follow the stack's clock, or nothing."""
    path = os.environ.pop(CLOCK_FILE_ENV, "")
    if not path:
        return lambda: None
    return _ClockFollower(path).sync


def main(argv: list[str]) -> None:
    fd, handler_spec, code_root, arn = int(argv[0]), argv[1], argv[2], argv[3]
    sys.argv[:] = [sys.argv[0]]  # AWS's runtime passes the handler no arguments
    started = time.perf_counter()
    follow_clock = _clock_follower()
    _isolate(code_root, argv[4:])
    channel = Channel(fd)
    _install_log_handler()
    init_error: dict[str, Any] | None = None
    follow_clock()
    try:
        handler = _load_handler(handler_spec)
    except Exception as exc:
        init_error = _error_object(exc, "")
        _log_error(init_error)
    info = {
        "init_ms": (time.perf_counter() - started) * 1000,
        "python": "{}.{}.{}".format(*sys.version_info[:3]),
        "failed": init_error is not None,
    }
    channel.send(b"r", json.dumps(info).encode())
    while True:
        frame = channel.receive()
        if frame is None:
            return
        request = json.loads(frame)
        if init_error is not None:
            # AWS: a failed init is reported to the invoke and the environment is reset,
            # so the next invoke imports the module again (docs/aws-behaviour.md §13).
            init_error["requestId"] = request["id"]
            channel.send(b"e", json.dumps(init_error).encode())
            return
        follow_clock()
        tag, body = _invoke(handler, request, arn)
        sys.stdout.flush()
        sys.stderr.flush()
        channel.send(tag, body)


# ---------------------------------------------------------------------- fork server
#
# `python -u bootstrap.py --zygote CTL_FD MODULE...` is the runner's fork server: an
# interpreter that imports MODULEs (boto3: ~270 modules, most of a cold start) once and
# then forks a worker per request. The fork becomes exactly what a fresh
# `python -u bootstrap.py FD ...` would be: its own session and process group, the
# function's environment (`os.environ` replaced, `time.tzset()`), working directory,
# stdout/stderr on the output pipe, only the channel left open, and this same module as
# `__main__`; `main` then isolates sys.path and imports the handler as usual. Only the
# pre-imported, handler-independent libraries are shared (copy-on-write), which is the
# point: a cold start costs the handler's own import, and workers share their pages.
#
# CTL_FD is a SOCK_SEQPACKET socket to the runner; every message is one JSON object:
# - zygote -> runner: {"ready", "added", "failed", "python"} once the imports are done
#   (`added`: top-level modules now loaded that a fresh worker would not have yet, so
#   the runner can avoid the fork server for a code root that ships its own copy);
#   {"id", "pid"} for each fork; {"exit": pid, "code"} when a worker ends (exit status
#   as subprocess reports it: negative for a signal).
# - runner -> zygote: {"id", "env", "cwd", "args"} with two file descriptors attached
#   (the worker's channel socket and the write end of its output pipe).

ZYGOTE_FLAG = "--zygote"


def _top_level_modules() -> set[str]:
    return {name.partition(".")[0] for name in list(sys.modules)}


def _preload(names: list[str]) -> list[str]:
    """Import `names`; return those that failed (a worker imports them itself, or fails as
    it would have anyway)."""
    import importlib

    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


def _send_json(ctl: socket.socket, body: dict[str, Any]) -> None:
    ctl.send(json.dumps(body).encode())


def _reap_children(ctl: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send_json(ctl, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _serve_forks(ctl: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """Fork on request until the runner hangs up (None); in a fork, return its request."""
    import select
    import signal

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    while True:
        ready, _, _ = select.select([ctl.fileno(), wake_r], [], [])
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
            _reap_children(ctl)
        if ctl.fileno() not in ready:
            continue
        message, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 4)
        if not message:
            return None  # the runner is gone; its workers end when their channels close
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
            ctl.close()
            return request, fds
        for fd in fds:
            os.close(fd)
        _send_json(ctl, {"id": request["id"], "pid": pid})
        _reap_children(ctl)


def _become_worker(request: dict[str, Any], fds: list[int], startup_env: dict[str, str]) -> int:
    """Turn this fork into a fresh worker's process; return the channel's descriptor.

    `startup_env` is what the interpreter itself added to the zygote's environment while
    starting (PEP 538 locale coercion sets LC_CTYPE when LANG names a locale the system
    lacks); a fresh worker's interpreter adds the same, the runner forks only for
    functions whose locale variables equal the zygote's.
    """
    channel_fd, output_fd = fds
    os.setsid()  # own session and process group, as `start_new_session=True` gives
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    if output_fd > 2:
        os.close(output_fd)
    os.closerange(3, channel_fd)
    os.closerange(channel_fd + 1, 1 << 16)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for key, value in startup_env.items():
        os.environ.setdefault(key, value)
    time.tzset()  # TZ is read at start-up; the fork started with the zygote's
    return channel_fd


def zygote(argv: list[str]) -> None:
    """Pre-import `argv[1:]`, then fork workers on request (see above)."""
    ctl = socket.socket(fileno=int(argv[0]))
    # Started without LC_CTYPE (forkserver.py), so one here came from the interpreter.
    startup_env = {k: os.environ[k] for k in ("LC_CTYPE",) if k in os.environ}
    before = _top_level_modules()
    failed = _preload(argv[1:])
    added = sorted(_top_level_modules() - before)
    import gc

    gc.collect()
    gc.freeze()  # keep the collector from touching (and so copying) shared pages
    _send_json(
        ctl,
        {
            "ready": True,
            "added": added,
            "failed": failed,
            "python": "{}.{}.{}".format(*sys.version_info[:3]),
        },
    )
    forked = _serve_forks(ctl)
    if forked is None:
        return
    request, fds = forked
    channel_fd = _become_worker(request, fds, startup_env)
    main([str(channel_fd), *request["args"]])


if __name__ == "__main__":
    if sys.argv[1:2] == [ZYGOTE_FLAG]:
        zygote(sys.argv[2:])
    else:
        main(sys.argv[1:])
