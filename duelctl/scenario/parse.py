"""Scenario YAML -> validated `Scenario`s; every error names `file:line`.

Validation happens before anything runs: unknown users, connections used before they
are opened, captures referenced before they are made, unknown frame types or error
codes, and bad durations are all reported with the line of the offending step (one
line, exit 2), so a typo never costs a stack start-up.

Why over 600 lines: `_ScenarioParser` checks each step against what earlier steps made
(users, open connections, captures, the latest session), so its step parsers share that
state; the grammar pieces that need none (durations, tokens, literals) are functions
here, the model is `model.py`. The next cut is the expectation grammar with an explicit
state object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from duelctl.errors import ScenarioFileError, UsageError
from duelctl.scenario.model import (
    ACTIONS,
    CLOCKS,
    ERROR_CODES,
    FRAME_TYPES,
    TIME_FIELDS,
    TOKEN_MODES,
    Check,
    Connect,
    Disconnect,
    Expect,
    ExpectNothing,
    Ref,
    Scenario,
    Send,
    Step,
    Wait,
    Where,
)

TOP_KEYS = (
    "name",
    "description",
    "parameters",
    "clock",
    "faults",
    "timeout",
    "users",
    "offline",
    "steps",
    "tags",
)
_USER = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_CONN = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)(#[A-Za-z0-9_-]+)?$")
_PARAM = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")
_TOKEN = re.compile(r"""(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+""")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+\.\d+$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_:-]+$")
RESERVED_REFS = ("session", "params", "latest")
USER_FIELDS = ("by", "from", "to", "userA", "userB", "userId")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_NOTHING_S = 1.0


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """Expand directories to their *.yaml / *.yml files (sorted, recursive)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found:
                raise UsageError(f"{path}: no *.yaml scenario files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return files


def load_scenarios(path: Path) -> list[Scenario]:
    """Parse every scenario (YAML document) in `path`."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(str(path), None, f"cannot read: {exc}") from None
    return parse_scenarios(text, str(path))


def parse_scenarios(text: str, path: str) -> list[Scenario]:
    """Parse YAML `text` (one scenario per document) named `path` in messages."""
    try:
        docs = [d for d in yaml.compose_all(text, Loader=yaml.SafeLoader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        hint = ""
        if exc.problem and "mapping values are not allowed" in exc.problem:
            hint = (
                " (a step with ': ' inside, like JSON with spaces, needs quotes: "
                """- 'alice: send {"action": "dance"}', or write alice: {send: {action: dance}})"""
            )
        raise ScenarioFileError(path, line, f"not valid YAML: {exc.problem}{hint}") from None
    except yaml.YAMLError as exc:
        raise ScenarioFileError(path, None, f"not valid YAML: {exc}") from None
    if not docs:
        raise ScenarioFileError(path, 1, "empty file: a scenario needs `users:` and `steps:`")
    stem = Path(path).stem
    scenarios = [
        _ScenarioParser(path, doc, stem if len(docs) == 1 else f"{stem}[{i + 1}]").parse()
        for i, doc in enumerate(docs)
    ]
    names = [s.name for s in scenarios]
    for scenario in scenarios:
        if names.count(scenario.name) > 1:
            raise ScenarioFileError(
                path, scenario.line, f"duplicate scenario name {scenario.name!r}"
            )
    return scenarios


def parse_duration(text: str) -> float:
    """`2s`, `500ms`, `1.5s`, `1m`, or a bare number of seconds."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(f"bad duration {text!r} (use e.g. 2s, 500ms, 1.5s)")
    value = float(m.group(1))
    unit = m.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def tokenize(text: str) -> list[str]:
    """Split on whitespace; "double" or 'single' quoted parts stay in their word, quoted."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unbalanced quote in {text[pos:]!r}")
        tokens.append(m.group(0))
        pos = m.end()
    return tokens


def unquote(token: str) -> tuple[str, bool]:
    """The token without surrounding quotes, and whether it was quoted."""
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        body = token[1:-1]
        return (json.loads(token) if token[0] == '"' else body), True
    return token, False


def literal(token: str) -> object:
    """A check or option value: "quoted" -> str; true/false/null/numbers -> typed; else str."""
    text, quoted = unquote(token)
    if quoted:
        return text
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


class _ScenarioParser:
    def __init__(self, path: str, doc: yaml.Node, default_name: str) -> None:
        self.path = path
        self.doc = doc
        self.default_name = default_name
        self.users: tuple[str, ...] = ()
        self.offline: tuple[str, ...] = ()
        self.parameters: dict[str, str] = {}
        self.timeout = DEFAULT_TIMEOUT_S
        self.captures: set[str] = set()
        self.open: set[str] = set()

    # -- errors and node helpers ------------------------------------------------------------

    def error(self, node: yaml.Node | int, message: str) -> ScenarioFileError:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        return ScenarioFileError(self.path, line, message)

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value")
        return str(node.value)

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"`{what}` must be a list of user names, e.g. [alice, bob]")
        names: list[str] = []
        for item in node.value:
            name = self.scalar(item, f"a name in `{what}`")
            if not _USER.match(name):
                raise self.error(item, f"bad user name {name!r} (letters, digits, _ . -)")
            if name in RESERVED_REFS:
                raise self.error(item, f"{name!r} is reserved; pick another user name")
            if name in names or name in self.users:
                raise self.error(item, f"user {name!r} is listed twice")
            names.append(name)
        return tuple(names)

    # -- the document -------------------------------------------------------------------------

    def parse(self) -> Scenario:
        doc = self.doc
        if not isinstance(doc, yaml.MappingNode):
            raise self.error(doc, "a scenario is a mapping with `users:` and `steps:`")
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in doc.value:
            key = self.scalar(key_node, "a top-level key")
            if key not in TOP_KEYS:
                raise self.error(
                    key_node, f"unknown key {key!r} (expected one of: {', '.join(TOP_KEYS)})"
                )
            if key in fields:
                raise self.error(key_node, f"{key!r} given twice")
            fields[key] = value_node
        name = self.default_name
        if "name" in fields:
            name = self.scalar(fields["name"], "`name`").strip() or name
        description = (
            self.scalar(fields["description"], "`description`") if "description" in fields else ""
        )
        if "parameters" in fields:
            self.parameters = self.params(fields["parameters"])
        clock: str | None = None
        if "clock" in fields:
            clock = self.scalar(fields["clock"], "`clock`").strip()
            if clock not in CLOCKS:
                raise self.error(fields["clock"], "`clock` is `real` or `virtual`")
        faults = self.faults(fields["faults"]) if "faults" in fields else None
        if "timeout" in fields:
            self.timeout = self.duration(
                fields["timeout"], self.scalar(fields["timeout"], "`timeout`")
            )
        if "users" not in fields:
            raise self.error(doc, "missing `users:` (the users connected when the scenario starts)")
        self.users = self.names(fields["users"], "users")
        if not self.users:
            raise self.error(fields["users"], "`users` is empty")
        if "offline" in fields:
            self.offline = self.names(fields["offline"], "offline")
        tags = self.names(fields["tags"], "tags") if "tags" in fields else ()
        if "steps" not in fields:
            raise self.error(doc, "missing `steps:`")
        steps_node = fields["steps"]
        if not isinstance(steps_node, yaml.SequenceNode) or not steps_node.value:
            raise self.error(steps_node, "`steps` must be a non-empty list")
        self.open = set(self.users)
        steps = tuple(self.step(item) for item in steps_node.value)
        return Scenario(
            name=name,
            path=self.path,
            line=doc.start_mark.line + 1,
            description=description.strip(),
            parameters=self.parameters,
            users=self.users,
            offline=self.offline,
            steps=steps,
            timeout=self.timeout,
            tags=tags,
            clock=clock,
            faults=faults,
        )

    def faults(self, node: yaml.Node) -> str:
        """`faults: sqs-duplicate,gone-window=500` or a list of items -> the canonical SPEC."""
        from emulator.faults.spec import FaultSpecError, parse_spec

        if isinstance(node, yaml.SequenceNode):
            text = ",".join(self.scalar(item, "a fault in `faults`") for item in node.value)
        else:
            text = self.scalar(node, "`faults`")
        try:
            return str(parse_spec(text))
        except FaultSpecError as exc:
            raise self.error(node, f"`faults`: {exc}") from None

    def params(self, node: yaml.Node) -> dict[str, str]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, "`parameters` must map template parameter names to values")
        params: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, "a parameter name")
            if not _PARAM.match(key):
                raise self.error(key_node, f"bad parameter name {key!r}")
            params[key] = self.scalar(value_node, f"parameter {key}")
        return params

    def duration(self, node: yaml.Node | int, text: str) -> float:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise self.error(node, str(exc)) from None

    # -- steps --------------------------------------------------------------------------------

    def step(self, node: yaml.Node) -> Step:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            text = str(node.value).strip()
            head, sep, body = text.partition(": ")
            if sep and not text.startswith(("wait", "connect ", "disconnect ")):
                return self.headed(line, text, head.strip(), body.strip(), None)
            return self.plain(line, text)
        if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
            key_node, value_node = node.value[0]
            head = self.scalar(key_node, "a step")
            if isinstance(value_node, yaml.ScalarNode):
                body = str(value_node.value).strip()
                return self.headed(line, f"{head}: {body}", head.strip(), body, None)
            if isinstance(value_node, yaml.MappingNode):
                return self.headed(line, f"{head}: …", head.strip(), "", value_node)
        raise self.error(
            node,
            "a step is one line like `alice: invite bob`, `expect bob: invite within 2s`, "
            "`wait 1s` or `disconnect alice`",
        )

    def tokens(self, line: int, text: str) -> list[str]:
        try:
            return tokenize(text)
        except ValueError as exc:
            raise self.error(line, str(exc)) from None

    def plain(self, line: int, text: str) -> Step:
        where = Where(self.path, line)
        words = self.tokens(line, text)
        verb = words[0] if words else ""
        if verb == "wait":
            return self.wait(where, text, words[1:])
        if verb == "connect":
            return self.connect(where, text, words[1:])
        if verb == "disconnect":
            if len(words) != 2:
                raise self.error(line, "use `disconnect NAME`")
            conn = self.conn(line, words[1], must_be_open=True)
            self.open.discard(conn)
            return Disconnect(where=where, text=text, conn=conn)
        if words[:3] == ["expect", "nothing", "for"]:
            rest = words[3:]
            within = DEFAULT_NOTHING_S
            if len(rest) >= 2 and rest[-2] == "within":
                within = self.duration(line, rest[-1])
                rest = rest[:-2]
            conns = self.conns(line, " ".join(rest))
            return ExpectNothing(where=where, text=text, conns=conns, within=within)
        raise self.error(
            line,
            f"unknown step {text!r}: expected `USER: ACTION`, `expect USER: FRAME`, "
            "`expect nothing for USER`, `wait ...`, `connect USER` or `disconnect USER`",
        )

    def headed(self, line: int, text: str, head: str, body: str, mapping: yaml.Node | None) -> Step:
        where = Where(self.path, line)
        if head == "expect" or head.startswith("expect "):
            if mapping is not None:
                raise self.error(line, "write an expectation on one line: `expect bob: start`")
            conns = self.conns(line, head[len("expect") :])
            return self.expect(where, text, conns, body)
        conn = self.conn(line, head, must_be_open=True)
        if mapping is not None:
            return self.send_mapping(where, conn, mapping)
        return self.action(where, text, conn, body)

    def conn(self, line: int, name: str, *, must_be_open: bool) -> str:
        m = _CONN.match(name)
        if m is None:
            raise self.error(line, f"bad connection name {name!r} (a user, or user#tab)")
        user = m.group(1)
        if user not in self.users and user not in self.offline:
            known = ", ".join(self.users + self.offline)
            raise self.error(line, f"unknown user {user!r} (declared: {known})")
        if must_be_open and name not in self.open:
            raise self.error(line, f"{name!r} is not connected here (add `connect {name}` first)")
        return name

    def conns(self, line: int, text: str) -> tuple[str, ...]:
        names = [n.strip() for n in text.split(",")]
        if not names or any(not n for n in names):
            raise self.error(line, "name who should receive it, e.g. `expect alice, bob: start`")
        if len(set(names)) != len(names):
            raise self.error(line, "a connection is named twice")
        return tuple(self.conn(line, n, must_be_open=True) for n in names)

    # -- individual steps ------------------------------------------------------------------------

    def wait(self, where: Where, text: str, words: list[str]) -> Wait:
        if len(words) == 1:
            return Wait(where=where, text=text, seconds=self.duration(where.line, words[0]))
        if len(words) == 2 and words[0] == "until":
            target = words[1]
            if target.startswith("$"):
                ref = self.ref(where.line, target)
            elif target in TIME_FIELDS:
                ref = Ref("latest", (target,))
            else:
                raise self.error(
                    where.line,
                    f"`wait until` takes a time field ({', '.join(TIME_FIELDS)}) or a "
                    f"captured one like $s.endsAt, not {target!r}",
                )
            return Wait(where=where, text=text, until=ref)
        raise self.error(where.line, "use `wait 2s` or `wait until endsAt`")

    def connect(self, where: Where, text: str, words: list[str]) -> Connect:
        if not words:
            raise self.error(
                where.line, "use `connect NAME` (e.g. `connect alice#2` for a second tab)"
            )
        conn = self.conn(where.line, words[0], must_be_open=False)
        if conn in self.open:
            raise self.error(where.line, f"{conn!r} is already connected")
        options = self.options(where.line, words[1:], ("token", "status"))
        token = str(options.get("token", "valid"))
        if token not in TOKEN_MODES:
            raise self.error(where.line, f"token= takes one of {', '.join(TOKEN_MODES)}")
        status = options.get("status")
        if status is not None and not isinstance(status, int):
            raise self.error(where.line, "status= takes an HTTP status code, e.g. status=401")
        if status is not None and token == "valid":
            raise self.error(
                where.line, "status= applies to refused handshakes (token=none|garbage|forged)"
            )
        if token == "valid":
            self.open.add(conn)
        return Connect(where=where, text=text, conn=conn, token=token, status=status)

    def options(self, line: int, words: list[str], allowed: Iterable[str]) -> dict[str, object]:
        allowed = tuple(allowed)
        out: dict[str, object] = {}
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or key not in allowed:
                raise self.error(
                    line,
                    f"unexpected {word!r} (options here: {', '.join(k + '=' for k in allowed)})",
                )
            out[key] = self.ref(line, value) if value.startswith("$") else literal(value)
        return out

    def action(self, where: Where, text: str, conn: str, body: str) -> Send:
        verb, _, rest = body.partition(" ")
        if verb == "send":
            raw = rest.strip()
            if not raw:
                raise self.error(
                    where.line, '`send` needs the text to send, e.g. send {"action": "dance"}'
                )
            return Send(where=where, text=text, conn=conn, action="send", raw=raw)
        if verb not in ACTIONS:
            raise self.error(
                where.line, f"unknown action {verb!r} (expected one of: {', '.join(ACTIONS)})"
            )
        words = self.tokens(where.line, rest)
        to: object = None
        if verb == "invite":
            if not words:
                raise self.error(where.line, "use `invite USER` (or `invite id=SOME-ID`)")
            target, words = words[0], words[1:]
            if target.startswith("id="):
                to = literal(target[3:])
            elif target.startswith("$"):
                to = self.ref(where.line, target)
            else:
                if target not in self.users and target not in self.offline:
                    raise self.error(
                        where.line,
                        f"unknown user {target!r}; declare it under users/offline, or use id=...",
                    )
                to = Ref(target)
        allowed = (
            ("requestId",) if verb in ("invite", "ping", "state") else ("session", "requestId")
        )
        options = self.options(where.line, words, allowed)
        request_id = options.get("requestId")
        if request_id is not None and not isinstance(request_id, str):
            request_id = str(request_id)
        return Send(
            where=where,
            text=text,
            conn=conn,
            action=verb,
            to=to,
            session=options.get("session"),
            request_id=request_id,
        )

    def send_mapping(self, where: Where, conn: str, node: yaml.Node) -> Send:
        assert isinstance(node, yaml.MappingNode)
        if len(node.value) != 1 or self.scalar(node.value[0][0], "an action") != "send":
            raise self.error(
                where.line, "only `send:` takes a mapping, e.g. `alice: {send: {action: dance}}`"
            )
        value = node.value[0][1]
        if isinstance(value, yaml.ScalarNode):
            raw = str(value.value)
        else:
            raw = json.dumps(yaml.safe_load(yaml.serialize(value)))
        return Send(where=where, text=f"{conn}: send {raw}", conn=conn, action="send", raw=raw)

    def expect(self, where: Where, text: str, conns: tuple[str, ...], body: str) -> Step:
        words = self.tokens(where.line, body)
        if not words:
            raise self.error(where.line, "name the frame type to expect, e.g. `expect bob: invite`")
        frame_type, rest = words[0], words[1:]
        within = self.timeout
        if frame_type == "nothing":
            if rest[:1] == ["within"] and len(rest) == 2:
                within = self.duration(where.line, rest[1])
            elif rest:
                raise self.error(where.line, "use `expect alice: nothing within 1s`")
            else:
                within = DEFAULT_NOTHING_S
            return ExpectNothing(where=where, text=text, conns=conns, within=within)
        if frame_type not in (*FRAME_TYPES, "any"):
            raise self.error(
                where.line,
                f"unknown frame type {frame_type!r} "
                f"(expected one of: {', '.join(FRAME_TYPES)}, any)",
            )
        checks: list[Check] = []
        same: tuple[str, ...] = ()
        capture: str | None = None
        i = 0
        if (
            frame_type == "error"
            and rest
            and "=" not in rest[0]
            and rest[0] not in ("within", "as")
        ):
            code = rest[0]
            if code not in ERROR_CODES:
                raise self.error(
                    where.line,
                    f"unknown error code {code!r} (expected one of: {', '.join(ERROR_CODES)})",
                )
            checks.append(Check(path=("code",), op="eq", value=code, text=f"code={code}"))
            i = 1
        while i < len(rest):
            word = rest[i]
            if word in ("within", "as"):
                if i + 1 >= len(rest):
                    raise self.error(where.line, f"`{word}` needs a value")
                if word == "within":
                    within = self.duration(where.line, rest[i + 1])
                else:
                    capture = rest[i + 1]
                    if not _USER.match(capture) or capture in RESERVED_REFS:
                        raise self.error(where.line, f"bad capture name {capture!r}")
                    if capture in self.users or capture in self.offline:
                        raise self.error(where.line, f"capture name {capture!r} is a user's name")
                i += 2
                continue
            if word.startswith("same="):
                same = tuple(f for f in word[len("same=") :].split(",") if f)
                if not same:
                    raise self.error(
                        where.line, "same= needs field names, e.g. same=startAt,endsAt"
                    )
                if len(conns) < 2:
                    raise self.error(
                        where.line,
                        "same= compares frames of several receivers: `expect alice, bob: ...`",
                    )
            else:
                checks.append(self.check(where.line, word))
            i += 1
        if capture is not None:
            self.captures.add(capture)
        return Expect(
            where=where,
            text=text,
            conns=conns,
            frame_type=frame_type,
            checks=tuple(checks),
            same=same,
            within=within,
            capture=capture,
        )

    def check(self, line: int, word: str) -> Check:
        if word.startswith("!"):
            return Check(path=self.path_of(line, word[1:]), op="absent", text=word)
        m = re.match(r"^([^=!]+)(!=|=)(.*)$", word)
        if m is None:
            raise self.error(
                line,
                f"unexpected {word!r}: checks look like field=value, !field, field=* or same=a,b",
            )
        path = self.path_of(line, m.group(1))
        raw = m.group(3)
        op: Literal["eq", "ne"] = "ne" if m.group(2) == "!=" else "eq"
        if raw == "*" and op == "eq":
            return Check(path=path, op="present", text=word)
        value = self.ref(line, raw) if raw.startswith("$") else literal(raw)
        if (
            path[-1] in USER_FIELDS
            and isinstance(value, str)
            and (value in self.users or value in self.offline)
        ):
            raise self.error(
                line,
                f"{word!r} compares with the text {value!r}; "
                f"for the user's id write {path[-1]}=${value}",
            )
        return Check(path=path, op=op, value=value, text=word)

    def path_of(self, line: int, text: str) -> tuple[str, ...]:
        segments = tuple(text.split("."))
        if not all(_SEGMENT.match(s) for s in segments):
            raise self.error(line, f"bad field path {text!r}")
        return segments

    def ref(self, line: int, token: str) -> Ref:
        body = token[1:]
        parts = body.split(".")
        name, path = parts[0], tuple(parts[1:])
        if not all(_SEGMENT.match(p) for p in parts):
            raise self.error(line, f"bad reference {token!r}")
        if name in self.users or name in self.offline:
            if path not in ((), ("id",), ("username",)):
                raise self.error(
                    line, f"{token!r}: a user reference is ${name}, ${name}.id or ${name}.username"
                )
        elif name == "session":
            if path:
                raise self.error(line, "$session is the latest session id; it has no fields")
        elif name == "params":
            # A parameter the scenario does not set is the stack's (template default
            # or --parameter-overrides), looked up when the step runs.
            if len(path) != 1 or not _PARAM.match(path[0]):
                raise self.error(line, f"{token!r}: use $params.NAME with a template parameter")
        elif name in self.captures:
            pass
        else:
            raise self.error(
                line,
                f"unknown reference {token!r} (users, $session, $params.NAME, or a frame "
                "captured earlier with `as NAME`)",
            )
        return Ref(name, path)


def describe(value: Any) -> str:
    """A value as written in a scenario, for messages."""
    if isinstance(value, Ref):
        return str(value)
    return json.dumps(value)
