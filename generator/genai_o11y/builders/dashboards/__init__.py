"""Grafana dashboards as code (grafanalib), one module per board, all from the spec."""

from __future__ import annotations

from ...spec import Spec
from . import cost, drilldown, failures, overview, pipeline, quality, retrieval, stages, tools

BOARDS = [overview, stages, cost, tools, retrieval, quality, failures, drilldown, pipeline]


def build_all(spec: Spec, source: str) -> dict[str, dict]:
    """uid -> dashboard JSON (as data)."""
    return {b.UID: b.build(spec, source) for b in BOARDS}
