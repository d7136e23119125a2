"""The telemetry pipeline watches itself: sidecar down, spans refused or dropped, export queue
filling, Tempo or Prometheus export failing, redaction failing, metric budgets exhausted.

Collector self-metrics are matched with an optional `_total`: the collector exposes its counters
without the suffix, and an OpenMetrics scrape (Prometheus 3's default) adds it.
"""

from __future__ import annotations

from .. import names as n
from ..spec import Spec
from .alerting import Alert, Runbook, dashboard

TEMPO = n.TEMPO_EXPORTER
DROPPED = [
    "otelcol_exporter_enqueue_failed_spans",
    "otelcol_exporter_send_failed_spans",
    "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
]
PIPELINE = dashboard("genai-o11y-pipeline")


def _m(name: str, job: str, extra: str = "") -> str:
    """A collector self-metric selector (`name` may be an alternation), with or without `_total`."""
    return f'{{__name__=~"({name})(_total)?",job="{job}"{("," + extra) if extra else ""}}}'


def _any_rate(names: list[str], job: str) -> str:
    """Any of these counters rising, per collector. Combined with `or`, not `+`: some counters exist
    only once non-zero (a sum would be empty), and under one __name__ regex their series would
    collide once rate() drops the name."""
    return "\nor\n".join(f"sum by (job, instance) (rate({_m(name, job)}[5m])) > 0" for name in names)


