"""The telemetry pipeline watches itself: sidecar down, spans refused or dropped, export queue
filling, Tempo or Prometheus export failing, redaction failing, metric budgets exhausted.

Collector self-metrics are matched with an optional `_total`: the collector exposes its counters
without the suffix, and an OpenMetrics scrape (Prometheus 3's default) adds it.
"""

from __future__ import annotations

from .. import catalog
from .. import names as n
from ..spec import Spec
from .alerting import Alert, Runbook, counter, dashboard
from .collector import GATEWAY_RESOLVE_INTERVAL, LOGS_EXPORTER

TEMPO = n.TEMPO_EXPORTER
DROPPED = [
    "otelcol_exporter_enqueue_failed_spans",
    "otelcol_exporter_send_failed_spans",
    "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
]
PIPELINE = dashboard(n.BOARD_PIPELINE)


def _m(name: str, job: str, extra: str = "") -> str:
    """A collector self-metric selector (`name` may be an alternation), with or without `_total`."""
    op = "=~" if "|" in job else "="  # several jobs: an alternation
    return f'{{__name__=~"({name})(_total)?",job{op}"{job}"{("," + extra) if extra else ""}}}'


def _gateway_cr(spec: Spec) -> str:
    """The chart's name for the gateway's OpenTelemetryCollector (its pods carry instance=<namespace>.<name>)."""
    from . import helm

    return helm.values(spec)["gateway"]["name"]


def no_target_up(job: str) -> str:
    """No healthy target of `job`, once Prometheus has scraped for a minute: before its first scrape (a fresh
    or restarted Prometheus, the first seconds of `make run`) no `up` series exists and absent() alone
    went pending for every such alert; in its first seconds some jobs' first scrape is still to come (each
    target's first scrape is offset within the interval) and the sidecar's alert went pending."""
    return f'absent(up{{job="{job}"}} == 1)\nunless on ()\nabsent(up offset 1m)'


def _any_rate(names: list[str], job: str) -> str:
    """Any of these counters rising, per collector. Combined with `or`, not `+`: some counters exist
    only once non-zero (a sum would be empty), and under one __name__ regex their series would
    collide once rate() drops the name."""
    return "\nor\n".join(f"sum by (job, instance) (rate({_m(name, job)}[5m])) > 0" for name in names)


