"""Dependencies point one way: duelctl -> emulator -> (handler strings only) -> lambdas,
and both duelctl and the emulator -> duelctl_endpoints (the endpoints file).

The emulator is generic: it runs any template's handlers and never imports the CLI or the
duel app; lambdas/ runs on AWS, so it never imports either package; and the CLI uses the
emulator only through a named public surface, so the emulator's internals can change
without breaking `duelctl`. tests/lambdas/test_layout.py holds the rules inside lambdas/.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_PACKAGES = {"duel", "adapters", "handlers"}  # lambdas/ is the code root on AWS
# The emulator modules duelctl may import: the stack, reading a template, log channels,
# local sign-in and fault options. Anything else is the emulator's own business.
EMULATOR_SURFACE = {
    "emulator.faults.record",
    "emulator.faults.spec",
    "emulator.local_auth",
    "emulator.logs",
    "emulator.runtime",
    "emulator.template.errors",
    "emulator.template.load",
    "emulator.template.parameters",
    "emulator.template.yaml_tags",
}


def sources(package: str) -> list[Path]:
    """Every .py of a top-level directory; a walk that finds nothing fails."""
    found = sorted((ROOT / package).rglob("*.py"))
    assert found, f"no Python files under {package}/"
    return found


def imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) for every absolute import in `path`, in functions too."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def test_the_emulator_never_imports_the_cli_or_the_app() -> None:
    """emulator/ reaches handlers through template strings only, and knows no CLI."""
    strays = {
        str(path.relative_to(ROOT)): module
        for path in sources("emulator")
        for module, _ in imports(path)
        if top(module) in {"duelctl", "lambdas", *LAMBDA_PACKAGES}
    }
    assert strays == {}


def test_lambdas_never_import_the_emulator_or_the_cli() -> None:
    """Handlers run unmodified on AWS, where neither package exists."""
    strays = {
        str(path.relative_to(ROOT)): module
        for path in sources("lambdas")
        for module, _ in imports(path)
        if top(module) in {"duelctl", "emulator"}
    }
    assert strays == {}


def test_the_endpoints_file_model_stands_alone() -> None:
    """duelctl_endpoints is the contract both sides import, so it imports neither."""
    strays = {
        str(path.relative_to(ROOT)): module
        for path in sources("duelctl_endpoints")
        for module, _ in imports(path)
        if top(module) in {"duelctl", "emulator", "lambdas", *LAMBDA_PACKAGES}
    }
    assert strays == {}


def test_the_cli_uses_the_emulators_public_surface_only() -> None:
    """duelctl imports only EMULATOR_SURFACE modules, and no `_private` names from them."""
    used: set[str] = set()
    strays: dict[str, str] = {}
    for path in sources("duelctl"):
        for module, names in imports(path):
            if top(module) != "emulator":
                continue
            used.add(module)
            private = [name for name in names if name.startswith("_")]
            if module not in EMULATOR_SURFACE or private:
                strays[str(path.relative_to(ROOT))] = f"{module} {private or ''}".strip()
    assert strays == {}
    assert used, "duelctl imports nothing from the emulator: is this test looking elsewhere?"


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """Import nodes under `if TYPE_CHECKING:`: they never run, so they make no cycle."""
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for inner in node.body:
                skipped.update(ast.walk(inner))
    return skipped


def import_graph(*packages: str) -> dict[str, set[str]]:
    """{module: the modules of `packages` it imports}, at module level and in functions.

    `from package import submodule` names the submodule; the package's `__init__` runs
    first anyway, as for every submodule, so it is not an edge of its own.
    """
    paths: dict[str, Path] = {}
    for package in packages:
        for path in sources(package):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if node in skipped:
                continue
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                subs = {f"{module}.{alias.name}" for alias in node.names} & set(paths)
                edges.update(subs or {module})
        graph[name] = {edge for edge in edges if edge in paths and edge != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for edge in sorted(graph[node]):
            if edge not in index:
                visit(edge)
                low[node] = min(low[node], low[edge])
            elif edge in stack:
                low[node] = min(low[node], index[edge])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    """No module imports one that imports it back, not even lazily in a function: commands
    import duelctl.app, and only duelctl.cli imports the commands."""
    graph = import_graph("duelctl", "duelctl_endpoints", "emulator")
    assert "duelctl.commands.up" in graph["duelctl.cli"], "the graph misses the CLI's imports"
    assert cycles(graph) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    """The check above can fail: a lazy import back is a cycle."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
