"""2. Stage latency waterfall: which stage of the pipeline is slow, for which route, model, release."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import ENV, MODEL, RELEASE, ROUTE, STAGE, SVC, P, Q, dashboard, L
from .queries import NOT_PIPELINE, PROM, or_zero, per_s, quantile

UID = "genai-o11y-stages"


def build(spec: Spec, source: str) -> dict:
    dsum = PROM["duration_sum"]
    stages = list(spec.pipeline.stages)
    pipeline = f'{STAGE}!~"{NOT_PIPELINE}"'
    slo = {s.stage: s.threshold_ms for s in spec.slos.latency}
    share = [
        Q(f'sum by ({STAGE}) (increase({dsum}{{{STAGE}="{s}"}}[$__range]))\n/ on () group_left\nsum(increase({dsum}{{{STAGE}="request"}}[$__range]))',
          "{{" + STAGE + "}}", instant=True)
        for s in stages
    ]
    p95 = [Q(quantile(0.95, f'{STAGE}="{s}"', by=STAGE, window="$__range"), "{{" + STAGE + "}}", instant=True) for s in stages]
    hit = L(n.CACHE_HIT)
    slo_text = ", ".join(f"{k} {v} ms" for k, v in slo.items()) or "none"
    panels = [
        P("Latency by stage", f"p95 and p99 per stage over time. Latency SLO thresholds: {slo_text}. One stage rising alone is that stage's problem (GenAIStageLatencyRegression); all rising is the platform. Exemplars open slow traces.",
          [Q(quantile(0.95, pipeline, by=STAGE), "{{" + STAGE + "}} p95"), Q(quantile(0.99, pipeline, by=STAGE), "{{" + STAGE + "}} p99", exemplar=True)], unit="ms", w=24, h=9),
        P("Share of end-to-end latency", "Each stage's share of the time requests spend end to end, in pipeline order (the waterfall). A share that grows points at the stage that got slower; the shares can exceed 100% when stages overlap (parallel tool calls).",
          share, kind="bargauge", unit="percentunit", w=12, h=9),
        P("p95 per stage in pipeline order", "p95 of each stage over the range, in the spec's pipeline order. Compare with the SLO thresholds in the description of 'Latency by stage'.",
          p95, kind="bargauge", unit="ms", w=12, h=9),
        P("p95 by stage and route", "p95 per stage split by route: a route-specific slowdown (e.g. a tool only one route uses).",
          [Q(quantile(0.95, pipeline, by=f"{STAGE}, {ROUTE}"), "{{" + STAGE + "}} {{" + ROUTE + "}}")], unit="ms"),
        P("p95 by stage and model", "p95 per stage split by model: a provider or model degradation shows on model_call for one model only.",
          [Q(quantile(0.95, pipeline, f'{MODEL}!=""', by=f"{STAGE}, {MODEL}"), "{{" + STAGE + "}} {{" + MODEL + "}}")], unit="ms"),
        P("p95 by stage and release", "p95 per stage split by release (service.version): a regression that starts with a release shows here first.",
          [Q(quantile(0.95, pipeline, by=f"{STAGE}, {RELEASE}"), "{{" + STAGE + "}} {{" + RELEASE + "}}")], unit="ms"),
        P("Stage error ratio", "Share of spans of each stage that ended in error (recorded rule genai_o11y:stage_errors:ratio_rate5m).",
          [Q(or_zero('genai_o11y:stage_errors:ratio_rate5m{service_name=~"$service",deployment_environment_name=~"$environment"}',
                     per_s(PROM["calls"], by=f"{SVC}, {ENV}, {STAGE}", window="5m"), on=f"{SVC}, {ENV}, {STAGE}"), "{{" + STAGE + "}}")], unit="percentunit"),
        P("Cache hit vs miss", "App-level cache lookups (semantic, response, embedding cache) per second by result. Hits falling means more model calls, latency and cost (GenAICacheHitRateCollapse).",
          [Q(per_s(PROM["cache"], by=hit), "hit={{" + hit + "}}")], unit="ops", stack=True),
        P("Stage calls per second", "Spans per second per stage: a stage that stops appearing was skipped (e.g. retrieval bypassed) or lost its instrumentation.",
          [Q(per_s(PROM["calls"], by=STAGE), "{{" + STAGE + "}}")], unit="ops"),
    ]
    return dashboard(UID, "Per stage, in pipeline order: latency percentiles, share of the request, and splits by route, model and release.", panels, source,
                     needs="any GenAI instrumentation's model calls and embeddings (and the request: each trace's root). The other stages (retrieval, rerank, prompt assembly, routing, tools, moderation) need the helper, `genai_o11y.stage` set by the app, or span kinds the sidecar maps (OpenInference RETRIEVER, RERANKER, TOOL, GUARDRAIL; OpenLLMetry tool spans); the route split needs `genai_o11y.route`.")
