"""The OpenTelemetry Collector sidecar config, as data.

    traces/ingest   otlp -> memory_limiter -> drop spans without ids (counted) -> resource -> normalise + cost -> redact
                    -> batch -> forward
    logs/drop       otlp -> memory_limiter -> drop every record (counted) -> nop   (spec logs.export: drop, the default):
                    an app exporting logs gets no error, and no log content leaves the sidecar
    logs/ingest     otlp -> memory_limiter -> resource -> redact -> batch -> otlp_grpc/logs (logs.export: otlp;
                    persistent queue, retries): the same redaction stage as traces, every field of the logs model
    logs/eval_events otlp -> memory_limiter -> gen_ai.evaluation.result records -> resource -> redact -> normalise
                    resource -> genai_usage / signal_to_metrics: the eval series of the span event, from log records
    traces/gateway  forward -> load_balancing (routing key: trace id; persistent queue, retries) -> the gateway tier
                    (gateway.enabled, the default: the sidecar holds no trace; builders/gateway.py samples)
    traces/sample   forward -> tail_sampling -> otlp_grpc/tempo (persistent queue, retries)
                    (gateway.enabled: false only: each sidecar samples its own pod's spans, fragmenting
                    traces that cross services)
    traces/metrics  forward -> genai_usage (native engine: in one pass that changes nothing, so the fan-out
                    copies nothing: GenAI spans only, label values folded, the request view of each root
                    that is not a request span, the span metrics and the usage metrics)
                    | keep GenAI spans -> fold label values -> span_metrics, signal_to_metrics (ottl engine)
    traces/requests forward -> keep roots that are not request spans -> their request view -> fold -> same connectors
                    (collector.engine: ottl only)
    metrics/spans   span_metrics (cumulative) -> prometheus (collector.engine: ottl only)
    metrics/usage   genai_usage (cumulative, sent every metrics_flush_interval; a stream budget per tenant
                    metric) -> prometheus

With `collector.engine: ottl` (a stock contrib build) normalisation, cost, redaction and folding are
OTTL (transform processors) and the usage metrics come from
signal_to_metrics (delta) -> delta_to_cumulative, with a connector and a stream budget per tenant
metric (metrics/tenant_*).

Redaction happens once, before the fan-out. Metrics are taken before sampling, so dropped traces
are still counted and billed. This module assembles pipelines from the stage modules: normalise.py,
cost.py, redaction.py, folding.py (label folding) and sampling.py (the sampling branch, one function
for whichever tier samples); the metrics themselves are declared in catalog.py.
"""

from __future__ import annotations

from .. import names as n
from ..catalog import (MARKER_PREFIX, RESOURCE_TO_LABEL, SPAN_DIMENSIONS, SPAN_DURATION, duration_buckets_ms, event_names, marker, marker_families, span_metrics_native, tenant_metrics,
                       unmark_processor, usage_metrics)
from ..redaction_policy import Policy
from ..render import confmap_escape as _escape_confmap
from ..spec import Spec
from . import cost, normalise, redaction
from .ottl import attr, q
from .folding import dimensions_config, fold_groups
from .sampling import FORWARD, QUEUE, QUEUE_SEGMENT_MIB, RETRY_FOREVER, persistent_queue, queue_storage, sampling_branch

#: The request view of a root span that is something else (an instrumentation's model call with no
#: app span above it): a trace counts exactly one request, its root. The view keeps only what
#: request-level metrics read, so tokens, cost, failures and the other per-span metrics stay counted
#: once, on the span itself.
REQUEST_VIEW_KEYS = [
    n.STAGE, n.PROVIDER, n.REQUEST_MODEL, n.ROUTE, n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.ERROR_TYPE,
    n.TENANT, n.TASK_TYPE, n.TOOLS_CALLED, n.ENVIRONMENT, n.SERVICE_VERSION,
]
#: Stages that are never a request even as a root: feedback, evals and user actions join a request's trace later.
NOT_REQUESTS = ("request", *n.LINKED_STAGES)


def request_view_condition() -> str:
    """OTTL: the span is a root (no parent: a remote parent is a parent), has a stage other than
    request/feedback/evaluation/user_action, and is not an outer span the helper marked as delegating."""
    stage = attr(n.STAGE)
    return (f"IsRootSpan() and {stage} != nil and " + " and ".join(f"{stage} != {q(s)}" for s in NOT_REQUESTS)
            + f" and {attr(n.REQUEST_DELEGATED)} == nil")


