"""What a wheel carries: the duel backend beside the package, runnable where it lands.

The full check (build the wheel, install it in a fresh venv, run simulate/up/run from an
empty directory) is in .ci/run; these test the pieces fast: setup.py's copy step, and
that the bundled copy is what commands use outside a checkout.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import duelctl
from duelctl.targets import bundled_template, default_template
from emulator.template.load import load_template

ROOT = Path(__file__).resolve().parents[2]


def load_setup_py():
    spec = importlib.util.spec_from_file_location("duelctl_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package tree as a wheel installs it: duelctl/ with _backend/ copied in by setup.py."""
    package = tmp_path / "site-packages" / "duelctl"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    load_setup_py().copy_backend(ROOT, package.parent)
    monkeypatch.setattr(duelctl, "__file__", str(package / "__init__.py"))
    return package


def test_the_build_copies_the_template_and_every_handler(installed: Path) -> None:
    backend = installed / "_backend"
    assert (backend / "template.yaml").read_bytes() == (ROOT / "template.yaml").read_bytes()
    shipped = {p.relative_to(backend) for p in (backend / "lambdas").rglob("*.py")}
    source = {
        p.relative_to(ROOT)
        for p in (ROOT / "lambdas").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert shipped and shipped == source
    assert not list(backend.rglob("__pycache__"))


def test_outside_a_checkout_commands_use_the_bundled_backend(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From an empty directory the default template is the bundled one, and its CodeUri
    resolves inside the installed package."""
    empty = tmp_path / "anywhere"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert default_template() == bundled_template() == installed / "_backend" / "template.yaml"
    template = load_template(bundled_template())
    for function in template.functions.values():
        root = Path(function.code_root)
        assert root.is_dir() and root.is_relative_to(installed / "_backend"), root
        module = function.handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
        assert (root / module).is_file(), module


def test_a_checkout_uses_its_own_template() -> None:
    """Editable installs and the source tree need no copy: the repository's file is used."""
    assert bundled_template() == ROOT / "template.yaml"