def alerts(spec: Spec) -> list[Alert]:
    side, col = spec.backends.prometheus.sidecar_job, spec.backends.prometheus.collector_job
    inst = "{{ $labels.instance }}"
    tempo = f'exporter="{TEMPO}"'
    # the Tempo exporter and its queue run on whichever tier samples: the gateways too when they are on
    exp = f"{col}|{spec.backends.prometheus.gateway_job}" if spec.gateway.enabled else col
    tempo_queue, tempo_sent = _m("otelcol_exporter_queue_size", exp, tempo), _m("otelcol_exporter_sent_spans", exp, tempo)
    prom_failed = _m("otelcol_exporter_send_failed_metric_points", col, 'exporter="prometheus"')
    redact = f'processor="{n.redact_processor(spec.collector.engine)}"'
    redact_in, redact_out = _m("otelcol_processor_incoming_items", col, redact), _m("otelcol_processor_outgoing_items", col, redact)
    drops, drops_matcher = n.BUDGET_DROPS[spec.collector.engine]
    # with the gateway tier the Tempo exporter's queue is the gateways': their row's panel
    gw_queue = f" (the sidecars'; the gateways': {dashboard(n.BOARD_PIPELINE, PANEL_GATEWAY_QUEUE)})" if spec.gateway.enabled else ""
    return [
        Alert(
            name="GenAISidecarDown",
            expr=no_target_up(side),
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
                    "Memory: raise collector.memory_limit_mib (and the container limit). With the gateway tier the sidecar holds "
                    "no traces, only batches in flight and its export queue: a sidecar near its limit usually means the "
                    "gateways are slow or down (see GenAILoadBalancerExportFailing); with gateway.enabled: false, lower "
                    "gateway.num_traces or gateway.decision_wait_seconds (the sidecar samples).",
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
                    "Queue full: restore Tempo (GenAITempoExportFailing) or the gateways, then raise collector.queue_mib (the sidecars' queues, bytes) or gateway.queue_mib (the gateways').",
                    "Dropped too early: raise gateway.num_traces or lower gateway.decision_wait_seconds.",
                ],
            ),
        ),
        Alert(
            name="GenAIExportQueueNearFull",
            expr=(
                f"max by (job, instance, exporter) ({_m('otelcol_exporter_queue_size', exp)})\n/\n"
                f"max by (job, instance, exporter) ({_m('otelcol_exporter_queue_capacity', exp)})\n> 0.8"
            ),
            severity="warning",
            for_="5m",
            from_spans=False,
            summary=f"The export queue of {{{{ $labels.exporter }}}} on {inst} is over 80% full",
            description=f"The persistent queue of exporter {{{{ $labels.exporter }}}} on {inst} is {{{{ $value | humanizePercentage }}}} full: when it is full, new spans are dropped.",
            runbook=Runbook(
                meaning="The backend is slower than the traffic or unreachable; the on-disk queue absorbs it until it is full.",
                confirm=[f"{PIPELINE}, panel *Export queue*{gw_queue}; GenAITempoExportFailing firing at the same time."],
                actions=["Restore the backend; if it is just slow, raise its ingestion limits, collector.queue_mib (sidecars) or gateway.queue_mib (gateways)."],
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
            summary=f"The collector {inst} cannot send traces to Tempo",
            description=f"Spans wait in the queue of {TEMPO} on {inst} and none were sent for 10 minutes: Tempo at {spec.backends.tempo.endpoint} is unreachable or refusing. The queue holds them until it is full.",
            runbook=Runbook(
                meaning="The collector retries forever from its persistent queue, so an outage loses nothing until the queue is full; meanwhile no new traces are visible in Tempo.",
                confirm=[f"{PIPELINE}, panel *Export queue*{gw_queue}; the sidecar log says `Exporting failed. Will retry`."],
                actions=["Check Tempo's health and the endpoint/TLS settings in backends.tempo; the queue drains by itself when Tempo is back."],
            ),
        ),
        _logs_export_failing(spec, col, inst),
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
            expr=f'sum by (job, instance) (rate({catalog.PROM["calls"]}{{job="{side}",otel_metric_overflow="true"}}[10m])) > 0',
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
                confirm=[f"{dashboard(n.BOARD_COST, 'Cost by tenant')}: the tenant list stops growing.",
                         f"{counter(drops)} ({drops_matcher}) on the collector's telemetry endpoint counts the dropped data points."],
                actions=["Raise cardinality.max_tenants if Prometheus can hold it (bench/ series figures), or accept top-N tenants."],
            ),
        ),
        *([] if spec.collector.engine != "native" else [_unclassified(col, inst)]),
        _delivery_failing(spec),
        *gateway_alerts(spec),
    ]


#: The alert that still reaches a human when one receiver fails: Alertmanager sends it to both (alertmanager.py).
DELIVERY_FAILING = "GenAIAlertDeliveryFailing"
#: The Overview board's list of the alerts Alertmanager holds (Grafana reads it, whatever the receivers do).
PANEL_ALERTS_FIRING = "Alerts firing"