def alerts(spec: Spec) -> list[Alert]:
    side, col = spec.backends.prometheus.sidecar_job, spec.backends.prometheus.collector_job
    inst = "{{ $labels.instance }}"
    tempo = f'exporter="{TEMPO}"'
    tempo_queue, tempo_sent = _m("otelcol_exporter_queue_size", col, tempo), _m("otelcol_exporter_sent_spans", col, tempo)
    prom_failed = _m("otelcol_exporter_send_failed_metric_points", col, 'exporter="prometheus"')
    redact = f'processor="{n.redact_processor(spec.collector.engine)}"'
    redact_in, redact_out = _m("otelcol_processor_incoming_items", col, redact), _m("otelcol_processor_outgoing_items", col, redact)
    drops, drops_matcher = n.BUDGET_DROPS[spec.collector.engine]
    return [
        Alert(
            name="GenAISidecarDown",
            expr=f'absent(up{{job="{side}"}} == 1)',
            severity="critical",
            for_="5m",
            from_spans=False,
            labels={"job": side},  # absent() of a comparison carries no labels
            summary="No genai-o11y sidecar is reporting to Prometheus",
            description=(
                f'Prometheus has no healthy target of job {side} for 5 minutes: no span metrics arrive, so every LLM alert is blind '
                "(they are inhibited while this fires)."
            ),
            runbook=Runbook(
                meaning="Every sidecar target is down or gone: the collector crashed or is not deployed, or Prometheus no longer discovers it. Traces and metrics of the LLM app are lost or unobserved.",
                confirm=[
                    f"Prometheus *Status > Targets*, job `{side}`; {PIPELINE}, panel *Sidecars up*.",
                    "The sidecar container's logs (a missing GENAI_O11Y_HASH_SALT stops it at start, by design).",
                ],
                actions=[
                    "Restart/redeploy the sidecar; check its memory limit (OOM kills) and the salt secret.",
                    "If the sidecar runs: fix the scrape config (PodMonitor / job name must match `backends.prometheus.sidecar_job`).",
                ],
            ),
        ),
        Alert(
            name="GenAISidecarScrapeFailing",
            expr=f'up{{job="{side}"}} == 0',
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"Prometheus cannot scrape the sidecar {inst}",
            description=f"The span metrics of sidecar {inst} (job {side}) cannot be scraped for 10 minutes: its metrics are missing from dashboards and alerts.",
            runbook=Runbook(
                meaning="One sidecar's metrics endpoint is unreachable: the pod is gone, the collector is stuck, or the network policy blocks Prometheus.",
                confirm=[f"Prometheus *Status > Targets* for {inst}; {PIPELINE}."],
                actions=["Check that pod's sidecar container (restarts, OOM), and that port collector.metrics_endpoint is reachable from Prometheus."],
            ),
        ),
        Alert(
            name="GenAICollectorRefusingSpans",
            expr=_any_rate(["otelcol_receiver_refused_spans", "otelcol_receiver_failed_spans"], col),
            severity="warning",
            for_="5m",
            from_spans=False,
            summary=f"The collector {inst} refuses spans from the app",
            description=f"The sidecar {inst} refuses or fails {{{{ $value | humanize }}}} spans/s: the app's spans are lost (memory limit reached, or redaction failing closed).",
            runbook=Runbook(
                meaning="The OTLP receiver answers the app with errors: the memory_limiter is over its limit (back-pressure), or a processor returned an error (redaction fails closed).",
                confirm=[f"{PIPELINE}, panels *Spans refused* and *Collector memory*; the sidecar's log."],
                actions=[
                    "Memory: raise collector.memory_limit_mib (and the container limit), or lower gateway.num_traces.",
                    "Redaction errors in the log: see GenAIRedactionFailing.",
                ],
            ),
        ),
        Alert(
            name="GenAICollectorDroppingSpans",
            expr=_any_rate(DROPPED, col),
            severity="warning",
            for_="5m",
            from_spans=False,
            summary=f"The collector {inst} drops spans",
            description=f"The sidecar {inst} drops {{{{ $value | humanize }}}} spans (or traces) per second: the export queue is full, the backend rejects data permanently, or tail sampling evicts traces before deciding.",
            runbook=Runbook(
                meaning="Accepted spans never reach Tempo: the persistent queue is full (long outage), the backend rejects them as invalid, or more traces arrive within decision_wait than gateway.num_traces holds.",
                confirm=[f"{PIPELINE}, panels *Export queue* and *Spans dropped*."],
                actions=[
                    "Queue full: restore Tempo (GenAITempoExportFailing), then raise collector.queue_size_batches.",
                    "Dropped too early: raise gateway.num_traces or lower gateway.decision_wait_seconds.",
                ],
            ),
        ),
        Alert(
            name="GenAIExportQueueNearFull",
            expr=(
                f"max by (job, instance, exporter) ({_m('otelcol_exporter_queue_size', col)})\n/\n"
                f"max by (job, instance, exporter) ({_m('otelcol_exporter_queue_capacity', col)})\n> 0.8"
            ),
            severity="warning",
            for_="5m",
            from_spans=False,
            summary=f"The export queue of {{{{ $labels.exporter }}}} on {inst} is over 80% full",
            description=f"The persistent queue of exporter {{{{ $labels.exporter }}}} on {inst} is {{{{ $value | humanizePercentage }}}} full: when it is full, new spans are dropped.",
            runbook=Runbook(
                meaning="The backend is slower than the traffic or unreachable; the on-disk queue absorbs it until it is full.",
                confirm=[f"{PIPELINE}, panel *Export queue*; GenAITempoExportFailing firing at the same time."],
                actions=["Restore the backend; if it is just slow, raise its ingestion limits or collector.queue_size_batches."],
            ),
        ),
        Alert(
            name="GenAITempoExportFailing",
            expr=(
                f"max by (job, instance, exporter) ({tempo_queue}) > 0\n"
                f"unless on (job, instance, exporter)\n"
                f"sum by (job, instance, exporter) (rate({tempo_sent}[10m])) > 0"
            ),
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"The sidecar {inst} cannot send traces to Tempo",
            description=f"Spans wait in the queue of {TEMPO} on {inst} and none were sent for 10 minutes: Tempo at {spec.backends.tempo.endpoint} is unreachable or refusing. The queue holds them until it is full.",
            runbook=Runbook(
                meaning="The collector retries forever from its persistent queue, so an outage loses nothing until the queue is full; meanwhile no new traces are visible in Tempo.",
                confirm=[f"{PIPELINE}, panel *Export queue*; the sidecar log says `Exporting failed. Will retry`."],
                actions=["Check Tempo's health and the endpoint/TLS settings in backends.tempo; the queue drains by itself when Tempo is back."],
            ),
        ),
        Alert(
            name="GenAIPrometheusExportFailing",
            expr=f"sum by (job, instance) (rate({prom_failed}[5m])) > 0",
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"The sidecar {inst} fails to export span metrics",
            description=f"The prometheus exporter of {inst} fails {{{{ $value | humanize }}}} metric points/s: dashboards and alerts miss data.",
            runbook=Runbook(
                meaning="The collector cannot convert or expose some metric points (name or label collisions, invalid values).",
                confirm=[f"{PIPELINE}; the sidecar log names the failing metric."],
                actions=["Look for a label collision from a new attribute; report it with the log line."],
            ),
        ),
        Alert(
            name="GenAIRedactionFailing",
            expr=(
                f"sum by (job, instance) (rate({redact_in}[5m]))\n-\n"
                f"sum by (job, instance) (rate({redact_out}[5m]))\n> 0"
            ),
            severity="critical",
            for_="2m",
            from_spans=False,
            summary=f"Redaction fails on {inst}: spans are refused rather than sent unredacted",
            description=f"{{{{ $value | humanize }}}} spans/s enter the redaction stage of {inst} and do not leave it. Redaction fails closed: those spans are lost, never exported with PII.",
            runbook=Runbook(
                meaning="The redaction stage returns errors on some spans. With `collector.engine: ottl`, a statement errors (an attribute of an unexpected type, a custom pattern, a policy file change); the native engine (genai_redaction) has no such errors, so there it is a bug to report with the log. The stage fails closed: the batch is refused, so the app's telemetry is lost but no PII leaks.",
                confirm=[f"{PIPELINE}, panel *Redaction in/out*; the sidecar log has the error (OTTL: with the statement)."],
                actions=[
                    "Roll back the last change to redaction.policy / extra_patterns.",
                    "If an app sends a new attribute shape, fix the app or add the case to the policy, and add it to the redaction test corpus.",
                ],
            ),
        ),
        Alert(
            name="GenAIMetricsCardinalityOverflow",
            expr=f'sum by (job, instance) (rate({n.PROM["calls"]}{{job="{side}",otel_metric_overflow="true"}}[10m])) > 0',
            severity="warning",
            for_="15m",
            from_spans=False,
            summary=f"Span metrics of {inst} exceed the label budget",
            description=(
                f"More than cardinality.max_series_per_metric ({spec.cardinality.max_series_per_metric}) label sets: new ones fold into the "
                "otel_metric_overflow series, so breakdowns by model, route or version are incomplete (totals stay exact)."
            ),
            runbook=Runbook(
                meaning="Too many distinct label combinations (prompt versions, releases, models) for the budget.",
                confirm=[f"{PIPELINE}, panel *Series per metric*."],
                actions=["Retire old prompt versions/releases, list models/routes/tools in the spec (others fold into _other), or raise the budget."],
            ),
        ),
        Alert(
            name="GenAITenantBudgetExhausted",
            expr=f"sum by (job, instance) (increase({_m(drops, col, drops_matcher)}[1h])) > 0",
            severity="info",
            for_="30m",
            from_spans=False,
            summary=f"Per-tenant metrics on {inst} are past their stream budget",
            description=(
                f"More than cardinality.max_tenants ({spec.cardinality.max_tenants}) tenants are active: the newest ones are not broken down "
                "by tenant (their data points are dropped from the per-tenant counters; the other totals stay exact)."
            ),
            runbook=Runbook(
                meaning="The per-tenant cost and request counters track at most cardinality.max_tenants tenants each; data points of further tenants are dropped from them.",
                confirm=[f"{dashboard('genai-o11y-cost', 'Cost by tenant')}: the tenant list stops growing.",
                         f"`{drops}` ({drops_matcher}) on the collector's telemetry endpoint counts the dropped data points."],
                actions=["Raise cardinality.max_tenants if Prometheus can hold it (bench/ series figures), or accept top-N tenants."],
            ),
        ),
        *([] if spec.collector.engine != "native" else [_unclassified(col, inst)]),
    ]


