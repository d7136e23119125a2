"""The metric catalog: every metric the sidecar makes, declared once.

Each metric is data here: its OpenTelemetry name, unit, kind (counter or histogram and its buckets),
labels, the span attribute or value it reads and when. Every consumer derives from it:
- the collector config of either engine (builders/collector.py: native, the genai_usage connector's
  config, span metrics included; ottl, the span_metrics connector and signal_to_metrics' OTTL),
- the Prometheus series names (`PROM`, one derivation: the prometheus exporter's own translation
  of name, unit and kind), and their labels (`prom_labels`), which rules, alerts and panels read,
- the tests (a query naming a series the catalog does not define fails).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from . import names as n
from .builders.ottl import attr, q

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
        "usage": {"present": [*(k.attribute for k in n.TOKEN_KINDS), n.COST_USD, n.COST_UNPRICED]},
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


@dataclass(frozen=True)
class When:
    """A condition on a span attribute: present (set, not empty), or equal to a value of the same type."""

    key: str
    equals: str | bool | None = None

    def ottl(self, ctx: str = "span") -> str:
        a = attr(self.key, ctx)
        return f"{a} != nil" if self.equals is None else f"{a} == {_ottl_literal(self.equals)}"

    def native(self) -> dict:
        return {"key": self.key, "present": True} if self.equals is None else {"key": self.key, "equals": self.equals}


@dataclass(frozen=True)
class UsageMetric:
    """One span-derived metric besides the span metrics, as data: both engines render it (the
    signal_to_metrics connector's OTTL, or our genai_usage connector's config).

    `when`: all must hold. `value`: the attribute summed or observed (None: count 1), read as an
    integer or a double. `labels`: span attributes, `_none` where missing, except `requires`, a
    label the span must carry (else a family marker that signal_to_metrics checks first)."""

    key: str  #: the short name rules and panels use (PROM[key], PROM[key + "_bucket"], ...)
    name: str
    description: str
    when: tuple[When, ...]
    labels: tuple[str, ...]
    requires: str
    value: str | None = None
    value_type: str = "int"
    unit: str = ""
    buckets: tuple[float, ...] | None = None
    max_streams: int = 0
    #: Also fed by each span event of this name: `event_keys` (conditions, value, labels) are read
    #: from the event, every other label from the span that carries it (the evaluated span's dimensions).
    span_event: str | None = None
    event_keys: tuple[str, ...] = ()
    #: Native engine only (genai_usage): each histogram point carries the trace of a recent observation.
    exemplars: bool = False

    def span_labels(self) -> list[str]:
        """Labels read from the span carrying the event (a span_event metric)."""
        return [d for d in self.labels if d not in self.event_keys]

    def log_resource_labels(self) -> list[str]:
        """The span labels the event as a log record reads from its resource (it is on no span)."""
        return [d for d in self.span_labels() if d in RESOURCE_TO_LABEL]

    def signal_to_metrics(self, ctx: str = "span") -> dict:
        """The metric in signal_to_metrics's config (conditions and values in OTTL), read from spans
        or (ctx "log") from log records."""
        attributes = [{"key": d} if d == self.requires else {"key": d, "default_value": n.NONE_VALUE} for d in self.labels]
        if self.requires not in self.labels:
            attributes.append({"key": self.requires})
        conditions = [w.ottl(ctx) for w in self.when]
        if self.value and self.value_type == "double":
            # a NaN or an infinity is not recorded (it would poison the cumulative sum), as genai_usage's
            # AsDouble refuses it; written so that a value Double() cannot read (nil) passes as before
            v = f"Double({attr(self.value, ctx)})"
            conditions += [f"not ({v} != {v})", f"not ({v} > {FINITE_MAX})", f"not ({v} < -{FINITE_MAX})"]
        m = {
            "name": self.name,
            "description": self.description,
            "conditions": [" and ".join(conditions)],
            "attributes": attributes,
            "include_resource_attributes": [{"key": n.SERVICE_NAME}],
        }
        value = f"{'Int' if self.value_type == 'int' else 'Double'}({attr(self.value, ctx) if self.value else 1})"
        if self.buckets is not None:
            m["histogram"] = {"buckets": list(self.buckets), "value": value}
        else:
            m["sum"] = {"value": value, "monotonic": True}
        if self.unit:
            m["unit"] = self.unit
        return m

    def native(self) -> dict:
        """The metric in genai_usage's config (gocomponents/genaiusageconnector)."""
        m: dict = {"name": self.name, "description": self.description}
        if self.unit:
            m["unit"] = self.unit
        m["when"] = [w.native() for w in self.when]
        m["labels"] = [{"key": d} if d == self.requires else {"key": d, "default": n.NONE_VALUE} for d in self.labels]
        m["resource_labels"] = [n.SERVICE_NAME]
        m["value"] = {"type": self.value_type, **({"key": self.value} if self.value else {})}
        if self.buckets is not None:
            m["histogram"] = {"buckets": list(self.buckets)}
        else:
            m["sum"] = {"monotonic": True}
        if self.max_streams:
            m["max_streams"] = self.max_streams
        if self.span_event:
            m["span_event"] = {"name": self.span_event, "span_labels": self.span_labels(), "log_resource_labels": self.log_resource_labels()}
        if self.exemplars:
            m["exemplars"] = True
        return m


