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
