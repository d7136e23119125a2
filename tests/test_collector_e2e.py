"""Real spans through the real collector running the generated config.

Each test uses its own service.name, so one collector serves the module without tests seeing each
other's data; tests that need another policy start their own collector.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.trace import Status, StatusCode

from genai_o11y import names, render
from genai_o11y.builders import collector as collector_builder
from genai_o11y.builders import cost
from harness import (
    OtlpSink,
    collector_ports,
    free_port,
    kv,
    make_spec,
    metric_value,
    run_collector,
    span_pb,
    tracer_provider,
    wait_for,
)

pytestmark = pytest.mark.collector
MS = 1_000_000  # ns

BASE = {
    "gateway.decision_wait_seconds": 2,
    "sampling.baseline_percent": 25,
    "sampling.slow_trace_ms": 3000,
    "sampling.expensive_span_usd": 0.05,
    "sampling.keep_quality_proxies": True,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, otelcol):
    tmp = tmp_path_factory.mktemp("stack")
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, **BASE}, tmp))
        with run_collector(otelcol, spec, tmp, env={"GENAI_O11Y_RELEASE": "rel-from-env"}) as col:
            yield spec, sink, col


def new_service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


class Sender:
    """Builds traces with exact attributes and timings through opentelemetry-sdk."""

    def __init__(self, endpoint: str, service: str, resource: dict | None = None):
        res = {"service.name": service, "service.version": "2026.11.1", **(resource or {})}
        self.tp = tracer_provider(endpoint, {k: v for k, v in res.items() if v is not None})
        self.tracer = self.tp.get_tracer("genai-o11y-tests")
        self.t = time.time_ns() - 60_000 * MS

    def trace(self, root_attrs: dict | None = None, children: list[dict] | None = None, root_ms: int = 100, root_error: bool = False) -> str:
        """One trace: a root span and children; each child dict: attrs, ms, error, name, events ([(name, attrs)])."""
        start = self.t
        self.t += 10 * MS
        root = self.tracer.start_span("POST /ask", start_time=start, attributes=root_attrs or {})
        ctx = trace.set_span_in_context(root)
        offset = start
        for c in children or []:
            span = self.tracer.start_span(c.get("name", "child"), context=ctx, start_time=offset, attributes=c.get("attrs", {}))
            for name, attrs in c.get("events", []):
                span.add_event(name, attrs, timestamp=offset)
            if c.get("error"):
                span.set_status(Status(StatusCode.ERROR, "failed"))
            span.end(end_time=offset + c.get("ms", 10) * MS)
            offset += c.get("ms", 10) * MS
        if root_error:
            root.set_status(Status(StatusCode.ERROR, "failed"))
        root.end(end_time=start + root_ms * MS)
        return format(root.get_span_context().trace_id, "032x")

    def flush(self) -> None:
        assert self.tp.force_flush(10_000)
        self.tp.shutdown()


def model_span(model: str, inp: int = 0, out: int = 0, cached: int = 0, **extra) -> dict:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model}
    if inp:
        attrs["gen_ai.usage.input_tokens"] = inp
    if out:
        attrs["gen_ai.usage.output_tokens"] = out
    if cached:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cached
    attrs.update(extra)
    return {"name": f"chat {model}", "attrs": attrs, "ms": 50}


def spans_of(sink: OtlpSink, service: str):
    return [s for s in sink.spans() if s.resource.get("service.name") == service]


# --- validate ---------------------------------------------------------------------------------------------

def _validate(otelcol: Path, cfg_text: str, tmp: Path) -> subprocess.CompletedProcess:
    p = tmp / "cfg.yaml"
    p.write_text(cfg_text)
    env = dict(os.environ, GENAI_O11Y_HASH_SALT="s")
    return subprocess.run([str(otelcol), "validate", f"--config={p}"], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("variant", ["default", "metadata-only", "no-tenants", "no-models", "minimal", "keep-below-floor", "no-proxies"])
def test_validate_accepts_generated_configs(otelcol, tmp_path, variant):
    overrides = {
        "default": {},
        "metadata-only": {"redaction.mode": "metadata-only"},
        "no-tenants": {"cardinality.max_tenants": 0, "sampling.slow_trace_ms": None, "sampling.expensive_span_usd": None},
        "no-models": {"models": [], "pipeline.routes": [], "pipeline.tools": []},
        "minimal": {"pipeline": {"stages": ["model_call"]}, "slos": {}, "models": []},
        "keep-below-floor": {"sampling.keep_below_floor": True, "sampling.keep_quality_proxies": True},
        "no-proxies": {"evals.proxies": []},
    }[variant]
    spec = make_spec(overrides)
    proc = _validate(otelcol, render.to_yaml(collector_builder.build(spec)), tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "corrupt,expect",
    [
        (lambda c: c["processors"]["filter/invalid_ids"]["traces"]["span"].append("span.attributes[\"x\"] == ("), "filter/invalid_ids"),
        (lambda c: c["processors"]["genai_normalise"]["tool_outcome"].update({"timeout_pattern": "(?i)time(out"}), "tool_outcome.timeout_pattern: does not compile"),
        (lambda c: c["exporters"].update({"tempo_v2": {}}), "tempo_v2"),
        (lambda c: c["service"]["pipelines"]["traces/metrics"]["exporters"].append("otlp_grpc/nowhere"), "otlp_grpc/nowhere"),
        (lambda c: c["connectors"]["genai_usage"]["metrics"][1]["histogram"].update({"buckets": [10, 5]}), "histogram.buckets[1]: 5 not above 10"),
    ],
    ids=["bad-ottl", "bad-native-regex", "unknown-component", "undefined-exporter", "bad-bucket"],
)
def test_validate_rejects_corrupted_configs(otelcol, tmp_path, corrupt, expect):
    cfg = collector_builder.build(make_spec())
    corrupt(cfg)
    proc = _validate(otelcol, render.to_yaml(cfg), tmp_path)
    assert proc.returncode != 0
    assert expect in proc.stderr


# --- traces reach the backend ------------------------------------------------------------------------------

def test_traces_arrive_at_tempo_with_resource_attributes(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc, {"deployment.environment": "staging"})
    tid = s.trace(children=[{"attrs": {"genai_o11y.stage": "retrieval"}}], root_error=True)
    s.flush()
    got = wait_for(lambda: [x for x in spans_of(sink, svc) if x.trace_id == tid], what="the trace at the sink")
    wait_for(lambda: len([x for x in spans_of(sink, svc) if x.trace_id == tid]) == 2, what="both spans")
    res = got[0].resource
    assert res["deployment.environment.name"] == "staging" and "deployment.environment" not in res
    assert res["service.version"] == "2026.11.1"
    root = next(x for x in spans_of(sink, svc) if x.name == "POST /ask")
    assert root.attributes["genai_o11y.stage"] == "request"


def test_release_from_the_environment_when_the_app_sets_none(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc, {"service.version": None})
    tid = s.trace(children=[{"attrs": {"genai_o11y.stage": "retrieval"}}], root_error=True)
    s.flush()
    span = wait_for(lambda: [x for x in spans_of(sink, svc) if x.trace_id == tid], what="trace")[0]
    assert span.resource["service.version"] == "rel-from-env"
    wait_for(lambda: metric_value(col.samples(), "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="retrieval", service_version="rel-from-env") == 1, what="release label")


def test_environment_and_service_filled_from_spec(stack):
    spec, sink, col = stack
    s = Sender(col.otlp_grpc, "unknown_service:python", {"service.version": "r1"})
    tid = s.trace(root_error=True)
    s.flush()
    span = wait_for(lambda: [x for x in sink.spans() if x.trace_id == tid], what="trace")[0]
    assert span.resource["service.name"] == spec.app.services[0]
    assert span.resource["deployment.environment.name"] == spec.app.environment


# --- cost and tokens -----------------------------------------------------------------------------------

CALLS = [  # model, input, output, cached
    ("gpt-4o", 1200, 300, 200),
    ("gpt-4o", 5000, 1000, 0),
    ("gpt-4o-2024-08-06", 777, 123, 77),  # alias: priced and counted as gpt-4o
    ("gpt-4o-mini", 15000, 2000, 5000),
    ("claude-sonnet-4-5", 3333, 444, 1111),
    ("text-embedding-3-small", 2048, 0, 0),
]
UNPRICED = [("gpt-9-preview", 1000, 100, 0), ("gpt-9-preview", 10, 0, 0)]


def test_cost_and_tokens_match_the_price_table_exactly(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    for m, i, o, c in CALLS + UNPRICED:
        s.trace(children=[model_span(m, i, o, c)], root_error=True)  # errors: every trace reaches the sink
    s.flush()

    # per span, at the sink: the exact float the price table gives
    wait_for(lambda: len([x for x in spans_of(sink, svc) if x.attributes.get("genai_o11y.stage") == "model_call"]) == len(CALLS + UNPRICED), what="model spans")
    for span in spans_of(sink, svc):
        a = span.attributes
        if a.get("genai_o11y.stage") != "model_call":
            continue
        want = cost.expected_cost(spec, a["gen_ai.request.model"], cost.tokens_of(a))
        if want is None:
            assert "genai_o11y.cost.usd" not in a and a["genai_o11y.cost.unpriced"] is True
        else:
            assert a["genai_o11y.cost.usd"] == want, a
            assert "genai_o11y.cost.unpriced" not in a

    # per model, in Prometheus: sums (aliases folded into the model)
    canonical = {"gpt-4o-2024-08-06": "gpt-4o"}
    expect_cost: dict[str, float] = {}
    expect_tok: dict[str, list[int]] = {}
    for m, i, o, c in CALLS:
        name = canonical.get(m, m)
        expect_cost[name] = expect_cost.get(name, 0.0) + cost.expected_cost(spec, m, {"input": i, "output": o, "cached_input": c})
        t = expect_tok.setdefault(name, [0, 0, 0])
        t[0] += i
        t[1] += o
        t[2] += c

    def settled():
        smp = col.samples()
        return metric_value(smp, "genai_o11y_unpriced_calls_total", service_name=svc) == len(UNPRICED) and all(
            metric_value(smp, "genai_o11y_tokens_input_total", service_name=svc, gen_ai_request_model=m) == t[0] for m, t in expect_tok.items()
        ) and smp

    smp = wait_for(settled, timeout=30, what="usage metrics")
    for m, want in expect_cost.items():
        got = metric_value(smp, "genai_o11y_cost_usd_total", service_name=svc, gen_ai_request_model=m)
        assert math.isclose(got, want, rel_tol=1e-12), (m, got, want)
        i, o, c = expect_tok[m]
        assert metric_value(smp, "genai_o11y_tokens_input_total", service_name=svc, gen_ai_request_model=m) == i
        out = metric_value(smp, "genai_o11y_tokens_output_total", service_name=svc, gen_ai_request_model=m)
        assert (out == o) if o else (math.isnan(out) or out == 0)
        cached = metric_value(smp, "genai_o11y_tokens_cached_input_total", service_name=svc, gen_ai_request_model=m)
        assert (cached == c) if c else math.isnan(cached)
    # unpriced calls never become a cost, and the unknown model is folded in labels
    assert math.isnan(metric_value(smp, "genai_o11y_cost_usd_total", service_name=svc, gen_ai_request_model="_other"))
    assert metric_value(smp, "genai_o11y_tokens_input_total", service_name=svc, gen_ai_request_model="_other") == 1010
    assert metric_value(smp, "genai_o11y_unpriced_calls_total", service_name=svc, gen_ai_provider_name="openai") == 2
    total = sum(expect_cost.values())
    assert math.isclose(metric_value(smp, "genai_o11y_cost_usd_total", service_name=svc), total, rel_tol=1e-12)


# --- normalisation -------------------------------------------------------------------------------------

OTHER_SHAPES = {
    "openllmetry": {
        "gen_ai.system": "OpenAI", "llm.request.type": "chat", "gen_ai.request.model": "gpt-4o-mini",
        "llm.usage.prompt_tokens": 400, "llm.usage.completion_tokens": 40, "llm.usage.total_tokens": 440,
        "gen_ai.usage.cache_read_input_tokens": 100,
    },
    "openinference": {
        "openinference.span.kind": "LLM", "llm.provider": "anthropic", "llm.model_name": "claude-sonnet-4-5",
        "llm.token_count.prompt": 900, "llm.token_count.completion": 90, "llm.token_count.total": 990,
        "llm.token_count.prompt_details.cache_read": 300,
    },
    "semconv-1.26": {
        "gen_ai.system": "az.ai.openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 250, "gen_ai.usage.completion_tokens": 25,
    },
    "openinference-retriever": {"openinference.span.kind": "RETRIEVER"},
    "openinference-tool": {"openinference.span.kind": "TOOL", "tool.name": "search_kb"},
    "openinference-reranker": {"openinference.span.kind": "RERANKER"},
}
EXPECTED = {
    "openllmetry": {"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 400, "gen_ai.usage.output_tokens": 40, "gen_ai.usage.cache_read.input_tokens": 100, "genai_o11y.stage": "model_call"},
    "openinference": {"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 90, "gen_ai.usage.cache_read.input_tokens": 300, "genai_o11y.stage": "model_call"},
    "semconv-1.26": {"gen_ai.provider.name": "azure.ai.openai", "gen_ai.usage.input_tokens": 250, "gen_ai.usage.output_tokens": 25, "genai_o11y.stage": "model_call"},
    "openinference-retriever": {"gen_ai.operation.name": "retrieval", "genai_o11y.stage": "retrieval"},
    "openinference-tool": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_kb", "genai_o11y.stage": "tool_call", "genai_o11y.tool.outcome": "ok"},
    "openinference-reranker": {"genai_o11y.stage": "rerank"},
}
LEGACY_KEYS = {"gen_ai.system", "llm.usage.prompt_tokens", "llm.usage.completion_tokens", "llm.usage.total_tokens", "llm.provider", "llm.model_name",
               "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens",
               "gen_ai.usage.cache_read_input_tokens", "llm.token_count.prompt_details.cache_read", "tool.name"}


def test_other_instrumentations_are_normalised(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    for shape, attrs in OTHER_SHAPES.items():
        s.trace(children=[{"name": shape, "attrs": attrs}], root_error=True)
    s.flush()
    wait_for(lambda: {x.name for x in spans_of(sink, svc)} >= set(OTHER_SHAPES), what="all shapes at the sink")
    for span in spans_of(sink, svc):
        if span.name not in OTHER_SHAPES:
            continue
        for k, v in EXPECTED[span.name].items():
            assert span.attributes.get(k) == v, (span.name, k, span.attributes)
        assert not (LEGACY_KEYS & set(span.attributes)), (span.name, LEGACY_KEYS & set(span.attributes))
    # normalised spans are priced and fill the dashboards' labels
    oll = next(x for x in spans_of(sink, svc) if x.name == "openllmetry")
    assert oll.attributes["genai_o11y.cost.usd"] == cost.expected_cost(spec, "gpt-4o-mini", {"input": 400, "output": 40, "cached_input": 100})
    smp = wait_for(lambda: (lambda s: s if metric_value(s, "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="rerank") == 1 else None)(col.samples()), what="span metrics")
    assert metric_value(smp, "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="model_call", gen_ai_provider_name="anthropic") == 1
    assert metric_value(smp, "genai_o11y_tokens_output_total", service_name=svc, gen_ai_request_model="claude-sonnet-4-5") == 90


# --- span metrics ------------------------------------------------------------------------------------------

def test_stage_latency_histograms_and_labels(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    for _ in range(3):
        s.trace(
            root_attrs={"genai_o11y.route": "faq"},
            children=[
                {"attrs": {"genai_o11y.stage": "retrieval", "genai_o11y.route": "faq"}, "ms": 300},
                model_span("gpt-4o-2024-08-06", 100, 10, **{"genai_o11y.route": "faq", "genai_o11y.prompt.template": "answer", "genai_o11y.prompt.version": "v7"}),
                {"attrs": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_kb"}, "ms": 20},
                {"attrs": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order", "error.type": "TimeoutError"}, "ms": 2000, "error": True},
                {"attrs": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "rm_rf", "genai_o11y.route": "made-up-route"}, "ms": 5},
                {"name": "http GET", "attrs": {"http.request.method": "GET"}},  # not a GenAI span: no metrics
            ],
            root_ms=2500,
        )
    s.flush()

    def ready():
        smp = col.samples()
        return smp if metric_value(smp, "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="request") == 3 and metric_value(smp, "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="tool_call") == 9 else None

    smp = wait_for(ready, what="span metrics")
    b = "genai_o11y_span_duration_milliseconds_bucket"
    assert metric_value(smp, b, service_name=svc, genai_o11y_stage="retrieval", le="250") == 0
    assert metric_value(smp, b, service_name=svc, genai_o11y_stage="retrieval", le="500") == 3
    assert metric_value(smp, "genai_o11y_span_duration_milliseconds_sum", service_name=svc, genai_o11y_stage="retrieval") == pytest.approx(900, abs=1)
    assert metric_value(smp, b, service_name=svc, genai_o11y_stage="request", le="2000") == 0
    assert metric_value(smp, b, service_name=svc, genai_o11y_stage="request", le="4000") == 3
    # model label is canonical in metrics; the trace keeps what the app sent
    assert metric_value(smp, "genai_o11y_span_calls_total", service_name=svc, gen_ai_request_model="gpt-4o", genai_o11y_prompt_version="v7", genai_o11y_route="faq") == 3
    # tool outcomes
    calls = "genai_o11y_span_calls_total"
    assert metric_value(smp, calls, service_name=svc, gen_ai_tool_name="search_kb", genai_o11y_tool_outcome="ok", status_code="STATUS_CODE_UNSET") == 3
    assert metric_value(smp, calls, service_name=svc, gen_ai_tool_name="lookup_order", genai_o11y_tool_outcome="timeout", status_code="STATUS_CODE_ERROR", error_type="TimeoutError") == 3
    # unknown tool and route fold into _other (bounded labels)
    assert metric_value(smp, calls, service_name=svc, gen_ai_tool_name="_other", genai_o11y_route="_other") == 3
    assert not [x for x in smp if x.labels.get("gen_ai_tool_name") == "rm_rf"]
    # non-GenAI spans make no metrics
    assert metric_value(smp, calls, service_name=svc) == 3 * 6
    # labels that would churn series are not there
    for x in smp:
        if x.labels.get("service_name") == svc:
            assert not {"collector_instance_id", "instance", "otel_scope_name", "span_name"} & set(x.labels), x.labels


def test_quality_signals_become_metrics(stack):
    """Eval scores, failure categories, cache lookups, retrieval results, truncations and answers
    without a required tool (from the spec's required_for_routes) become the metrics the alerts use."""
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    tpl = {"genai_o11y.prompt.template": "answer", "genai_o11y.prompt.version": "v7"}
    # troubleshooting requires search_kb: called (string form), called (list form), not called, other tool only
    for called in ("search_kb,create_ticket", ["create_ticket", "search_kb"], None, ["lookup_order"]):
        root = {"genai_o11y.route": "troubleshooting"} | ({"genai_o11y.tools.called": called} if called is not None else {})
        s.trace(root_attrs=root, children=[{"attrs": {"genai_o11y.stage": "prompt_assembly", "genai_o11y.prompt.truncated": called is None, **tpl}}])
    # a request that failed gave no answer, so none without its tool (a trial: 429s read as "answered from memory"):
    # an error status, a failure category (rate limited); a tool's failure category still answered
    s.trace(root_attrs={"genai_o11y.route": "troubleshooting"}, root_error=True)
    s.trace(root_attrs={"genai_o11y.route": "troubleshooting", "genai_o11y.failure.category": "rate_limited"})
    s.trace(root_attrs={"genai_o11y.route": "troubleshooting", "genai_o11y.failure.category": "tool_failure"})
    # billing requires lookup_order: called; faq requires nothing
    s.trace(root_attrs={"genai_o11y.route": "billing", "genai_o11y.tools.called": "lookup_order"})
    s.trace(root_attrs={"genai_o11y.route": "faq"})
    for results, hit in ((0, False), (0, False), (4, True), (12, False)):
        s.trace(children=[{"attrs": {"genai_o11y.stage": "retrieval", "genai_o11y.retrieval.results": results, "genai_o11y.cache.hit": hit}}])
    for score in (0.9, 0.6, 0.75):
        s.trace(children=[{"attrs": {"genai_o11y.stage": "evaluation", "gen_ai.evaluation.name": "faithfulness", "gen_ai.evaluation.score.value": score, **tpl}}])
    for cat in ("guardrail_block", "guardrail_block", "parse_error", "cosmic_rays"):
        s.trace(children=[{"attrs": {"genai_o11y.stage": "moderation", "genai_o11y.failure.category": cat}}])
    s.flush()

    def ready():
        smp = col.samples()
        return smp if metric_value(smp, "genai_o11y_failures_total", service_name=svc) == 6 and metric_value(smp, "genai_o11y_evaluation_score_count", service_name=svc) == 3 else None

    smp = wait_for(ready, what="quality metrics")
    missing = "genai_o11y_answers_missing_required_tool_total"
    assert metric_value(smp, missing, service_name=svc, genai_o11y_route="troubleshooting", genai_o11y_tool_required_missing="search_kb") == 3
    assert metric_value(smp, missing, service_name=svc) == 3  # billing called its tool, faq requires none, two failed
    assert metric_value(smp, "genai_o11y_prompt_truncations_total", service_name=svc, genai_o11y_prompt_version="v7") == 1
    assert metric_value(smp, "genai_o11y_retrieval_results_bucket", service_name=svc, le="0") == 2
    assert metric_value(smp, "genai_o11y_retrieval_results_bucket", service_name=svc, le="5") == 3
    assert metric_value(smp, "genai_o11y_retrieval_results_count", service_name=svc) == 4
    assert metric_value(smp, "genai_o11y_retrieval_results_sum", service_name=svc) == 16
    assert metric_value(smp, "genai_o11y_cache_lookups_total", service_name=svc, genai_o11y_cache_hit="true") == 1
    assert metric_value(smp, "genai_o11y_cache_lookups_total", service_name=svc, genai_o11y_cache_hit="false") == 3
    assert metric_value(smp, "genai_o11y_evaluation_score_sum", service_name=svc, gen_ai_evaluation_name="faithfulness") == pytest.approx(2.25)
    assert metric_value(smp, "genai_o11y_evaluation_score_bucket", service_name=svc, le="0.7") == 1
    failures = "genai_o11y_failures_total"
    assert metric_value(smp, failures, service_name=svc, genai_o11y_failure_category="guardrail_block", genai_o11y_stage="moderation") == 2
    assert metric_value(smp, failures, service_name=svc, genai_o11y_failure_category="parse_error") == 1
    assert metric_value(smp, failures, service_name=svc, genai_o11y_failure_category="_other") == 1  # unknown categories fold
    # the trace keeps what the app sent
    assert {sp.attributes.get("genai_o11y.failure.category") for sp in spans_of(sink, svc) if "genai_o11y.failure.category" in sp.attributes} <= {
        "guardrail_block", "parse_error", "cosmic_rays"}
    # the family markers that let signal_to_metrics skip spans never reach an exported series
    marked = {k for smp_ in col.samples() for k in smp_.labels if k.startswith("genai_o11y_s2m")}
    assert not marked, f"marker labels exported: {marked}"
    assert {k for smp_ in smp if smp_.name.startswith("genai_o11y_retrieval_results") for k in smp_.labels} >= {"service_name", "genai_o11y_route"}


def test_exemplars_link_latency_to_traces(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    tid = s.trace(children=[{"attrs": {"genai_o11y.stage": "retrieval"}, "ms": 700}], root_error=True)
    s.flush()
    import urllib.request

    def exemplar():
        req = urllib.request.Request(col.metrics_url, headers={"Accept": "application/openmetrics-text"})
        text = urllib.request.urlopen(req, timeout=5).read().decode()
        return [line for line in text.splitlines() if svc in line and "retrieval" in line and "# {" in line]

    lines = wait_for(exemplar, what="an exemplar on the retrieval histogram")
    assert any(tid in line for line in lines), lines


# --- tail sampling -----------------------------------------------------------------------------------------

def test_tail_sampling_keeps_what_the_policy_says(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    plain = [s.trace(children=[model_span("gpt-4o-mini", 100, 10)]) for _ in range(400)]
    errors = [s.trace(children=[{"attrs": {"genai_o11y.stage": "retrieval"}, "error": True}]) for _ in range(10)]
    feedback = [s.trace(children=[model_span("gpt-4o-mini", 100, 10), {"attrs": {"genai_o11y.stage": "feedback", "genai_o11y.feedback.sentiment": "negative"}}]) for _ in range(10)]
    positive = [s.trace(children=[{"attrs": {"genai_o11y.stage": "feedback", "genai_o11y.feedback.sentiment": "positive"}}]) for _ in range(10)]
    # user actions: a regenerated answer is kept (keep_quality_proxies), a copied one is ordinary
    regenerated = [s.trace(children=[model_span("gpt-4o-mini", 100, 10), {"attrs": {"genai_o11y.stage": "user_action", "genai_o11y.quality.proxy": "regenerate"}}])
                   for _ in range(10)]
    copied = [s.trace(children=[{"attrs": {"genai_o11y.stage": "user_action", "genai_o11y.quality.proxy": "copy_answer"}}]) for _ in range(10)]
    # the same user actions as the user-action event on the answer's span
    regenerated_ev = [s.trace(children=[{**model_span("gpt-4o-mini", 100, 10), "events": [(names.USER_ACTION_EVENT, {names.QUALITY_PROXY: "regenerate"})]}])
                      for _ in range(10)]
    copied_ev = [s.trace(children=[{**model_span("gpt-4o-mini", 100, 10), "events": [(names.USER_ACTION_EVENT, {names.QUALITY_PROXY: "copy_answer"})]}])
                 for _ in range(10)]
    slow = [s.trace(children=[model_span("gpt-4o-mini", 100, 10)], root_ms=3500) for _ in range(10)]
    expensive = [s.trace(children=[model_span("gpt-4o", 1000, 6000)]) for _ in range(10)]  # 0.0625 USD
    # a span slower than its stage's latency SLO (retrieval: 800 ms) in a trace far shorter than slow_trace_ms is kept
    # (sampling.keep_slo_breaches); one just under it is ordinary
    retrieval = lambda ms: {"attrs": {"genai_o11y.stage": "retrieval"}, "ms": ms}  # noqa: E731
    slo_slow = [s.trace(children=[retrieval(900)], root_ms=950) for _ in range(10)]
    slo_fast = [s.trace(children=[retrieval(700)], root_ms=750) for _ in range(40)]
    s.flush()
    must = set(errors + feedback + slow + expensive + regenerated + regenerated_ev + slo_slow)
    wait_for(lambda: must <= {x.trace_id for x in spans_of(sink, svc)}, timeout=30, what="every must-keep trace")
    time.sleep(spec.gateway.decision_wait_seconds + 2)
    kept = {x.trace_id for x in spans_of(sink, svc)}
    n_plain = len(set(plain) & kept) + len(set(positive) & kept) + len(set(copied) & kept) + len(set(copied_ev) & kept) + len(set(slo_fast) & kept)
    n = len(plain) + len(positive) + len(copied) + len(copied_ev) + len(slo_fast)
    p = spec.sampling.baseline_percent / 100
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    assert abs(n_plain - mean) <= 4 * sd, f"kept {n_plain} of {n} ordinary traces, expected {mean:.0f} ± {4 * sd:.0f}"
    # kept traces are whole
    for tid in must:
        assert len([x for x in spans_of(sink, svc) if x.trace_id == tid]) >= 2
    # metrics are taken before sampling: every request counted
    total = (len(plain) + len(errors) + len(feedback) + len(positive) + len(slow) + len(expensive) + len(regenerated) + len(copied)
             + len(regenerated_ev) + len(copied_ev) + len(slo_slow) + len(slo_fast))
    wait_for(lambda: metric_value(col.samples(), "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="request") == total, what="all requests in metrics")
    smp = col.samples()
    assert metric_value(smp, "genai_o11y_feedback_total", service_name=svc, genai_o11y_feedback_sentiment="negative") == 10
    assert metric_value(smp, "genai_o11y_feedback_total", service_name=svc, genai_o11y_feedback_sentiment="positive") == 10
    for proxy in ("regenerate", "copy_answer"):  # 10 user_action spans, 10 events
        assert metric_value(smp, "genai_o11y_quality_proxies_total", service_name=svc, genai_o11y_quality_proxy=proxy) == 20


# --- redaction is wired before fan-out --------------------------------------------------------------------

def test_redaction_stage_masks_content_before_export(stack):
    spec, sink, col = stack
    svc = new_service()
    s = Sender(col.otlp_grpc, svc)
    secret = {"gen_ai.input.messages": "I am jane.roe@example.org, card 4111-1111-1111-1111, key sk-proj-abcdefghijklmnopqrstuvwxyz123456"}
    tid = s.trace(children=[model_span("gpt-4o", 10, 10, **secret)], root_error=True)
    s.flush()
    span = wait_for(lambda: [x for x in spans_of(sink, svc) if x.trace_id == tid and x.attributes.get("genai_o11y.stage") == "model_call"], what="span")[0]
    text = span.attributes["gen_ai.input.messages"]
    assert "jane.roe" not in text and "4111" not in text and "sk-proj" not in text
    assert "<EMAIL>" in text and "<CARD>" in text and "<API_KEY>" in text
    assert span.attributes["gen_ai.request.model"] == "gpt-4o" and span.attributes["gen_ai.usage.input_tokens"] == 10
    assert "jane.roe" not in col.metrics_text()


# --- own telemetry -------------------------------------------------------------------------------------------

def test_collector_watches_itself(stack):
    spec, sink, col = stack
    smp = col.samples(col.telemetry_url)
    names = {x.name for x in smp}
    assert any(n.startswith("otelcol_receiver_accepted_spans") for n in names), sorted(names)[:20]
    assert any(n.startswith("otelcol_exporter_sent_spans") for n in names)
    assert any(n.startswith("otelcol_exporter_queue_size") for n in names)
    import urllib.request

    assert urllib.request.urlopen(col.health_url, timeout=5).status == 200


def test_logs_are_accepted_dropped_and_counted_never_forwarded(stack):
    """An app exporting OTLP logs (GenAI events; instrumentations with content capture on send the prompt as a
    log record) gets no error from the sidecar, and with logs.export: drop (the default) no log content leaves it
    (with otlp they leave redacted: test_redaction_coverage.py)."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    spec, sink, col = stack
    mem = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(mem))
    for i in range(7):
        lp.get_logger("app").emit(LogRecord(body=f"user said: mail me at jane.doe{i}@example.com",
                                            attributes={"event.name": "gen_ai.user.message", "gen_ai.system": "openai"}))
    exporter = OTLPLogExporter(endpoint=f"http://{col.otlp_grpc}", insecure=True)
    assert exporter.export(mem.get_finished_logs()).name == "SUCCESS"
    exporter.shutdown()
    wait_for(lambda: metric_value(col.samples(col.telemetry_url), "otelcol_processor_filter_logs_filtered_total", filter=collector_builder.LOGS_DROP) >= 7,
             timeout=30, what="the dropped logs counted")
    exported = {x.name: x.value for x in col.samples(col.telemetry_url) if x.name.startswith("otelcol_exporter_sent_log_records")}
    assert not any(exported.values()), exported
    assert all("jane.doe" not in str(s.attributes) for s in sink.spans())


def test_spans_without_ids_are_dropped_and_counted_not_sent_on(stack):
    """OTLP/HTTP JSON takes "" for an id and the receiver answers 200. Each combination of an empty or a
    valid trace id and span id: only the span with both reaches Tempo and the span metrics; the others
    are dropped in traces/ingest and counted (they used to be sampled as one trace of id 0 and exported)."""
    import itertools
    import json
    import urllib.request

    spec, sink, col = stack
    svc, now = new_service(), time.time_ns()
    combos = list(itertools.product(["", uuid.uuid4().hex], ["", uuid.uuid4().hex[:16]]))
    spans = [{"traceId": t, "spanId": s, "name": f"ids {bool(t)} {bool(s)}", "kind": 1, "startTimeUnixNano": str(now),
              "endTimeUnixNano": str(now + MS), "status": {"code": 2},  # an error: the sampling keeps what it sees
              "attributes": [{"key": names.STAGE, "value": {"stringValue": "request"}}]} for t, s in combos]
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                               "scopeSpans": [{"spans": spans}]}]}
    filtered = lambda: metric_value(col.samples(col.telemetry_url), "otelcol_processor_filter_spans_filtered_total",  # noqa: E731
                                    filter=collector_builder.INVALID_IDS)
    before = filtered()
    before = 0 if before != before else before  # NaN: nothing filtered yet
    req = urllib.request.Request(f"http://{col.otlp_http}/v1/traces", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    wait_for(lambda: [x for x in sink.spans() if x.resource.get("service.name") == svc], timeout=30, what="the valid span at Tempo")
    wait_for(lambda: filtered() - before == 3, timeout=30, what="3 spans without ids counted")
    wait_for(lambda: metric_value(col.samples(), "genai_o11y_span_calls_total", service_name=svc, genai_o11y_stage="request") == 1, what="span metrics")
    arrived = [x for x in sink.spans() if x.resource.get("service.name") == svc]
    assert [x.name for x in arrived] == ["ids True True"], [x.name for x in arrived]


# --- policies that need their own collector ----------------------------------------------------------------

@pytest.mark.parametrize("engine", ["native", "ottl"])
def test_cardinality_budget_folds_overflow_and_keeps_totals(otelcol, tmp_path, engine):
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, "cardinality.max_series_per_metric": 20, "cardinality.max_tenants": 3,
                                          "collector.engine": engine, **BASE}, tmp_path))
        with run_collector(otelcol, spec, tmp_path) as col:
            s = Sender(col.otlp_grpc, "budget-bot")
            for i in range(60):
                s.trace(root_attrs={"genai_o11y.tenant": f"tenant-{i % 12}"},
                        children=[model_span("gpt-4o-mini", 100, 10, **{"genai_o11y.prompt.version": f"v{i}", "genai_o11y.tenant": f"tenant-{i % 12}"})])
            s.flush()
            want_cost = 60 * cost.expected_cost(spec, "gpt-4o-mini", {"input": 100, "output": 10})

            def settled():
                smp = col.samples()
                return smp if metric_value(smp, "genai_o11y_span_calls_total") == 120 else None

            # Nothing dropped: the total over all series (overflow included) is every span sent.
            smp = wait_for(settled, timeout=30, what="all 120 spans counted")
            calls = [x for x in smp if x.name == "genai_o11y_span_calls_total"]
            assert len(calls) == 20 + 1, len(calls)  # the budget, plus the one overflow series
            # The overflow series folds every label (OTel cardinality-limit semantics) but the job.
            overflow = [x for x in calls if x.labels.get("otel_metric_overflow") == "true"]
            assert len(overflow) == 1 and overflow[0].value > 0 and overflow[0].labels == {"job": "budget-bot", "otel_metric_overflow": "true"}
            # the cost counters keep the exact total (prompt versions there are not budget-limited)
            assert math.isclose(metric_value(smp, "genai_o11y_cost_usd_total"), want_cost, rel_tol=1e-12)
            # each tenant metric tracks at most max_tenants tenants (12 were sent: exactly at the budget)
            for name in ("genai_o11y_tenant_cost_usd_total", "genai_o11y_tenant_requests_total"):
                tenants = {x.labels["genai_o11y_tenant"] for x in smp if x.name == name}
                assert len(tenants) == 3, (name, tenants)
            # the data points of the other 9 tenants are counted as dropped, where GenAITenantBudgetExhausted reads them
            counter, matcher = names.BUDGET_DROPS[engine]
            key, value = matcher.split("=")
            tele = col.samples(col.telemetry_url)
            dropped = sum(x.value for x in tele if x.name.removesuffix("_total") == counter and x.labels.get(key) == value.strip('"'))
            # 60 requests of 12 tenants, 9 of them untracked: 45 request spans and 45 priced model calls. genai_usage counts
            # each; delta_to_cumulative counts signal_to_metrics's data points (one per tenant and batch)
            assert dropped == 90 if engine == "native" else 0 < dropped <= 90, dropped


def test_backend_outage_and_restart_lose_nothing(otelcol, tmp_path):
    """Tempo down: spans wait in the on-disk queue, survive a collector restart, arrive when it is back."""
    port = free_port()
    overrides = collector_ports({"backends.tempo.endpoint": f"127.0.0.1:{port}", **BASE}, tmp_path)
    spec = make_spec(overrides)
    svc = new_service()
    with run_collector(otelcol, spec, tmp_path) as col:
        s = Sender(col.otlp_grpc, svc)
        tids = {s.trace(children=[{"attrs": {"genai_o11y.stage": "retrieval"}}], root_error=True) for _ in range(20)}
        s.flush()
        wait_for(
            lambda: metric_value(col.samples(col.telemetry_url), "otelcol_exporter_queue_size", exporter="otlp_grpc/tempo") >= 1,
            timeout=20, what="spans waiting in the exporter queue",
        )
    # restart with the backend back: the queue on disk is replayed
    with OtlpSink(port) as sink, run_collector(otelcol, spec, tmp_path):
        wait_for(lambda: tids <= {x.trace_id for x in spans_of(sink, svc)}, timeout=60, what="queued traces delivered after restart")


def test_sigkill_while_queueing_loses_nothing_acknowledged(otelcol, tmp_path):
    """The gateway tier down: the sidecar queues spans on disk (genai_queue_storage) while more arrive, and
    is killed with SIGKILL mid-stream: no shutdown, a frame perhaps half written, consumers holding items.
    Restarted with the gateway up, it delivers every span it acknowledged (the page cache survives the
    process). The batch processor is taken out of traces/ingest here: it acknowledges spans it then holds
    in memory for up to its timeout before they reach the queue, and a kill loses those whatever the queue."""
    gw = free_port()
    spec = make_spec(collector_ports({"gateway.enabled": True, "gateway.static_endpoints": [f"127.0.0.1:{gw}"], **BASE}, tmp_path))
    cfg = collector_builder.build(spec)
    cfg["service"]["pipelines"]["traces/ingest"]["processors"].remove("batch")
    cfg["exporters"][names.GATEWAY_EXPORTER]["protocol"]["otlp"]["compression"] = "none"  # the sink (Python gRPC) has no snappy
    svc = new_service()
    acked: set[str] = set()
    rng = random.Random(5)

    def request(n: int) -> tuple[ExportTraceServiceRequest, list[str]]:
        spans = [span_pb(rng.getrandbits(128) | 1 << 127, "POST /ask", {"genai_o11y.stage": "retrieval", "pad": "x" * 400}) for _ in range(n)]
        res = Resource(attributes=[kv("service.name", svc)])
        return (ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=res, scope_spans=[ScopeSpans(spans=spans)])]),
                [s.trace_id.hex() for s in spans])

    with run_collector(otelcol, spec, tmp_path, config=cfg) as col:
        killer = threading.Timer(3.0, col.proc.kill)  # SIGKILL, while the loop below is sending
        with grpc.insecure_channel(col.otlp_grpc) as ch:
            stub = TraceServiceStub(ch)
            killer.start()
            sent = 0
            while True:
                req, tids = request(20)
                try:
                    stub.Export(req, timeout=5)
                except grpc.RpcError:
                    break  # the collector is gone: this request is not acknowledged
                acked.update(tids)
                sent += 1
        killer.join()
        assert col.proc.wait(timeout=10) == -signal.SIGKILL
        assert sent > 20, f"only {sent} requests acknowledged before the kill"
    (tmp_path / "otelcol.log").rename(tmp_path / "otelcol-killed.log")
    with OtlpSink(gw) as sink, run_collector(otelcol, spec, tmp_path, config=cfg):
        wait_for(lambda: acked <= {x.trace_id for x in spans_of(sink, svc)}, timeout=90,
                 what=f"the {len(acked)} acknowledged spans delivered after the SIGKILL")

