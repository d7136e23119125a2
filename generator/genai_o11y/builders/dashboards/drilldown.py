"""8. Request drill-down: Tempo search by service, status, model, prompt version, tenant; the trace."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import P, Q, dashboard, trace_id_variable, variables
from .queries import REQ, TEMPO_SCOPE as SCOPE, quantile, tempo as _tempo, where as _where

UID = n.BOARD_DRILLDOWN


def failed_requests() -> str:
    return _where(*SCOPE, "status = error")


def by_model_and_prompt() -> str:
    """A trace with a model call of this model and prompt version (both on the model-call span)."""
    return _where(*SCOPE) + " && " + _where(f'span.{n.REQUEST_MODEL} =~ "$model"', f'span.{n.PROMPT_VERSION} =~ "$prompt_version"')


def of_tenant() -> str:
    """Requests of a tenant (the tenant hash is on the request span)."""
    return _where(*SCOPE, f'span.{n.TENANT} =~ "$tenant"')


def build(spec: Spec, source: str) -> dict:
    panels = [
        P("How to use", "Where every other board's links land.", kind="text", w=24, h=4, options={"content": (
            "Filter with the variables above (service, model, prompt version, tenant hash). Pick a trace in a search table, or paste "
            "a trace id into **Trace id**. Every panel of the other genai-o11y boards links here with its variables and time range; "
            "exemplars on latency panels open the trace directly. Tempo holds what tail sampling kept: every error, every "
            "negative feedback, slow and expensive traces, and a baseline share of the rest."
        )}),
        P("Failed requests", "Traces of the selected services that ended in error (errors are always sampled). Start here during an incident.", kind="traces", w=24, h=10,
          options={"targets": [_tempo(failed_requests())]}),
        P("Requests by model and prompt version", "Traces with a model call of the selected model and prompt version: compare answers of two versions.", kind="traces", w=12, h=10,
          options={"targets": [_tempo(by_model_and_prompt())]}),
        P("Requests of a tenant", "Traces of the selected tenant (hashed id on the request span): what one customer experienced.", kind="traces", w=12, h=10,
          options={"targets": [_tempo(of_tenant())]}),
        P("Trace", "The trace whose id is in the Trace id variable: every stage with its attributes (prompt version, model, tokens, cost, tools called).",
          kind="traces", w=24, h=14, options={"targets": [_tempo("$trace_id")]}),
        P("Slow requests (exemplars)", "p99 of whole requests with exemplars: each dot is a real trace; click it to open the trace in Tempo.",
          [Q(quantile(0.99, REQ), "p99", exemplar=True)], unit="ms", w=24),
    ]
    d = dashboard(UID, "Find the request: Tempo search by service, status, model, prompt version and tenant, and the trace itself.", panels, source,
                  needs="Tempo (traces kept by tail sampling) and any GenAI instrumentation; the searches by prompt version and tenant need `genai_o11y.prompt.version` and `genai_o11y.tenant` (the helper sets them); slow requests with exemplars need the span metrics.")
    d["templating"]["list"] = variables() + [trace_id_variable()]
    return d