#: The largest finite double, as an OTTL literal: a value above it is +Inf.
FINITE_MAX = "1.7976931348623157e308"


def _metric(key: str, name: str, description: str, value: str | None, when: list[When], dims: list[str], unit: str = "",
            buckets: list[float] | None = None, *, requires: str, value_type: str = "int") -> UsageMetric:
    """`requires`: one of `dims` (the span must carry it) or a marker family (`marker(...)`)."""
    return UsageMetric(key, name, description, tuple(when), tuple(dims), requires, value, value_type, unit,
                       None if buckets is None else tuple(float(b) for b in buckets))


def usage_metrics() -> list[UsageMetric]:
    d = USAGE_DIMENSIONS
    usage = marker("usage")
    return [
        *(_metric(k.key, k.metric, k.description, k.attribute, [When(k.attribute)], d, "{token}", requires=usage) for k in n.TOKEN_KINDS),
        _metric("cost", n.METRIC_COST + ".usd", "Cost in USD from the spec's price table.", n.COST_USD, [When(n.COST_USD)], d, requires=usage, value_type="double"),
        _metric("unpriced", n.METRIC_UNPRICED, "Calls with token counts whose model is not in the price table.", None, [When(n.COST_UNPRICED, True)],
                [n.SERVICE_NAME, n.PROVIDER, n.ENVIRONMENT], requires=usage),
        _metric(
            "feedback", n.METRIC_FEEDBACK, "User feedback events by sentiment.", None, [When(n.STAGE, "feedback")],
            [n.SERVICE_NAME, n.FEEDBACK_SENTIMENT, n.PROVIDER, n.REQUEST_MODEL, n.ROUTE, n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.ENVIRONMENT, n.SERVICE_VERSION],
            requires=marker("feedback"),
        ),
        *quality_metrics(),
    ]


#: Labels of the quality counters: what changed (version, model, route, release) and where.
QUALITY_DIMENSIONS = [n.SERVICE_NAME, n.REQUEST_MODEL, n.ROUTE, n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.ENVIRONMENT, n.SERVICE_VERSION]


