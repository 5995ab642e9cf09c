"""lambdas/requirements.txt: pinned, covers every third-party import, and builds a CodeUri
whose handlers import in a clean interpreter that has only what Lambda's runtime ships.
"""

from __future__ import annotations

import ast
import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cfnlint.decode import decode
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
REQUIREMENTS = LAMBDAS / "requirements.txt"
OWN = {"duel", "adapters", "handlers"}
# AWS: Lambda's Python runtimes include the AWS SDK (boto3 and botocore) and nothing
# else beyond the standard library (Lambda developer guide, "Building with Python").
RUNTIME_PROVIDED = {"boto3"}
# Lambda's python3.12 runtime on x86_64, for evaluating requirement markers.
LAMBDA_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "platform_python_implementation": "CPython",
    "implementation_name": "cpython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def pinned() -> dict[str, Requirement]:
    """The requirements file as {canonical name: requirement}."""
    found: dict[str, Requirement] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def third_party_imports() -> set[str]:
    """Top-level names lambdas/ imports that are neither stdlib nor its own packages."""
    names: set[str] = set()
    for path in LAMBDAS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - OWN - {"__future__"}


def closure(name: str, extras: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """`name` (with `extras`) and all it needs on Lambda's platform, from installed metadata."""
    seen: set[str] = set()
    todo = [(name, set(extras))]
    while todo:
        current, wanted = todo.pop()
        current = canonicalize_name(current)
        if current in seen:
            continue
        seen.add(current)
        for text in importlib.metadata.requires(current) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(
                marker.evaluate({**LAMBDA_ENV, "extra": extra}) for extra in {"", *wanted}
            ):
                todo.append((requirement.name, set(requirement.extras)))
    return seen


def test_every_requirement_is_pinned() -> None:
    """Each line names one exact version (`==`), so every build vendors the same code."""
    requirements = pinned()
    assert requirements, "lambdas/requirements.txt lists nothing"
    loose = [
        str(r) for r in requirements.values() if not re.fullmatch(r"==[^,*]+", str(r.specifier))
    ]
    assert loose == []


def test_third_party_imports_are_covered() -> None:
    """Every import Lambda's runtime lacks comes from a pinned requirement, with its own needs."""
    distributions = importlib.metadata.packages_distributions()
    requirements = pinned()
    needed: set[str] = set()
    for module in third_party_imports():
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert owners, f"nothing installed provides {module!r}"
        if owners & (RUNTIME_PROVIDED | {"botocore"}):
            continue
        for owner in owners:
            extras = requirements[owner].extras if owner in requirements else set()
            needed |= closure(owner, extras)
    assert sorted(needed - set(requirements)) == []
    assert sorted(set(requirements) - needed) == [], "requirements nothing imports"


def test_pins_match_what_the_tests_run_with() -> None:
    """The pinned versions are the installed ones: the deployed code runs what was tested."""
    drift = {
        name: (str(requirement.specifier), importlib.metadata.version(name))
        for name, requirement in pinned().items()
        if str(requirement.specifier) != f"=={importlib.metadata.version(name)}"
    }
    assert drift == {}


def _runtime_path(root: Path) -> Path:
    """A directory holding boto3 and its dependencies only, as Lambda's runtime does."""
    runtime = root / "runtime"
    runtime.mkdir()
    for dist_name in sorted(closure("boto3")):
        dist = importlib.metadata.distribution(dist_name)
        tops = {
            Path(str(f)).parts[0]
            for f in dist.files or []
            if not str(f).startswith("..") and ".dist-info" not in str(f)
        }
        for top in tops - {"bin", "__pycache__"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (runtime / top).exists():
                (runtime / top).symlink_to(source)
    return runtime


@pytest.mark.slow  # pip install into a scratch dir: ~2.5 s
def test_code_uri_built_from_the_requirements_imports_every_handler(tmp_path: Path) -> None:
    """pip -r requirements.txt, zipped with the sources as `duelctl deploy` zips them,
    imports each Handler of template.yaml in `python -I -S` with only boto3 beside it."""
    from duelctl.deploy.package import build_zip

    deps = tmp_path / "deps"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
         "--disable-pip-version-check", "--target", str(deps), "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    code = tmp_path / "code"
    with zipfile.ZipFile(io.BytesIO(build_zip(LAMBDAS, deps).data)) as archive:
        archive.extractall(code)
    template, errors = decode(str(ROOT / "template.yaml"))
    assert not errors
    handlers = sorted(
        resource["Properties"]["Handler"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    )
    probe = (
        "import importlib, json, sys\n"
        "sys.path[:0] = sys.argv[1:3]\n"
        "bad = {}\n"
        "for name in json.loads(sys.argv[3]):\n"
        "    module, _, attr = name.rpartition('.')\n"
        "    try:\n"
        "        assert callable(getattr(importlib.import_module(module), attr))\n"
        "    except Exception as exc:\n"
        "        bad[name] = repr(exc)\n"
        "leaked = [m for m in ('jwt', 'cryptography') if m in sys.modules\n"
        "          and not sys.modules[m].__file__.startswith(sys.argv[1])]\n"
        "sys.exit(json.dumps([bad, leaked]) if bad or leaked else 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(code), str(_runtime_path(tmp_path)),
         json.dumps(handlers)],
        capture_output=True,
        text=True,
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_clean_interpreter_would_notice_a_missing_requirement(tmp_path: Path) -> None:
    """Without the vendored packages the same probe fails: the check above can fail."""
    runtime = _runtime_path(tmp_path)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         "import sys; sys.path[:0] = sys.argv[1:3]; import handlers.authorizer",
         str(LAMBDAS), str(runtime)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "No module named 'jwt'" in result.stderr
