"""Tail sampling, the stage of whichever tier samples (the gateway, or the sidecar with gateway.enabled:
false): the spec's policies, the eval-dataset branch (eval-worthy traces to the file exporter) and the
export to Tempo from a persistent queue. builders/collector.py and builders/gateway.py assemble it.
"""

from __future__ import annotations

import re

import posixpath

from .. import names as n
from ..render import confmap_escape as _escape_confmap
from ..spec import Spec
from .ottl import attr, one_of_regex, q


#: The sidecar's fan-out (a forward connector): the redacted spans every branch reads.
FORWARD = "forward/fanout"
TEMPO = n.TEMPO_EXPORTER
#: The persistent queues' storage extension (our genai_queue_storage: an append-only log), of both tiers.
QUEUE = "genai_queue_storage/queue"
#: Its segment size: a log file is closed at this size and deleted once nothing in it is live.
QUEUE_SEGMENT_MIB = 8


def queue_storage(directory: str) -> dict:
    """The QUEUE extension's config: every persistent queue of the collector in its own sub-directory of
    `directory` (the queue volume)."""
    return {"directory": directory, "create_directory": True, "segment_size_mib": QUEUE_SEGMENT_MIB}


def sampling_policies(spec: Spec) -> list[dict]:
    s = spec.sampling
    policies: list[dict] = []
    if s.keep_errors:
        policies.append({"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}})
    if s.keep_negative_feedback:
        policies.append({"name": "negative-feedback", "type": "string_attribute", "string_attribute": {"key": n.FEEDBACK_SENTIMENT, "values": ["negative"]}})
    if s.keep_below_floor:
        policies += below_floor_policies(spec)
    if s.keep_quality_proxies:
        policies += quality_proxy_policies(spec)
    if s.keep_slo_breaches:
        policies += slo_breach_policies(spec)
    if s.slow_trace_ms is not None:
        policies.append({"name": "slow", "type": "latency", "latency": {"threshold_ms": s.slow_trace_ms}})
    if s.expensive_span_usd is not None:
        cond = f"{attr(n.COST_USD)} != nil and {attr(n.COST_USD)} >= {float(s.expensive_span_usd)!r}"
        policies.append({"name": "expensive", "type": "ottl_condition", "ottl_condition": {"error_mode": "ignore", "span": [cond]}})
    policies.append({"name": "baseline", "type": "probabilistic", "probabilistic": {"sampling_percentage": s.baseline_percent}})
    return policies


def slo_breach_policies(spec: Spec) -> list[dict]:
    """Keep a trace with a span slower than its stage's latency SLO (sampling.keep_slo_breaches): the request's SLO
    on the trace end to end (a latency policy: the root span of a zero-code app carries no stage), every other stage's
    on its spans' own duration. A latency page's exemplars are such spans: at a 10 s slow_trace_ms alone, 2 of 35
    tool-call exemplars over the 3 s SLO were in the trace store (an on-call's trial)."""
    policies, conds = [], []
    for slo in spec.slos.latency:
        if slo.stage == n.REQUEST_STAGE:
            policies.append({"name": "slower-than-slo-request", "type": "latency", "latency": {"threshold_ms": slo.threshold_ms}})
        else:
            conds.append(f"{attr(n.STAGE)} == {q(slo.stage)} and span.end_time_unix_nano - span.start_time_unix_nano > {slo.threshold_ms * 1_000_000}")
    if conds:
        policies.append({"name": "slower-than-slo-stages", "type": "ottl_condition", "ottl_condition": {"error_mode": "ignore", "span": conds}})
    return policies


DATASET_SAMPLER = "tail_sampling/eval_dataset"


DATASET_EXPORTER = "file/eval_dataset"


def rising_proxies(spec: Spec) -> list[str]:
    """The quality proxies users do after a bad answer (evals.proxies worse when they rise)."""
    return [p.name for p in spec.evals.proxies if p.worse_when == "rise"]


def quality_proxy_policies(spec: Spec) -> list[dict]:
    """Keep a trace with a user action of a rising proxy (Tempo's sampling.keep_quality_proxies, the dataset's
    evals.dataset.keep_quality_proxies): a user_action span, or the user-action event on a span of the
    trace (a log record cannot keep a trace: it is not in one); none when the spec lists no such proxy."""
    rising = rising_proxies(spec)
    if not rising:
        return []
    kind = attr(n.QUALITY_PROXY, "spanevent")
    event = f"spanevent.name == {q(n.USER_ACTION_EVENT)} and IsString({kind}) and IsMatch({kind}, {q(one_of_regex(rising))})"
    return [{"name": "quality-proxies", "type": "string_attribute", "string_attribute": {"key": n.QUALITY_PROXY, "values": rising}},
            {"name": "quality-proxy-events", "type": "ottl_condition", "ottl_condition": {"error_mode": "ignore", "spanevent": [event]}}]


def _failing_label(ev, ctx: str) -> str:
    """The evaluator's result is labelled, with a label outside its pass_labels (case-insensitive)."""
    label = attr(n.EVAL_LABEL, ctx)
    return (f"{attr(n.EVAL_NAME, ctx)} == {q(ev.name)} and IsString({label}) and "
            f"not IsMatch({label}, {q('(?i)^(?:' + '|'.join(re.escape(x) for x in ev.pass_labels) + ')$')})")


def below_floor_policies(spec: Spec) -> list[dict]:
    """Tail-sampling policies keeping a trace with an eval score past its evaluator's floor, or a result
    labelled with a label outside its pass_labels (a pass/fail judge sends no score): one per evaluator the spec
    lists (the Tempo sampler's `sampling.keep_below_floor`, the dataset's `evals.dataset.keep_below_floor`)."""
    policies = []
    for ev in spec.evals.evaluators:
        failing = {"span": [_failing_label(ev, "span")],
                   "spanevent": [f"spanevent.name == {q(n.EVAL_EVENT)} and {_failing_label(ev, 'spanevent')}"]}
        if ev.floor is None:
            policies.append({"name": f"failing-label-{ev.name}", "type": "ottl_condition", "ottl_condition": {"error_mode": "ignore", **failing}})
        else:
            score = attr(n.EVAL_SCORE)
            cond = f"{attr(n.EVAL_NAME)} == {q(ev.name)} and {score} != nil and {score} {'<' if ev.direction == 'higher' else '>'} {float(ev.floor)!r}"
            # the score as an eval span's attributes, or as a gen_ai.evaluation.result event on the evaluated span
            ev_attr = lambda key: attr(key, "spanevent")  # noqa: E731
            ev_cond = (f"spanevent.name == {q(n.EVAL_EVENT)} and {ev_attr(n.EVAL_NAME)} == {q(ev.name)} and {ev_attr(n.EVAL_SCORE)} != nil and "
                       f"{ev_attr(n.EVAL_SCORE)} {'<' if ev.direction == 'higher' else '>'} {float(ev.floor)!r}")
            policies.append({"name": f"below-floor-{ev.name}", "type": "ottl_condition",
                             "ottl_condition": {"error_mode": "ignore", "span": [cond, *failing["span"]], "spanevent": [ev_cond, *failing["spanevent"]]}})
    return policies


def dataset_policies(spec: Spec) -> list[dict]:
    """What makes a trace eval-worthy (evals.dataset): an error, negative feedback, an eval score past its
    evaluator's floor, a user action of a rising quality proxy, and a rate-limited share of every known route."""
    d = spec.evals.dataset
    policies: list[dict] = []
    if d.keep_errors:
        policies.append({"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}})
    if d.keep_negative_feedback:
        policies.append({"name": "negative-feedback", "type": "string_attribute", "string_attribute": {"key": n.FEEDBACK_SENTIMENT, "values": ["negative"]}})
    if d.keep_below_floor:
        policies += below_floor_policies(spec)
    if d.keep_quality_proxies:
        policies += quality_proxy_policies(spec)
    if d.sample_spans_per_second_per_route:
        for route in spec.pipeline.routes:
            policies.append({"name": f"route-{route}", "type": "and", "and": {"and_sub_policy": [
                {"name": "route", "type": "string_attribute", "string_attribute": {"key": n.ROUTE, "values": [route]}},
                {"name": "share", "type": "rate_limiting", "rate_limiting": {"spans_per_second": d.sample_spans_per_second_per_route,
                                                                            "burst_capacity": d.sample_burst_spans}},
            ]}})
    return policies


#: The file each gateway replica writes the eval dataset to: replicas share the spec's directory (a
#: volume), so each writes its own file, named after its host (the pod, the container).
REPLICA_SUFFIX = "-${env:HOSTNAME}"


def replica_dataset_path(path: str, hostname: str = REPLICA_SUFFIX[1:]) -> str:
    """evals.dataset.path with the replica's host name before the extension (traces.jsonl ->
    traces-<host>.jsonl); by default the collector's ${env:HOSTNAME}."""
    import posixpath

    stem, ext = posixpath.splitext(path)
    return f"{stem}-{hostname}{ext}"


def dataset_branch(spec: Spec, receiver: str = FORWARD, per_replica: bool = False) -> tuple[dict, dict, dict]:
    """(processors, exporters, pipelines) of the eval-dataset branch, empty when evals.dataset is off. It
    reads the redacted fan-out (on the gateway: what the sidecars sent, redacted): the files never hold
    more than the redaction mode lets out."""
    d = spec.evals.dataset
    if not d.enabled:
        return {}, {}, {}
    processors = {DATASET_SAMPLER: {
        "decision_wait": f"{spec.gateway.decision_wait_seconds}s",
        "num_traces": spec.gateway.num_traces,
        "decision_cache": {"sampled_cache_size": 100_000, "non_sampled_cache_size": 100_000},
        "policies": _escape_confmap(dataset_policies(spec)),
    }}
    exporters = {DATASET_EXPORTER: {
        "path": replica_dataset_path(d.path) if per_replica else d.path,
        "format": "json",
        "rotation": {"max_megabytes": d.max_megabytes, "max_backups": d.max_backups},
    }}
    pipelines = {"traces/eval_dataset": {"receivers": [receiver], "processors": [DATASET_SAMPLER], "exporters": [DATASET_EXPORTER]}}
    return processors, exporters, pipelines


def tail_sampling_processor(spec: Spec) -> dict:
    return {
        "decision_wait": f"{spec.gateway.decision_wait_seconds}s",
        "num_traces": spec.gateway.num_traces,
        "decision_cache": {"sampled_cache_size": 100_000, "non_sampled_cache_size": 100_000},
        "policies": _escape_confmap(sampling_policies(spec)),
    }


RETRY_FOREVER = {"enabled": True, "initial_interval": "1s", "max_interval": "30s", "max_elapsed_time": "0s"}


def persistent_queue(size: int, consumers: int, sizer: str = "requests") -> dict:
    """A sending_queue on disk (the storage extension QUEUE). sizer "requests": `size` batches;
    "bytes": `size` bytes of serialized data (exporterhelper's persistent queue supports both in v0.161.0)."""
    q = {"enabled": True, "storage": QUEUE, "queue_size": size, "num_consumers": consumers}
    return q if sizer == "requests" else {**q, "sizer": sizer}


def tempo_exporter(spec: Spec, queue_size: int, sizer: str = "requests") -> dict:
    return {
        "endpoint": spec.backends.tempo.endpoint,
        "tls": {"insecure": spec.backends.tempo.insecure},
        "retry_on_failure": RETRY_FOREVER,
        "sending_queue": persistent_queue(queue_size, 4, sizer),
    }


def sampling_branch(spec: Spec, receiver: str, queue_size: int, batch: str | None = None, per_replica: bool = False,
                    sizer: str = "requests") -> tuple[dict, dict, dict]:
    """(processors, exporters, pipelines) of tail sampling to Tempo and the eval-dataset branch, reading
    `receiver` (a forward connector): the sidecar's with gateway.enabled false, else the gateway's.
    `batch`: a batch processor after the sampler (the gateway: the sampler releases traces one by one);
    `per_replica`: the eval-dataset file is named after the replica's host (replica_dataset_path)."""
    processors = {n.TAIL_SAMPLER: tail_sampling_processor(spec)}
    exporters = {TEMPO: tempo_exporter(spec, queue_size, sizer)}
    pipelines = {"traces/sample": {"receivers": [receiver], "processors": [n.TAIL_SAMPLER, *([batch] if batch else [])], "exporters": [TEMPO]}}
    ds_processors, ds_exporters, ds_pipelines = dataset_branch(spec, receiver, per_replica)
    return {**processors, **ds_processors}, {**exporters, **ds_exporters}, {**pipelines, **ds_pipelines}