def quality_metrics() -> list[UsageMetric]:
    """Silent-failure signals: eval scores, failure categories, cache, retrieval, truncation, missing tools."""
    d = QUALITY_DIMENSIONS
    retrieval = [n.SERVICE_NAME, n.ROUTE, n.RETRIEVER_VERSION, n.INDEX_VERSION, n.ENVIRONMENT, n.SERVICE_VERSION]
    chunks = [
        _metric(f"chunks_excluded_{reason}", f"{n.METRIC_CHUNKS}.excluded.{reason}", f"Chunks left out of prompts: {reason}.", key, [When(key)], d, requires=marker("prompt"))
        for reason, key in n.CHUNKS_EXCLUDED.items()
    ]
    return [
        _metric(
            "retrieval_score", n.METRIC_RETRIEVAL_SCORE, "Similarity score of the best document per retrieval.", n.RETRIEVAL_TOP_SCORE,
            [When(n.RETRIEVAL_TOP_SCORE)], retrieval, buckets=n.EVAL_SCORE_BUCKETS, requires=marker("retrieval"), value_type="double",
        ),
        _metric(
            "rerank", n.METRIC_RERANK_DISPLACEMENT, "Mean rank change of the documents the reranker kept (0: reranker agreed with retrieval).",
            n.RERANK_DISPLACEMENT, [When(n.RERANK_DISPLACEMENT)], retrieval, buckets=n.RERANK_DISPLACEMENT_BUCKETS, requires=marker("rerank"), value_type="double",
        ),
        _metric("chunks_included", f"{n.METRIC_CHUNKS}.included", "Chunks included in prompts.", n.CHUNKS_INCLUDED, [When(n.CHUNKS_INCLUDED)], d, requires=marker("prompt")),
        *chunks,
        _metric(
            "response_tokens", n.METRIC_RESPONSE_TOKENS, "Response length in output tokens per model call.", n.OUTPUT_TOKENS,
            [When(n.STAGE, "model_call"), When(n.OUTPUT_TOKENS)], d, buckets=n.RESPONSE_TOKEN_BUCKETS, requires=marker("usage"), value_type="double",
        ),
        _metric(
            "failed_after_tools", n.METRIC_FAILED_AFTER_TOOLS, "Answers that failed although the tools they called did not.", None,
            [When(n.FAILED_AFTER_TOOLS, True)], d, requires=marker("request"),
        ),
        *eval_metrics(),
        # the helper's user_action span (the span carries the kind and the answer's dimensions), or the
        # user-action event on the answer's span or as a log record naming it (the event carries the kind)
        replace(_metric(
            "quality_proxies", n.METRIC_QUALITY_PROXIES, "User actions on answers that hint at their quality (genai_o11y.quality.proxy: regenerate, copy_answer, "
            "escalate, ...; kinds not in the spec's evals.proxies fold into _other).", None,
            [When(n.QUALITY_PROXY)], [n.QUALITY_PROXY, *d], requires=n.QUALITY_PROXY,
        ), span_event=n.USER_ACTION_EVENT, event_keys=(n.QUALITY_PROXY,)),
        _metric(
            "failures", n.METRIC_FAILURES, "Spans by failure category (genai_o11y.failure.category; unknown ones fold into _other).", None,
            [When(n.FAILURE_CATEGORY)], [n.FAILURE_CATEGORY, n.STAGE, n.TOOL_NAME, *d], requires=n.FAILURE_CATEGORY,
        ),
        _metric(
            "cache", n.METRIC_CACHE, "App-level cache lookups (semantic, response, embedding cache) by hit.", None,
            [When(n.CACHE_HIT)], [n.CACHE_HIT, n.STAGE, n.SERVICE_NAME, n.ROUTE, n.ENVIRONMENT, n.SERVICE_VERSION], requires=n.CACHE_HIT,
        ),
        _metric(
            "retrieval", n.METRIC_RETRIEVAL_RESULTS, "Documents returned per retrieval (le=\"0\": zero results).", n.RETRIEVAL_RESULTS,
            [When(n.RETRIEVAL_RESULTS)], retrieval, buckets=n.RETRIEVAL_RESULT_BUCKETS, requires=marker("retrieval"), value_type="double",
        ),
        _metric(
            "truncations", n.METRIC_TRUNCATIONS, "Prompts truncated to fit the context budget.", None,
            [When(n.PROMPT_TRUNCATED, True)], d, requires=marker("prompt"),
        ),
        _metric(
            "missing_tool", n.METRIC_MISSING_TOOL, "Answers of a route given without the tool the spec requires for it.", None,
            [When(n.REQUIRED_TOOL_MISSING)], [n.REQUIRED_TOOL_MISSING, *d], requires=n.REQUIRED_TOOL_MISSING,
        ),
    ]


def eval_metrics() -> list[UsageMetric]:
    """Evaluation results, from both shapes: our eval spans (the span carries the result and its
    dimensions) and the semantic conventions' gen_ai.evaluation.result span events (the event carries
    the result, the evaluated span its dimensions)."""
    d = QUALITY_DIMENSIONS
    event = {"span_event": n.EVAL_EVENT}
    return [
        replace(_metric(
            "eval", n.METRIC_EVAL_SCORE, "Evaluation scores (gen_ai.evaluation.score.value) by evaluation name.", n.EVAL_SCORE,
            [When(n.EVAL_SCORE)], [n.EVAL_NAME, *d], buckets=n.EVAL_SCORE_BUCKETS, requires=marker("evaluation"), value_type="double",
        ), **event, event_keys=(n.EVAL_NAME, n.EVAL_SCORE), exemplars=True),
        replace(_metric(
            "eval_results", n.METRIC_EVAL_RESULTS, "Evaluation results by evaluation name and label (gen_ai.evaluation.score.label, e.g. pass, fail).", None,
            [When(n.EVAL_LABEL)], [n.EVAL_NAME, n.EVAL_LABEL, *d], requires=n.EVAL_LABEL,
        ), **event, event_keys=(n.EVAL_NAME, n.EVAL_LABEL)),
    ]



def event_names() -> list[str]:
    """The OTel event names that feed metrics (as span events, or log records): each once."""
    return sorted({m.span_event for m in usage_metrics() if m.span_event})