#: The native redaction stage's counter of values it could not classify (OTTL has no such counter).
UNCLASSIFIED = "otelcol_genai_redaction_values_unclassified"


def _unclassified(col: str, inst: str) -> Alert:
    return Alert(
        name="GenAIRedactionUnclassified",
        expr=f"sum by (job, instance) (rate({_m(UNCLASSIFIED, col)}[10m])) > 0",
        severity="warning",
        for_="15m",
        from_spans=False,
        summary=f"The redaction stage of {inst} masks values it cannot classify",
        description=(
            f"{{{{ $value | humanize }}}} values/s reach the redaction stage of {inst} that break their Tier 1 contract or are opaque bytes: "
            "they are masked as content (never exported as they came), so a dashboard label or a trace attribute may show a masked value."
        ),
        runbook=Runbook(
            meaning=("An app sends a Tier 1 attribute with a value outside its shape (free text in `service.name`, an e-mail in "
                     "`gen_ai.request.model`, a string under a number key) or a bytes-valued attribute. Redaction fails closed: the value is "
                     "treated as content (masked, truncated, counted on the span in genai_o11y.redaction.count), never kept verbatim."),
            confirm=[f"`{UNCLASSIFIED}` by `reason` (contract, bytes) on the collector's telemetry endpoint; {PIPELINE}, panel *Redaction in/out*.",
                     "In Tempo, spans with genai_o11y.redaction.count > 0 show which attribute holds a mask where an id was expected."],
            actions=["Fix the app to send the attribute in its shape (redaction/README.md lists the shapes), or, if the value is legitimate, "
                     "add the key with the right shape to `redaction.metadata_keys` in the spec.",
                     "Bytes values: send text, or accept that they are masked whole."],
        ),
    )
