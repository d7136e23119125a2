"""Prometheus recording rules and SLO alerts (multi-window, multi-burn-rate), as data; `build`
assembles every rule group (SLIs, SLO alerts, LLM baseline alerts, the pipeline watching itself).

Policy as data (as Sloth does): the burn-rate windows below; the objectives come from the spec.
Every alert has severity, summary, description, runbook_url (see alerting.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import catalog
from .. import names as n
from ..spec import Spec
from . import llm_alerts, pipeline_alerts
from .alerting import Alert, Runbook, dashboard
from .promql import ERROR, le

CALLS = catalog.PROM["calls"]
BUCKET = catalog.PROM["duration_bucket"]
COUNT = catalog.PROM["duration_count"]
STAGE, SVC, ENV = n.prom_label(n.STAGE), n.prom_label(n.SERVICE_NAME), n.prom_label(n.ENVIRONMENT)
BY = f"{SVC}, {ENV}"
RULE_WINDOWS = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


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
SPEEDS = (("critical", "Fast", "fast", "2m"), ("warning", "Slow", "slow", "15m"))


def record_availability(window: str) -> dict:
    sel = f'{STAGE}="request"'
    return {
        "record": catalog.request_errors(window),
        "expr": f"sum by ({BY}) (rate({CALLS}{{{sel},{ERROR}}}[{window}]))\n/\nsum by ({BY}) (rate({CALLS}{{{sel}}}[{window}]))",
        "labels": {"genai_o11y_sli": "availability"},
    }


def record_latency_slo(stage: str, threshold_ms: int, window: str) -> dict:
    sel = f'{STAGE}="{stage}"'
    return {
        "record": catalog.stage_slow(window),
        "expr": (
            f"1 - (\n  sum by ({BY}, {STAGE}) (rate({BUCKET}{{{sel},{le(threshold_ms)}}}[{window}]))\n"
            f"  /\n  sum by ({BY}, {STAGE}) (rate({COUNT}{{{sel}}}[{window}]))\n)"
        ),
        "labels": {"genai_o11y_sli": "latency", "threshold_ms": str(threshold_ms)},
    }


def record_stage_slis() -> list[dict]:
    """Per-stage error ratios the dashboards read (5m). Only what a reader reads is recorded
    (tests/test_rule_readers.py): the boards' latency quantiles and cost per model query the
    histograms and counters with the board's variables, which a record by service would drop."""
    return [{
        "record": catalog.REC_STAGE_ERRORS_5M,
        "expr": f"sum by ({BY}, {STAGE}) (rate({CALLS}{{{ERROR}}}[5m]))\n/\nsum by ({BY}, {STAGE}) (rate({CALLS}[5m]))",
    }]


#: The long windows of BURN_WINDOWS: the guard's event rates are recorded over these.
GUARD_WINDOWS = list(dict.fromkeys(w.long for w in BURN_WINDOWS))
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


def record_slo_events(window: str, latency: bool) -> dict:
    """The guard's events: requests from the availability ratio's counter, a stage's spans from the
    latency ratio's histogram count."""
    if latency:
        return {"record": catalog.slo_events(window, True), "expr": f"sum by ({BY}, {STAGE}) (rate({COUNT}[{window}]))"}
    return {"record": catalog.slo_events(window, False), "expr": f'sum by ({BY}) (rate({CALLS}{{{STAGE}="request"}}[{window}]))'}


def _burn_expr(metric, objective_pct: float, w: BurnWindow, stage: str | None, min_events: int) -> str:
    """`metric`: window -> the series (a recording rule and its matchers) to compare; `stage`: the stage
    whose spans count as events (None: requests; the guard then matches on service and environment)."""
    budget = round(1 - objective_pct / 100, 10)
    thr = f"({w.factor} * {budget})"
    if stage:
        on, events = f"{BY}, {STAGE}", f'{catalog.slo_events(w.long, True)}{{{STAGE}="{stage}"}}'
    else:
        on, events = BY, catalog.slo_events(w.long, False)
    guard = f"{events} * {seconds(w.long)} >= {min_events}"
    return f"(\n  {metric(w.long)} > {thr}\nand\n  {metric(w.short)} > {thr}\nand on ({on})\n  {guard}\n)"


