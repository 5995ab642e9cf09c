"""Options shared by the client commands, defined once for cli.py and commands/*.py.

Typer reads a command's annotations by name from its module's globals (postponed
annotations), so modules import these names rather than building their own copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TargetOpt = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        help="'local' (.duelctl/local.json) or a stage name (.duelctl/STAGE.json).",
    ),
]
EndpointsOpt = Annotated[
    Path | None,
    typer.Option(
        "--endpoints",
        help="Endpoints file to use instead of .duelctl/<target>.json.",
        dir_okay=False,
    ),
]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="Password for stage targets (default: env DUELCTL_PASSWORD); ignored locally.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write machine-readable JSON to stdout.")]
TemplateOpt = Annotated[
    Path | None,
    typer.Option(
        "--template",
        help="Template for a stack started here (default: ./template.yaml, else the bundled one).",
        dir_okay=False,
    ),
]
