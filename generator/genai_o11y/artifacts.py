"""spec -> {relative path: file text}: every artifact `generate` writes."""

from __future__ import annotations

from . import render
from .builders import collector, ocb
from .spec import Spec

COLLECTOR_CONFIG = "collector/otelcol.yaml"
OCB_MANIFEST = "collector/builder-config.yaml"


def build_all(spec: Spec, source: str) -> dict[str, str]:
    head = render.header(source)
    return {
        COLLECTOR_CONFIG: render.to_yaml(collector.build(spec), head),
        OCB_MANIFEST: render.to_yaml(ocb.manifest(), head),
    }