def _windows_text(ws: list[BurnWindow]) -> str:
    return " / ".join(f"{w.factor}x over {w.long} and {w.short}" for w in ws)


def _long_text(ws: list[BurnWindow]) -> str:
    """Which window an alert's $value is: the long window of the first pair that holds (an `or` keeps its left side)."""
    return f"the last {ws[0].long}" + "".join(f" (or {w.long}, when only that pair holds)" for w in ws[1:])


def _burn_alerts(name: str, metric, objective_pct: float, slo: str, text, min_events: int, stage: str | None = None) -> list[Alert]:
    """One SLO's multiwindow burn-rate alerts: Fast (pages) and Slow (a ticket). `metric`: window -> the
    recorded ratio (with its matchers); `text(page, speed, windows)` -> (summary, description, runbook).
    Each window pair needs min_events events in its long window (slos.min_events)."""
    out = []
    for sev, suffix, speed, for_ in SPEEDS:
        ws = [w for w in BURN_WINDOWS if w.severity == sev]
        summary, description, runbook = text(sev == "critical", speed, ws)
        out.append(Alert(name=f"{name}{suffix}", expr="\nor\n".join(_burn_expr(metric, objective_pct, w, stage, min_events) for w in ws),
                         severity=sev, for_=for_,
                         labels={"genai_o11y_slo": slo}, summary=summary, description=description, runbook=runbook))
    return out


def slo_alerts(spec: Spec) -> list[Alert]:
    av = spec.slos.availability

    def availability_text(page: bool, speed: str, ws: list[BurnWindow]):
        return (
            f"Requests of {{{{ $labels.{SVC} }}}} fail {speed} enough to exhaust the {av.window_days}-day error budget",
            f"The error ratio of {{{{ $labels.{SVC} }}}} ({{{{ $labels.{ENV} }}}}) burns the {av.objective_percent}% availability budget "
            f"at {_windows_text(ws)}: {{{{ $value | humanizePercentage }}}} of requests failed over {_long_text(ws)}.",
            Runbook(
                meaning=(
                    f"End-to-end requests (stage `request`: each trace's root span, a model call included when nothing of the app is above it) fail often enough that, at this rate, the "
                    f"{av.window_days}-day budget of {round(100 - av.objective_percent, 6)}% failed requests is gone "
                    + ("within hours to a couple of days: users are affected now." if page else "before the window ends: a slow leak worth a ticket.")
                    + f" Each window pair needs at least {spec.slos.min_events} requests in its long window (`slos.min_events`): a quiet service's one failure is not an outage."
                ),
                confirm=[
                    f"{dashboard(n.BOARD_OVERVIEW, 'Error ratio')}: the ratio against the budget line.",
                    f"{dashboard(n.BOARD_OVERVIEW, 'Top failing operations')}: which stage, model or tool fails.",
                    f"{dashboard(n.BOARD_FAILURES)}: the failure categories that rose, and {dashboard(n.BOARD_DRILLDOWN)} for failed traces (status=error; errors are always sampled).",
                ],
                actions=[
                    f"Find the failing stage: a provider outage or rate limit shows as `{n.prom_label(n.ERROR_TYPE)}` on `model_call`; a tool as "
                    f"`{n.prom_label(n.TOOL_OUTCOME)}=~\"error|timeout\"`.",
                    f"If a release or prompt version started it (compare `{n.prom_label(n.SERVICE_VERSION)}` / `{n.prom_label(n.PROMPT_VERSION)}` in the failing series), roll it back.",
                    "Provider failing: fail over to the secondary model/route if the app has one; otherwise open an incident with the provider.",
                ],
            ),
        )

    alerts = _burn_alerts("GenAIErrorBudgetBurn", catalog.request_errors, av.objective_percent, "availability", availability_text,
                          spec.slos.min_events)
    for slo in spec.slos.latency:
        def metric(window: str, slo=slo) -> str:
            return catalog.stage_slow(window) + "{" + f'{STAGE}="{slo.stage}",threshold_ms="{slo.threshold_ms}"' + "}"

        def latency_text(page: bool, speed: str, ws: list[BurnWindow], slo=slo):
            return (
                f"Stage {{{{ $labels.{STAGE} }}}} of {{{{ $labels.{SVC} }}}} is slower than {{{{ $labels.threshold_ms }}}} ms too often ({speed} burn)",
                f"More than the {round(100 - slo.objective_percent, 6)}% budget of {slo.stage} spans of {{{{ $labels.{SVC} }}}} "
                f"({{{{ $labels.{ENV} }}}}) take over {slo.threshold_ms} ms, burning at {_windows_text(ws)}: "
                f"{{{{ $value | humanizePercentage }}}} were slow over {_long_text(ws)}.",
                _latency_runbook(page, spec.slos.min_events),
            )

        alerts += _burn_alerts(LATENCY_SLO, metric, slo.objective_percent, "latency", latency_text, spec.slos.min_events, slo.stage)
    return alerts


