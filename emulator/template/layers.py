"""Lambda layers: AWS::Serverless::LayerVersion / AWS::Lambda::LayerVersion with local content.

AWS (Lambda developer guide, "Packaging your layer content" and "Accessing layer
content"): a function's layers are extracted into /opt in the order the function lists
them, a later layer's file replacing an earlier one's; a Python runtime then has
`/opt/python/lib/python3.x/site-packages` and `/opt/python` on its import path, after
the function's own code. Locally each layer stays in its own directory, so the same
order is the order of those directories on the worker's import path: every layer's
`site-packages` before every `python/`, the last-listed layer first in each group.

A layer the template does not declare (a published ARN) cannot be fetched; the load
stops with one line naming the ARN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.template.errors import TemplateError
from emulator.template.intrinsics import as_text
from emulator.template.physical import SAM_LAYER, PhysicalIds, Props

# AWS: at most five layers per function (Lambda quotas).
MAX_LAYERS = 5
_PYTHON_BUILD = re.compile(r"python3\.\d+")


@dataclass(frozen=True, slots=True)
class LocalLayer:
    """A layer of this template: its ARN and the directory Lambda would unpack as /opt."""

    logical_id: str
    arn: str
    root: Path  # ContentUri / Content
    # AWS SAM: with Metadata BuildMethod python3.x, `sam build` puts the directory's
    # contents (and its requirements) under python/; without, the directory must hold python/.
    built_as_python: bool

    def import_dirs(self, runtime: str) -> tuple[Path | None, Path]:
        """(site-packages dir or None, python dir) for a function on `runtime`."""
        python = self.root if self.built_as_python else self.root / "python"
        site = python / "lib" / runtime / "site-packages"
        return (site if site.is_dir() else None), python


def build_layer(props: Props, ids: PhysicalIds, template_dir: Path, metadata: Any) -> LocalLayer:
    """A `LocalLayer` from a LayerVersion resource; S3 content or a missing directory refuses."""
    resource = props.resource
    key = "ContentUri" if resource.type == SAM_LAYER else "Content"
    content = props.get(key)
    if content is None:
        raise TemplateError(f"{props.label}: {key} is required; set it to the layer's directory")
    if isinstance(content, dict):
        raise TemplateError(
            f"{props.label}: {key} points at S3 ({', '.join(content)}), which the emulator "
            f"cannot fetch; set {key} to the layer's local directory"
        )
    text = as_text(content, props.label, key)
    if "://" in text:
        raise TemplateError(
            f"{props.label}: {key} {text} is not a local path; set it to the layer's directory"
        )
    root = (template_dir / text).resolve()
    if not root.is_dir():
        raise TemplateError(
            f"{props.label}: {key} {text} is not a directory ({root}); point it at the "
            "unpacked layer (relative to the template)"
        )
    build = metadata.get("BuildMethod") if isinstance(metadata, dict) else None
    built = isinstance(build, str) and _PYTHON_BUILD.fullmatch(build) is not None
    if not built and not (root / "python").is_dir():
        raise TemplateError(
            f"{props.label}: {key} {text} has no python/ directory; Lambda puts only python/ "
            "(and python/lib/python3.x/site-packages) of a layer on the import path, so move "
            "the packages there or set Metadata BuildMethod: python3.12 as for sam build"
        )
    return LocalLayer(resource.logical_id, ids.layer_arn(resource), root, built)


def function_layers(
    props: Props, runtime: str, layers: Mapping[str, LocalLayer]
) -> tuple[Path, ...]:
    """The directories a function's `Layers` put on its import path, in Lambda's order."""
    arns = [as_text(item, props.label, "each Layers entry") for item in props.items("Layers")]
    if len(arns) > MAX_LAYERS:
        raise TemplateError(
            f"{props.label}: {len(arns)} Layers; Lambda allows at most {MAX_LAYERS}, so merge some"
        )
    chosen: list[LocalLayer] = []
    for arn in arns:
        layer = layers.get(arn)
        if layer is None:
            raise TemplateError(
                f"{props.label}: layer {arn} is not declared in this template and the "
                "emulator cannot download it; install its packages into the local Python "
                "or declare the layer here with a local ContentUri"
            )
        chosen.append(layer)
    sites: list[Path] = []
    pythons: list[Path] = []
    for layer in reversed(chosen):  # AWS: a later layer's files replace an earlier one's
        site, python = layer.import_dirs(runtime)
        if site is not None:
            sites.append(site)
        pythons.append(python)
    return tuple(dict.fromkeys([*sites, *pythons]))
