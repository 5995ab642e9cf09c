"""The code zip is byte-reproducible, excludes byte caches, and vendors dependencies once."""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from duelctl.deploy.errors import DependencyError, DeployTemplateError
from duelctl.deploy.package import (
    Platform,
    build_zip,
    cache_key,
    pip_command,
    requirements_for,
    run_pip,
    vendor_dependencies,
)

from .conftest import ROOT

PY312 = Platform("python3.12", "x86_64")


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of lambdas/ with byte caches and OS litter added to it."""
    copy = tmp_path / "lambdas"
    shutil.copytree(ROOT / "lambdas", copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (copy / "handlers" / "__pycache__").mkdir()
    (copy / "handlers" / "__pycache__" / "connect.cpython-312.pyc").write_bytes(b"\x00cache")
    (copy / "duel" / "stray.pyc").write_bytes(b"\x00stray")
    (copy / ".DS_Store").write_bytes(b"finder")
    return copy


def test_same_sources_give_the_same_bytes(sources: Path, tmp_path: Path) -> None:
    """Two builds of equal trees are identical even when mtimes, modes and copy order differ."""
    first = build_zip(sources)
    twin = tmp_path / "twin"
    shutil.copytree(sources, twin)
    for path in twin.rglob("*.py"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
        path.chmod(0o755)
    second = build_zip(twin)
    assert first.data == second.data
    assert first.sha256 == second.sha256
    assert first.s3_key == f"duelctl/{first.sha256}.zip"


def test_a_changed_source_changes_the_content_address(sources: Path) -> None:
    """Editing one handler gives another SHA-256, hence another S3 key."""
    before = build_zip(sources)
    path = sources / "handlers" / "ping.py"
    path.write_text(path.read_text() + "\n# changed\n")
    assert build_zip(sources).sha256 != before.sha256


def test_entries_are_sorted_dated_1980_mode_0644_without_caches(sources: Path) -> None:
    """Every entry has the fixed metadata; __pycache__, *.pyc and .DS_Store are left out."""
    code = build_zip(sources)
    archive = zipfile.ZipFile(io.BytesIO(code.data))
    infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert len(names) == code.files
    expected = sorted(
        p.relative_to(ROOT / "lambdas").as_posix()
        for p in (ROOT / "lambdas").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    assert names == expected
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644
        assert info.compress_type == zipfile.ZIP_DEFLATED
    assert archive.read("handlers/connect.py") == (sources / "handlers" / "connect.py").read_bytes()


def test_vendored_dependencies_sit_at_the_root_and_sources_win(
    sources: Path, tmp_path: Path
) -> None:
    """Dependencies join the zip root without their bin/; a source file shadows a vendored one."""
    deps = tmp_path / "deps"
    (deps / "jwt").mkdir(parents=True)
    (deps / "jwt" / "__init__.py").write_text("VENDORED = True\n")
    (deps / "bin").mkdir()
    (deps / "bin" / "pyjwt").write_text("#!/usr/bin/python3\n")
    (deps / "handlers").mkdir()
    (deps / "handlers" / "connect.py").write_text("shadowed\n")
    archive = zipfile.ZipFile(io.BytesIO(build_zip(sources, deps).data))
    assert archive.read("jwt/__init__.py") == b"VENDORED = True\n"
    assert "bin/pyjwt" not in archive.namelist()
    assert archive.read("handlers/connect.py") == (sources / "handlers" / "connect.py").read_bytes()
    assert build_zip(sources, deps).data == build_zip(sources, deps).data


def test_a_missing_code_directory_is_a_template_error(tmp_path: Path) -> None:
    """build_zip refuses a CodeUri that is not a directory."""
    with pytest.raises(DeployTemplateError, match="is not a directory"):
        build_zip(tmp_path / "nope")


def test_pip_targets_lambdas_platform_not_this_machine(tmp_path: Path) -> None:
    """The pip command asks for manylinux wheels of the runtime's Python, into --target."""
    command = pip_command(["PyJWT==2.10.1"], PY312, tmp_path)
    joined = " ".join(command)
    assert "-m pip install" in joined
    assert f"--target {tmp_path}" in joined
    assert "--platform manylinux2014_x86_64" in joined
    assert "--python-version 3.12" in joined
    assert "--only-binary=:all:" in command and "--no-compile" in command
    assert command[-1] == "PyJWT==2.10.1"
    arm = pip_command(["x"], Platform("python3.13", "arm64"), tmp_path)
    assert "manylinux2014_aarch64" in arm and "3.13" in arm
    with pytest.raises(DeployTemplateError, match="only python runtimes"):
        pip_command(["x"], Platform("nodejs20.x", "x86_64"), tmp_path)
    with pytest.raises(DeployTemplateError, match="not one Lambda offers"):
        pip_command(["x"], Platform("python3.12", "s390x"), tmp_path)


def test_requirements_come_from_the_code_directory(tmp_path: Path) -> None:
    """requirements.txt beside the code is the one list; without it nothing is vendored."""
    assert requirements_for(tmp_path) == []
    (tmp_path / "requirements.txt").write_text("# pinned\nPyJWT==2.9.0  # auth\n\nrequests\n")
    assert requirements_for(tmp_path) == ["PyJWT==2.9.0", "requests"]
    lines = (ROOT / "lambdas" / "requirements.txt").read_text().splitlines()
    pinned = [line for line in lines if line and not line.startswith("#")]
    assert requirements_for(ROOT / "lambdas") == pinned and pinned


def test_vendoring_runs_pip_once_then_uses_the_cache(tmp_path: Path) -> None:
    """The second call with the same requirements and platform reuses the cached tree.

    pip is replaced by a function that writes what pip would (a package into --target):
    the real one needs PyPI, and tests run without network.
    """
    calls: list[Sequence[str]] = []

    def fake_pip(command: Sequence[str]) -> None:
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "jwt").mkdir()
        (target / "jwt" / "__init__.py").write_text("# vendored\n")

    cache = tmp_path / "cache"
    first, cached = vendor_dependencies(["PyJWT==2.10.1"], PY312, cache, pip=fake_pip)
    assert not cached and len(calls) == 1
    assert (first / "jwt" / "__init__.py").is_file()
    again, cached = vendor_dependencies(["PyJWT==2.10.1"], PY312, cache, pip=fake_pip)
    assert cached and again == first and len(calls) == 1
    other, cached = vendor_dependencies(
        ["PyJWT==2.10.1"], Platform("python3.12", "arm64"), cache, pip=fake_pip
    )
    assert not cached and other != first and len(calls) == 2
    assert cache_key(["b", "a"], PY312) == cache_key(["a", "b"], PY312)
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, other.name])


def test_a_failed_pip_leaves_no_cache_entry(tmp_path: Path) -> None:
    """pip failing is a DependencyError with pip's last line; nothing half-built is cached."""

    def failing_pip(command: Sequence[str]) -> None:
        script = "import sys; sys.stderr.write('ERROR: No matching distribution\\n'); sys.exit(1)"
        run_pip([sys.executable, "-c", script])  # a real process failing like pip does

    cache = tmp_path / "cache"
    with pytest.raises(DependencyError, match=r"pip exit 1\): ERROR: No matching distribution"):
        vendor_dependencies(["nonexistent-pkg"], PY312, cache, pip=failing_pip)
    assert list(cache.iterdir()) == []
