"""The OpenTelemetry Collector sidecar config, as data.

    traces/ingest   otlp -> memory_limiter -> resource -> normalise -> cost -> redact -> batch -> forward
    traces/sample   forward -> tail_sampling -> otlp_grpc/tempo (persistent queue, retries)
    traces/metrics  forward -> keep GenAI spans -> fold label values -> span_metrics, signal_to_metrics
    metrics/spans   span_metrics (cumulative) -> prometheus
    metrics/usage   signal_to_metrics (delta) -> delta_to_cumulative -> prometheus
    metrics/tenant  signal_to_metrics/tenant -> delta_to_cumulative/tenant (stream budget) -> prometheus

Redaction happens once, before the fan-out. Metrics are taken before sampling, so dropped traces
are still counted and billed.
"""

from __future__ import annotations

import re

from .. import names as n
from .. import redaction_policy
from ..redaction_policy import Policy
from ..spec import Spec
from . import cost, normalise, redaction, rules
from .ottl import attr, one_of_regex, q

#: Latency histogram buckets (ms), LLM-shaped: 5 ms (cache hit) to 2 min (long generation); the
#: spec's latency-SLO thresholds are added so that SLIs read an exact bucket.
LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000, 120000]

#: Span attributes that become labels of the span metrics (besides service.name and status.code).
SPAN_DIMENSIONS = [
    n.STAGE,
    n.OPERATION,
    n.PROVIDER,
    n.REQUEST_MODEL,
    n.ROUTE,
    n.PROMPT_TEMPLATE,
    n.PROMPT_VERSION,
    n.TOOL_NAME,
    n.TOOL_OUTCOME,
    n.ERROR_TYPE,
    n.ENVIRONMENT,
    n.SERVICE_VERSION,
]
#: Labels of the token and cost counters.
USAGE_DIMENSIONS = [n.SERVICE_NAME, n.STAGE, n.PROVIDER, n.REQUEST_MODEL, n.ROUTE, n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.TASK_TYPE, n.ENVIRONMENT, n.SERVICE_VERSION]
#: Resource attributes copied onto spans in the metrics branch, so they become labels.
RESOURCE_TO_LABEL = [n.SERVICE_NAME, n.ENVIRONMENT, n.SERVICE_VERSION]

FORWARD = "forward/fanout"
TEMPO = n.TEMPO_EXPORTER
QUEUE = "file_storage/queue"


