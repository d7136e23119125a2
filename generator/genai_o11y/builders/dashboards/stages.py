"""2. Stage latency waterfall: stages in pipeline order end to end (mean and p95), slow traces from Tempo
with the picked one drawn as a waterfall, and which stage is slow, for which route, model, release."""

from __future__ import annotations

from ... import catalog
from ... import names as n
from ...spec import Spec
from .common import ENV, MODEL, RELEASE, ROUTE, STAGE, SVC, P, Q, dashboard, data_link, hide_field, sel, trace_id_variable, variables, L
from .queries import NOT_PIPELINE, POSITION, PROM, REQ, TEMPO_SCOPE, or_zero, per_s, quantile, stage_mean, stage_p95, tempo, waterfall, where

UID = n.BOARD_STAGES

#: The waterfall bar chart's two fields: where a stage starts (drawn transparent) and its bar.
STARTS, LENGTH = "starts at", "duration"

#: A request slower than this is "slow" for the slow-trace waterfall when the spec has no request latency SLO.
SLOW_REQUEST_MS = 5000


def waterfall_panel(title: str, stages: list[str], per_stage, what: str, bad: str) -> P:
    """A horizontal stacked bar per stage, in pipeline order: a transparent bar up to where the
    stages before it end, then the stage's own bar (two instant table queries merged on the stage)."""
    starts, lengths = waterfall(stages, per_stage)
    return P(title, f"Stages in pipeline order (spec pipeline.stages); each bar starts where the stages before it end, its length the stage's {what} "
             f"over the time range (a stage that runs several times per request, like tool calls, counts one call; a stage without spans adds 0). {bad}",
             [Q(starts, "{{" + STAGE + "}}", instant=True, table=True), Q(lengths, "{{" + STAGE + "}}", instant=True, table=True)],
             kind="barchart", unit="ms", w=12, h=10, overrides=[hide_field(STARTS)],
             transformations=[
                 {"id": "merge", "options": {}},
                 {"id": "sortBy", "options": {"fields": {}, "sort": [{"field": POSITION, "desc": False}]}},
                 {"id": "organize", "options": {"excludeByName": {"Time": True, POSITION: True}, "includeByName": {},
                                                "indexByName": {STAGE: 0, "Value #A": 1, "Value #B": 2},
                                                "renameByName": {"Value #A": STARTS, "Value #B": LENGTH}}},
             ],
             options={"orientation": "horizontal", "stacking": "normal", "xField": STAGE, "showValue": "never", "groupWidth": 0.8, "barWidth": 0.9,
                      "barRadius": 0, "fullHighlight": False, "xTickLabelRotation": 0, "xTickLabelSpacing": 0,
                      "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []},
                      "tooltip": {"mode": "multi", "sort": "none"}})


def slow_trace_query(threshold_ms: int, stages: dict[str, int] | None = None) -> str:
    """TraceQL: traces of the selected services that took longer than `threshold_ms` end to end, or with a span of
    one of `stages` (stage -> its latency SLO's threshold) slower than that threshold."""
    return " || ".join([where(*TEMPO_SCOPE, f"trace:duration > {threshold_ms}ms")]
                       + [where(*TEMPO_SCOPE, f'span.{n.STAGE} = "{stage}"', f"duration > {ms}ms") for stage, ms in (stages or {}).items()])


def stage_is(stage: str) -> str:
    return f'{STAGE}="{stage}"'


