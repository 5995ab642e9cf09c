"""The functions' code zip: sources plus vendored runtime dependencies, byte-reproducible.

The same sources (and the same vendored wheels) always give the same bytes, so the
zip's SHA-256 names it in S3 (content addressing) and an unchanged app is a no-op
deploy: CloudFormation sees the same CodeUri and reports no changes.

Reproducibility comes from what goes into each entry, not from the file system:
entries sorted by path, every timestamp 1980-01-01 00:00 (the zip epoch), mode 0644,
Unix as the creating system, deflate at a fixed level, no directory entries and no
extra fields. Byte caches (`__pycache__`, `*.pyc`) are left out: they hold timestamps
and Lambda compiles on import anyway.

Dependencies Lambda's Python runtime lacks (the runtime ships boto3, not PyJWT or
cryptography) are listed, pinned, in the code directory's `requirements.txt`
(`lambdas/requirements.txt`, the file `sam build` reads too), and vendored with pip for
Lambda's platform, not this machine's:
`--platform manylinux2014_<arch> --only-binary=:all: --python-version <runtime>`. That
step reaches PyPI, so its result is cached under `.duelctl/build/deps/<key>/`, keyed by
the requirements and the target platform.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from duelctl.deploy.errors import DependencyError, DeployTemplateError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda reads code as another user
DEFLATE_LEVEL = 6
EXCLUDED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
REQUIREMENTS_RECORD = ".duelctl-requirements.txt"  # what a cached deps tree was built from
EXCLUDED_FILES = frozenset({".DS_Store", REQUIREMENTS_RECORD})
# pip --target writes console scripts with this machine's interpreter in the shebang.
EXCLUDED_DEP_DIRS = frozenset({"bin"})

REQUIREMENTS_FILE = "requirements.txt"
CACHE_VERSION = "1"

_PYTHON_RUNTIME = re.compile(r"^python(3\.\d+)$")
# AWS: Lambda architectures x86_64 and arm64 (Lambda developer guide, "Instruction sets").
_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}

PipRunner = Callable[[Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class CodeZip:
    """A built code zip and its content address."""

    data: bytes
    sha256: str  # hex digest of `data`
    files: int

    @property
    def s3_key(self) -> str:
        """`duelctl/<sha256>.zip`: the same code always lands on the same key."""
        return f"duelctl/{self.sha256}.zip"


@dataclass(frozen=True, slots=True)
class Platform:
    """Where the code runs: a Lambda runtime and instruction set."""

    runtime: str  # "python3.12"
    architecture: str  # "x86_64" | "arm64"

    @property
    def python_version(self) -> str | None:
        """'3.12' for a python runtime, None for others (nothing to vendor)."""
        match = _PYTHON_RUNTIME.match(self.runtime)
        return match.group(1) if match else None

    @property
    def pip_platform(self) -> str:
        try:
            return _PLATFORMS[self.architecture]
        except KeyError:
            raise DeployTemplateError(
                f"architecture {self.architecture!r} is not one Lambda offers (x86_64, arm64)"
            ) from None


def source_files(root: Path, *, skip_top: Iterable[str] = ()) -> dict[str, Path]:
    """Files under `root` that belong in the zip, by their posix path inside it."""
    skip = set(skip_top)
    found: dict[str, Path] = {}
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        rel_dir = here.relative_to(root)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in EXCLUDED_DIRS and not (rel_dir == Path(".") and d in skip)
        )
        for name in filenames:
            if name.endswith(EXCLUDED_SUFFIXES) or name in EXCLUDED_FILES:
                continue
            path = here / name
            if not path.is_file():  # a dangling link or a socket
                continue
            found[(rel_dir / name).as_posix()] = path
    return found


def build_zip(source: Path, deps: Path | None = None) -> CodeZip:
    """Zip `source` (and the vendored `deps`, at the zip root) reproducibly.

    The source wins where both hold the same path: the app's own module shadows a
    vendored one, as it would on the import path when deployed with SAM.
    """
    if not source.is_dir():
        raise DeployTemplateError(f"CodeUri {source} is not a directory")
    entries: dict[str, Path] = {}
    if deps is not None:
        entries.update(source_files(deps, skip_top=EXCLUDED_DEP_DIRS))
    entries.update(source_files(source))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes(), compresslevel=DEFLATE_LEVEL)
    data = buffer.getvalue()
    return CodeZip(data=data, sha256=hashlib.sha256(data).hexdigest(), files=len(entries))


def requirements_for(source: Path) -> list[str]:
    """The code's runtime requirements: the lines of its requirements.txt, else none.

    The file is the one list (tests/lambdas/test_requirements.py holds it to the
    handlers' imports); without it nothing is vendored, as with `sam build`.
    """
    file = source / REQUIREMENTS_FILE
    if not file.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in file.read_text().splitlines())
    return [line for line in lines if line]


def pip_command(requirements: Sequence[str], platform: Platform, target: Path) -> list[str]:
    """pip installing wheels for Lambda's platform (not this machine's) into `target`."""
    version = platform.python_version
    if version is None:
        raise DeployTemplateError(f"runtime {platform.runtime!r}: only python runtimes vendor")
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--platform",
        platform.pip_platform,
        "--implementation",
        "cp",
        "--python-version",
        version,
        "--only-binary=:all:",
        "--no-compile",  # .pyc files would make the zip differ between runs
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        *requirements,
    ]


def run_pip(command: Sequence[str]) -> None:
    """Run pip; a failure becomes a DependencyError quoting pip's last words."""
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    except OSError as exc:
        raise DependencyError(f"could not run pip ({exc})") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise DependencyError(
            f"vendoring dependencies failed (pip exit {done.returncode}): {last}; check the "
            "network and that every requirement has a wheel for Lambda's platform"
        )


def cache_key(requirements: Sequence[str], platform: Platform) -> str:
    """A short digest of what determines the vendored tree."""
    material = json.dumps(
        {
            "v": CACHE_VERSION,
            "requirements": sorted(requirements),
            "runtime": platform.runtime,
            "architecture": platform.architecture,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def vendor_dependencies(
    requirements: Sequence[str],
    platform: Platform,
    cache_dir: Path,
    *,
    pip: PipRunner = run_pip,
) -> tuple[Path, bool]:
    """The vendored tree for `requirements` on `platform`, and whether it came from cache.

    pip installs into a fresh temporary directory that is renamed into place only
    once complete, so an interrupted run never leaves a half-filled cache entry.
    """
    target = cache_dir / cache_key(requirements, platform)
    if target.is_dir():
        return target, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    try:
        if requirements:
            pip(pip_command(requirements, platform, work))
        (work / REQUIREMENTS_RECORD).write_text("".join(f"{r}\n" for r in requirements))
        try:
            work.rename(target)
        except OSError:  # a parallel run got there first; use its result
            if not target.is_dir():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target, False
