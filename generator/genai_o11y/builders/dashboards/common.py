"""What every dashboard shares: datasources (fixed uids), template variables, label-aware selectors,
panel factories over grafanalib, the grid, links into the drill-down, and the normalisation that
makes grafanalib's output valid against Grafana's dashboard schema (no nulls, no legacy keys).

Selectors know which labels each metric has (taken from the collector config that produces it), so
a template variable filters only the metrics that carry its label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafanalib import core as G
from grafanalib._gen import DashboardEncoder

from ... import catalog
from ... import names as n
from ... import render
from ..promql import ERROR  # noqa: F401  (the boards' error matcher, shared with the rules)

PROM_DS = {"type": "prometheus", "uid": "${datasource}"}
TEMPO_DS = {"type": "tempo", "uid": n.DS_TEMPO}
L = n.prom_label
SVC, ENV, STAGE, MODEL, ROUTE = L(n.SERVICE_NAME), L(n.ENVIRONMENT), L(n.STAGE), L(n.REQUEST_MODEL), L(n.ROUTE)
TEMPLATE, VERSION, TENANT, TOOL, PROVIDER = L(n.PROMPT_TEMPLATE), L(n.PROMPT_VERSION), L(n.TENANT), L(n.TOOL_NAME), L(n.PROVIDER)
RELEASE, OUTCOME, FAILURE, EVAL = L(n.SERVICE_VERSION), L(n.TOOL_OUTCOME), L(n.FAILURE_CATEGORY), L(n.EVAL_NAME)
RATE = "$__rate_interval"
SCHEMA_VERSION = 39

#: template variable -> the label it filters
FILTERS: list[tuple[str, str]] = [
    ("environment", ENV),
    ("service", SVC),
    ("model", MODEL),
    ("route", ROUTE),
    ("tenant", TENANT),
    ("prompt_version", VERSION),
]


#: filters a series may lack the label of (a tool call, a retrieval or an evaluation has no model; an app sets no
#: route): picking a value keeps those series, or the model filter emptied every tool_call panel (an on-call's trial)
OR_UNSET = {"model", "route", "tenant", "prompt_version"}


#: sel(skip=...) of a query about the whole service (a budget, a release marker): only environment and service apply
WHOLE_SERVICE = tuple(sorted(OR_UNSET))


def filter_matcher(var: str, label: str) -> str:
    """The matcher of a board variable: `label=~"$var"`, and for OR_UNSET also the series without the label."""
    return f'{label}=~"${var}|"' if var in OR_UNSET else f'{label}=~"${var}"'


def labels_of(metric: str) -> set[str]:
    if metric in catalog.PROM_LABELS:
        return set(catalog.PROM_LABELS[metric])
    if metric.startswith("genai_o11y:"):  # recording rules aggregate by service and environment at least
        return {SVC, ENV}
    return set()


def sel(metric: str, *matchers: str, skip: tuple[str, ...] = ()) -> str:
    """`metric{matchers, every template filter whose label the metric has}`."""
    labels = labels_of(metric)
    if not labels and not metric.startswith(("otelcol", "up", "{")):
        raise KeyError(f"unknown metric {metric!r}: add it to the collector config or the catalogue")
    parts = list(matchers) + [filter_matcher(var, label) for var, label in FILTERS if label in labels and var not in skip]
    return f"{metric}{{{','.join(parts)}}}"


def rate(metric: str, *matchers: str, window: str = RATE, skip: tuple[str, ...] = ()) -> str:
    return f"rate({sel(metric, *matchers, skip=skip)}[{window}])"


# --- panels ----------------------------------------------------------------------------------------

@dataclass
class Q:
    """One query of a panel. `legend` uses {{label}}: the test checks the labels exist in the result."""

    expr: str
    legend: str = ""
    instant: bool = False
    exemplar: bool = False
    table: bool = False  # one row per series (label columns, one value): what a bar chart joins

    def target(self, ref: str) -> dict:
        t = {"datasource": PROM_DS, "expr": self.expr, "refId": ref, "editorMode": "code", "range": not self.instant, "instant": self.instant}
        if self.table:
            t["format"] = "table"
        if self.legend:
            t["legendFormat"] = self.legend
        if self.exemplar:
            t["exemplar"] = True
        return t


@dataclass
class P:
    """A panel: what it shows (kind), its queries, and a description saying what a bad value means."""

    title: str
    description: str
    queries: list[Q] = field(default_factory=list)
    kind: str = "timeseries"  # timeseries | stat | bargauge | barchart | table | alertlist | traces | text
    unit: str = "short"
    w: int = 12
    h: int = 8
    stack: bool = False
    thresholds: list[tuple[float, str]] | None = None
    threshold_base: str = "green"  # the colour below the first threshold
    threshold_lines: bool = False  # draw the thresholds as lines on a time series (a floor)
    options: dict[str, Any] = field(default_factory=dict)
    links: list[dict] = field(default_factory=list)
    transformations: list[dict] = field(default_factory=list)
    overrides: list[dict] = field(default_factory=list)
    data_links: list[dict] = field(default_factory=list)  # on every value (fieldConfig.defaults.links)


def _thresholds(steps: list[tuple[float, str]] | None, base_color: str = "green") -> dict:
    base = [{"color": base_color, "value": None}]
    return {"mode": "absolute", "steps": base + [{"color": c, "value": v} for v, c in (steps or [])]}


class TracesPanel(G.Panel):
    """Grafana's `traces` panel (grafanalib 0.7.1 has no class for it)."""

    def to_json_data(self):
        return self.panel_json({"type": "traces"})


