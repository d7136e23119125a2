"""alerts/runbook.md: one section per alert (what it means, how to confirm, first actions), from
the same Alert objects the rules are made of, so no alert can lack its runbook."""

from __future__ import annotations

from dataclasses import replace

import jinja2

from .. import render as render_mod
from ..spec import Spec
from . import llm_alerts, pipeline_alerts, rules

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("genai_o11y", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def grouped_alerts(spec: Spec) -> list:
    groups = (
        ("genai-o11y.slo-alerts", rules.slo_alerts(spec)),
        ("genai-o11y.llm-alerts", llm_alerts.alerts(spec)),
        ("genai-o11y.pipeline-alerts", pipeline_alerts.alerts(spec)),
    )
    out: dict[str, object] = {}
    for group, alerts in groups:
        for a in alerts:  # one section per alert name (latency SLOs share theirs), every rule's expression in it
            first = out.setdefault(a.name, replace(a, group=group))
            out[a.name] = replace(first, exprs=(*first.exprs, a.expr))
    return list(out.values())


def render(spec: Spec, source: str) -> str:
    t = spec.alerting.thresholds
    return _ENV.get_template("runbook.md.j2").render(
        source=source, regenerate=render_mod.regenerate_command(source), alerts=grouped_alerts(spec), baseline_days=t.baseline_days, min_requests=t.min_requests_per_hour
    )
