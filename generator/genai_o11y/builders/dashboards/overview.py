"""1. Overview: is something off, and where to look next."""

from __future__ import annotations

from ...spec import Spec
from .common import ERROR, MODEL, OUTCOME, STAGE, TOOL, P, Q, dashboard, sel, L
from .queries import PROM, REQ, or_zero, per_s, tokens_per_s, quantile, ratio
from ... import names as n
from .. import pipeline_alerts as pa

UID = n.BOARD_OVERVIEW


def build(spec: Spec, source: str) -> dict:
    budget = round(1 - spec.slos.availability.objective_percent / 100, 6)
    fb, sentiment = PROM["feedback"], L(n.FEEDBACK_SENTIMENT)
    op = L(n.OPERATION)
    panels = [
        P("Requests per second", "End-to-end requests (root spans) per second. A drop without a deploy means the app or its sidecar stopped reporting (see the telemetry pipeline board).",
          [Q(per_s(PROM["calls"], REQ))], kind="stat", unit="reqps", w=6, h=5),
        P("Error ratio", f"Share of requests that ended in error. The availability SLO allows {budget:.2%}; sustained values above it burn the error budget and page (GenAIErrorBudgetBurnFast).",
          [Q(or_zero(ratio(per_s(PROM["calls"], REQ, ERROR), per_s(PROM["calls"], REQ)), per_s(PROM["calls"], REQ)))], kind="stat", unit="percentunit", w=6, h=5,
          thresholds=[(budget, "orange"), (budget * 14.4, "red")]),
        P("Cost per hour", "LLM spend per hour in USD, from the spec's price table (unpriced models not included). A jump means routing to a pricier model, longer prompts or a retry loop: open the cost board.",
          [Q(f"{per_s(PROM['cost'])} * 3600")], kind="stat", unit="currencyUSD", w=6, h=5),
        P("Negative-feedback rate", "Share of user feedback that is negative. Rising while errors stay flat is the quiet failure: plausible, wrong answers. Open the quality board.",
          [Q(or_zero(ratio(per_s(fb, f'{sentiment}="negative"'), per_s(fb)), per_s(fb)))], kind="stat", unit="percentunit", w=6, h=5, thresholds=[(0.1, "orange"), (0.2, "red")]),
        P("Latency end to end", "p50 / p95 / p99 of whole requests in ms. p99 far above p95 means a slow tail in one stage: the stage latency board shows which. Click an exemplar to open the trace.",
          [Q(quantile(0.5, REQ), "p50"), Q(quantile(0.95, REQ), "p95"), Q(quantile(0.99, REQ), "p99", exemplar=True)], unit="ms"),
        P("Error ratio over time", "Error ratio of requests, and the page threshold (14.4x the budget). Above the line for minutes pages.",
          [Q(or_zero(ratio(per_s(PROM["calls"], REQ, ERROR), per_s(PROM["calls"], REQ)), per_s(PROM["calls"], REQ)), "error ratio"), Q(f"vector({budget * 14.4})", "page threshold")], unit="percentunit"),
        P("Tokens per second", "Tokens per second by kind (cached input is part of input, reasoning part of output). Input growing faster than requests means prompts got longer (more chunks, longer history).",
          [Q(q, legend) for q, legend in tokens_per_s()], unit="short"),
        P("Top failing operations", "The stages, operations, models and tools with the most errors over the range. The first row is where to start.",
          [Q(f"topk(10, sum by ({STAGE}, {op}, {MODEL}, {TOOL}, {OUTCOME}) (increase({sel(PROM['calls'], ERROR)}[$__range])))", "{{" + STAGE + "}}", instant=True)],
          kind="table", unit="short"),
        P(pa.PANEL_ALERTS_FIRING, "genai-o11y alerts firing now (Alertmanager). Each links to its runbook section.", kind="alertlist", w=24, h=6,
          options={"alertListOptions": {}, "dashboardAlerts": False, "alertName": "GenAI", "stateFilter": {"firing": True, "pending": True}}),
    ]
    return dashboard(UID, "Requests, errors, latency, cost, tokens and feedback at a glance, with the alerts firing.", panels, source,
                     needs="any GenAI instrumentation alone (our helper, `opentelemetry-instrumentation-openai-v2`, OpenLLMetry, OpenInference): a request is each trace's root span (or the helper's request span), tokens are `gen_ai.usage.*`, cost comes from the spec's price table. Negative feedback needs feedback spans (the helper's `record_feedback`: `genai_o11y.feedback.sentiment`).")