class BarChartPanel(G.Panel):
    """Grafana's `barchart` panel over one joined table (grafanalib 0.7.1's BarChart predates the table form)."""

    def to_json_data(self):
        return self.panel_json({"type": "barchart"})


def hide_field(name: str) -> dict:
    """A field override: `name` drawn transparent and left out of the legend (a waterfall's offset)."""
    return {
        "matcher": {"id": "byNames", "options": {"mode": "include", "names": [name], "prefix": "", "readOnly": True}},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "transparent"}},
                       {"id": "custom.hideFrom", "value": {"legend": True, "tooltip": False, "viz": False}}],
    }


def drilldown_link() -> dict:
    """A panel link into the drill-down board, carrying the variables and the time range."""
    return {
        "title": "Open in request drill-down", "type": "link", "url": f"/d/{n.BOARD_DRILLDOWN}", "icon": "external link",
        "tooltip": "Traces behind this panel in Tempo", "tags": [], "asDropdown": False, "targetBlank": False,
        "includeVars": True, "keepTime": True,
    }


#: Top-level keys grafanalib still writes for some panel types (moved into options/fieldConfig since Grafana 7).
PANEL_LEGACY = {"alertlist": {"dashboardTags", "limit", "nameFilter", "onlyAlertsOnDashboard", "show", "sortOrder", "stateFilter"},
                "table": {"color", "columns", "fontSize", "mappings", "styles"}}


