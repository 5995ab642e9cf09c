"""`duelctl` with the bench command, whether or not duelctl/cli.py registers it yet.

The bench scripts run `python bench/duelctl_cli.py bench ...`, so they work the same
before and after the command is wired into the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from duelctl.cli import app, main
from duelctl.commands.bench import register


def _registered(name: str) -> bool:
    for command in app.registered_commands:
        callback = command.callback
        if (command.name or (callback.__name__ if callback else "")) == name:
            return True
    return False


if not _registered("bench"):
    register(app)

if __name__ == "__main__":
    main()
