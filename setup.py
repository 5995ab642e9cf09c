"""Build hook: ship the duel backend (template.yaml + lambdas/) inside the duelctl wheel.

`duelctl up`, `simulate`, `run` and `deploy` use ./template.yaml when there is one, else
the duel backend bundled with duelctl. The repository keeps one copy of that backend, at
its root; a wheel build copies it to `duelctl/_backend/` (template.yaml beside lambdas/),
so the template's relative `CodeUri: lambdas/` resolves in the installed package exactly
as it does in a checkout. Editable installs skip the copy: there `duelctl` finds the
checkout's own files (duelctl.targets.bundled_template). Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BACKEND_DIR = ("duelctl", "_backend")  # inside the built package tree
TEMPLATE = "template.yaml"
HANDLERS = "lambdas"


def _handler_files(root: Path) -> list[Path]:
    """The handler sources to ship: every file under lambdas/ but caches."""
    return sorted(
        p
        for p in (root / HANDLERS).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def copy_backend(source: Path, build_lib: Path) -> Path:
    """Copy template.yaml and lambdas/ from `source` to build_lib/duelctl/_backend/."""
    if not (source / TEMPLATE).is_file():
        raise SystemExit(f"cannot bundle the backend: no {TEMPLATE} in {source}")
    target = build_lib.joinpath(*BACKEND_DIR)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(source / TEMPLATE, target / TEMPLATE)
    for path in _handler_files(source):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return target


class BuildPyWithBackend(build_py):
    """build_py, plus the backend copied into build_lib/duelctl/_backend/."""

    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            copy_backend(ROOT, Path(self.build_lib))


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import it
    setup(cmdclass={"build_py": BuildPyWithBackend})