def _delivery_failing(spec: Spec) -> Alert:
    """Alertmanager failing to deliver notifications (a wrong webhook URL, a url_file secret not mounted, the
    receiver down): pages are lost silently. Routed to both receivers, so the one that works says so. It reads
    the Alertmanager genai-o11y runs (compose, `make run`); on Kubernetes the cluster's stack watches its own."""
    am = n.JOB_ALERTMANAGER
    return Alert(
        name=DELIVERY_FAILING,
        # most attempts failing (Alertmanager retries a failed notification until the group's next interval and
        # counts it failed only then: minutes later), or notifications given up
        expr=(f"sum by (job, instance, integration) (rate({_m('alertmanager_notification_requests_failed', am)}[10m]))\n"
              f"  > 0.5 * sum by (job, instance, integration) (rate({_m('alertmanager_notification_requests', am)}[10m]))\n"
              f"or\nsum by (job, instance, integration) (rate({_m('alertmanager_notifications_failed', am)}[10m])) > 0"),
        severity="critical",
        for_="5m",
        from_spans=False,
        summary="Alertmanager fails to deliver notifications ({{ $labels.integration }})",
        description=("Alertmanager at {{ $labels.instance }} fails {{ $value | humanize }} {{ $labels.integration }} notification requests/s, most of "
                     "its attempts over 10 minutes, or gives notifications up: "
                     "pages and tickets are not reaching people. This alert goes to both receivers: the one that works shows it."),
        runbook=Runbook(
            meaning=("Notifications leave Alertmanager and fail: the receiver's URL is wrong or unreachable, or its url_file secret (a receiver "
                     "given as ${env:NAME} in the spec) was not mounted, so every page fails at send time while Alertmanager itself is healthy."),
            confirm=[f"{dashboard(n.BOARD_OVERVIEW, PANEL_ALERTS_FIRING)}: what is firing though nobody was told (Grafana reads Alertmanager itself).",
                     f"{counter('alertmanager_notification_requests_failed')} against {counter('alertmanager_notification_requests')} and "
                     f"{counter('alertmanager_notifications_failed')} by `integration` on Alertmanager's /metrics (job `{am}`), "
                     "and Alertmanager's log: `Notify for alerts failed` names the receiver and the error.",
                     "The receivers in alerts/alertmanager.yml (pager, chat; their URLs are the spec's alerting.receivers); a `url_file` "
                     "must exist in the Alertmanager container (compose mounts it from the environment variable at `docker compose up`)."],
            actions=["Fix the receiver: the URL in the spec (alerting.receivers), or set the environment variable its secret comes from and "
                     "recreate Alertmanager; then check a test alert reaches it (`amtool alert add` against Alertmanager).",
                     "Until it is fixed, watch Alertmanager's UI for firing alerts: it still groups and shows them."],
        ),
    )