#: the latency SLO alerts' name prefix (<prefix>Fast pages, <prefix>Slow tickets)
LATENCY_SLO = "GenAILatencyBudgetBurn"


def _latency_runbook(page: bool, min_events: int) -> Runbook:
    return Runbook(
        meaning=(
            "Too many spans of one stage (label `genai_o11y_stage`; `request` is end to end) are slower than the "
            "spec's latency SLO threshold. " + ("At this burn rate the budget is gone within hours." if page else "A slower burn: the budget runs out before the window ends.")
            + f" Each window pair needs at least {min_events} spans of the stage in its long window (`slos.min_events`)."
        ),
        confirm=[
            f"{dashboard(n.BOARD_STAGES, 'Latency by stage')}: p95/p99 of the stage the alert names (its `genai_o11y_stage` label) against "
            f"the alert's `threshold_ms`; for `request` (end to end), {dashboard(n.BOARD_OVERVIEW, 'Latency end to end')}.",
            f"{dashboard(n.BOARD_STAGES, 'Share of end-to-end latency')}: whether this stage's share grew.",
            "Click an exemplar on the latency panel to open a slow trace in Tempo.",
        ],
        actions=[
            f"Find what is slow within the stage. `tool_call`: which tool, {dashboard(n.BOARD_TOOLS, 'Tool latency p95')} (the page names the "
            f"stage, not the tool; tool spans carry no model, so the model splits leave them out). `model_call`: which model, "
            f"{dashboard(n.BOARD_STAGES, 'p95 by stage and model')}; then provider status and output token counts (longer answers are slower). "
            f"Any stage: {dashboard(n.BOARD_STAGES, 'p95 by stage and route')} and {dashboard(n.BOARD_STAGES, 'p95 by stage and release')} "
            "(a route's own tool, a release).",
            "If a release or prompt change made answers longer, roll it back or cap max tokens; a slow tool: its owner, its timeout "
            "(the spec's tool timeouts are on the tool latency panel), or a fallback route.",
        ],
    )


def sli_records(spec: Spec) -> list[dict]:
    records = [record_availability(w) for w in RULE_WINDOWS]
    for slo in spec.slos.latency:
        records += [record_latency_slo(slo.stage, slo.threshold_ms, w) for w in RULE_WINDOWS]
    records += [record_slo_events(w, False) for w in GUARD_WINDOWS]
    if spec.slos.latency:
        records += [record_slo_events(w, True) for w in GUARD_WINDOWS]
    return records + record_stage_slis()


def all_alerts(spec: Spec) -> list[Alert]:
    return slo_alerts(spec) + llm_alerts.alerts(spec) + pipeline_alerts.alerts(spec)


def build(spec: Spec) -> dict:
    return {
        "groups": [
            {"name": "genai-o11y.sli", "interval": "30s", "rules": sli_records(spec)},
            {"name": "genai-o11y.llm-sli", "interval": "1m", "rules": llm_alerts.current_records(spec)},
            {"name": "genai-o11y.llm-baselines", "interval": "2m", "rules": llm_alerts.baseline_records(spec)},
            {"name": "genai-o11y.slo-alerts", "rules": [a.rule(spec.alerting.runbook_url, spec.alerting.grafana_url) for a in slo_alerts(spec)]},
            {"name": "genai-o11y.llm-alerts", "rules": [a.rule(spec.alerting.runbook_url, spec.alerting.grafana_url) for a in llm_alerts.alerts(spec)]},
            {"name": "genai-o11y.pipeline-alerts", "rules": [a.rule(spec.alerting.runbook_url, spec.alerting.grafana_url) for a in pipeline_alerts.alerts(spec)]},
        ]
    }