def tenant_metrics(max_tenants: int = 0) -> list[UsageMetric]:
    """Per-tenant counters, each bounded to max_tenants tenants (one stream each)."""
    d = [n.SERVICE_NAME, n.TENANT, n.ENVIRONMENT]
    return [
        replace(m, max_streams=max_tenants) for m in (
            _metric("tenant_cost", n.METRIC_TENANT_COST + ".usd", "Cost in USD per tenant (bounded by cardinality.max_tenants).", n.COST_USD, [When(n.COST_USD)], d,
                    requires=marker("usage"), value_type="double"),
            _metric("tenant_requests", n.METRIC_TENANT_CALLS, "Requests per tenant (bounded by cardinality.max_tenants).", None, [When(n.STAGE, "request")], d, requires=marker("request")),
        )
    ]


# --- the span metrics (span_metrics connector with the ottl engine; genai_usage with the native one) ---

#: The data point attribute the span_metrics connector writes the span's status code to
#: (STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR); genai_usage writes the same.
SPAN_STATUS_CODE = "status.code"


@dataclass(frozen=True)
class SpanMetric:
    """A metric made from every GenAI span (namespace n.SPAN_METRICS_NAMESPACE): by the span_metrics
    connector (ottl engine), or by genai_usage in its one pass (native engine, `native()`), with the
    same name, unit, labels, buckets and exemplars."""

    key: str
    name: str
    unit: str
    buckets: tuple[float, ...] | None = None

    def native(self, buckets: list[float], max_series: int) -> dict:
        """The metric in genai_usage's config, as span_metrics makes it: every span of the metrics
        branch (it carries the stage), labelled by its resource's service.name, its status code and
        each of SPAN_DIMENSIONS it carries (an absent one is no label); the duration histogram
        observes the span's duration in ms with exemplars; past `max_series` label sets the rest
        folds into one otel.metric.overflow series (span_metrics' aggregation_cardinality_limit)."""
        labels = [{"key": n.SERVICE_NAME, "source": "resource"}, {"key": SPAN_STATUS_CODE, "source": "span.status.code"},
                  *({"key": d, "optional": True} for d in SPAN_DIMENSIONS)]
        m: dict = {"name": self.name, "description": _SPAN_DESCRIPTIONS[self.key]}
        if self.unit:
            m["unit"] = self.unit
        m |= {"when": [When(n.STAGE).native()], "labels": labels, "resource_labels": [n.SERVICE_NAME]}
        if self.buckets is None:
            m |= {"value": {"type": "int"}, "sum": {"monotonic": True}}
        else:
            m |= {"value": {"source": "span.duration", "type": "double"}, "histogram": {"buckets": list(buckets)}, "exemplars": True}
        return m | {"max_streams": max_series, "on_limit": "overflow"}


#: calls (a counter) and duration (a histogram in ms; the spec's latency thresholds are added to
#: its buckets, see duration_buckets_ms), labelled by SPAN_DIMENSIONS, service and status code.
SPAN_CALLS = SpanMetric("calls", f"{n.SPAN_METRICS_NAMESPACE}.calls", "")
SPAN_DURATION = SpanMetric("duration", f"{n.SPAN_METRICS_NAMESPACE}.duration", "ms", tuple(float(b) for b in LATENCY_BUCKETS_MS))
SPAN_METRICS = (SPAN_CALLS, SPAN_DURATION)


def duration_buckets_ms(latency_thresholds_ms) -> list[float]:
    """The duration histogram's buckets: the catalog's plus every latency-SLO threshold (so an SLI
    reads an exact bucket)."""
    return sorted(set(SPAN_DURATION.buckets) | {float(t) for t in latency_thresholds_ms})
SPAN_METRIC_LABELS = frozenset({n.prom_label(d) for d in SPAN_DIMENSIONS} | {n.prom_label(n.SERVICE_NAME), n.prom_label(SPAN_STATUS_CODE)})
_SPAN_DESCRIPTIONS = {"calls": "GenAI spans by stage, service, status code and dimensions.", "duration": "Duration of GenAI spans."}


def span_metrics_native(latency_thresholds_ms, max_series: int) -> list[dict]:
    """Both span metrics in genai_usage's config (native engine)."""
    buckets = duration_buckets_ms(latency_thresholds_ms)
    return [m.native(buckets, max_series) for m in SPAN_METRICS]


def all_usage_metrics() -> list[UsageMetric]:
    return usage_metrics() + tenant_metrics()


# --- Prometheus names: derived once -----------------------------------------------------------------

#: The prometheus exporter's unit suffixes (OpenTelemetry unit -> Prometheus name suffix) for the
#: units the catalog uses; annotations in braces ({token}) add nothing.
_UNIT_SUFFIX = {"": "", "ms": "milliseconds", "s": "seconds", "By": "bytes", "1": "ratio"}


