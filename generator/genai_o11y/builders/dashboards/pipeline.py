"""9. Telemetry pipeline: the sidecar watching itself (what the pipeline alerts point at)."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .. import collector
from .. import pipeline_alerts as pa
from .common import P, Q, dashboard
from .queries import zero_or

UID = n.BOARD_PIPELINE


def _c(name: str, job: str, extra: str = "") -> str:
    return f'{{__name__=~"{name}(_total)?",job="{job}"{("," + extra) if extra else ""}}}'


def _each(names: list[str], job: str, like: str) -> str:
    """The sum of several counters per instance. Each is summed on its own, with 0 where it does not
    exist yet: under one __name__ regex their series would collide once rate() drops the name."""
    return "\n+\n".join(zero_or(f"sum by (instance) (rate({_c(nm, job)}[$__rate_interval]))", like) for nm in names)


def gateway_row(spec: Spec) -> list[P]:
    """The gateway tier (gateway.enabled): its replicas, their receivers, tail sampling and export to Tempo,
    and the sidecars' load_balancing exporter. Metric names and thresholds are the gateway alerts' (pipeline_alerts),
    whose runbooks link these panels; tests/test_gateway_alerts.py finds a series for every selector here on real gateways."""
    jobs = spec.backends.prometheus
    gw, col, replicas = jobs.gateway_job, jobs.collector_job, spec.gateway.replicas
    wait, num_traces, _shards = pa.sampling_settings(spec)
    accepted = f"sum by (instance) (rate({_c('otelcol_receiver_accepted_spans', gw)}[$__rate_interval]))"
    tempo = f'exporter="{n.TEMPO_EXPORTER}"'
    late = wait * pa.LATE_FACTOR
    decided = f"sum by (instance, sampled) (rate({_c(pa.TS_DECIDED, gw)}[$__rate_interval]))"
    timeout = collector.gateway_exporter(spec)["protocol"]["otlp"]["timeout"]
    return [
        P("Gateway tier", "What the gateway row shows: the replicas that sample whole traces, and the sidecars' side of the load balancer.", kind="text", w=24, h=2,
          options={"content": f"**Gateway tier** (job `{gw}`, {replicas} replicas): the sidecars' `load_balancing` exporter sends every span of a trace to one "
                              f"replica, which holds it {wait} s, decides (tail sampling) and exports to Tempo. Panels below: replicas, their receivers, "
                              "sampling buffer and decisions, export queue; then the sidecars' backends and exports."}),
        P(pa.PANEL_GATEWAYS_UP, f"Gateway replicas Prometheus scrapes successfully (job {gw}) out of all; gateway.replicas is {replicas}. Fewer: GenAIGatewayReplicasDown; none: GenAIGatewayDown.",
          [Q(f'sum(up{{job="{gw}"}})', "up"), Q(f'count(up{{job="{gw}"}})', "targets")], kind="stat", unit="short", w=6, h=5),
        P("Gateway spans received", "Spans per second each gateway replica accepts from the sidecars. The trace ids are hashed over the replicas, so their shares stay close.",
          [Q(accepted, "{{instance}}")], unit="ops", w=9, h=5),
        P(pa.PANEL_GATEWAY_REFUSED, f"Spans per second a gateway refuses or fails (its memory limiter over gateway.memory_limit_mib, {spec.gateway.memory_limit_mib} MiB). Should be 0 (GenAIGatewayRefusingSpans); the sidecars retry meanwhile.",
          [Q(_each(["otelcol_receiver_refused_spans", "otelcol_receiver_failed_spans"], gw, accepted), "{{instance}}")], unit="ops", w=9, h=5),
        P(pa.PANEL_GATEWAY_DECISIONS, "Traces per second each gateway decides, kept (sampled=true) or dropped, and spans per second that arrive for a trace already decided "
          "(late spans: kept or dropped by the cached decision; a trace whose spans are late was decided on part of them).",
          [Q(decided, "{{instance}} traces sampled={{sampled}}"),
           Q(zero_or(f"sum by (instance, sampled) (rate({_c(pa.TS_LATE_SPANS, gw)}[$__rate_interval]))", decided), "{{instance}} late spans sampled={{sampled}}")],
          unit="ops"),
        P(pa.PANEL_GATEWAY_DELAY, f"Estimated seconds from a trace's first span to its decision, per gateway: decision_wait ({wait} s) when the decision loop keeps up; "
          f"over {late:g} s (x{pa.LATE_FACTOR:g}) decisions are late (GenAIGatewayDecisionsLate). Reads high for minutes after a replica (re)starts.",
          [Q(pa.decision_delay(spec, "$__rate_interval", by="instance"), "{{instance}}"), Q(f"vector({wait})", "decision_wait")],
          unit="s", thresholds=[(late, "red")], threshold_lines=True),
        P(pa.PANEL_GATEWAY_MEMORY, f"Traces each gateway holds awaiting their decision, against gateway.num_traces ({num_traces}). Over {pa.BUFFER_FULL_SHARE:.0%} "
          "of it, the next burst evicts undecided traces (GenAIGatewaySamplingBufferFull).",
          [Q(f"max by (instance) ({_c(pa.TS_ON_MEMORY, gw)})", "{{instance}}"), Q(f"vector({num_traces})", "num_traces")],
          unit="short", thresholds=[(pa.BUFFER_FULL_SHARE * num_traces, "orange")], threshold_lines=True),
        P(pa.PANEL_GATEWAY_QUEUE, "Bytes of spans in each gateway's persistent queue towards Tempo, against its capacity (gateway.queue_mib). Rising while Tempo is "
          "unreachable (GenAITempoExportFailing); over 80% GenAIExportQueueNearFull; full drops spans.",
          [Q(f"max by (instance) ({_c('otelcol_exporter_queue_size', gw, tempo)})", "{{instance}} size"),
           Q(f"max by (instance) ({_c('otelcol_exporter_queue_capacity', gw, tempo)})", "{{instance}} capacity")], unit="bytes"),
        P(pa.PANEL_GATEWAY_DROPPED, "Spans per second a gateway loses: export to Tempo failed permanently (send failures) or the queue was full, and traces evicted "
          "before their decision (dropped too early). Should be 0 (GenAICollectorDroppingSpans, GenAIGatewaySamplingBufferFull).",
          [Q(_each(pa.DROPPED, gw, accepted), "{{instance}}")], unit="ops"),
        P(pa.PANEL_LB_BACKENDS, f"Gateways each sidecar's load_balancing exporter routes to (what its resolver returns), against gateway.replicas ({replicas}). "
          "Fewer: GenAILoadBalancerBackendsMissing.",
          [Q(f'min by (instance, resolver) ({_c(pa.LB_BACKENDS, col)})', "{{instance}} {{resolver}}"), Q(f"vector({replicas})", "gateway.replicas")], unit="short"),
        P(pa.PANEL_LB_EXPORTS, "Exports per second from the sidecars to each gateway; success=false: refused or unreachable, retried from the sidecar's queue "
          "(GenAILoadBalancerExportFailing).",
          [Q(f"sum by (endpoint, success) (rate({_c(pa.LB_OUTCOME, col)}[$__rate_interval]))", "{{endpoint}} success={{success}}")], unit="ops"),
        P("Load balancer latency", f"p95 time of one export from the sidecars to each gateway. Rising towards the exporter's timeout ({timeout}): the gateway is "
          "overloaded (see its decision delay and memory) or the network is.",
          [Q(f"histogram_quantile(0.95, sum by (le, endpoint) (rate({_c(pa.LB_LATENCY + '_bucket', col)}[$__rate_interval])))", "{{endpoint}}")], unit="ms"),
    ]


def build(spec: Spec, source: str) -> dict:
    side, col = spec.backends.prometheus.sidecar_job, spec.backends.prometheus.collector_job
    # tail sampling runs on the gateways when they are on, else in the sidecar
    sampler = spec.backends.prometheus.gateway_job if spec.gateway.enabled else col
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
        P("Tail sampling decisions", f"Traces per second kept (sampled=true) and dropped by each sampling policy (job {sampler}: the tier that samples). Errors, negative feedback, slow and expensive traces are always kept.",
          [Q(f"sum by (policy, sampled) (rate({_c('otelcol_processor_tail_sampling_count_traces_sampled', sampler)}[$__rate_interval]))", "{{policy}} sampled={{sampled}}")], unit="ops"),
        P("Series per metric", f"Series per span-derived metric. Near cardinality.max_series_per_metric ({spec.cardinality.max_series_per_metric}) new label sets fold into the overflow series (GenAIMetricsCardinalityOverflow).",
          [Q(f'topk(15, count by (__name__) ({{__name__=~"genai_o11y_.*",job="{side}"}}))', "{{__name__}}", instant=True)], kind="bargauge", unit="short"),
        *(gateway_row(spec) if spec.gateway.enabled else []),
    ]
    gateways = ", the gateways' and the sidecars' load balancer" if spec.gateway.enabled else ""
    return dashboard(UID, f"The telemetry pipeline watching itself: sidecars up, spans accepted, refused, dropped, queues, redaction, memory, sampling, series{gateways}.", panels, source,
                     needs=f"the collectors' own telemetry (sidecars{' and gateways' if spec.gateway.enabled else ''}) and Prometheus' scrape of it (`up`, `otelcol_*`): no app signal is needed.")
