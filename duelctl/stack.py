"""Which stack a client command runs against: a running one, or an embedded one it starts.

`simulate` and `run` need no prior `duelctl up`: when no local stack answers they start
an ephemeral one in a thread (its own event loop, style.md §10) with the scenario's
parameters, and stop it afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from duelctl import console
from duelctl.errors import ScenarioFileError, StackStartError, TemplateInvalid, UsageError
from duelctl.logview import authorizer_functions, emulator_logs
from duelctl.targets import LOCAL, Target, default_template, local_stack_running, resolve_target

# Fast but valid timers for real-clock embedded stacks (template.yaml MinValues are 1, 1,
# 0); the invite timeout leaves a loaded machine time to answer. A virtual-clock stack
# keeps the template's own timers instead (duelctl/scenario/play.py).
FAST_PARAMETERS = {"InviteTimeoutSeconds": "5", "DuelSeconds": "5", "StartLeadSeconds": "1"}


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


def declared_parameters(path: Path) -> list[str]:
    """The parameter names a template declares (its `Parameters:` keys), in order."""
    from emulator.template.errors import TemplateError
    from emulator.template.load import find_template
    from emulator.template.yaml_tags import load_yaml

    try:
        if path.is_dir():
            path = find_template(path)
        document = load_yaml(path.read_text(), str(path))
    except (TemplateError, OSError) as exc:
        raise TemplateInvalid(f"{path}: {exc}") from None
    declared = document.get("Parameters") if isinstance(document, dict) else None
    return [str(name) for name in declared] if isinstance(declared, dict) else []


def check_scenario_parameters(scenarios: Iterable[Any], template: Path | None) -> None:
    """Refuse a scenario whose `parameters:` names one the template does not declare.

    The mistake is the scenario's, so the error names its file and the key's line (not
    the template, whose loader would otherwise be the one to complain), with the nearest
    declared name. Runs before any stack starts.
    """
    import difflib

    path = template or default_template()
    declared: list[str] | None = None
    for scenario in scenarios:
        if not scenario.parameters:
            continue
        if declared is None:
            declared = declared_parameters(path)
        for key in scenario.parameters:
            if key in declared:
                continue
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioFileError(
                scenario.path,
                _parameter_line(scenario.path, scenario.line, key),
                f"unknown parameter {key!r}{hint}; the template ({path.name}) declares "
                + ", ".join(declared),
            )


def _parameter_line(file: str, document_line: int, key: str) -> int:
    """The line of `key` under `parameters:` in the scenario document starting at
    `document_line`; the document's line when the file cannot be read again."""
    import yaml

    try:
        documents = list(yaml.compose_all(Path(file).read_text()))
    except (OSError, yaml.YAMLError):
        return document_line
    for document in documents:
        if not isinstance(document, yaml.MappingNode):
            continue
        if document.start_mark.line + 1 != document_line:
            continue
        for name, value in document.value:
            if name.value == "parameters" and isinstance(value, yaml.MappingNode):
                for param, _ in value.value:
                    if param.value == key:
                        return int(param.start_mark.line) + 1
    return document_line


def parse_overrides_checked(values: list[str]) -> dict[str, str]:
    """SAM CLI's --parameter-overrides forms -> {name: value}; bad input is a UsageError."""
    from emulator.template.errors import TemplateError
    from emulator.template.load import parse_overrides

    try:
        return dict(parse_overrides(values))
    except TemplateError as exc:
        raise UsageError(f"--parameter-overrides: {exc}") from None


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether binding `host:port` fails because something already listens there.

    Probed the way the stack's servers bind (asyncio sets SO_REUSEADDR on Unix), so a
    port in TIME_WAIT after a previous stack counts as free, as it is for them.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _port_in_use(port: int, flag: str) -> StackStartError:
    return StackStartError(
        f"port {port} is already in use; pick another with {flag} (0 = any free port)"
    )


def check_ports_free(ports: Mapping[str, int]) -> None:
    """Refuse, naming the port and its flag, when a requested port is taken.

    Checked before the template loads and the servers start, so the mistake costs
    milliseconds, not the seconds a start takes. `ports` maps flag -> port (0 = any).
    """
    for flag, port in ports.items():
        if port and port_taken(port):
            raise _port_in_use(port, flag)


def start_error(exc: OSError, ports: Mapping[str, int] | None = None) -> StackStartError:
    """The one-line error for a start that failed with `exc` (`ports`: flag -> port)."""
    if exc.errno == errno.EADDRINUSE:
        for flag, port in (ports or {}).items():
            if port and port_taken(port):  # taken since check_ports_free looked
                return _port_in_use(port, flag)
        return StackStartError(f"a port the stack needs is already in use ({exc}); try again")
    return StackStartError(f"the local stack could not start: {exc}")


@contextlib.contextmanager
def embedded_stack(
    parameters: Mapping[str, str],
    template: Path | None = None,
    *,
    verbose: bool = False,
    clock: str = "real",
    faults: str | None = None,
    faults_seed: int | None = None,
) -> Iterator[Target]:
    """Start an ephemeral local stack in a thread; yield it as a Target; stop it after.

    `clock` is the stack's time: "real", or "virtual" (emulator.runtime.EmulatorOptions);
    `faults` its fault mode SPEC, with `faults_seed` (None: random, printed so the run can
    be repeated).
    """
    from emulator.runtime import EmulatorOptions, run_in_thread

    path = template or default_template()
    loaded = load_template_checked(path, parameters)
    shown = " ".join(f"{k}={v}" for k, v in parameters.items()) or "template defaults"
    if faults is not None:
        from emulator.faults.record import new_seed

        faults_seed = new_seed() if faults_seed is None else faults_seed
        shown += f"; faults {faults}, seed {faults_seed}"
    console.info(f"starting an embedded stack ({shown}) ...")
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            emulator_logs(
                console.err,
                level=logging.INFO if verbose else logging.WARNING,
                authorizers=authorizer_functions(loaded),
            )
        )
        try:
            endpoints = stack.enter_context(
                run_in_thread(
                    loaded,
                    options=EmulatorOptions(
                        port=0,
                        http_port=0,
                        reload=False,
                        clock=clock,
                        faults=faults,
                        faults_seed=faults_seed,
                    ),
                )
            )
        except OSError as exc:
            raise start_error(exc) from None
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
