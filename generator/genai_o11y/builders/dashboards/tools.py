"""4. Tool reliability: calls, latency, outcomes; answers without a required tool; failed after tools."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import OUTCOME, ROUTE, STAGE, TOOL, P, Q, dashboard, L
from .queries import PROM, REQ, or_zero, per_s, quantile, ratio

UID = n.BOARD_TOOLS


def build(spec: Spec, source: str) -> dict:
    calls = PROM["calls"]
    tool = f'{STAGE}="tool_call"'
    missing = L(n.REQUIRED_TOOL_MISSING)
    required = "; ".join(f"{t.name} for {', '.join(t.required_for_routes)}" for t in spec.pipeline.tools if t.required_for_routes) or "none"
    timeouts = "; ".join(f"{t.name} {t.timeout_ms} ms" for t in spec.pipeline.tools if t.timeout_ms) or "none"
    panels = [
        P("Tool call rate", "Tool calls per second by tool. A tool that stops being called after a prompt or routing change is skipped (see 'Answers without a required tool').",
          [Q(per_s(calls, tool, by=TOOL), "{{" + TOOL + "}}")], unit="ops"),
        P("Tool latency p95", f"p95 latency per tool in ms. Spec timeouts: {timeouts}. Near the timeout means timeouts next.",
          [Q(quantile(0.95, tool, by=TOOL), "{{" + TOOL + "}}", exemplar=True)], unit="ms"),
        P("Tool outcome rates", "Share of each tool's calls by outcome other than ok: error, timeout, retry, invalid_argument (the model called it with bad arguments). invalid_argument rising after a prompt or model change means the model misuses the tool.",
          [Q(or_zero(ratio(per_s(calls, tool, f'{OUTCOME}!="ok"', by=f"{TOOL}, {OUTCOME}"), f"on ({TOOL}) group_left\n{per_s(calls, tool, by=TOOL)}"), per_s(calls, tool, by=TOOL), on=TOOL, labels=(OUTCOME,)),
             "{{" + TOOL + "}} {{" + OUTCOME + "}}")],
          unit="percentunit"),
        P("Tool calls per request", "Average tool calls per end-to-end request. A jump means loops (the agent calling tools again and again); a drop means tools are skipped.",
          [Q(or_zero(ratio(per_s(calls, tool), per_s(calls, REQ)), per_s(calls, REQ)), "calls per request")], unit="short"),
        P("Answers without a required tool", f"Share of each route's answers given without the tool the spec requires (required: {required}). Such answers come from the model's memory: plausible and wrong (GenAIRequiredToolSkipped).",
          [Q(or_zero(ratio(per_s(PROM["missing_tool"], by=f"{ROUTE}, {missing}"), f"on ({ROUTE}) group_left\n{per_s(calls, REQ, by=ROUTE)}"), per_s(calls, REQ, by=ROUTE), on=ROUTE, labels=(missing,)),
             "{{" + ROUTE + "}} without {{" + missing + "}}")],
          unit="percentunit"),
        P("Tool success followed by a failed answer", "Share of each route's requests that called tools without a tool failure and still failed (error, or a failure category such as parse_error or citation_mismatch): the tools worked, the answer did not.",
          [Q(or_zero(ratio(per_s(PROM["failed_after_tools"], by=ROUTE), f"on ({ROUTE}) group_left\n{per_s(calls, REQ, by=ROUTE)}"), per_s(calls, REQ, by=ROUTE), on=ROUTE), "{{" + ROUTE + "}}")], unit="percentunit"),
    ]
    return dashboard(UID, "Per tool: call rate, latency and outcomes; tools skipped where the spec requires them; answers that failed after working tools.", panels, source,
                     needs="tool spans: the helper's `tool_call`, or an instrumentation that sets `gen_ai.operation.name=execute_tool` (OpenInference TOOL spans, OpenLLMetry tool spans) with `gen_ai.tool.name`. The per-route panels need `genai_o11y.route` and `genai_o11y.tools.called` on the request span (the helper sets both). A plain OpenAI app with no tools leaves this board empty.")
