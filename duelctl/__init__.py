"""duelctl: run, script and test the duel backend locally or on a deployed stage.

Importing the package is free: `__version__` is looked up on first use (installed
metadata), so `duelctl --help` does not pay for importlib.metadata.
"""

from __future__ import annotations

from typing import Any

DIST_NAME = "duelctl"


def version() -> str:
    """The installed distribution's version, or "0+unknown" when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version(DIST_NAME)
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
