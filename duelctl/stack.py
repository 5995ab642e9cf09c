"""Which stack a client command runs against: a running one, or an embedded one it starts.

`simulate` and `run` need no prior `duelctl up`: when no local stack answers they start
an ephemeral one in a thread (its own event loop, style.md §10) with the scenario's
parameters, and stop it afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from duelctl import console
from duelctl.errors import StackStartError, TemplateInvalid, UsageError
from duelctl.logview import emulator_logs
from duelctl.targets import LOCAL, Target, default_template, local_stack_running, resolve_target

# Fast but valid timers for embedded stacks (template.yaml MinValues are 1, 1, 0).
FAST_PARAMETERS = {"InviteTimeoutSeconds": "2", "DuelSeconds": "5", "StartLeadSeconds": "1"}


def load_template_checked(path: Path, overrides: Mapping[str, str]) -> Any:
    """`emulator.template.load.load_template`, with template problems as TemplateInvalid."""
    from emulator.template.errors import TemplateError
    from emulator.template.load import find_template, load_template

    if path.is_dir():  # an app directory: its template.yaml, else template.yml
        try:
            path = find_template(path)
        except TemplateError as exc:
            raise TemplateInvalid(f"{path}: {exc}") from None
    if not path.is_file():
        raise TemplateInvalid(f"{path}: no such template file")

    try:
        return load_template(path, dict(overrides))
    except TemplateError as exc:  # its message names the resource and what to do
        raise TemplateInvalid(f"{path}: {exc}") from None
    except OSError as exc:
        raise TemplateInvalid(f"{path}: {exc}") from None


def parse_overrides_checked(values: list[str]) -> dict[str, str]:
    """SAM CLI's --parameter-overrides forms -> {name: value}; bad input is a UsageError."""
    from emulator.template.errors import TemplateError
    from emulator.template.load import parse_overrides

    try:
        return dict(parse_overrides(values))
    except TemplateError as exc:
        raise UsageError(f"--parameter-overrides: {exc}") from None


def start_error(exc: OSError, port: int) -> StackStartError:
    if exc.errno == errno.EADDRINUSE:
        where = f"port {port}" if port else "a port"
        return StackStartError(
            f"{where} is already in use; pick another with --port (0 = any free port)"
        )
    return StackStartError(f"the local stack could not start: {exc}")


@contextlib.contextmanager
def embedded_stack(
    parameters: Mapping[str, str], template: Path | None = None, *, verbose: bool = False
) -> Iterator[Target]:
    """Start an ephemeral local stack in a thread; yield it as a Target; stop it after."""
    from emulator.runtime import EmulatorOptions, run_in_thread

    path = template or default_template()
    loaded = load_template_checked(path, parameters)
    shown = " ".join(f"{k}={v}" for k, v in parameters.items()) or "template defaults"
    console.info(f"starting an embedded stack ({shown}) ...")
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            emulator_logs(console.err, level=logging.INFO if verbose else logging.WARNING)
        )
        try:
            endpoints = stack.enter_context(
                run_in_thread(loaded, options=EmulatorOptions(port=0, http_port=0, reload=False))
            )
        except OSError as exc:
            raise start_error(exc, 0) from None
        yield Target(
            name="embedded",
            endpoints=endpoints,
            path=None,
            parameters={str(k): str(v) for k, v in loaded.parameters.items()},
            embedded=True,
        )


def wants_embedded(target: str, endpoints_file: Path | None, embedded: bool) -> bool:
    """Whether to start an embedded stack: asked for, or local and none answers here."""
    if embedded:
        if endpoints_file is not None or target != LOCAL:
            raise UsageError(
                "--embedded starts a local stack; it cannot be combined with --target/--endpoints"
            )
        return True
    return endpoints_file is None and target == LOCAL and not local_stack_running()


def running_target(target: str, endpoints_file: Path | None) -> Target:
    """The running stack named by --target/--endpoints (raises if none answers)."""
    resolved = resolve_target(target, endpoints_file)
    console.info(f"using {resolved.name} stack ({resolved.path})")
    return resolved
