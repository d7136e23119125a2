"""Prometheus recording rules and SLO alerts (multi-window, multi-burn-rate), as data.

Policy as data (as Sloth does): the burn-rate windows below; the objectives come from the spec.
Every rule carries provenance labels; every alert has severity, summary, description, runbook_url.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import names as n
from ..spec import Spec

CALLS = n.PROM["calls"]
BUCKET = n.PROM["duration_bucket"]
COUNT = n.PROM["duration_count"]
STAGE, SVC, ENV = n.prom_label(n.STAGE), n.prom_label(n.SERVICE_NAME), n.prom_label(n.ENVIRONMENT)
BY = f"{SVC}, {ENV}"
ERROR = 'status_code="STATUS_CODE_ERROR"'
RULE_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
RUNBOOK = "https://github.com/genai-o11y/genai-o11y/blob/main/alerts/runbook.md"


@dataclass(frozen=True)
class BurnWindow:
    """Alert when the error budget burns `factor` times too fast over both windows."""

    severity: str  # critical pages, warning tickets
    long: str
    short: str
    factor: float


# Google SRE workbook, multi-window multi-burn-rate alerts.
BURN_WINDOWS = [
    BurnWindow("critical", "1h", "5m", 14.4),
    BurnWindow("critical", "6h", "30m", 6.0),
    BurnWindow("warning", "1d", "2h", 3.0),
    BurnWindow("warning", "3d", "6h", 1.0),
]


def latency_buckets_ms(spec: Spec, base: list[float]) -> list[float]:
    """Histogram buckets: the base ones plus every latency-SLO threshold, so SLIs are exact."""
    return sorted(set(base) | {float(s.threshold_ms) for s in spec.slos.latency})


def record_availability(window: str) -> dict:
    sel = f'{STAGE}="request"'
    return {
        "record": f"genai_o11y:request_errors:ratio_rate{window}",
        "expr": f"sum by ({BY}) (rate({CALLS}{{{sel},{ERROR}}}[{window}]))\n/\nsum by ({BY}) (rate({CALLS}{{{sel}}}[{window}]))",
        "labels": {"genai_o11y_sli": "availability"},
    }


def record_latency_slo(stage: str, threshold_ms: int, window: str) -> dict:
    sel = f'{STAGE}="{stage}"'
    return {
        "record": f"genai_o11y:stage_slow:ratio_rate{window}",
        "expr": (
            f"1 - (\n  sum by ({BY}, {STAGE}) (rate({BUCKET}{{{sel},le=\"{threshold_ms}\"}}[{window}]))\n"
            f"  /\n  sum by ({BY}, {STAGE}) (rate({COUNT}{{{sel}}}[{window}]))\n)"
        ),
        "labels": {"genai_o11y_sli": "latency", "threshold_ms": str(threshold_ms)},
    }


def record_stage_quantiles() -> list[dict]:
    out = []
    for q in ("50", "95", "99"):
        out.append({
            "record": f"genai_o11y:stage_latency_ms:p{q}_5m",
            "expr": f"histogram_quantile(0.{q}, sum by (le, {BY}, {STAGE}) (rate({BUCKET}[5m])))",
        })
    out.append({
        "record": "genai_o11y:stage_errors:ratio_rate5m",
        "expr": f"sum by ({BY}, {STAGE}) (rate({CALLS}{{{ERROR}}}[5m]))\n/\nsum by ({BY}, {STAGE}) (rate({CALLS}[5m]))",
    })
    out.append({
        "record": "genai_o11y:cost_usd:rate1h",
        "expr": f"sum by ({BY}, {n.prom_label(n.REQUEST_MODEL)}) (rate({n.PROM['cost']}[1h])) * 3600",
    })
    return out


def _burn_expr(metric: str, objective_pct: float, w: BurnWindow) -> str:
    budget = round(1 - objective_pct / 100, 10)
    thr = f"({w.factor} * {budget})"
    return f"(\n  {metric.format(w=w.long)} > {thr}\nand\n  {metric.format(w=w.short)} > {thr}\n)"


def slo_alerts(spec: Spec) -> list[dict]:
    alerts = []
    av = spec.slos.availability
    for sev, name, speed in (("critical", "GenAIErrorBudgetBurnFast", "fast"), ("warning", "GenAIErrorBudgetBurnSlow", "slow")):
        ws = [w for w in BURN_WINDOWS if w.severity == sev]
        expr = "\nor\n".join(_burn_expr("genai_o11y:request_errors:ratio_rate{w}", av.objective_percent, w) for w in ws)
        alerts.append({
            "alert": name,
            "expr": expr,
            "for": "2m" if sev == "critical" else "15m",
            "labels": {"severity": sev, "genai_o11y_slo": "availability"},
            "annotations": {
                "summary": f"Requests of {{{{ $labels.{SVC} }}}} fail {speed} enough to exhaust the {av.window_days}-day error budget",
                "description": (
                    f"The error ratio of {{{{ $labels.{SVC} }}}} ({{{{ $labels.{ENV} }}}}) burns the {av.objective_percent}% availability budget "
                    f"at {' / '.join(f'{w.factor}x over {w.long} and {w.short}' for w in ws)}: currently {{{{ $value | humanizePercentage }}}} of requests fail."
                ),
                "runbook_url": f"{RUNBOOK}#{name.lower()}",
            },
        })
    for slo in spec.slos.latency:
        name = "GenAILatencyBudgetBurn"
        metric = 'genai_o11y:stage_slow:ratio_rate{w}{{' + f'{STAGE}="{slo.stage}",threshold_ms="{slo.threshold_ms}"' + '}}'
        ws = [w for w in BURN_WINDOWS if w.severity == "critical"]
        alerts.append({
            "alert": name,
            "expr": "\nor\n".join(_burn_expr(metric, slo.objective_percent, w) for w in ws),
            "for": "2m",
            "labels": {"severity": "critical", "genai_o11y_slo": "latency", STAGE: slo.stage},
            "annotations": {
                "summary": f"Stage {slo.stage} is slower than {slo.threshold_ms} ms too often",
                "description": (
                    f"More than the {round(100 - slo.objective_percent, 6)}% budget of {slo.stage} spans of {{{{ $labels.{SVC} }}}} take over {slo.threshold_ms} ms "
                    f"(burning {' / '.join(f'{w.factor}x' for w in ws)}): {{{{ $value | humanizePercentage }}}} are slow."
                ),
                "runbook_url": f"{RUNBOOK}#{name.lower()}",
            },
        })
    return alerts


def build(spec: Spec) -> dict:
    records = [record_availability(w) for w in RULE_WINDOWS]
    for slo in spec.slos.latency:
        records += [record_latency_slo(slo.stage, slo.threshold_ms, w) for w in RULE_WINDOWS]
    return {
        "groups": [
            {"name": "genai-o11y.sli", "interval": "30s", "rules": records + record_stage_quantiles()},
            {"name": "genai-o11y.slo-alerts", "rules": slo_alerts(spec)},
        ]
    }