def panel(p: P, pid: int, x: int, y: int) -> Any:
    targets = [q.target(chr(ord("A") + i)) for i, q in enumerate(p.queries)]
    grid = G.GridPos(h=p.h, w=p.w, x=x, y=y)
    common = dict(title=p.title, description=p.description, gridPos=grid, id=pid, targets=targets, dataSource=PROM_DS)
    links = p.links or ([drilldown_link()] if p.kind in ("timeseries", "table", "bargauge", "barchart", "stat") else [])
    if p.kind == "timeseries":
        obj = G.TimeSeries(**common, unit=p.unit, stacking={"mode": "normal"} if p.stack else {}, legendDisplayMode="table",
                           legendPlacement="bottom", legendCalcs=["mean", "max", "lastNotNull"], tooltipMode="multi")
    elif p.kind == "stat":
        obj = G.Stat(**common, format=p.unit, reduceCalc="lastNotNull", thresholds=_thresholds(p.thresholds)["steps"], graphMode="area")
    elif p.kind == "bargauge":
        obj = G.BarGauge(**common, format=p.unit, calc="lastNotNull", displayMode="gradient", orientation="horizontal",
                         thresholds=_thresholds(p.thresholds)["steps"], allValues=False)
    elif p.kind == "table":
        if "targets" in p.options:  # a Tempo search as a table
            common.update(targets=p.options.pop("targets"), dataSource=TEMPO_DS)
        obj = G.Table(**common, unit=p.unit)
    elif p.kind == "barchart":
        obj = BarChartPanel(**common, transformations=p.transformations)
    elif p.kind == "alertlist":
        obj = G.AlertList(title=p.title, description=p.description, gridPos=grid, id=pid)
        p.options.setdefault("datasource", None)
    elif p.kind == "traces":
        obj = TracesPanel(title=p.title, description=p.description, gridPos=grid, id=pid, dataSource=TEMPO_DS, targets=p.options.pop("targets"))
    elif p.kind == "text":
        obj = G.Text(title=p.title, description=p.description, gridPos=grid, id=pid, content=p.options.pop("content"), mode="markdown")
    else:
        raise ValueError(f"unknown panel kind {p.kind}")
    data = obj.to_json_data()
    for key in PANEL_LEGACY.get(p.kind, ()):
        data.pop(key, None)
    if links:
        data["links"] = links
    data.setdefault("fieldConfig", {"defaults": {}, "overrides": []})
    data["fieldConfig"].setdefault("overrides", [])
    data["fieldConfig"]["overrides"].extend(p.overrides)
    if p.kind in ("timeseries", "stat", "bargauge", "barchart", "table"):
        data["fieldConfig"]["defaults"]["unit"] = p.unit
        if p.thresholds:
            data["fieldConfig"]["defaults"]["thresholds"] = _thresholds(p.thresholds, p.threshold_base)
        if p.data_links:
            data["fieldConfig"]["defaults"]["links"] = p.data_links
        if p.threshold_lines:
            data["fieldConfig"]["defaults"].setdefault("custom", {})["thresholdsStyle"] = {"mode": "line"}
    if p.options:
        data.setdefault("options", {}).update({k: v for k, v in p.options.items() if v is not None})
    return data


def layout(panels: list[P]) -> list[dict]:
    """Left to right, top to bottom on Grafana's 24-column grid; ids in order."""
    out, x, y, row_h = [], 0, 0, 0
    for i, p in enumerate(panels, start=1):
        if x + p.w > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(panel(p, i, x, y))
        x, row_h = x + p.w, max(row_h, p.h)
    return out


# --- variables, annotations, links ---------------------------------------------------------------------

def _query_var(name: str, label: str, metric: str, text: str, upstream: str = "") -> dict:
    q = f"label_values({metric}{upstream}, {label})"
    unset = {"description": f"Series without a {text.lower()} (stages that have none) stay in whatever is picked."} if name in OR_UNSET else {}
    return {
        "type": "query", "name": name, "label": text, **unset, "datasource": PROM_DS, "query": q,
        "definition": q, "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0,
    }


def trace_id_variable() -> dict:
    """A textbox holding one trace id: a `traces` panel querying `$trace_id` draws that trace as a waterfall."""
    return {"type": "textbox", "name": "trace_id", "label": "Trace id", "query": "", "hide": 0,
            "current": {"selected": False, "text": "", "value": ""}, "options": []}


def data_link(title: str, uid: str, **params: str) -> dict:
    """A data link to board `uid` keeping the time range and every filter variable, plus `params`
    (`var-x=...`); Grafana expands ${__data.fields.<name>} per clicked row."""
    query = ["${__url_time_range}", "${datasource:queryparam}", *(f"${{{var}:queryparam}}" for var, _ in FILTERS),
             *(f"{k}={v}" for k, v in params.items())]
    return {"title": title, "type": "link", "url": f"/d/{uid}?" + "&".join(query), "icon": "external link", "tooltip": title, "tags": [],
            "asDropdown": False, "targetBlank": False, "includeVars": False, "keepTime": False}


def variables() -> list[dict]:
    calls = catalog.PROM["calls"]
    up = f'{{{ENV}=~"$environment"}}'
    up2 = f'{{{ENV}=~"$environment",{SVC}=~"$service"}}'
    return [
        {"type": "datasource", "name": "datasource", "label": "Prometheus", "query": "prometheus", "hide": 0,
         "current": {"selected": True, "text": "Prometheus", "value": n.DS_PROMETHEUS}, "options": [], "refresh": 1, "regex": ""},
        _query_var("environment", ENV, calls, "Environment"),
        _query_var("service", SVC, calls, "Service", up),
        _query_var("model", MODEL, calls, "Model", up2),
        _query_var("route", ROUTE, calls, "Route", up2),
        _query_var("tenant", TENANT, catalog.PROM["tenant_requests"], "Tenant", up2),
        _query_var("prompt_version", VERSION, calls, "Prompt version", up2),
    ]


