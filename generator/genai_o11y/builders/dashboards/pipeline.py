"""9. Telemetry pipeline: the sidecar watching itself (what the pipeline alerts point at)."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import P, Q, dashboard
from .queries import zero_or

UID = n.BOARD_PIPELINE


def _c(name: str, job: str, extra: str = "") -> str:
    return f'{{__name__=~"{name}(_total)?",job="{job}"{("," + extra) if extra else ""}}}'


def _each(names: list[str], job: str, like: str) -> str:
    """The sum of several counters per instance. Each is summed on its own, with 0 where it does not
    exist yet: under one __name__ regex their series would collide once rate() drops the name."""
    return "\n+\n".join(zero_or(f"sum by (instance) (rate({_c(nm, job)}[$__rate_interval]))", like) for nm in names)


def build(spec: Spec, source: str) -> dict:
    side, col = spec.backends.prometheus.sidecar_job, spec.backends.prometheus.collector_job
    accepted = f"sum by (instance) (rate({_c('otelcol_receiver_accepted_spans', col)}[$__rate_interval]))"
    redact = f'processor="{n.redact_processor(spec.collector.engine)}"'
    panels = [
        P("Sidecars up", f"Sidecar targets Prometheus scrapes successfully (job {side}) out of all. Fewer than expected: GenAISidecarScrapeFailing; none: GenAISidecarDown.",
          [Q(f'sum(up{{job="{side}"}})', "up"), Q(f'count(up{{job="{side}"}})', "targets")], kind="stat", unit="short", w=6, h=5),
        P("Spans received", "Spans per second the sidecars accept from the app, per sidecar. Zero while the app serves traffic: the app cannot reach its sidecar.",
          [Q(accepted, "{{instance}}")], unit="ops", w=9, h=5),
        P("Spans refused", "Spans per second refused or failed at the receiver (memory limit, or redaction failing closed). Should be 0 (GenAICollectorRefusingSpans).",
          [Q(_each(["otelcol_receiver_refused_spans", "otelcol_receiver_failed_spans"], col, accepted), "{{instance}}")], unit="ops", w=9, h=5),
        P("Spans dropped", "Spans per second lost after acceptance: export queue full, permanent export errors, or traces evicted before the sampling decision. Should be 0 (GenAICollectorDroppingSpans).",
          [Q(_each(["otelcol_exporter_enqueue_failed_spans", "otelcol_exporter_send_failed_spans", "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early"], col, accepted), "{{instance}}")],
          unit="ops"),
        P("Export queue", "Fill of each exporter's persistent queue (0-1). Rising while Tempo is unreachable; over 80% alerts (GenAIExportQueueNearFull), full drops spans.",
          [Q(f"max by (instance, exporter) ({_c('otelcol_exporter_queue_size', col)})\n/\nmax by (instance, exporter) ({_c('otelcol_exporter_queue_capacity', col)})", "{{instance}} {{exporter}}")],
          unit="percentunit", thresholds=[(0.8, "orange"), (0.95, "red")]),
        P("Redaction in/out", "Spans per second entering and leaving the redaction stage. Out below in: redaction fails closed and refuses spans (GenAIRedactionFailing, critical).",
          [Q(f"sum by (instance) (rate({_c('otelcol_processor_incoming_items', col, redact)}[$__rate_interval]))", "{{instance}} in"),
           Q(f"sum by (instance) (rate({_c('otelcol_processor_outgoing_items', col, redact)}[$__rate_interval]))", "{{instance}} out")], unit="ops"),
        P("Collector memory", f"Resident memory of each sidecar. The memory limiter refuses spans near collector.memory_limit_mib ({spec.collector.memory_limit_mib} MiB).",
          [Q(f"max by (instance) ({_c('otelcol_process_memory_rss', col)})", "{{instance}}"), Q(f"vector({spec.collector.memory_limit_mib * 1024 * 1024})", "limit")], unit="bytes"),
        P("Tail sampling decisions", "Traces per second kept (sampled=true) and dropped by each sampling policy. Errors, negative feedback, slow and expensive traces are always kept.",
          [Q(f"sum by (policy, sampled) (rate({_c('otelcol_processor_tail_sampling_count_traces_sampled', col)}[$__rate_interval]))", "{{policy}} sampled={{sampled}}")], unit="ops"),
        P("Series per metric", f"Series per span-derived metric. Near cardinality.max_series_per_metric ({spec.cardinality.max_series_per_metric}) new label sets fold into the overflow series (GenAIMetricsCardinalityOverflow).",
          [Q(f'topk(15, count by (__name__) ({{__name__=~"genai_o11y_.*",job="{side}"}}))', "{{__name__}}", instant=True)], kind="bargauge", unit="short"),
    ]
    return dashboard(UID, "The telemetry pipeline watching itself: sidecars up, spans accepted, refused, dropped, queues, redaction, memory, sampling, series.", panels, source,
                     needs="the sidecar's own telemetry and Prometheus' scrape of it (`up`, `otelcol_*`): no app signal is needed.")
