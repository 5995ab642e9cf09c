"""Fixtures for the template loader tests: templates written into a temporary app dir."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.template.load import load_template
from emulator.template.model import Template

REPO = Path(__file__).resolve().parents[3]
SAM_HEADER = "Transform: AWS::Serverless-2016-10-31\n"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """An app directory with a `src/` code directory functions can point at."""
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    return app


@pytest.fixture
def write(app_dir: Path) -> Callable[..., Path]:
    """Write a (dedented) template into the app dir and return its path."""

    def write_template(body: str, name: str = "template.yaml") -> Path:
        path = app_dir / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    return write_template


@pytest.fixture
def load(write: Callable[..., Path]) -> Callable[..., Template]:
    """Write a template and load it with stack name "test"."""

    def write_and_load(body: str, overrides: dict[str, str] | None = None) -> Template:
        return load_template(write(body), overrides or {}, stack_name="test")

    return write_and_load
