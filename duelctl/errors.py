"""Expected failures of the CLI, each carrying its exit code (style.md §8).

A `DuelctlError` is a user-facing condition (no stack, bad scenario file, token
rejected): the CLI prints `str(exc)` as one stderr line and exits with `exit_code`.
Anything else escaping a command is a bug: one line, the traceback with `--debug`.

Exit codes (documented in the README):

| code | meaning |
|---|---|
| 0 | success; every expectation held |
| 1 | an expectation failed, or a generic failure |
| 2 | usage error or bad input (options, scenario file, template, endpoints file) |
| 3 | no stack running / target unreachable / no endpoints for the target |
| 4 | authentication rejected (token refused, wrong password, unknown user on a stage) |
| 5 | the local stack cannot start (port in use, template the emulator cannot run) |
| 70 | internal error (a bug in duelctl or the emulator; rerun with --debug) |
| 130 | interrupted (Ctrl-C) |
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_STACK = 3
EXIT_AUTH = 4
EXIT_STACK_START = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class DuelctlError(Exception):
    """A failure the user can act on; rendered as one line, never a traceback."""

    exit_code: ClassVar[int] = EXIT_FAILED


class UsageError(DuelctlError):
    """Bad option values or input files."""

    exit_code = EXIT_USAGE


class ScenarioFileError(UsageError):
    """A scenario file that cannot be run; the message starts with `file:line:`."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.detail = message


class TemplateInvalid(UsageError):
    """The template (or its parameter overrides) cannot be loaded."""


class StackNotRunning(DuelctlError):
    """No local stack answers: no endpoints file, or nothing listens on its ports."""

    exit_code = EXIT_NO_STACK


class TargetUnreachable(DuelctlError):
    """The endpoints of a target exist but its servers do not answer."""

    exit_code = EXIT_NO_STACK


class AuthRejected(DuelctlError):
    """Cognito or the API refused the credentials or the token."""

    exit_code = EXIT_AUTH


class StackStartError(DuelctlError):
    """The local stack could not start (port in use, unsupported template)."""

    exit_code = EXIT_STACK_START


class ExpectationFailed(DuelctlError):
    """A scenario or simulation did not behave as expected (details already printed)."""

    exit_code = EXIT_FAILED