def change_annotations() -> list[dict]:
    """Annotations where a prompt version or a release starts serving (a series that did not exist 10m before)."""
    calls = catalog.PROM["calls"]
    base = f'{ENV}=~"$environment",{SVC}=~"$service"'
    return [
        {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
         "name": "Annotations & Alerts", "type": "dashboard"},
        {"name": "Prompt version change", "datasource": PROM_DS, "enable": True, "iconColor": "purple", "step": "1m", "titleFormat": "prompt {{" + TEMPLATE + "}} {{" + VERSION + "}}",
         "tagKeys": f"{TEMPLATE},{VERSION}", "useValueForTime": False,
         "expr": f'count by ({TEMPLATE}, {VERSION}) ({calls}{{{base},{VERSION}!=""}} unless {calls}{{{base},{VERSION}!=""}} offset 10m)'},
        {"name": "Release", "datasource": PROM_DS, "enable": True, "iconColor": "orange", "step": "1m", "titleFormat": "release {{" + RELEASE + "}}",
         "tagKeys": RELEASE, "useValueForTime": False,
         "expr": f'count by ({RELEASE}) ({calls}{{{base},{RELEASE}!=""}} unless {calls}{{{base},{RELEASE}!=""}} offset 10m)'},
    ]


def dashboard_links() -> list[dict]:
    return [{
        "title": "GenAI dashboards", "type": "dashboards", "tags": ["genai-o11y"], "asDropdown": True, "icon": "external link",
        "tooltip": "", "targetBlank": False, "includeVars": True, "keepTime": True,
    }]


# --- the dashboard and its normalisation ---------------------------------------------------------------

LEGACY_KEYS = {"rows", "time_options", "hideControls", "sharedCrosshair", "style", "__inputs", "__requires", "editable_panel",
               "height", "span", "minSpan", "error", "isNew", "editable", "cacheTimeout", "hideTimeOverride"}
LEGACY_TARGET_KEYS = {"query", "target", "metric", "step", "intervalFactor", "format", "hide", "interval"}


def normalise(value: Any, in_targets: bool = False) -> Any:
    """Drop nulls and the legacy keys grafanalib still emits; keep everything else as it is."""
    if isinstance(value, dict):
        out = {}
        threshold_step = "color" in value and "value" in value and len(value) == 2
        for k, v in value.items():
            if v is None and threshold_step and k == "value":
                out[k] = None  # the base step: -Infinity serialises as null (the schema allows exactly this)
                continue
            legacy_target = in_targets and "expr" in value and k in LEGACY_TARGET_KEYS and not (k == "format" and v == "table")
            if v is None or k in LEGACY_KEYS or legacy_target:
                continue
            out[k] = normalise(v, in_targets=(k == "targets"))
        return out
    if isinstance(value, list):
        return [normalise(v, in_targets=in_targets) for v in value]
    return value


def dashboard(uid: str, description: str, panels: list[P], source: str, annotations: list[dict] | None = None, *, needs: str) -> dict:
    """A board; `needs`: the signals it fills from (shown first, as a note, and in the description),
    so an empty board explains itself."""
    import json

    panels = [P("What fills this board", f"The signals this board needs: {needs}", kind="text", w=24, h=3,
                options={"content": f"**Fills from** {needs}"}), *panels]

    d = G.Dashboard(
        title=n.DASHBOARDS[uid], uid=uid, tags=["genai-o11y"], timezone="utc", refresh="30s",
        time=G.Time("now-6h", "now"), graphTooltip=G.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, schemaVersion=SCHEMA_VERSION,
    )
    data = json.loads(json.dumps(d.to_json_data(), cls=DashboardEncoder))
    data.update({
        "description": f"{description} Fills from {needs} Generated by genai-o11y from {source}: DO NOT EDIT ({render.regenerate_command(source)}).",
        "panels": layout(panels),
        "templating": {"list": variables()},
        "annotations": {"list": annotations if annotations is not None else change_annotations()[:1]},
        "links": dashboard_links(),
        "version": 1,
    })
    data.pop("id", None)
    return normalise(json.loads(json.dumps(data, cls=DashboardEncoder)))