def _hostport(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host or "0.0.0.0", int(port)


def _escape_confmap(value):
    """The collector expands ${...} in every string: escape `$` in OTTL as `$$`."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [_escape_confmap(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_confmap(v) for k, v in value.items()}
    return value


def _transform(groups: list[dict], error_mode: str = "ignore") -> dict:
    return {"error_mode": error_mode, "trace_statements": _escape_confmap(groups)}


#: Failure categories that are the tool's, not the answer's (see "failed after tools").
NOT_ANSWER_FAILURES = ("tool_failure", "timeout")


def fold_groups(spec: Spec) -> list[dict]:
    """Metrics branch only: bound label values (traces keep the raw values), then the derived flags
    and the metric-family markers. Statements that only apply to model calls or to request spans
    sit in groups with that condition: one key lookup skips them on every other span."""
    every: list[str] = [f'set({attr(k)}, resource.attributes[{q(k)}]) where {attr(k)} == nil' for k in RESOURCE_TO_LABEL]
    every.append(f'set({attr(n.STAGE)}, {q(n.OVERFLOW_VALUE)}) where not IsMatch({attr(n.STAGE)}, {q(one_of_regex(spec.all_stages))})')
    model: list[str] = []
    for m in spec.models:
        for alias in m.aliases:
            model.append(f"set({attr(n.REQUEST_MODEL)}, {q(m.name)}) where {attr(n.REQUEST_MODEL)} == {q(alias)}")
    model_names = [m.name for m in spec.models]
    if model_names:
        model.append(
            f"set({attr(n.REQUEST_MODEL)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.REQUEST_MODEL)} != nil"
            f" and not IsMatch({attr(n.REQUEST_MODEL)}, {q(one_of_regex(model_names))})"
        )
    if spec.pipeline.routes:
        every.append(f"set({attr(n.ROUTE)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.ROUTE)} != nil and not IsMatch({attr(n.ROUTE)}, {q(one_of_regex(spec.pipeline.routes))})")
    if spec.pipeline.tools:
        tools = [t.name for t in spec.pipeline.tools]
        every.append(f"set({attr(n.TOOL_NAME)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.TOOL_NAME)} != nil and not IsMatch({attr(n.TOOL_NAME)}, {q(one_of_regex(tools))})")
    every.append(
        f"set({attr(n.FAILURE_CATEGORY)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.FAILURE_CATEGORY)} != nil"
        f" and not IsMatch({attr(n.FAILURE_CATEGORY)}, {q(one_of_regex(n.FAILURE_CATEGORIES))})"
    )
    # The app lists called tools on the request span, comma-separated or as a list: one form.
    called = attr(n.TOOLS_CALLED)
    every.append(f"set({called}, Concat({called}, \",\")) where IsList({called})")
    request_only = f'{attr(n.STAGE)} == "request"'
    # An answer that failed (error status or a failure category other than a tool's) after the
    # model called tools: "tool success followed by a failed answer".
    request = [
        f"set({attr(n.FAILED_AFTER_TOOLS)}, true) where {request_only} and {attr(n.TOOLS_CALLED)} != nil"
        f" and {attr(n.TOOLS_CALLED)} != \"\" and (span.status.code == STATUS_CODE_ERROR or ({attr(n.FAILURE_CATEGORY)} != nil"
        + "".join(f" and {attr(n.FAILURE_CATEGORY)} != {q(c)}" for c in NOT_ANSWER_FAILURES) + "))"
    ]
    request += required_tool_statements(spec)
    markers = marker_statements()
    request_marker = f"set({attr(marker('request'))}, true) where {marker_families()['request']}"
    assert request_marker in markers and marker_families()["request"] == request_only
    every += [m for m in markers if m != request_marker]
    request.append(request_marker)
    groups = [{"context": "span", "statements": every}]
    if model:
        groups.append({"context": "span", "conditions": [f"{attr(n.REQUEST_MODEL)} != nil"], "statements": model})
    groups.append({"context": "span", "conditions": [request_only], "statements": request})
    return groups


def dimensions_config(spec: Spec) -> dict:
    """The genai_dimensions processor's config (our component: gocomponents/genaidimensionsprocessor):
    what fold_groups() says in OTTL, as data, applied in one pass per span."""
    allowed = {n.STAGE: list(spec.all_stages), n.FAILURE_CATEGORY: list(n.FAILURE_CATEGORIES)}
    if spec.pipeline.routes:
        allowed[n.ROUTE] = list(spec.pipeline.routes)
    if spec.pipeline.tools:
        allowed[n.TOOL_NAME] = [t.name for t in spec.pipeline.tools]
    markers = []
    for family, c in marker_conditions().items():
        m: dict = {"key": marker(family)}
        if c.get("present"):
            m["when_present"] = list(c["present"])
        if c.get("equals"):
            m["when_equals"] = [{"key": k, "value": v} for k, v in c["equals"]]
        markers.append(m)
    required = [{"name": t.name, "routes": list(t.required_for_routes)} for t in spec.pipeline.tools if t.required_for_routes]
    return {
        "overflow_value": n.OVERFLOW_VALUE,
        "copy_from_resource": list(RESOURCE_TO_LABEL),
        "allowed_values": allowed,
        "join_lists": [n.TOOLS_CALLED],
        "markers": markers,
        "model": {
            "key": n.REQUEST_MODEL,
            "aliases": [{"alias": a, "name": m.name} for m in spec.models for a in m.aliases],
            "known": [m.name for m in spec.models],
        },
        "request": {
            "stage": {"key": n.STAGE, "value": "request"},
            "failed_after_tools": {"key": n.FAILED_AFTER_TOOLS, "called_key": n.TOOLS_CALLED, "failure_key": n.FAILURE_CATEGORY,
                                   "exempt": list(NOT_ANSWER_FAILURES)},
            "required_tools": {"key": n.REQUIRED_TOOL_MISSING, "route_key": n.ROUTE, "called_key": n.TOOLS_CALLED, "tools": required},
        },
        "keep_resource_keys": [n.SERVICE_NAME],
    }


def fold_statements(spec: Spec) -> list[str]:
    """Every statement of fold_groups, in order."""
    return [st for g in fold_groups(spec) for st in g["statements"]]


def required_tool_statements(spec: Spec) -> list[str]:
    """Mark request spans of a route whose required tool was not called (genai_o11y.tools.called).

    The app lists the tools it called on the request span, comma-separated or as a list; a route's
    answer without its required tool is the silent failure "answered from the model's memory".
    """
    called = attr(n.TOOLS_CALLED)  # joined into one string by fold_statements before this
    s = []
    for t in spec.pipeline.tools:
        if not t.required_for_routes:
            continue
        tool_re = f"(^|,)\\s*{re.escape(t.name)}\\s*(,|$)"
        s.append(
            f"set({attr(n.REQUIRED_TOOL_MISSING)}, {q(t.name)}) where {attr(n.STAGE)} == \"request\""
            f" and {attr(n.ROUTE)} != nil and IsMatch({attr(n.ROUTE)}, {q(one_of_regex(t.required_for_routes))})"
            f" and ({called} == nil or not IsMatch({called}, {q(tool_re)}))"
        )
    return s


#: signal_to_metrics (v0.161) resolves and hashes a metric's labels for every span before it
#: evaluates the metric's conditions; only a label listed without default_value is checked first
#: (the span must carry it). So every metric requires either one of its own labels that is present
#: exactly when its condition can hold, or the marker of its family: set in the metrics branch
#: where the family's keys are present, deleted from the data points before export. A span then
#: costs a key lookup, not a label hash, for each metric it cannot feed.
MARKER_PREFIX = "genai_o11y.s2m."


def marker_conditions() -> dict[str, dict]:
    """Family -> when its marker is set (a necessary condition for each member metric): one of the
    `present` keys is set, or one of the `equals` (key, value) pairs holds. Both engines read this."""
    prompt_keys = [n.CHUNKS_INCLUDED, *n.CHUNKS_EXCLUDED.values()]
    return {
        "usage": {"present": [n.INPUT_TOKENS, n.OUTPUT_TOKENS, n.CACHE_READ_TOKENS, n.COST_USD, n.COST_UNPRICED]},
        "feedback": {"equals": [(n.STAGE, "feedback")]},
        "request": {"equals": [(n.STAGE, "request")]},
        "retrieval": {"present": [n.RETRIEVAL_TOP_SCORE, n.RETRIEVAL_RESULTS]},
        "rerank": {"present": [n.RERANK_DISPLACEMENT]},
        "prompt": {"present": prompt_keys, "equals": [(n.PROMPT_TRUNCATED, True)]},
        "evaluation": {"present": [n.EVAL_SCORE]},
    }


def _ottl_literal(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else q(value) if isinstance(value, str) else str(value)


def marker_families() -> dict[str, str]:
    """Family -> its marker's condition in OTTL."""
    return {
        family: " or ".join([f"{attr(k)} != nil" for k in c.get("present", [])] + [f"{attr(k)} == {_ottl_literal(v)}" for k, v in c.get("equals", [])])
        for family, c in marker_conditions().items()
    }


def marker(family: str) -> str:
    assert family in marker_families(), family
    return MARKER_PREFIX + family


def marker_statements() -> list[str]:
    return [f"set({attr(marker(f))}, true) where {cond}" for f, cond in marker_families().items()]


def unmark_processor() -> dict:
    return {
        "error_mode": "ignore",
        "metric_statements": [{"context": "datapoint", "statements": [f"delete_matching_keys(datapoint.attributes, {q('^' + re.escape(MARKER_PREFIX))})"]}],
    }


def _usage_metric(name: str, description: str, value: str, condition: str, dims: list[str], unit: str = "", buckets: list[float] | None = None, *, requires: str) -> dict:
    """`requires`: one of `dims` (then listed without a default) or a family marker."""
    attributes = [{"key": d} if d == requires else {"key": d, "default_value": n.NONE_VALUE} for d in dims]
    if requires not in dims:
        attributes.append({"key": requires})
    m = {
        "name": name,
        "description": description,
        "conditions": [condition],
        "attributes": attributes,
        "include_resource_attributes": [{"key": n.SERVICE_NAME}],
    }
    if buckets is not None:
        m["histogram"] = {"buckets": buckets, "value": value}
    else:
        m["sum"] = {"value": value, "monotonic": True}
    if unit:
        m["unit"] = unit
    return m


def usage_metrics() -> list[dict]:
    d = USAGE_DIMENSIONS
    return [
        _usage_metric(n.METRIC_INPUT_TOKENS, "Input tokens, cached ones included.", f"Int({attr(n.INPUT_TOKENS)})", f"{attr(n.INPUT_TOKENS)} != nil", d, "{token}", requires=marker("usage")),
        _usage_metric(n.METRIC_OUTPUT_TOKENS, "Output tokens.", f"Int({attr(n.OUTPUT_TOKENS)})", f"{attr(n.OUTPUT_TOKENS)} != nil", d, "{token}", requires=marker("usage")),
        _usage_metric(n.METRIC_CACHED_TOKENS, "Input tokens served from the provider's prompt cache.", f"Int({attr(n.CACHE_READ_TOKENS)})", f"{attr(n.CACHE_READ_TOKENS)} != nil", d, "{token}", requires=marker("usage")),
        _usage_metric(n.METRIC_COST + ".usd", "Cost in USD from the spec's price table.", f"Double({attr(n.COST_USD)})", f"{attr(n.COST_USD)} != nil", d, requires=marker("usage")),
        _usage_metric(n.METRIC_UNPRICED, "Calls with token counts whose model is not in the price table.", "Int(1)", f"{attr(n.COST_UNPRICED)} == true", [n.SERVICE_NAME, n.PROVIDER, n.ENVIRONMENT], requires=marker("usage")),
        _usage_metric(
            n.METRIC_FEEDBACK, "User feedback events by sentiment.", "Int(1)", f'{attr(n.STAGE)} == "feedback"',
            [n.SERVICE_NAME, n.FEEDBACK_SENTIMENT, n.PROVIDER, n.REQUEST_MODEL, n.ROUTE, n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.ENVIRONMENT, n.SERVICE_VERSION],
            requires=marker("feedback"),
        ),
        *quality_metrics(),
    ]


#: Labels of the quality counters: what changed (version, model, route, release) and where.
QUALITY_DIMENSIONS = [n.SERVICE_NAME, n.REQUEST_MODEL, n.ROUTE, n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.ENVIRONMENT, n.SERVICE_VERSION]


def quality_metrics() -> list[dict]:
    """Silent-failure signals: eval scores, failure categories, cache, retrieval, truncation, missing tools."""
    d = QUALITY_DIMENSIONS
    retrieval = [n.SERVICE_NAME, n.ROUTE, n.RETRIEVER_VERSION, n.INDEX_VERSION, n.ENVIRONMENT, n.SERVICE_VERSION]
    chunks = [
        _usage_metric(f"{n.METRIC_CHUNKS}.excluded.{reason}", f"Chunks left out of prompts: {reason}.", f"Int({attr(key)})", f"{attr(key)} != nil", d, requires=marker("prompt"))
        for reason, key in n.CHUNKS_EXCLUDED.items()
    ]
    return [
        _usage_metric(
            n.METRIC_RETRIEVAL_SCORE, "Similarity score of the best document per retrieval.", f"Double({attr(n.RETRIEVAL_TOP_SCORE)})",
            f"{attr(n.RETRIEVAL_TOP_SCORE)} != nil", retrieval, buckets=n.EVAL_SCORE_BUCKETS, requires=marker("retrieval"),
        ),
        _usage_metric(
            n.METRIC_RERANK_DISPLACEMENT, "Mean rank change of the documents the reranker kept (0: reranker agreed with retrieval).",
            f"Double({attr(n.RERANK_DISPLACEMENT)})", f"{attr(n.RERANK_DISPLACEMENT)} != nil", retrieval, buckets=[float(b) for b in n.RERANK_DISPLACEMENT_BUCKETS], requires=marker("rerank"),
        ),
        _usage_metric(f"{n.METRIC_CHUNKS}.included", "Chunks included in prompts.", f"Int({attr(n.CHUNKS_INCLUDED)})", f"{attr(n.CHUNKS_INCLUDED)} != nil", d, requires=marker("prompt")),
        *chunks,
        _usage_metric(
            n.METRIC_RESPONSE_TOKENS, "Response length in output tokens per model call.", f"Double({attr(n.OUTPUT_TOKENS)})",
            f"{attr(n.STAGE)} == \"model_call\" and {attr(n.OUTPUT_TOKENS)} != nil", d, buckets=[float(b) for b in n.RESPONSE_TOKEN_BUCKETS], requires=marker("usage"),
        ),
        _usage_metric(
            n.METRIC_FAILED_AFTER_TOOLS, "Answers that failed although the tools they called did not.", "Int(1)",
            f"{attr(n.FAILED_AFTER_TOOLS)} == true", d, requires=marker("request"),
        ),
        _usage_metric(
            n.METRIC_EVAL_SCORE, "Evaluation scores (gen_ai.evaluation.score.value) by evaluation name.", f"Double({attr(n.EVAL_SCORE)})",
            f"{attr(n.EVAL_SCORE)} != nil", [n.EVAL_NAME, *d], buckets=n.EVAL_SCORE_BUCKETS, requires=marker("evaluation"),
        ),
        _usage_metric(
            n.METRIC_FAILURES, "Spans by failure category (genai_o11y.failure.category; unknown ones fold into _other).", "Int(1)",
            f"{attr(n.FAILURE_CATEGORY)} != nil", [n.FAILURE_CATEGORY, n.STAGE, n.TOOL_NAME, *d], requires=n.FAILURE_CATEGORY,
        ),
        _usage_metric(
            n.METRIC_CACHE, "App-level cache lookups (semantic, response, embedding cache) by hit.", "Int(1)",
            f"{attr(n.CACHE_HIT)} != nil", [n.CACHE_HIT, n.STAGE, n.SERVICE_NAME, n.ROUTE, n.ENVIRONMENT, n.SERVICE_VERSION], requires=n.CACHE_HIT,
        ),
        _usage_metric(
            n.METRIC_RETRIEVAL_RESULTS, "Documents returned per retrieval (le=\"0\": zero results).", f"Double({attr(n.RETRIEVAL_RESULTS)})",
            f"{attr(n.RETRIEVAL_RESULTS)} != nil", retrieval, buckets=[float(b) for b in n.RETRIEVAL_RESULT_BUCKETS], requires=marker("retrieval"),
        ),
        _usage_metric(
            n.METRIC_TRUNCATIONS, "Prompts truncated to fit the context budget.", "Int(1)",
            f"{attr(n.PROMPT_TRUNCATED)} == true", d, requires=marker("prompt"),
        ),
        _usage_metric(
            n.METRIC_MISSING_TOOL, "Answers of a route given without the tool the spec requires for it.", "Int(1)",
            f"{attr(n.REQUIRED_TOOL_MISSING)} != nil", [n.REQUIRED_TOOL_MISSING, *d], requires=n.REQUIRED_TOOL_MISSING,
        ),
    ]


def tenant_metrics() -> list[dict]:
    d = [n.SERVICE_NAME, n.TENANT, n.ENVIRONMENT]
    return [
        _usage_metric(n.METRIC_TENANT_COST + ".usd", "Cost in USD per tenant (bounded by cardinality.max_tenants).", f"Double({attr(n.COST_USD)})", f"{attr(n.COST_USD)} != nil", d, requires=marker("usage")),
        _usage_metric(n.METRIC_TENANT_CALLS, "Requests per tenant (bounded by cardinality.max_tenants).", "Int(1)", f'{attr(n.STAGE)} == "request"', d, requires=marker("request")),
    ]


def sampling_policies(spec: Spec) -> list[dict]:
    s = spec.sampling
    policies: list[dict] = []
    if s.keep_errors:
        policies.append({"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}})
    if s.keep_negative_feedback:
        policies.append({"name": "negative-feedback", "type": "string_attribute", "string_attribute": {"key": n.FEEDBACK_SENTIMENT, "values": ["negative"]}})
    if s.slow_trace_ms is not None:
        policies.append({"name": "slow", "type": "latency", "latency": {"threshold_ms": s.slow_trace_ms}})
    if s.expensive_span_usd is not None:
        cond = f"{attr(n.COST_USD)} != nil and {attr(n.COST_USD)} >= {float(s.expensive_span_usd)!r}"
        policies.append({"name": "expensive", "type": "ottl_condition", "ottl_condition": {"error_mode": "ignore", "span": [cond]}})
    policies.append({"name": "baseline", "type": "probabilistic", "probabilistic": {"sampling_percentage": s.baseline_percent}})
    return policies


#: Share of collector.memory_limit_mib at which the Go runtime starts collecting harder (GOMEMLIMIT):
#: below the memory limiter's soft limit (80%), so garbage is reclaimed before data is refused, and
#: the peak resident memory under sustained overload stays near the limit instead of overshooting
#: it between the limiter's 1 s checks (bench/RESULTS.md).
GOMEMLIMIT_SHARE = 0.6


def runtime_env(spec: Spec) -> dict[str, str]:
    """Environment of the collector process wherever it runs (compose, Helm, local stack, benchmarks)."""
    return {"GOMEMLIMIT": f"{int(spec.collector.memory_limit_mib * GOMEMLIMIT_SHARE)}MiB"}


def policy_for(spec: Spec) -> Policy:
    policy = redaction_policy.load(spec.redaction.policy)
    return policy.with_extra([redaction_policy.Rule(p.name, p.regex, f"<{p.name}>") for p in spec.redaction.extra_patterns])


def build(spec: Spec) -> dict:
    c = spec.collector
    policy = policy_for(spec)
    engine = spec.collector.engine
    redact, dims = n.redact_processor(engine), n.dimensions_processor(engine)
    tele_host, tele_port = _hostport(c.telemetry_endpoint)

    processors: dict = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": c.memory_limit_mib, "spike_limit_mib": max(16, c.memory_limit_mib // 5)},
        "resource": {
            "attributes": [
                {"key": n.SERVICE_VERSION, "value": "${env:GENAI_O11Y_RELEASE:-unknown}", "action": "insert"},
                *redaction.salt_check(),
            ]
        },
        "transform/normalise": {
            "error_mode": "ignore",
            "trace_statements": _escape_confmap(
                [{"context": "resource", "statements": normalise.resource_statements(spec.app.services, spec.app.environment)}] + normalise.statements()
            ),
        },
        "transform/cost": _transform(cost.statement_groups(spec)),
        # Redaction: our genai_redaction processor (one pass per span), or the same policy in OTTL for a
        # stock contrib build, where it fails closed: a statement error refuses the batch
        # (GenAIRedactionFailing) instead of letting an unmasked value through.
        redact: redaction.insert_salt(_escape_confmap(redaction.native_config(spec, policy))) if engine == "native"
        else redaction.insert_salt(_transform(redaction.statement_groups(spec, policy), error_mode="propagate")),
        "batch": {"send_batch_size": 1024, "send_batch_max_size": 2048, "timeout": "1s"},
        "tail_sampling": {
            "decision_wait": f"{spec.sampling.decision_wait_seconds}s",
            "num_traces": spec.sampling.max_traces_in_memory,
            "decision_cache": {"sampled_cache_size": 100_000, "non_sampled_cache_size": 100_000},
            "policies": _escape_confmap(sampling_policies(spec)),
        },
        "filter/genai_spans": {"error_mode": "ignore", "traces": {"span": [f"{attr(n.STAGE)} == nil"]}},
        # Label folding: our genai_dimensions processor, or the same in OTTL. Only service.name stays on
        # the resource: service.instance.id & co. would churn series.
        dims: _escape_confmap(dimensions_config(spec)) if engine == "native" else _transform(
            [
                *fold_groups(spec),
                {"context": "resource", "statements": [f'keep_keys(resource.attributes, ["{n.SERVICE_NAME}"])']},
            ]
        ),
        "transform/unmark": unmark_processor(),
        "delta_to_cumulative": {"max_stale": "15m"},
    }
    connectors: dict = {
        FORWARD: {},
        "span_metrics": {
            "namespace": n.SPAN_METRICS_NAMESPACE,
            "histogram": {"unit": "ms", "explicit": {"buckets": [f"{int(b)}ms" for b in rules.latency_buckets_ms(spec, LATENCY_BUCKETS_MS)]}},
            "dimensions": [{"name": d} for d in SPAN_DIMENSIONS],
            # collector.instance.id changes on every restart: series churn for nothing.
            "exclude_dimensions": ["span.name", "span.kind", "collector.instance.id"],
            "aggregation_cardinality_limit": spec.cardinality.max_series_per_metric,
            "exemplars": {"enabled": True, "max_per_data_point": 5},
            "metrics_flush_interval": f"{c.metrics_flush_interval_seconds}s",
            "metrics_expiration": "30m",
        },
        "signal_to_metrics": {"error_mode": "ignore", "spans": _escape_confmap(usage_metrics())},
    }
    pipelines: dict = {
        "traces/ingest": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "resource", "transform/normalise", "transform/cost", redact, "batch"],
            "exporters": [FORWARD],
        },
        "traces/sample": {"receivers": [FORWARD], "processors": ["tail_sampling"], "exporters": [TEMPO]},
        "traces/metrics": {
            "receivers": [FORWARD],
            "processors": ["filter/genai_spans", dims],
            "exporters": ["span_metrics", "signal_to_metrics"],
        },
        "metrics/spans": {"receivers": ["span_metrics"], "processors": [], "exporters": ["prometheus"]},
        "metrics/usage": {"receivers": ["signal_to_metrics"], "processors": ["transform/unmark", "delta_to_cumulative"], "exporters": ["prometheus"]},
    }
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
            "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "30s", "max_elapsed_time": "0s"},
            "sending_queue": {"enabled": True, "storage": QUEUE, "queue_size": c.queue_size_batches, "num_consumers": 2},
        }
    if spec.cardinality.max_tenants > 0:
        # One connector and one stream budget per tenant metric: each tracks at most max_tenants
        # tenants (a shared budget would let twice as many in, one stream each). Streams past the
        # budget are not tracked (otelcol_deltatocumulative_streams_*), totals stay exact.
        for metric in tenant_metrics():
            key = metric["name"].rsplit(".", 2)[1] if metric["name"].endswith(".usd") else metric["name"].rsplit(".", 1)[1]
            conn, proc = f"signal_to_metrics/tenant_{key}", f"delta_to_cumulative/tenant_{key}"
            connectors[conn] = {"error_mode": "ignore", "spans": _escape_confmap([metric])}
            processors[proc] = {"max_stale": "15m", "max_streams": spec.cardinality.max_tenants}
            pipelines["traces/metrics"]["exporters"].append(conn)
            pipelines[f"metrics/tenant_{key}"] = {"receivers": [conn], "processors": ["transform/unmark", proc], "exporters": ["prometheus"]}

    return {
        "extensions": {
            "health_check": {"endpoint": c.health_endpoint},
            QUEUE: {
                "directory": c.queue_directory,
                "create_directory": True,
                "timeout": "2s",
                "compaction": {"on_start": True, "on_rebound": True, "directory": c.queue_directory},
            },
        },
        "receivers": {
            "otlp": {"protocols": {"grpc": {"endpoint": c.otlp_grpc_endpoint}, "http": {"endpoint": c.otlp_http_endpoint}}},
        },
        "processors": processors,
        "connectors": connectors,
        "exporters": {
            TEMPO: {
                "endpoint": spec.backends.tempo.endpoint,
                "tls": {"insecure": spec.backends.tempo.insecure},
                "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "30s", "max_elapsed_time": "0s"},
                "sending_queue": {"enabled": True, "storage": QUEUE, "queue_size": c.queue_size_batches, "num_consumers": 4},
            },
            "prometheus": {
                "endpoint": c.metrics_endpoint,
                "enable_open_metrics": True,  # exemplars (trace ids) on the histogram buckets
                "without_scope_info": True,
                "metric_expiration": "30m",
                "resource_to_telemetry_conversion": {"enabled": False},
            },
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