def _logs_export_failing(spec: Spec, col: str, inst: str) -> Alert:
    """The sidecar's logs exporter (logs.export: otlp) failing: like GenAITempoExportFailing, records wait in
    its persistent queue and none leave (the exporter retries forever, so it counts no send_failed_log_records
    while it retries: measured on v0.161 against a dead endpoint), or the backend rejects them for good
    (send_failed_log_records). With logs.export: drop there is no such exporter: the rule stays quiet."""
    logs = f'exporter="{LOGS_EXPORTER}"'
    where = spec.logs.endpoint or "logs.endpoint"
    return Alert(
        name="GenAILogsExportFailing",
        expr=(
            f"sum by (job, instance, exporter) (rate({_m('otelcol_exporter_send_failed_log_records', col, logs)}[5m])) > 0\n"
            f"or\n"
            f"(\n  max by (job, instance, exporter) ({_m('otelcol_exporter_queue_size', col, logs)}) > 0\n"
            f"  unless on (job, instance, exporter)\n"
            f"  sum by (job, instance, exporter) (rate({_m('otelcol_exporter_sent_log_records', col, logs)}[10m])) > 0\n)"
        ),
        severity="warning",
        for_="10m",
        from_spans=False,
        summary=f"The sidecar {inst} cannot send logs to the logs backend",
        description=(
            f"Log records (GenAI events, content events) wait in the queue of {LOGS_EXPORTER} on {inst} and none were sent for 10 minutes, "
            f"or the backend rejects them: {where} is unreachable or refusing. The queue holds them until it is full, then they are dropped."
        ),
        runbook=Runbook(
            meaning=("With logs.export: otlp the sidecar sends the apps' OTLP logs, redacted, to logs.endpoint through a persistent queue "
                     "(half of collector.queue_mib) and retries forever: an outage loses nothing until the queue is full, but no new "
                     "records reach the logs backend meanwhile. Records the backend rejects as invalid are dropped at once (counted in "
                     "send_failed_log_records)."),
            confirm=[f"{PIPELINE}, panel *Export queue* (exporter {LOGS_EXPORTER} rising); `otelcol_exporter_queue_size` and "
                     f"{counter('otelcol_exporter_sent_log_records')} of exporter {LOGS_EXPORTER} on the sidecar's telemetry endpoint; "
                     "its log says `Exporting failed` with the logs endpoint."],
            actions=["Check the logs backend's health and logs.endpoint / logs.insecure (TLS); the queue drains by itself when it is back.",
                     "If it will be down for long and the queue nears full (GenAIExportQueueNearFull), set logs.export: drop for now: traces are not affected."],
        ),
    )


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
            confirm=[f"{counter(UNCLASSIFIED)} by `reason` (contract, bytes) on the collector's telemetry endpoint; {PIPELINE}, panel *Redaction in/out*.",
                     "In Tempo, spans with genai_o11y.redaction.count > 0 show which attribute holds a mask where an id was expected."],
            actions=["Fix the app to send the attribute in its shape (redaction/README.md lists the shapes), or, if the value is legitimate, "
                     "add the key with the right shape to `redaction.metadata_keys` in the spec.",
                     "Bytes values: send text, or accept that they are masked whole."],
        ),
    )


# --- the gateway tier (gateway.enabled) --------------------------------------------------------------
# Names checked on the real collector (tests/test_gateway_alerts.py scrapes a gateway pair and a sidecar
# and finds every otelcol_* name these expressions use).
LB_BACKENDS = "otelcol_loadbalancer_num_backends"  # gauge, per resolver: the backends the sidecar routes to
LB_OUTCOME = "otelcol_loadbalancer_backend_outcome"  # counter, per endpoint and success="true"/"false"
TS = "otelcol_processor_tail_sampling_"
TS_DROPPED_EARLY = TS + "sampling_trace_dropped_too_early"  # traces evicted (num_traces reached) before their decision
TS_ON_MEMORY = TS + "sampling_traces_on_memory"  # gauge: traces held (all shards)
TS_TICKS = TS + "sampling_decision_timer_latency_count"  # one per decision tick per shard, empty ticks included
#: The buffer counts as full from this share of num_traces (the next burst evicts undecided traces).
BUFFER_FULL_SHARE = 0.9
#: Decisions count as late from this multiple of decision_wait.
LATE_FACTOR = 1.25
#: tail_sampling's decision ticker (processor.go: tickerFrequency, 1 s): each tick decides the traces whose
#: wait is over, so a trace is decided after decision_wait ticks; fewer ticks per second, later decisions.
TICK_SECONDS = 1
FAILED = 'success="false"'
TS_DECIDED = TS + "global_count_traces_sampled"  # counter: traces decided, by sampled="true"/"false"
TS_LATE_SPANS = TS + "early_releases_from_cache_decision"  # counter: spans of an already decided trace, by sampled
LB_LATENCY = "otelcol_loadbalancer_backend_latency"  # histogram (ms) per endpoint: one export to a gateway

#: The gateway row of the pipeline board (builders/dashboards/pipeline.py): the runbooks link these panels.
PANEL_GATEWAYS_UP = "Gateways up"
PANEL_GATEWAY_REFUSED = "Gateway spans refused"
PANEL_GATEWAY_DECISIONS = "Gateway sampling decisions"
PANEL_GATEWAY_DELAY = "Gateway decision delay"
PANEL_GATEWAY_MEMORY = "Gateway traces in memory"
PANEL_GATEWAY_QUEUE = "Gateway export queue"
PANEL_GATEWAY_DROPPED = "Gateway spans dropped"
PANEL_LB_BACKENDS = "Load balancer backends"
PANEL_LB_EXPORTS = "Exports to gateways"


