"""Layering of lambdas/ (style.md §6) and the Lambda runtime's dependency limits."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
OWN = {"duel", "adapters", "handlers"}
# The Lambda Python runtime has boto3/botocore; pyjwt[crypto] ships with the code.
RUNTIME = {"boto3", "botocore", "jwt", "cryptography"}


def sources(root: Path) -> list[Path]:
    """Every .py under `root`; a walk that finds nothing fails (a moved tree, a typo),
    so no test below passes by checking nothing."""
    found = sorted(root.rglob("*.py"))
    assert found, f"no Python files under {root}"
    return found


def modules() -> dict[Path, set[str]]:
    """Every .py under lambdas/ with the top-level names it imports."""
    found: dict[Path, set[str]] = {}
    for path in sources(LAMBDAS):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path.relative_to(LAMBDAS)] = names
    return found


def test_only_stdlib_and_runtime_dependencies() -> None:
    """Nothing outside the standard library, boto3 and pyjwt[crypto] is imported."""
    allowed = set(sys.stdlib_module_names) | RUNTIME | OWN | {"__future__"}
    strays = {str(p): sorted(n - allowed) for p, n in modules().items() if n - allowed}
    assert strays == {}


def test_dependencies_point_one_way() -> None:
    """handlers -> adapters -> duel; the domain imports no AWS, logging or clock."""
    impure = RUNTIME | {"adapters", "handlers", "logging", "time", "os", "random", "uuid"}
    found = modules()
    assert {path.parts[0] for path in found} >= OWN, "a layer has no modules"
    for path, names in found.items():
        layer = path.parts[0]
        if layer == "duel":
            assert not names & impure, (path, names & impure)
        elif layer == "adapters":
            assert "handlers" not in names, path


def test_domain_never_reads_the_clock() -> None:
    """No call to now()/utcnow()/today()/time() anywhere in duel/."""
    for path in sources(LAMBDAS / "duel"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in {"now", "utcnow", "today", "time"}, path


def test_packages_and_no_print() -> None:
    """Each package has an __init__.py, and nothing prints (logging only)."""
    for package in OWN:
        assert (LAMBDAS / package / "__init__.py").is_file()
    for path in sources(LAMBDAS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", path