def build(spec: Spec, source: str) -> dict:
    dsum = PROM["duration_sum"]
    stages = list(spec.pipeline.stages)
    pipeline = f'{STAGE}!~"{NOT_PIPELINE}"'
    slo = {s.stage: s.threshold_ms for s in spec.slos.latency}
    share = [
        Q(f"sum by ({STAGE}) (increase({sel(dsum, stage_is(s))}[$__range]))\n/ on () group_left\nsum(increase({sel(dsum, REQ)}[$__range]))",
          "{{" + STAGE + "}}", instant=True)
        for s in stages
    ]
    p95 = [Q(quantile(0.95, f'{STAGE}="{s}"', by=STAGE, window="$__range"), "{{" + STAGE + "}}", instant=True) for s in stages]
    hit = L(n.CACHE_HIT)
    slo_text = ", ".join(f"{k} {v} ms" for k, v in slo.items()) or "none"
    slow_ms = slo.get("request", SLOW_REQUEST_MS)
    slow_why = "the request latency SLO" if "request" in slo else "a fixed threshold: the spec has no request latency SLO"
    stage_slo = {k: v for k, v in slo.items() if k != n.REQUEST_STAGE}
    stage_slo_text = ", ".join(f"{k} {v} ms" for k, v in stage_slo.items()) or "none in the spec"
    kept = ("Tail sampling keeps every such trace (sampling.keep_slo_breaches)." if spec.sampling.keep_slo_breaches else
            "Tail sampling keeps only its baseline share of them (sampling.keep_slo_breaches is off): most are not in Tempo.")
    panels = [
        waterfall_panel("Stage waterfall (mean)", stages, stage_mean, "mean duration",
                        "A long bar is where the time goes; a bar that grew against last week is the stage that got slower, and its end moving right "
                        "pushes every later stage (and the request) out. Compare the last bar's end with the request's mean: much less means time outside the stages."),
        waterfall_panel("Stage waterfall (p95)", stages, stage_p95, "p95",
                        "The p95s laid end to end: a pessimistic budget (the slow tail of every stage at once). A stage whose p95 bar is far longer than "
                        "its mean bar has a slow tail worth an exemplar (Latency by stage) and a look at the slow traces below."),
        P("Slow traces (Tempo)", f"Traces of the selected services slower than {slow_ms} ms end to end ({slow_why}), or with a span slower than "
          f"its stage's latency SLO ({stage_slo_text}), from Tempo. {kept} Many rows means requests breach the latency SLOs. Click a row to draw "
          "that trace as a waterfall beside this table.",
          kind="table", w=8, h=14, options={"targets": [tempo(slow_trace_query(slow_ms, stage_slo), limit=20)]},
          data_links=[data_link("Show this trace's waterfall", UID, **{"var-trace_id": "${__data.fields.traceID}"})]),
        P("Waterfall of a slow trace", "The trace picked in 'Slow traces' (or pasted into the Trace id variable), from Tempo: its stages as a waterfall "
          "with their attributes. The widest span is the stage to fix; a gap between spans is time the stages do not account for (queueing, "
          "an uninstrumented call).", kind="traces", w=16, h=14, options={"targets": [tempo("$trace_id")]}),
        P("Latency by stage", f"p95 and p99 per stage over time. Latency SLO thresholds: {slo_text}. One stage rising alone is that stage's problem (GenAIStageLatencyRegression); all rising is the platform. Exemplars open slow traces.",
          [Q(quantile(0.95, pipeline, by=STAGE), "{{" + STAGE + "}} p95"), Q(quantile(0.99, pipeline, by=STAGE), "{{" + STAGE + "}} p99", exemplar=True),
           # each latency SLO as a flat line: the stage's curve crossing it is the SLO at risk
           *[Q(f"vector({s.threshold_ms})", f"{s.stage} SLO: {s.objective_percent:g}% under {s.threshold_ms} ms") for s in spec.slos.latency]],
          unit="ms", w=24, h=9),
        P("Share of end-to-end latency", "Each stage's share of the time requests spend end to end, in pipeline order. A share that grows points at the stage that got slower; the shares can exceed 100% when stages overlap (parallel tool calls).",
          share, kind="bargauge", unit="percentunit", w=12, h=9),
        P("p95 per stage in pipeline order", "p95 of each stage over the range, in the spec's pipeline order. Compare with the SLO thresholds in the description of 'Latency by stage'.",
          p95, kind="bargauge", unit="ms", w=12, h=9),
        P("p95 by stage and route", "p95 per stage split by route: a route-specific slowdown (e.g. a tool only one route uses).",
          [Q(quantile(0.95, pipeline, by=f"{STAGE}, {ROUTE}"), "{{" + STAGE + "}} {{" + ROUTE + "}}")], unit="ms"),
        P("p95 by stage and model", "p95 per stage split by model: a provider or model degradation shows on model_call for one model only.",
          [Q(quantile(0.95, pipeline, f'{MODEL}!=""', by=f"{STAGE}, {MODEL}"), "{{" + STAGE + "}} {{" + MODEL + "}}")], unit="ms"),
        P("p95 by stage and release", "p95 per stage split by release (service.version): a regression that starts with a release shows here first.",
          [Q(quantile(0.95, pipeline, by=f"{STAGE}, {RELEASE}"), "{{" + STAGE + "}} {{" + RELEASE + "}}")], unit="ms"),
        P("Stage error ratio", f"Share of spans of each stage that ended in error (recorded rule {catalog.REC_STAGE_ERRORS_5M}).",
          [Q(or_zero(catalog.REC_STAGE_ERRORS_5M + '{service_name=~"$service",deployment_environment_name=~"$environment"}',
                     per_s(PROM["calls"], by=f"{SVC}, {ENV}, {STAGE}", window="5m"), on=f"{SVC}, {ENV}, {STAGE}"), "{{" + STAGE + "}}")], unit="percentunit"),
        P("Cache hit vs miss", "App-level cache lookups (semantic, response, embedding cache) per second by result. Hits falling means more model calls, latency and cost (GenAICacheHitRateCollapse).",
          [Q(per_s(PROM["cache"], by=hit), "hit={{" + hit + "}}")], unit="ops", stack=True),
        P("Stage calls per second", "Spans per second per stage: a stage that stops appearing was skipped (e.g. retrieval bypassed) or lost its instrumentation.",
          [Q(per_s(PROM["calls"], by=STAGE), "{{" + STAGE + "}}")], unit="ops"),
    ]
    d = dashboard(UID, "Per stage, in pipeline order: the waterfall (mean and p95, each stage starting where the one before ends), slow traces from Tempo and one drawn as a waterfall, latency percentiles, share of the request, and splits by route, model and release.", panels, source,
                     needs="any GenAI instrumentation's model calls and embeddings (and the request: each trace's root). The other stages (retrieval, rerank, prompt assembly, routing, tools, moderation) need the helper, `genai_o11y.stage` set by the app, or span kinds the sidecar maps (OpenInference RETRIEVER, RERANKER, TOOL, GUARDRAIL; OpenLLMetry tool spans); the route split needs `genai_o11y.route`.")
    d["templating"]["list"] = variables() + [trace_id_variable()]
    return d