def request_view_native() -> dict:
    """The native engine's request view: genai_usage observes each root span of request_view_condition() a
    second time, as its view, in the metrics branch's one pass (no copy of the span, no filter and transform
    passes); the same view as request_view_processors() (tests/test_native_engine.py compares the series)."""
    return {"stage_key": n.STAGE, "stage": "request", "not_stages": list(NOT_REQUESTS), "unless_key": n.REQUEST_DELEGATED,
            "keep_keys": list(REQUEST_VIEW_KEYS), "drop_events": list(event_names())}


def request_view_processors() -> dict:
    """ottl engine: filter/request_view drops every span but those of request_view_condition();
    transform/request_view makes the request view of what is left (pipeline traces/requests)."""
    return {
        # the request view is a copy of the span: its eval and user-action events were counted on the span itself
        "filter/request_view": {"error_mode": "ignore", "traces": {"span": [f"not ({request_view_condition()})"],
                                                                   "spanevent": [" or ".join(f"spanevent.name == {q(e)}" for e in event_names())]}},
        "transform/request_view": _transform([{"context": "span", "statements": [
            f"keep_keys(span.attributes, [{', '.join(q(k) for k in REQUEST_VIEW_KEYS)}])",
            f'set({attr(n.STAGE)}, "request")',
        ]}]),
    }