def sampling_settings(spec: Spec) -> tuple[int, int, int]:
    """(decision wait in s, num_traces, shards) of the tail_sampling processor the gateways run
    (builders/gateway.py): alerts and panels read their thresholds from the config itself."""
    from . import gateway as gateway_builder  # gateway imports collector; collector does not import us

    ts = gateway_builder.build(spec)["processors"][n.TAIL_SAMPLER]
    return int(ts["decision_wait"].rstrip("s")), ts["num_traces"], ts.get("num_shards", 1)


def decision_delay(spec: Spec, window: str = "5m", by: str = "job, instance") -> str:
    """The estimated time from a trace's first span to its decision, per gateway: decision_wait ticks of
    the decision timer per shard, over the ticks it manages per second."""
    wait, _, shards = sampling_settings(spec)
    return f'{wait * shards} / sum by ({by}) (rate({TS_TICKS}{{job="{spec.backends.prometheus.gateway_job}"}}[{window}]))'


def gateway_alerts(spec: Spec) -> list[Alert]:
    """The gateway tier watching itself (its replicas, their receivers and sampling buffers) and the
    sidecars' side of it (the load_balancing exporter's backends and exports). Thresholds come from the
    gateway config the replicas run (builders/gateway.py), so they cannot disagree with it."""
    if not spec.gateway.enabled:
        return []
    jobs = spec.backends.prometheus
    gw, col, replicas = jobs.gateway_job, jobs.collector_job, spec.gateway.replicas
    wait, num_traces, _shards = sampling_settings(spec)
    inst = "{{ $labels.instance }}"
    board = lambda panel: dashboard(n.BOARD_PIPELINE, panel)  # noqa: E731 - the gateway row's panels
    late = wait * LATE_FACTOR
    gw_sel = f'job="{gw}"'
    return [
        Alert(
            name="GenAIGatewayDown",
            expr=no_target_up(gw),
            severity="critical",
            for_="5m",
            from_spans=False,
            labels={"job": gw},  # absent() of a comparison carries no labels
            summary="No genai-o11y gateway is up: no trace reaches Tempo",
            description=(
                f"Prometheus has no healthy target of job {gw} for 5 minutes. The sidecars keep the traces in their persistent queue "
                "(on the app pod's disk) and retry; when it is full they drop them. Span metrics and the LLM alerts are not affected."
            ),
            runbook=Runbook(
                meaning=("Every gateway replica is down or unreachable: tail sampling and the export to Tempo stop. The sidecars' load_balancing "
                         "exporter retries forever from its persistent queue (collector.queue_mib of spans per sidecar), so nothing is lost "
                         "until a sidecar's queue is full, but the queue grows on the app pod's volume."),
                confirm=[f"Prometheus *Status > Targets*, job `{gw}`; {board(PANEL_GATEWAYS_UP)}.",
                         f"The gateway pods (`kubectl -n NAMESPACE get pods -l app.kubernetes.io/instance=NAMESPACE.{_gateway_cr(spec)}`, "
                         f"NAMESPACE the chart's; compose: `docker compose ps {spec.gateway.host}`) and their logs (OOM kills, config errors)."],
                actions=[f"Bring the gateways back (restart, fix the config, raise gateway.memory_limit_mib if they are OOM-killed); the sidecars' queues drain by themselves.",
                         f"If they run: fix the scrape config (job name must match `backends.prometheus.gateway_job`, port gateway.telemetry_port {spec.gateway.telemetry_port})."],
            ),
        ),
        Alert(
            name="GenAIGatewayReplicasDown",
            # quiet until the job has been scraped for a minute: at start-up one replica's first scrape comes before
            # the other's (each target's first scrape is offset within the interval), and it went pending (a new user saw it)
            expr=f'count by (job) (up{{job="{gw}"}} == 1) < {replicas}\nand on (job)\ncount by (job) (up{{job="{gw}"}} offset 1m)',
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"Only {{{{ $value }}}} of {replicas} gateway replicas are up",
            description=(
                f"{{{{ $value }}}} targets of job {gw} are up for 10 minutes, fewer than gateway.replicas ({replicas}): the others' share of "
                "the trace ids is re-routed, their in-memory traces were lost, and the survivors hold more traces each."
            ),
            runbook=Runbook(
                meaning=("Some gateway replicas are down (crash, OOM kill, eviction, a node drain) or no longer scraped. The sidecars' dns resolver "
                         f"drops them once the name stops listing them (it looks it up every {GATEWAY_RESOLVE_INTERVAL}) and routes their trace ids to "
                         "the others; traces that were in a lost replica's memory are gone or split (spans before and after the re-route "
                         "were decided apart). Measured with the shipped 30 s wait (bench/gateway_fault.py, one of 2 replicas SIGKILLed for "
                         "20 s and restarted, 20 traces/s): its undecided traces were lost (288 - 310 of 900 sent in the 45 s before the kill, "
                         "with either resolver); nothing sent while it was down was lost (dns: re-routed 9 s after the kill, the last arrived "
                         "32 s after the restart; static list: queued, 38 s); after the restart every trace was whole with the static list, "
                         "and with dns from 3.5 - 3.7 s on (until every sidecar re-resolved, 3 - 12 traces were split between the two owners). "
                         "Delivery is at-least-once: 10 - 11% of the traces sent during the outage carry a span twice (see "
                         "GenAILoadBalancerExportFailing); with a static list the live replicas' traces wait too until it returns "
                         "(24 of 403 prompt in a 20 s outage), with dns until the name drops it."),
                confirm=[f"Prometheus *Status > Targets*, job `{gw}`; {board(PANEL_GATEWAYS_UP)}; {board(PANEL_LB_BACKENDS)}; GenAILoadBalancerBackendsMissing on the sidecars."],
                actions=["Look at the missing replicas' pods and logs (OOM: raise gateway.memory_limit_mib or lower gateway.num_traces).",
                         "Scale back to gateway.replicas; a PodDisruptionBudget (Helm) keeps voluntary disruptions to one replica at a time."],
            ),
        ),
        Alert(
            name="GenAIGatewayRefusingSpans",
            expr=_any_rate(["otelcol_receiver_refused_spans", "otelcol_receiver_failed_spans"], gw),
            severity="warning",
            for_="5m",
            from_spans=False,
            summary=f"The gateway {inst} refuses spans from the sidecars",
            description=(
                f"The gateway {inst} refuses or fails {{{{ $value | humanize }}}} spans/s: its memory limiter is over gateway.memory_limit_mib "
                f"({spec.gateway.memory_limit_mib} MiB). The sidecars retry from their queues, which grow meanwhile."
            ),
            runbook=Runbook(
                meaning=("The gateway's OTLP receiver answers with errors: the memory_limiter is over its soft limit and pushes back (its refusals "
                         "are counted by the receiver), usually because the sampling buffer holds more traces or bigger spans than the memory allows."),
                confirm=[f"{board(PANEL_GATEWAY_REFUSED)}; {board(PANEL_GATEWAY_MEMORY)}; {counter('otelcol_receiver_refused_spans')}, `otelcol_process_memory_rss` and `{TS_ON_MEMORY}` of job `{gw}`; the gateway's log says `data refused due to high memory usage`."],
                actions=[f"Raise gateway.memory_limit_mib (and the pod limit) or gateway.replicas; lower gateway.num_traces ({num_traces}) "
                         f"or gateway.decision_wait_seconds ({wait} s) if traffic grew."],
            ),
        ),
        Alert(
            name="GenAIGatewaySamplingBufferFull",
            expr=(
                f"sum by (job, instance) (rate({_m(TS_DROPPED_EARLY, gw)}[5m])) > 0\nor\n"
                f"max by (job, instance) ({TS_ON_MEMORY}{{{gw_sel}}}) > {int(BUFFER_FULL_SHARE * num_traces)}"
            ),
            severity="warning",
            for_="5m",
            from_spans=False,
            summary=f"Tail sampling on {inst} is at its num_traces limit",
            description=(
                f"The gateway {inst} holds more than {BUFFER_FULL_SHARE:.0%} of gateway.num_traces ({num_traces}) traces, or evicts traces before "
                f"their decision ({wait} s): evicted traces are never sampled, whatever their errors or feedback."
            ),
            runbook=Runbook(
                meaning=(f"More traces arrive within decision_wait ({wait} s) than one replica holds (num_traces {num_traces}): the oldest "
                         "undecided traces are dropped to make room (counted as dropped too early), so errors and negative feedback go unsampled."),
                confirm=[f"{board(PANEL_GATEWAY_MEMORY)} (against num_traces); {board(PANEL_GATEWAY_DROPPED)}; {counter(TS_DROPPED_EARLY)} and `{TS_ON_MEMORY}` on the gateway's telemetry endpoint."],
                actions=["Add replicas (gateway.replicas, or the Helm autoscaler): each holds its share of the trace ids.",
                         "Or raise gateway.num_traces with gateway.memory_limit_mib, or lower gateway.decision_wait_seconds."],
            ),
        ),
        Alert(
            # for: 10m outlasts the 5m window: the tick counter of a restarted gateway reads low under rate()[5m]
            # while it is younger than the window (Prometheus 3 here: the expression is true for about 4 minutes);
            # a new one (no samples 5 minutes ago) is left out altogether
            name="GenAIGatewayDecisionsLate",
            expr=(f"{decision_delay(spec)} > {late:g}\n"
                  # only a counter older than the rate window: a new one reads low under rate() (the extrapolated
                  # increase of its young part over the whole 5m), so every gateway went pending in its first 4 minutes
                  f'and on (job, instance)\npresent_over_time({TS_TICKS}{{job="{spec.backends.prometheus.gateway_job}"}}[1m] offset 5m)'),
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"Tail sampling on {inst} decides traces later than decision_wait",
            description=(
                f"The gateway {inst} decides a trace about {{{{ $value | humanizeDuration }}}} after its first span, more than {LATE_FACTOR:g}x "
                f"gateway.decision_wait_seconds ({wait} s): its decision loop cannot keep up, traces stay in memory longer and the buffer fills."
            ),
            runbook=Runbook(
                meaning=(f"Tail sampling decides a trace after decision_wait ticks of its decision timer ({TICK_SECONDS} s each, per shard); "
                         "one loop both takes in spans and runs the policies, so when it is busy ticks are skipped and every decision comes "
                         f"later: the expression is decision_wait x shards / ticks per second. Late decisions hold traces longer "
                         "(GenAIGatewaySamplingBufferFull follows) and delay what reaches Tempo. For the first minutes after a "
                         "gateway restarts the expression reads high (its counter is younger than the 5m window); `for: 10m` outlasts that. "
                         "A gateway seen for the first time is not judged until its counter is 5 minutes old."),
                confirm=[f"{board(PANEL_GATEWAY_DELAY)}; {board(PANEL_GATEWAY_DECISIONS)} (spans after their decision); the decision timer latency histogram (`{TS}sampling_decision_timer_latency`) near or above 1000 ms; "
                         "the gateway's CPU at its limit."],
                actions=["Give the gateways more CPU or add replicas (each decides its share of the trace ids).",
                         "Look for an expensive policy (ottl_condition) in the sampling section of the spec."],
            ),
        ),
        Alert(
            name="GenAILoadBalancerBackendsMissing",
            expr=f'min by (job, instance) ({LB_BACKENDS}{{job="{col}"}}) < {replicas}',
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"The sidecar {inst} sends traces to {{{{ $value }}}} gateways, fewer than {replicas}",
            description=(
                f"The load_balancing exporter of {inst} resolves {{{{ $value }}}} backends for 10 minutes, fewer than gateway.replicas ({replicas}): "
                f"the name {spec.gateway.host} does not resolve to every replica, so fewer gateways share the trace ids."
            ),
            runbook=Runbook(
                meaning=(f"The sidecar's resolver (dns on `{spec.gateway.host}`, or gateway.static_endpoints) returns fewer addresses than there "
                         "should be replicas: replicas are down or not ready (GenAIGatewayReplicasDown), or the name points at the wrong thing "
                         "(not a headless Service, another namespace). Each trace still reaches one gateway: traces are not split, only fewer replicas work."),
                confirm=[f"`{LB_BACKENDS}` and {counter('otelcol_loadbalancer_num_resolutions')} (success=\"false\") on the sidecar's telemetry endpoint; "
                         f"{board(PANEL_LB_BACKENDS)}; from the app pod, `getent hosts {spec.gateway.host}`."],
                actions=["If replicas are down: see GenAIGatewayReplicasDown (it inhibits this alert).",
                         f"Otherwise fix the name: the sidecar and the gateway in one namespace, `{spec.gateway.host}` a headless Service (clusterIP: None)."],
            ),
        ),
        Alert(
            name="GenAILoadBalancerExportFailing",
            expr=f"sum by (job, instance) (rate({_m(LB_OUTCOME, col, FAILED)}[5m])) > 0",
            severity="warning",
            for_="10m",
            from_spans=False,
            summary=f"The sidecar {inst} fails to send traces to the gateways",
            description=(
                f"{{{{ $value | humanize }}}} exports/s from the load_balancing exporter of {inst} to a gateway fail: the traces wait in the sidecar's "
                "persistent queue and are retried (GenAIExportQueueNearFull warns before it is full)."
            ),
            runbook=Runbook(
                meaning=("A gateway the sidecar routes to refuses or does not answer (down but still resolved, refusing under memory pressure, "
                         "network policy, TLS). The exporter retries from its persistent queue; a trace id stays on its gateway, so it waits "
                         "until that gateway answers or the resolver drops it. Delivery is at-least-once meanwhile: the load balancer "
                         "retries a batch whole, including the part another gateway already took (load_balancing v0.161.0 returns the "
                         "parts' errors joined, not the failed part), so with the dns resolver some spans reach Tempo twice with the same span id (10 - 11% of "
                         "the traces sent during a 20 s outage of one of 2 gateways, bench/RESULTS.md) and every gateway's part waits until the name drops "
                         "the failing one; retrying in the per-replica exporters avoids it but loses what they hold in memory when the resolver drops a "
                         "replica (and their telemetry is a no-op meter in v0.161), so it stays so. With a static list (gateway.static_endpoints) the name "
                         "never drops the failing gateway: every gateway's traces wait until it answers; give the gateways a DNS name where you can. "
                         "The eval dataset build gives the same cases whether a span arrived once or twice."),
                confirm=[f"{counter(LB_OUTCOME)} by `endpoint` on the sidecar's telemetry endpoint names the failing gateway ({board(PANEL_LB_EXPORTS)}); "
                         "the sidecar log says `Exporting failed` with the endpoint."],
                actions=["A gateway refusing: see GenAIGatewayRefusingSpans. Down: see GenAIGatewayReplicasDown (it inhibits this alert).",
                         f"Otherwise check the network path from the app pods to port {spec.gateway.otlp_grpc_port} of the gateways."],
            ),
        ),
    ]
