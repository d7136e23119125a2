"""The demo app: every stage instrumented through the helper, and each scenario switch produces the
signal its alert and dashboard look for (in memory, no sleeping: time_scale=0)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import harness
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_o11y import names as n
from genai_o11y.demo import scenarios
from genai_o11y.demo.app import SupportCopilot
from genai_o11y.errors import UserError
from genai_o11y.instrument.core import EnrichingSpanProcessor, Observability


def run(scenario: str, requests: int = 200):
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(EnrichingSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    app = SupportCopilot(Observability(tp), scenarios.get(scenario), seed=3, time_scale=0)
    results = [app.ask() for _ in range(requests)]
    return results, exporter.get_finished_spans()


def stage(spans, name):
    return [s for s in spans if s.attributes.get(n.STAGE) == name]


@pytest.fixture(scope="module")
def healthy():
    return run("healthy")


def test_healthy_traffic_covers_every_stage_route_and_signal(healthy):
    results, spans = healthy
    assert all(r.ok for r in results)
    assert {s.attributes.get(n.STAGE) for s in spans} >= {"request", "feedback", "evaluation", *n.STAGE_CATALOG}
    assert {r.route for r in results} == {"faq", "troubleshooting", "billing", "escalation"}
    models = {s.attributes[n.REQUEST_MODEL] for s in stage(spans, "model_call")}
    assert models == {"gpt-4o", "gpt-4o-mini"}
    assert {s.attributes[n.PROMPT_VERSION] for s in stage(spans, "model_call")} == {"v7"}
    assert len({s.attributes[n.TENANT] for s in stage(spans, "request")}) >= 5
    zero = [s for s in stage(spans, "retrieval") if s.attributes[n.RETRIEVAL_RESULTS] == 0]
    assert len(zero) / len(stage(spans, "retrieval")) < 0.05


def test_prompt_drift_ships_v8_with_shorter_answers_and_worse_feedback(healthy):
    _, base = healthy
    _, spans = run("prompt_drift")
    assert {s.attributes[n.PROMPT_VERSION] for s in stage(spans, "model_call")} == {"v8"}
    out = lambda ss: sum(s.attributes[n.OUTPUT_TOKENS] for s in stage(ss, "model_call")) / len(stage(ss, "model_call"))  # noqa: E731
    assert out(spans) < 0.6 * out(base)
    neg = lambda ss: sum(s.attributes[n.FEEDBACK_SENTIMENT] == "negative" for s in stage(ss, "feedback")) / len(stage(ss, "feedback"))  # noqa: E731
    assert neg(spans) > neg(base) + 0.15


def test_retrieval_drift_lowers_scores_and_returns_nothing_often(healthy):
    _, base = healthy
    _, spans = run("retrieval_drift")
    r = stage(spans, "retrieval")
    assert sum(s.attributes[n.RETRIEVAL_RESULTS] == 0 for s in r) / len(r) > 0.3
    assert {s.attributes[n.INDEX_VERSION] for s in r} == {"idx-2026-11-23-rebuilt"}
    scores = lambda ss: [s.attributes[n.RETRIEVAL_TOP_SCORE] for s in stage(ss, "retrieval") if n.RETRIEVAL_TOP_SCORE in s.attributes]  # noqa: E731
    assert max(scores(spans)) < min(scores(base))


def test_tool_skipping_answers_billing_without_lookup_order():
    results, spans = run("tool_skipping")
    billing = [s for s in stage(spans, "request") if s.attributes.get(n.ROUTE) == "billing"]
    assert billing and all("lookup_order" not in s.attributes[n.TOOLS_CALLED] for s in billing)
    assert all(s.attributes[n.TOOL_NAME] == "create_ticket" for s in stage(spans, "tool_call"))


def test_cost_spike_routes_everything_to_the_expensive_model(healthy):
    _, base = healthy
    _, spans = run("cost_spike")
    assert {s.attributes[n.REQUEST_MODEL] for s in stage(spans, "model_call")} == {"claude-sonnet-4-5"}
    assert any(s.attributes[n.PROMPT_TRUNCATED] is False for s in stage(spans, "prompt_assembly"))
    inp = lambda ss: sum(s.attributes[n.INPUT_TOKENS] for s in stage(ss, "model_call"))  # noqa: E731
    assert inp(spans) > inp(base)


def test_error_burst_fails_most_model_calls():
    results, spans = run("error_burst")
    failed = [s for s in stage(spans, "model_call") if s.status.status_code.name == "ERROR"]
    assert 0.45 < len(failed) / len(stage(spans, "model_call")) < 0.75
    assert {s.attributes[n.ERROR_TYPE] for s in failed} == {"RateLimitError"}
    assert sum(not r.ok for r in results) == len(failed)


def test_unexpected_prompt_version_serves_an_experiment():
    _, spans = run("unexpected_prompt_version", 20)
    assert {s.attributes[n.PROMPT_VERSION] for s in stage(spans, "model_call")} == {"v9-experimental"}


def test_slow_tool_makes_tools_slow_for_real():
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    app = SupportCopilot(Observability(tp), scenarios.get("slow_tool"), seed=3, time_scale=0.01)  # 3.5 s -> 35 ms
    for _ in range(12):
        app.ask(route_hint="billing")
    tools = stage(exporter.get_finished_spans(), "tool_call")
    assert tools and min((s.end_time - s.start_time) / 1e6 for s in tools) >= 35


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(UserError, match="known: healthy, prompt_drift"):
        scenarios.get("meteor_strike")


def test_users_act_on_answers_with_every_proxy_the_spec_lists_and_regenerate_storm_raises_retries(healthy):
    """Healthy traffic carries every quality proxy of the default spec (user_action spans of the answer's trace);
    regenerate_storm multiplies regenerations per request (the GenAIQualityProxyRise it sets off needs the days
    before, like cost_spike); copies per request stay (the proxies that fall with bad answers do not move)."""
    from genai_o11y.spec import load

    _, base = healthy
    _, storm = run("regenerate_storm")
    kinds = [p.name for p in load().evals.proxies]
    assert {s.attributes[n.QUALITY_PROXY] for s in stage(base, n.USER_ACTION)} == set(kinds)
    requests = {format(s.context.trace_id, "032x") for s in stage(base, "request")}
    assert {format(s.context.trace_id, "032x") for s in stage(base, n.USER_ACTION)} <= requests

    def per_request(spans, kind):
        return sum(s.attributes[n.QUALITY_PROXY] == kind for s in stage(spans, n.USER_ACTION)) / len(stage(spans, "request"))

    assert per_request(storm, "regenerate") > 3 * per_request(base, "regenerate")
    assert per_request(storm, "rephrase") > 2 * per_request(base, "rephrase")
    assert 0.5 < per_request(storm, "copy_answer") / per_request(base, "copy_answer") < 1.5
    exp = scenarios.EXPECTED["regenerate_storm"]
    assert exp.alert == "GenAIQualityProxyRise" and not exp.pages and exp.local


def test_every_scenario_expectation_names_an_alert_the_default_spec_generates():
    from genai_o11y.builders import rules
    from genai_o11y.spec import load

    alerts = {r["alert"]: r for g in rules.build(load())["groups"] for r in g["rules"] if "alert" in r}
    assert set(scenarios.EXPECTED) < set(scenarios.SCENARIOS)
    for name, exp in scenarios.EXPECTED.items():
        assert exp.alert in alerts, name
        assert (alerts[exp.alert]["labels"]["severity"] == "critical") == exp.pages, name


# --- `genai-o11y demo`: its exit code says whether the traffic reached the sidecar ------------------------

CLI = [sys.executable, "-m", "genai_o11y"]
DEMO = ["demo", "--requests", "5", "--rps", "50", "--time-scale", "0"]


def _demo(endpoint: str) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + DEMO + ["--endpoint", endpoint], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GENAI_O11Y_HASH_SALT": harness.TEST_SALT})


def test_demo_without_a_sidecar_exits_1_with_one_line_naming_the_endpoint():
    endpoint = f"127.0.0.1:{harness.free_port()}"  # nothing listens there
    r = _demo(endpoint)
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [x for x in r.stderr.splitlines() if x.startswith("demo: error:")]
    assert len(errors) == 1 and endpoint in errors[0] and "not delivered" in errors[0] and "failed to export" in errors[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.collector
def test_demo_into_the_real_collector_delivers_every_span_and_exits_0(otelcol, tmp_path):
    spec = harness.make_spec(harness.collector_ports({}, tmp_path))
    with harness.run_collector(otelcol, spec, tmp_path) as col:
        r = _demo(col.otlp_grpc)
        accepted = harness.metric_value(col.samples(col.telemetry_url), "otelcol_receiver_accepted_spans_total")
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(x for x in r.stdout.splitlines() if "spans delivered" in x)
    delivered, ended = (int(v) for v in re.search(r"(\d+) of (\d+) spans delivered", line).groups())
    assert delivered == ended > 0 and accepted >= delivered, (line, accepted)


class _Exporter(SpanExporter):
    """Fails every export, or blocks until released."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.release = fail, threading.Event()

    def export(self, spans):
        if self.fail:
            return SpanExportResult.FAILURE
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        self.release.set()


@pytest.mark.parametrize("fate", ["export_failed", "queue_full", "queued"])
def test_every_way_a_span_is_not_delivered_is_named(fate):
    from genai_o11y.demo.run import undelivered_reason
    from genai_o11y.instrument import NonBlockingSpanProcessor

    exporter = _Exporter(fail=fate == "export_failed")
    processor = NonBlockingSpanProcessor(exporter, max_queue=1 if fate == "queue_full" else 64, batch_size=1, interval_s=0.01)
    tp = TracerProvider()
    tp.add_span_processor(processor)
    obs = Observability(tp, processor)
    for _ in range(3):
        tp.get_tracer("t").start_span("s").end()
    if fate == "export_failed":
        processor.force_flush(5_000)
    reason = undelivered_reason(obs, "sidecar:4317", 3)
    exporter.release.set()
    expect = {"export_failed": "failed to export", "queue_full": "dropped on a full queue", "queued": "still queued at stop"}[fate]
    assert reason is not None and reason.startswith(f"{3 - processor.exported} of 3 spans") and expect in reason, reason
    processor.shutdown()


# --- the request span carries the answer's model and prompt version, through the real collector -----------

def _answer_of_each_request(spans) -> dict[int, tuple[str, str]]:
    """trace id -> (model, prompt version) of the last model call that ended in the request (the oracle,
    from the model_call spans themselves)."""
    last: dict[int, tuple[int, str, str]] = {}
    for s in stage(spans, "model_call"):
        tid = s.context.trace_id
        if tid not in last or s.end_time >= last[tid][0]:
            last[tid] = (s.end_time, s.attributes[n.REQUEST_MODEL], s.attributes[n.PROMPT_VERSION])
    return {tid: (m, v) for tid, (_t, m, v) in last.items()}


@pytest.mark.collector
def test_request_and_missing_tool_series_carry_the_answers_model_and_prompt_version(otelcol, tmp_path, monkeypatch):
    from collections import Counter

    from genai_o11y import instrument

    monkeypatch.setenv("GENAI_O11Y_HASH_SALT", "salt-1")
    svc = "demo-request-labels"
    spec = harness.make_spec(harness.collector_ports({}, tmp_path))
    mem = InMemorySpanExporter()
    with harness.run_collector(otelcol, spec, tmp_path) as col:
        obs = instrument.setup(svc, endpoint=col.otlp_grpc, set_global=False)
        obs.provider.add_span_processor(SimpleSpanProcessor(mem))
        for scenario in ("healthy", "cost_spike", "prompt_drift", "tool_skipping"):
            app = SupportCopilot(obs, scenarios.get(scenario), seed=5, time_scale=0)
            for _ in range(40):
                app.ask()
        assert obs.processor.force_flush(10_000)
        spans = mem.get_finished_spans()
        requests = stage(spans, "request")
        answer = _answer_of_each_request(spans)
        want = Counter(answer[s.context.trace_id] for s in requests)
        required = [(t.name, set(t.required_for_routes)) for t in spec.pipeline.tools if t.required_for_routes]
        skipped = [s for s in requests if any(s.attributes.get(n.ROUTE) in routes and tool not in s.attributes[n.TOOLS_CALLED].split(",")
                                              for tool, routes in required)]
        want_missing = Counter(answer[s.context.trace_id] for s in skipped)
        calls, missing = "genai_o11y_span_calls_total", "genai_o11y_answers_missing_required_tool_total"
        smp = harness.wait_for(lambda: (lambda smp: smp if harness.metric_value(smp, calls, service_name=svc, genai_o11y_stage="request") == len(requests)
                                        else None)(col.samples()), what="every request in the span metrics")
        obs.provider.shutdown()
    # every request had a model call, the demo's models and both prompt versions are there, and some billing answers skipped the tool
    assert len(answer) == len(requests) == 160 and len({m for m, _ in want}) >= 2 and len({v for _, v in want}) >= 2 and skipped
    model, version = "gen_ai_request_model", "genai_o11y_prompt_version"
    got = Counter()
    for s in smp:
        if s.name == calls and s.labels.get("service_name") == svc and s.labels.get("genai_o11y_stage") == "request":
            got[(s.labels.get(model), s.labels.get(version))] += int(s.value)
    assert got == want
    got_missing = Counter()
    for s in smp:
        if s.name == missing and s.labels.get("service_name") == svc:
            got_missing[(s.labels.get(model), s.labels.get(version))] += int(s.value)
    assert got_missing == want_missing and n.NONE_VALUE not in {x for pair in got_missing for x in pair}