def _hostport(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host or "0.0.0.0", int(port)


def _transform(groups: list[dict], error_mode: str = "ignore") -> dict:
    return {"error_mode": error_mode, "trace_statements": _escape_confmap(groups)}


#: ottl engine: signal_to_metrics (v0.161) reads spans, not span events. Each stage of the eval-event
#: branch lifts one gen_ai.evaluation.result event per span onto a copy of that span (its keys from
#: the event, only the span's dimensions kept) and feeds the same metric definitions; so at most this
#: many eval events per span are counted (the native engine counts every one).
EVAL_EVENT_STAGES = 4
_TAKE, _TAKEN, _HAS = MARKER_PREFIX + "take", MARKER_PREFIX + "taken", MARKER_PREFIX + "has_event"


def _event_attr(key: str) -> str:
    return f"spanevent.attributes[{q(key)}]"


def eval_event_processors() -> dict:
    """The processors of each stage of the ottl engine's eval-event branch (see EVAL_EVENT_STAGES)."""
    metrics = _ottl_event_metrics()
    names = sorted({m.span_event for m in metrics})
    assert len(names) == 1, names
    event_keys = list(dict.fromkeys(k for m in metrics for k in m.event_keys))
    span_keys = list(dict.fromkeys(k for m in metrics for k in m.span_labels()))
    assert all(set(m.span_labels()) <= set(span_keys) and not set(m.span_labels()) & set(event_keys) for m in metrics)
    named = f"spanevent.name == {q(names[0])}"
    take = f"{_event_attr(_TAKE)} == true"
    lift = [f"set({attr(k)}, {_event_attr(k)}) where {take}" for k in event_keys]
    lift += [f"delete_key(span.attributes, {q(k)}) where {take} and {_event_attr(k)} == nil" for k in event_keys]
    keep = ", ".join(q(k) for k in [*span_keys, *event_keys])
    return {
        # which spans still carry an eval event (a stage's copy has lost those of earlier stages)
        "transform/eval_event_find": _transform([
            {"context": "span", "statements": [f"delete_key(span.attributes, {q(_HAS)})", f"delete_key(span.attributes, {q(_TAKEN)})"]},
            {"context": "spanevent", "statements": [f"set(span.attributes[{q(_HAS)}], true) where {named}"]},
        ]),
        "filter/eval_event_none": {"error_mode": "ignore", "traces": {"span": [f"{attr(_HAS)} == nil"]}},
        # the span's first eval event: its keys onto the span, only the span's dimensions kept
        "transform/eval_event_lift": _transform([
            {"context": "spanevent", "statements": [
                f"set({_event_attr(_TAKE)}, true) where {named} and {attr(_TAKEN)} == nil",
                f"set(span.attributes[{q(_TAKEN)}], true) where {take}",
            ]},
            {"context": "span", "conditions": [f"{attr(_TAKEN)} == true"], "statements": [f"keep_keys(span.attributes, [{keep}])"]},
            {"context": "spanevent", "statements": lift},
            {"context": "span", "statements": [f"set({attr(marker('evaluation'))}, true) where {marker_families()['evaluation']}"]},
        ]),
        "filter/eval_event_lifted": {"error_mode": "ignore", "traces": {"spanevent": [take]}},
    }


LOGS_DROP = "filter/drop_logs"
LOGS_EXPORTER = "otlp_grpc/logs"
INVALID_IDS = "filter/invalid_ids"  # spans without a trace or span id: dropped, counted (see its config)
EVAL_LOGS_FILTER = "filter/eval_event_logs"
GENAI_SPANS = "filter/genai_spans"  # ottl engine: the metrics branch keeps the spans with a stage (native: genai_usage's require_key)
EVAL_LOGS_TRANSFORM = "transform/eval_event_logs"


#: What the ottl engine cannot do with OTel events (printed by `generate`, as the redaction limits are).
EVENT_LOGS_OTTL_LIMITS = [
    "OTel events on log records (gen_ai.evaluation.result): their series carry service, environment and release only; "
    "the evaluated call's model, route and prompt version are `_none`: OTTL keeps no state between signals, so a record "
    "cannot join the span it names, and the record's own attributes of those names are not read (the native engine "
    "reads them, else joins the span: collector.event_join)",
    f"quality proxies are counted from the helper's user_action spans only: the {n.USER_ACTION_EVENT} event, as a span event "
    "or a log record, is not (the eval-event lift handles one event name, and a record could not join its span); the native engine counts all three shapes",
]


def _ottl_event_metrics():
    """The metrics the ottl engine feeds from span events and log records: the eval event's only
    (EVENT_LOGS_OTTL_LIMITS)."""
    return [m for m in usage_metrics() if m.span_event == n.EVAL_EVENT]


def event_join_config(spec: Spec) -> dict:
    """The genai_usage connector's join: recently seen spans by span id and response id, for the OTel
    events on log records that name them (collector.event_join)."""
    j = spec.collector.event_join
    return {"max_entries": j.max_entries, "ttl": f"{j.ttl_seconds}s", "response_id_key": n.RESPONSE_ID,
            "wait": f"{j.wait_seconds}s", "max_waiting": j.max_waiting}


def eval_event_logs(spec: Spec, redact: str, shared: bool = False) -> tuple[dict, dict]:
    """(processors, pipelines): OTel events as log records (gen_ai.evaluation.result and, native, the
    user-action event of quality proxies; by event name or the attribute event.name) feed the same
    metrics as the span event, whatever
    logs.export says: only those records, redacted. native: the records' resource and attributes
    normalised (genai_normalise: the other generations' names), then our genai_usage connector (which
    folds the values it reads as a span's) (shared with the traces, so one series per label set),
    which takes the evaluated call's model, route and prompt from the record's own attributes, else
    from the span the record names (span id, gen_ai.response.id: event_join_config), else `_none`.
    ottl: the resource normalised, then the same signal_to_metrics connector's `logs` metrics, the
    record's attributes narrowed to what the span event gives (EVENT_LOGS_OTTL_LIMITS)."""
    names = event_names() if spec.collector.engine == "native" else [n.EVAL_EVENT]
    keep = " or ".join(f"log.event_name == {q(ev)} or {attr('event.name', 'log')} == {q(ev)}" for ev in names)
    processors = {EVAL_LOGS_FILTER: {"error_mode": "ignore", "logs": {"log_record": [f"not ({keep})"]}}}
    if spec.collector.engine == "native":
        pipeline = {"receivers": ["otlp"], "processors": ["memory_limiter", EVAL_LOGS_FILTER, "resource", redact,
                                                          *n.normalise_processors("native")],
                    "exporters": [n.USAGE_CONNECTORS["native"]]}
        return processors, {"logs/eval_events": pipeline}
    statements = [{"context": "resource", "statements": normalise.resource_statements(default_service(spec, shared), spec.app.environment)}]
    if spec.collector.engine == "ottl":
        metrics = _ottl_event_metrics()
        event_keys = list(dict.fromkeys(k for m in metrics for k in m.event_keys))
        from_resource = list(dict.fromkeys(k for m in metrics for k in m.log_resource_labels()))
        statements.append({"context": "log", "statements": [
            f"keep_keys(log.attributes, [{', '.join(q(k) for k in event_keys)}])",
            *[f"set({attr(k, 'log')}, resource.attributes[{q(k)}]) where resource.attributes[{q(k)}] != nil" for k in from_resource],
            f"set({attr(marker('evaluation'), 'log')}, true) where {attr(n.EVAL_SCORE, 'log')} != nil",
        ]})
    processors[EVAL_LOGS_TRANSFORM] = {"error_mode": "ignore", "log_statements": _escape_confmap(statements)}
    pipeline = {"receivers": ["otlp"], "processors": ["memory_limiter", EVAL_LOGS_FILTER, "resource", redact, EVAL_LOGS_TRANSFORM], "exporters": ["signal_to_metrics"]}
    return processors, {"logs/eval_events": pipeline}


def logs_branch(spec: Spec, redact: str) -> tuple[dict, dict, dict]:
    """(processors, exporters, pipelines) for OTLP logs (GenAI events, content events of
    instrumentations with capture on): always accepted, so an app's export does not fail. export:
    drop drops every record, counted (otelcol_processor_filter_logs_filtered); export: otlp sends
    them on through the redaction stage (the processor `redact` of the traces, logs too), with
    retries and the persistent queue."""
    if spec.logs.export == "drop":
        return ({LOGS_DROP: {"error_mode": "ignore", "logs": {"log_record": ["true"]}}}, {},
                {"logs/drop": {"receivers": ["otlp"], "processors": ["memory_limiter", LOGS_DROP], "exporters": ["nop"]}})
    exporter = {
        "endpoint": spec.logs.endpoint,
        "tls": {"insecure": spec.logs.insecure},
        "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "30s", "max_elapsed_time": "0s"},
        "sending_queue": persistent_queue(queue_bytes(spec), 2, "bytes"),
    }
    pipeline = {"receivers": ["otlp"], "processors": ["memory_limiter", "resource", redact, "batch"], "exporters": [LOGS_EXPORTER]}
    return {}, {LOGS_EXPORTER: exporter}, {"logs/ingest": pipeline}


#: The sidecar's persistent queues share collector.queue_directory (Helm: an emptyDir on the app's node) and hold
#: collector.queue_mib of serialized spans and logs in total (sizer: bytes, split evenly between them), so the
#: volume's bound holds whatever the batch or span size. On disk each queue is a log of segment files
#: (genai_queue_storage): a closed segment goes once nothing in it is live, or has its live values copied
#: forward when the files outgrow twice the live data plus a segment; so each queue's files hold at most
#: 2 x what it holds + its open segment (QUEUE_SEGMENT_MIB) + the one frame written past it (a batch, at most
#: QUEUE_FRAME_MIB: the gateway refuses larger). The volume (helm.values: sizeLimit) is
#: QUEUE_DISK_FACTOR x queue_mib + that slack per queue (bench/queue_disk.py measures a full queue).
QUEUE_DISK_FACTOR = 2
QUEUE_FRAME_MIB = 32
QUEUE_DISK_SLACK_MIB = QUEUE_SEGMENT_MIB + QUEUE_FRAME_MIB
MIB = 1024 * 1024


def sidecar_queues(spec: Spec) -> list[str]:
    """The sidecar's exporters with a persistent queue: traces (to the gateways, or to Tempo when the sidecar
    samples), logs (logs.export: otlp) and the restricted full-content store (redaction.mode: full)."""
    out = [n.GATEWAY_EXPORTER if spec.gateway.enabled else n.TEMPO_EXPORTER]
    if spec.logs.export != "drop":
        out.append(LOGS_EXPORTER)
    store = spec.redaction.full_content_store
    if spec.redaction.mode == "full" and store is not None:
        out.append(f"otlp_grpc/{store.name}")
    return out


def queue_bytes(spec: Spec) -> int:
    """queue_size (bytes) of each of the sidecar's persistent queues: their sum is at most collector.queue_mib."""
    return spec.collector.queue_mib * MIB // len(sidecar_queues(spec))


def volume_mib(queue_mib: int, queues: int = 1) -> int:
    """The volume a directory of `queues` persistent queues holding `queue_mib` in total needs."""
    return queue_mib * QUEUE_DISK_FACTOR + queues * QUEUE_DISK_SLACK_MIB


def queue_volume_mib(spec: Spec) -> int:
    """The size of the sidecar's queue volume (Helm emptyDir sizeLimit), from collector.queue_mib."""
    return volume_mib(spec.collector.queue_mib, len(sidecar_queues(spec)))


#: The load balancer's retries: forever, but never more than 5 s apart. After a replica comes back,
#: every sidecar delivers what it queued for it within about that long, so the spans of one trace from
#: different sidecars still reach the replica within one decision wait (at backoffs up to 30 s they did
#: not with short waits: the first sidecar's spans were decided alone and the later ones dropped).
GATEWAY_RETRY = {"enabled": True, "initial_interval": "1s", "max_interval": "5s", "max_elapsed_time": "0s"}

#: How often the sidecars' dns resolver looks the gateway name up again (a replica added or gone).
GATEWAY_RESOLVE_INTERVAL = "5s"


#: The sidecar -> gateway hop's compression: snappy, not the otlp exporter's default gzip. gzip was the
#: sidecar's largest single cost in a CPU profile under load (about 3.4 µs of 20 µs per metadata-only span,
#: bench/RESULTS.md); snappy costs a fraction of that, and the hop stays on the cluster network, where bytes are
#: cheaper than the app pod's CPU. The gateway's otlp receiver decodes it (configgrpc registers snappy).
GATEWAY_COMPRESSION = "snappy"


def gateway_exporter(spec: Spec) -> dict:
    """The sidecar's load_balancing exporter: every span of a trace to the same gateway replica.
    Retries and the persistent queue sit at the load-balancer level, so data a replica did not take
    goes back through the ring (re-routed when the dns resolver has dropped that replica); the
    per-replica otlp exporters retry briefly and queue nothing: they cannot use a persistent queue, and
    their own telemetry goes to a no-op meter in v0.161 (what they held would be invisible on the
    sidecar, and GenAILoadBalancerExportFailing could not fire). The cost, with a static list that never
    drops a dead replica: the balancer retries a batch whole, so while one replica is down the others'
    parts wait too (README, bench/RESULTS.md)."""
    g = spec.gateway
    resolver = ({"static": {"hostnames": list(g.static_endpoints)}} if g.static_endpoints else
                {"dns": {"hostname": g.host, "port": str(g.otlp_grpc_port), "interval": GATEWAY_RESOLVE_INTERVAL, "timeout": "1s"}})
    per_replica = {"sending_queue": {"enabled": False},
                   "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "2s", "max_elapsed_time": "10s"}}
    return {
        "routing_key": "traceID",
        "protocol": {"otlp": {"tls": {"insecure": True}, "compression": GATEWAY_COMPRESSION, "timeout": "5s", **per_replica}},
        "resolver": resolver,
        "timeout": "10s",
        "retry_on_failure": GATEWAY_RETRY,
        "sending_queue": persistent_queue(queue_bytes(spec), 4, "bytes"),
    }




def runtime_env(spec: Spec) -> dict[str, str]:
    """Environment of the collector process wherever it runs (compose, Helm, local stack, benchmarks)."""
    return {"GOMEMLIMIT": f"{int(spec.collector.memory_limit_mib * n.GOMEMLIMIT_SHARE)}MiB", "GOGC": str(spec.collector.gogc)}


def policy_for(spec: Spec) -> Policy:
    r = spec.redaction
    return spec.policy_file().with_settings(r.mode, r.max_content_chars, [(p.name, p.regex) for p in r.extra_patterns], r.metadata_keys)


#: How long a usage stream lives without updates (then its series expires, and restarts from zero).
USAGE_MAX_STALE = "15m"


def _usage_metrics_branch(spec: Spec, processors: dict, connectors: dict, pipelines: dict) -> None:
    """The usage and quality metrics (usage_metrics(), tenant_metrics()), cumulative, to Prometheus.

    native: our genai_usage connector, one pass per span, each tenant metric with its own stream
    budget. ottl: signal_to_metrics (delta, family markers dropped before export) then
    delta_to_cumulative; one connector and one stream budget per tenant metric (a shared budget
    would let twice as many tenants in, one stream each). Either way streams past the budget are
    not tracked (their data points are counted as dropped); tracked totals stay exact."""
    tenants = tenant_metrics(spec.cardinality.max_tenants) if spec.cardinality.max_tenants > 0 else []
    if spec.collector.engine == "native":
        conn = n.USAGE_CONNECTORS["native"]
        # the span metrics too, in the same pass (the ottl engine's span_metrics connector makes them)
        spans = span_metrics_native((s.threshold_ms for s in spec.slos.latency), spec.cardinality.max_series_per_metric)
        connectors[conn] = {"max_stale": USAGE_MAX_STALE, "metrics_flush_interval": f"{spec.collector.metrics_flush_interval_seconds}s",
                            "metrics": _escape_confmap(spans + [m.native() for m in usage_metrics() + tenants]),
                            "join": event_join_config(spec),
                            # read in place where a span lacks them (copied onto every span, they cost 0.5 KB per span, #17)
                            "copy_from_resource": list(RESOURCE_TO_LABEL),
                            # what the ottl engine's filter/genai_spans keeps; the folding of its transform/dimensions
                            "require_key": n.STAGE,
                            "fold": _escape_confmap({**dimensions_config(spec), "request_view": request_view_native()})}
        pipelines["traces/metrics"]["exporters"].append(conn)
        pipelines["metrics/usage"] = {"receivers": [conn], "processors": [], "exporters": ["prometheus"]}
        return
    processors["transform/unmark"] = unmark_processor()
    processors["delta_to_cumulative"] = {"max_stale": USAGE_MAX_STALE}
    connectors["signal_to_metrics"] = {"error_mode": "ignore", "spans": _escape_confmap([m.signal_to_metrics() for m in usage_metrics()]),
                                       # gen_ai.evaluation.result events as log records (eval_event_logs)
                                       "logs": _escape_confmap([m.signal_to_metrics("log") for m in _ottl_event_metrics()])}
    pipelines["traces/metrics"]["exporters"].append("signal_to_metrics")
    pipelines["metrics/usage"] = {"receivers": ["signal_to_metrics"], "processors": ["transform/unmark", "delta_to_cumulative"], "exporters": ["prometheus"]}
    processors.update(eval_event_processors())
    lift = ["transform/eval_event_find", "filter/eval_event_none", "transform/eval_event_lift", "filter/eval_event_lifted"]
    for i in range(EVAL_EVENT_STAGES):
        nxt = f"forward/eval_events_{i + 1}" if i + 1 < EVAL_EVENT_STAGES else None
        if nxt:
            connectors[nxt] = {}
        pipelines[f"traces/eval_events_{i}"] = {
            "receivers": [FORWARD if i == 0 else f"forward/eval_events_{i}"],
            # the first stage folds the labels as the metrics branch does (on the spans with eval events only)
            "processors": [GENAI_SPANS, *lift[:2], n.DIMENSIONS_PROCESSOR, *lift[2:]] if i == 0 else lift,
            "exporters": ["signal_to_metrics", *([nxt] if nxt else [])],
        }
    for metric in tenants:
        key = metric.name.rsplit(".", 2)[1] if metric.name.endswith(".usd") else metric.name.rsplit(".", 1)[1]
        conn, proc = f"signal_to_metrics/tenant_{key}", f"delta_to_cumulative/tenant_{key}"
        connectors[conn] = {"error_mode": "ignore", "spans": _escape_confmap([metric.signal_to_metrics()])}
        processors[proc] = {"max_stale": USAGE_MAX_STALE, "max_streams": metric.max_streams}
        pipelines["traces/metrics"]["exporters"].append(conn)
        pipelines[f"metrics/tenant_{key}"] = {"receivers": [conn], "processors": ["transform/unmark", proc], "exporters": ["prometheus"]}


#: ottl engine: OTTL has no path to a resource's entity references (experimental in OTLP), so after the
#: redaction stage groupbyattrs, with no keys, rebuilds every resource from its (redacted) attributes:
#: the references are gone, and with them the resource and scope schema URLs (redaction.OTTL_LIMITS).
ENTITY_REFS_DROP = "groupbyattrs/drop_entity_refs"


def _rebuild_resources_after(redact: str, processors: dict, pipelines: dict) -> None:
    """Insert ENTITY_REFS_DROP right after the redaction stage in every pipeline that redacts."""
    processors[ENTITY_REFS_DROP] = {"keys": []}
    for pipeline in pipelines.values():
        procs = pipeline["processors"]
        if redact in procs:
            procs.insert(procs.index(redact) + 1, ENTITY_REFS_DROP)


def default_service(spec: Spec, shared: bool) -> str | None:
    """The service.name telemetry without one (an SDK's unknown_service:<process>) gets: the spec's first
    app service, where the sidecar serves that app's pod; none where one sidecar serves several apps (the
    local stack: an app that did not set OTEL_SERVICE_NAME must not be counted as the demo)."""
    return None if shared else spec.app.services[0]


def build(spec: Spec, shared: bool = False) -> dict:
    """The sidecar's config; `shared`: one sidecar serves several apps (default_service)."""
    c = spec.collector
    policy = policy_for(spec)
    engine = spec.collector.engine
    redact, dims = n.redact_processor(engine), n.DIMENSIONS_PROCESSOR
    tele_host, tele_port = _hostport(c.telemetry_endpoint)
    logs_processors, logs_exporters, logs_pipelines = logs_branch(spec, redact)
    eval_processors, eval_pipelines = eval_event_logs(spec, redact, shared)
    logs_processors.update(eval_processors)
    logs_pipelines.update(eval_pipelines)

    processors: dict = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": c.memory_limit_mib, "spike_limit_mib": max(16, c.memory_limit_mib // 5)},
        **logs_processors,
        "resource": {
            "attributes": [
                {"key": n.SERVICE_VERSION, "value": "${env:GENAI_O11Y_RELEASE:-unknown}", "action": "insert"},
                *redaction.salt_check(),
            ]
        },
        # Normalisation and cost: our genai_normalise processor (one pass per span), or the same in OTTL.
        **({"genai_normalise": _escape_confmap({**normalise.native_config(default_service(spec, shared), spec.app.environment, spec.failures.infer, spec.app.not_requests), "cost": cost.native_config(spec)})}
           if engine == "native" else {
            "transform/normalise": {
                "error_mode": "ignore",
                "trace_statements": _escape_confmap(
                    [{"context": "resource", "statements": normalise.resource_statements(default_service(spec, shared), spec.app.environment)}] + normalise.statements(spec.failures.infer, spec.app.not_requests)
                ),
            },
            "transform/cost": _transform(cost.statement_groups(spec)),
        }),
        # Redaction: our genai_redaction processor (one pass per span), or the same policy in OTTL for a
        # stock contrib build, where it fails closed: a statement error refuses the batch
        # (GenAIRedactionFailing) instead of letting an unmasked value through.
        redact: redaction.insert_salt(_escape_confmap(redaction.native_config(spec, policy))) if engine == "native"
        else redaction.insert_salt({**_transform(redaction.statement_groups(spec, policy), error_mode="propagate"),
                                    "log_statements": _escape_confmap(redaction.log_statement_groups(spec, policy))}),
        "batch": {"send_batch_size": 1024, "send_batch_max_size": 2048, "timeout": "1s"},
        # A span without a trace or span id (OTLP/HTTP JSON accepts "", the receiver answers 200) is dropped here,
        # counted: otelcol_processor_filter_spans_filtered{filter="filter/invalid_ids"}. Kept, it was counted in the
        # span metrics and all such spans sampled as one trace of id 0 and sent to Tempo with empty ids.
        INVALID_IDS: {"error_mode": "ignore", "traces": {"span": ['trace_id == TraceID(0x00000000000000000000000000000000)', 'span_id == SpanID(0x0000000000000000)']}},
    }
    if engine == "ottl":
        # Label folding in OTTL (the native engine's genai_usage folds what it reads: _usage_metrics_branch).
        # Only service.name stays on the resource: service.instance.id & co. would churn series.
        processors[GENAI_SPANS] = {"error_mode": "ignore", "traces": {"span": [f"{attr(n.STAGE)} == nil"]}}
        processors[dims] = _transform([*fold_groups(spec), {"context": "resource", "statements": [f'keep_keys(resource.attributes, ["{n.SERVICE_NAME}"])']}])
    connectors: dict = {FORWARD: {}}
    if engine == "ottl":
        # the span metrics (the native engine makes them in genai_usage: _usage_metrics_branch)
        connectors["span_metrics"] = {
            "namespace": n.SPAN_METRICS_NAMESPACE,
            "histogram": {"unit": SPAN_DURATION.unit,
                          "explicit": {"buckets": [f"{int(b)}{SPAN_DURATION.unit}" for b in duration_buckets_ms(s.threshold_ms for s in spec.slos.latency)]}},
            "dimensions": [{"name": d} for d in SPAN_DIMENSIONS],
            # collector.instance.id changes on every restart: series churn for nothing.
            "exclude_dimensions": ["span.name", "span.kind", "collector.instance.id"],
            "aggregation_cardinality_limit": spec.cardinality.max_series_per_metric,
            "exemplars": {"enabled": True, "max_per_data_point": 5},
            "metrics_flush_interval": f"{c.metrics_flush_interval_seconds}s",
            "metrics_expiration": "30m",
        }
    pipelines: dict = {
        "traces/ingest": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", INVALID_IDS, "resource", *n.normalise_processors(engine), redact, "batch"],
            "exporters": [FORWARD],
        },
        **logs_pipelines,
        "traces/metrics": {
            "receivers": [FORWARD],
            "processors": [GENAI_SPANS, dims] if engine == "ottl" else [],
            "exporters": ["span_metrics"] if engine == "ottl" else [],
        },
    }
    if engine == "ottl":
        pipelines["metrics/spans"] = {"receivers": ["span_metrics"], "processors": [], "exporters": ["prometheus"]}
        # a trace whose root is not a request span (an instrumentation's model call alone) counts its root's
        # request view (the native engine's genai_usage observes it: request_view_native())
        pipelines["traces/requests"] = {"receivers": [FORWARD], "processors": ["filter/request_view", "transform/request_view", dims],
                                        "exporters": ["span_metrics"]}
        processors.update(request_view_processors())
    exporters_extra: dict = {}
    store = spec.redaction.full_content_store
    if spec.redaction.mode == "full" and store is not None:
        # Unredacted copy to the restricted store only; the main branch is redacted as always.
        raw, restricted = "forward/unredacted", f"otlp_grpc/{store.name}"
        connectors[raw] = {}
        pipelines["traces/ingest"]["processors"].remove(redact)
        pipelines["traces/ingest"]["exporters"] = [raw]
        pipelines[f"traces/{store.name}"] = {"receivers": [raw], "processors": [], "exporters": [restricted]}
        pipelines["traces/redact"] = {"receivers": [raw], "processors": [redact], "exporters": [FORWARD]}
        exporters_extra[restricted] = {
            "endpoint": store.endpoint,
            "tls": {"insecure": store.insecure},
            "retry_on_failure": RETRY_FOREVER,
            "sending_queue": persistent_queue(queue_bytes(spec), 2, "bytes"),
        }
    _usage_metrics_branch(spec, processors, connectors, pipelines)
    if engine == "ottl":
        _rebuild_resources_after(redact, processors, pipelines)
    if "traces/requests" in pipelines:
        pipelines["traces/requests"]["exporters"] = list(pipelines["traces/metrics"]["exporters"])
    if spec.gateway.enabled:
        # stateless: every span to the gateway tier, which samples whole traces (builders/gateway.py)
        exporters_extra[n.GATEWAY_EXPORTER] = gateway_exporter(spec)
        pipelines["traces/gateway"] = {"receivers": [FORWARD], "processors": [], "exporters": [n.GATEWAY_EXPORTER]}
    else:
        s_processors, s_exporters, s_pipelines = sampling_branch(spec, FORWARD, queue_bytes(spec), sizer="bytes")
        processors.update(s_processors)
        exporters_extra.update(s_exporters)
        pipelines.update(s_pipelines)
    exporters_extra.update(logs_exporters)

    return {
        "extensions": {
            "health_check": {"endpoint": c.health_endpoint},
            QUEUE: queue_storage(c.queue_directory),
        },
        "receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": c.otlp_grpc_endpoint}, "http": {"endpoint": c.otlp_http_endpoint}}},
        },
        "processors": processors,
        "connectors": connectors,
        "exporters": {
            "prometheus": {
                "endpoint": c.metrics_endpoint,
                "enable_open_metrics": True,  # exemplars (trace ids) on the histogram buckets
                "without_scope_info": True,
                "metric_expiration": "30m",
                "resource_to_telemetry_conversion": {"enabled": False},
            },
            "nop": {},
            **exporters_extra,
        },
        "service": {
            "extensions": ["health_check", QUEUE],
            "telemetry": {
                "logs": {"level": "info", "encoding": "json"},
                "metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": {"host": tele_host, "port": tele_port}}}}]},
            },
            "pipelines": pipelines,
        },
    }