def prom_base(name: str, unit: str) -> str:
    """The Prometheus family name the exporter gives an OpenTelemetry metric (without _total)."""
    base = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    suffix = "" if unit.startswith("{") else _UNIT_SUFFIX[unit]
    return base + ("_" + suffix if suffix and not base.endswith("_" + suffix) else "")


def _series(key: str, base: str, histogram: bool) -> dict[str, str]:
    if histogram:
        return {f"{key}_{s}": f"{base}_{s}" for s in ("bucket", "sum", "count")}
    return {key: base + "_total"}


def _prom() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    names: dict[str, str] = {}
    labels: dict[str, frozenset[str]] = {}
    svc = n.prom_label(n.SERVICE_NAME)
    catalog = [(m.key, m.name, m.unit, m.buckets, SPAN_METRIC_LABELS) for m in SPAN_METRICS]
    catalog += [(m.key, m.name, m.unit, m.buckets, frozenset({n.prom_label(k) for k in m.labels} | {svc})) for m in all_usage_metrics()]
    for key, name, unit, buckets, own in catalog:
        for k, series in _series(key, prom_base(name, unit), buckets is not None).items():
            assert k not in names and series not in labels, f"two catalog metrics are both {k} / {series}"
            names[k] = series
            labels[series] = own | ({"le"} if k.endswith("_bucket") else set())
    return names, labels


#: key -> Prometheus series name: PROM["calls"], PROM["duration_bucket"], PROM["cost"], ...
#: Counters by their key, histograms by key_bucket / key_sum / key_count.
PROM, PROM_LABELS = _prom()


def prom_labels(series: str) -> frozenset[str]:
    """The labels of a catalog series (KeyError: not a catalog series)."""
    return PROM_LABELS[series]


# --- recording rules: their names, typed once (rules.py and llm_alerts.py record them; alerts and panels read them) ---

def record(what: str, kind: str) -> str:
    """A recording rule's name, by the monitoring-mixin convention level:metric:operations."""
    return f"genai_o11y:{what}:{kind}"


def ratio_1h(name: str) -> str:
    """The last hour's ratio of an LLM signal (llm_alerts' ratios: feedback_negative, cache_hits, ...)."""
    return record(name, "ratio_rate1h")


def ratio_baseline(name: str) -> str:
    """Its baseline: the ratio over the baseline window, an hour ago."""
    return record(name, "ratio_baseline")


def request_errors(window: str) -> str:
    """The request error ratio over an SLO burn window (5m, 30m, 1h, 2h, 6h, 1d, 3d)."""
    return record("request_errors", f"ratio_rate{window}")


def slo_events(window: str, latency: bool) -> str:
    """The events an SLO counts, per second, over a burn alert's long window (1h, 6h, 1d, 3d): requests
    (availability) or a stage's spans (latency), each from the counter its ratio divides by: the burn
    alerts' minimum-traffic guard."""
    return record("slo_stage_spans" if latency else "slo_requests", f"rate{window}")


def stage_slow(window: str) -> str:
    """The share of a stage's spans over its latency-SLO threshold, over a burn window."""
    return record("stage_slow", f"ratio_rate{window}")


REC_STAGE_ERRORS_5M = record("stage_errors", "ratio_rate5m")
REC_REQUESTS_1H = record("requests", "rate1h")
REC_ROUTE_REQUESTS_1H = record("route_requests", "rate1h")
REC_COST_PER_HOUR_1H = record("cost_usd_per_hour", "rate1h")
REC_COST_PER_HOUR_BASELINE = record("cost_usd_per_hour", "baseline")
REC_FEEDBACK_1H = record("feedback", "rate1h")
REC_CACHE_LOOKUPS_1H = record("cache_lookups", "rate1h")
REC_RETRIEVALS_1H = record("retrievals", "rate1h")
REC_EVALS_1H = record("evals", "rate1h")
REC_EVAL_RESULTS_1H = record("eval_results", "rate1h")
REC_EVAL_SCORE_MEAN_1H = record("eval_score", "mean_1h")
#: the eval floor's window (GenAIEvalScoreBelowFloor): short enough to page and to clear within minutes of a change
REC_EVALS_15M = record("evals", "rate15m")
REC_EVAL_SCORE_MEAN_15M = record("eval_score", "mean_15m")
REC_EVAL_SCORE_MEAN_BASELINE = record("eval_score", "mean_baseline")
REC_STAGE_P99_1H = record("stage_latency_ms", "p99_1h")
REC_STAGE_P99_BASELINE = record("stage_latency_ms", "p99_baseline")
REC_STAGE_CALLS_1H = record("stage_calls", "rate1h")
