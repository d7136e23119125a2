"""Production traces -> eval cases: the sidecar's eval-dataset pipeline (tail sampling for eval-worthy
traces, after redaction, into the file exporter) and `genai-o11y dataset build`.

The end-to-end test sends the demo's real spans through the real collector with `evals.dataset` on,
builds cases from the file it wrote, and requires exactly the eval-worthy traces (computed from what was
sent) with no PII left; then it replays the frozen cases through the demo, healthy and drifted, and the
release gate passes the first and fails the second."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from harness import collector_ports, demo_spans, make_spec, run_collector, spec_dict, write_otlp_json

from genai_o11y import dataset, names as n
from genai_o11y.builders import collector as collector_builder
from genai_o11y.builders import sampling
from genai_o11y.demo.app import QUESTIONS
from genai_o11y.errors import UserError
from genai_o11y.spec import load

CLI = [sys.executable, "-m", "genai_o11y"]
FLOORS = {e.name: (e.direction, e.floor) for e in load().evals.evaluators if e.floor is not None}  # what the default spec's sidecar keeps
EVALUATORS = load().evals.evaluators  # their floors and pass labels: dataset build's low_score
ACTIONS = {p.name for p in load().evals.proxies if p.worse_when == "rise"}  # user actions that keep a trace (regenerate, escalate, ...)
GOLDEN = Path(__file__).parent / "dataset"
ALL_QUESTIONS = {q for qs in QUESTIONS.values() for q in qs}


def _expected(spans) -> dict[str, set[str]]:
    """From the spans sent: which traces are eval-worthy, and why (the oracle, independent of the builder)."""
    why: dict[str, set[str]] = {}
    for s in spans:
        tid = format(s.context.trace_id, "032x")
        a = s.attributes
        if s.status.status_code.name == "ERROR" and a.get(n.STAGE) not in ("feedback", "evaluation"):
            why.setdefault(tid, set()).add("error")
        if a.get(n.FEEDBACK_SENTIMENT) == "negative":
            why.setdefault(tid, set()).add("negative_feedback")
        for ev in [a] + [e.attributes for e in s.events if e.name == n.EVAL_EVENT]:  # eval spans, and eval events on a span
            if ev.get(n.EVAL_NAME) in FLOORS and ev.get(n.EVAL_SCORE) is not None:
                direction, floor = FLOORS[ev[n.EVAL_NAME]]
                if (ev[n.EVAL_SCORE] < floor) if direction == "higher" else (ev[n.EVAL_SCORE] > floor):
                    why.setdefault(tid, set()).add("low_score")
            passing = {e.name: {x.lower() for x in e.pass_labels} for e in EVALUATORS}
            if ev.get(n.EVAL_NAME) in passing and isinstance(ev.get(n.EVAL_LABEL), str) and ev[n.EVAL_LABEL].lower() not in passing[ev[n.EVAL_NAME]]:
                why.setdefault(tid, set()).add("low_score")  # a pass/fail judge's failing label, no score
        if a.get(n.QUALITY_PROXY) in ACTIONS:
            why.setdefault(tid, set()).add("user_action")
    return why


def _event_scored_calls(scores: dict[str, float | str], count: int) -> list:
    """Model calls alone (the trace's root), scored by the semantic conventions' eval event on the span itself
    (a string: a label without a score)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(mem))
    for _ in range(count):
        with tp.get_tracer("t").start_as_current_span("chat gpt-4o", attributes={n.OPERATION: "chat", n.REQUEST_MODEL: "gpt-4o", n.PROVIDER: "openai"}) as sp:
            for name, score in scores.items():
                sp.add_event(n.EVAL_EVENT, {n.EVAL_NAME: name, **({n.EVAL_LABEL: score} if isinstance(score, str) else {n.EVAL_SCORE: score})})
    return list(mem.get_finished_spans())


def test_cases_from_the_demos_spans_follow_the_schema(tmp_path):
    spans = demo_spans("healthy", 30, seed=3) + demo_spans("error_burst", 20, seed=4)
    cases = dataset.build([write_otlp_json(tmp_path / "t.jsonl", spans)], EVALUATORS, tempo_url="http://tempo:3200", actions=ACTIONS, dedupe=False)
    requests = {format(s.context.trace_id, "032x") for s in spans if s.attributes.get(n.STAGE) == "request"}
    assert {c["trace_id"] for c in cases} == requests  # one case per request trace, feedback/eval spans joined to it
    for c in cases:
        jsonschema.validate(c, dataset.CASE_SCHEMA)
        assert c["trace_url"] == f"http://tempo:3200/api/traces/{c['trace_id']}"
    expected = _expected(spans)
    for c in cases:
        assert set(c["signals"]) == (expected.get(c["trace_id"]) or {"sampled"}), c
    failed = [c for c in cases if "error" in c["signals"]]
    # raw SDK spans: the category is the collector's inference (checked end to end below)
    assert failed and all(c["error"] == {"stage": "model_call", "type": "RateLimitError", "category": None} for c in failed), failed[:1]
    answered = [c for c in cases if "error" not in c["signals"]]
    assert all(c["question"] in ALL_QUESTIONS and c["answer"] for c in answered)  # the user's message, not the assembled prompt
    assert all(c["prompt"]["version"] == "v7" and c["model"]["request"] for c in answered)
    returned: dict[str, int] = {}
    for sp in spans:
        if sp.attributes.get(n.RETRIEVAL_RESULTS) is not None:
            tid = format(sp.context.trace_id, "032x")
            returned[tid] = returned.get(tid, 0) + sp.attributes[n.RETRIEVAL_RESULTS]
    assert all(len(c["retrieval"]) == returned.get(c["trace_id"], 0) for c in cases)  # every chunk the retrieval returned, with its id
    assert sum(len(c["retrieval"]) for c in cases) > len(cases) and all(r["chunk_id"].startswith("kb-") for c in cases for r in c["retrieval"])
    assert {e["evaluator"] for c in answered for e in c["evals"]} == {"faithfulness", "answer_length_ok"}
    assert any(t["name"] == "lookup_order" for c in answered if c["route"] == "billing" for t in c["tools"])
    assert all(c["cost_usd"] == 0 for c in cases)  # cost is the collector's (priced end to end below)


def test_output_is_the_same_whatever_the_file_order_split_or_duplicates(tmp_path):
    spans = demo_spans("healthy", 25, seed=5)
    one = dataset.dumps(dataset.build([write_otlp_json(tmp_path / "one.jsonl", spans)], EVALUATORS))
    shuffled = list(spans)
    random.Random(1).shuffle(shuffled)
    a = write_otlp_json(tmp_path / "a.jsonl", shuffled[: len(shuffled) // 2], per_line=7)
    b = write_otlp_json(tmp_path / "b.jsonl", shuffled[len(shuffled) // 3:], per_line=11)  # overlaps a: spans exported twice
    assert dataset.dumps(dataset.build([b, a], EVALUATORS)) == one
    assert sum(json.loads(line)["trace_count"] for line in one.splitlines()) == 25


def test_filters(tmp_path):
    spans = demo_spans("healthy", 30, seed=6) + demo_spans("error_burst", 20, seed=7)
    path = write_otlp_json(tmp_path / "t.jsonl", spans)
    every = dataset.build([path], EVALUATORS, dedupe=False)
    billing = dataset.build([path], EVALUATORS, route="billing")
    assert billing and {c["route"] for c in billing} == {"billing"} and len(billing) < len(every)
    errors = dataset.build([path], EVALUATORS, signal="error")
    assert errors and all("error" in c["signals"] for c in errors)
    tenant = every[0]["tenant"]
    assert {c["tenant"] for c in dataset.build([path], EVALUATORS, tenant=tenant)} == {tenant}
    middle = every[len(every) // 2]["started_at"]
    early, late = dataset.build([path], EVALUATORS, until=middle, dedupe=False), dataset.build([path], EVALUATORS, since=middle, dedupe=False)
    assert len(early) + len(late) == len(every) and early and late
    # a second service's requests (another app's sidecar): --service keeps one service's cases
    service = every[0]["service"]
    other = write_otlp_json(tmp_path / "other.jsonl", demo_spans("healthy", 10, seed=8))
    other.write_text(other.read_text().replace(json.dumps(service), json.dumps("refund-agent")))
    both = dataset.build([path, other], EVALUATORS)
    assert {c["service"] for c in both} == {service, "refund-agent"}
    for name in (service, "refund-agent"):
        mine = dataset.build([path, other], EVALUATORS, service=name)
        assert mine == [c for c in both if c["service"] == name] and mine
    with pytest.raises(UserError, match="--signal: unknown signal 'slow'"):
        dataset.build([path], EVALUATORS, signal="slow")
    with pytest.raises(UserError, match="--since: not an ISO 8601 time"):
        dataset.build([path], EVALUATORS, since="yesterday")


@pytest.mark.parametrize("line, message", [
    ("not json", ":2: not JSON"),
    ('{"spans": []}', ":2: not an OTLP JSON export request"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab", "spanId": "cd"}]}]}]}', ":2: span cd is missing or has a bad 'startTimeUnixNano'"),
])
def test_bad_input_names_file_and_line_and_exits_2(tmp_path, line, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": []}\n' + line + "\n")
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        dataset.build([bad], EVALUATORS)
    proc = subprocess.run(CLI + ["dataset", "build", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"bad.jsonl{message}" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_golden_cases(update_golden):
    """A committed trace file gives exactly these cases: the schema by example, and what a change to it breaks."""
    cases = dataset.dumps(dataset.build([GOLDEN / "traces.jsonl"], EVALUATORS, tempo_url="http://tempo:3200"))
    golden = GOLDEN / "cases.jsonl"
    if update_golden:
        golden.write_text(cases)
    assert golden.exists(), "tests/dataset/cases.jsonl is missing: review, then pytest --update-golden"
    assert cases == golden.read_text()
    proc = subprocess.run(CLI + ["dataset", "schema"], capture_output=True, text=True, timeout=60)
    assert json.loads(proc.stdout) == dataset.CASE_SCHEMA


def test_the_pipeline_is_off_by_default_and_reads_the_redacted_fan_out():
    assert "traces/eval_dataset" not in collector_builder.build(load())["service"]["pipelines"]
    from genai_o11y.builders import gateway

    # the tier that samples keeps the dataset: the gateway (the default), or the sidecar without one
    on_gateway = gateway.build(make_spec({"evals.dataset.enabled": True}))["service"]["pipelines"]
    assert "traces/eval_dataset" in on_gateway
    assert "traces/eval_dataset" not in collector_builder.build(make_spec({"evals.dataset.enabled": True}))["service"]["pipelines"]
    cfg = collector_builder.build(make_spec({"evals.dataset.enabled": True, "gateway.enabled": False}))
    p = cfg["service"]["pipelines"]["traces/eval_dataset"]
    assert p == {"receivers": [sampling.FORWARD], "processors": [sampling.DATASET_SAMPLER], "exporters": [sampling.DATASET_EXPORTER]}
    ingest = cfg["service"]["pipelines"]["traces/ingest"]
    assert ingest["exporters"] == [sampling.FORWARD] and any("redact" in x for x in ingest["processors"])
    names = [p["name"] for p in cfg["processors"][sampling.DATASET_SAMPLER]["policies"]]
    assert names[:3] == ["errors", "negative-feedback", "below-floor-faithfulness"]
    assert [x for x in names if x.startswith("route-")] == [f"route-{r}" for r in load().pipeline.routes]
    # compose gives the files a volume of their own (the collector image's filesystem is not for data)
    from genai_o11y.builders import compose

    on = compose.build(make_spec({"evals.dataset.enabled": True, "evals.dataset.path": "/data/evals/t.jsonl", "gateway.enabled": False}))
    assert "eval-dataset:/data/evals" in on["services"]["collector"]["volumes"] and "eval-dataset" in on["volumes"]
    assert "eval-dataset" not in compose.build(load())["volumes"]


@pytest.mark.collector
def test_eval_worthy_traces_through_the_collector_become_cases_that_gate_a_release(otelcol, tmp_path):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    out = tmp_path / "evals" / "traces.jsonl"
    out.parent.mkdir()  # the file exporter writes into an existing directory (compose mounts a volume there; up creates it)
    spec = make_spec(collector_ports({"evals.dataset.enabled": True, "evals.dataset.path": str(out), "evals.dataset.sample_spans_per_second_per_route": 0,
                                      "gateway.decision_wait_seconds": 2, "backends.tempo.endpoint": "127.0.0.1:1"}, tmp_path))
    spans = demo_spans("healthy", 40, seed=11) + demo_spans("retrieval_drift", 80, seed=12) + demo_spans("error_burst", 20, seed=13)
    spans += _event_scored_calls({"faithfulness": 0.2, "answer_length_ok": 1.0}, 3) + _event_scored_calls({"faithfulness": 0.9, "answer_length_ok": 1.0}, 3)
    # a pass/fail judge: a failing label keeps its trace, a passing one ("Pass": its pass_labels, any case) does not
    spans += _event_scored_calls({"faithfulness": "unfaithful"}, 2) + _event_scored_calls({"faithfulness": "Pass"}, 2)
    with run_collector(otelcol, spec, tmp_path) as col:
        exporter = OTLPSpanExporter(endpoint=f"http://{col.otlp_grpc}", insecure=True)
        for i in range(0, len(spans), 300):
            assert exporter.export(spans[i:i + 300]).name == "SUCCESS"
        expected = _expected(spans)
        deadline = time.time() + 60
        cases: list[dict] = []
        while time.time() < deadline:
            time.sleep(2)
            if out.exists():
                cases = dataset.build([out], EVALUATORS, actions=ACTIONS, dedupe=False)  # one case per trace: the oracle's
                if len(cases) >= len(expected):
                    break
        exporter.shutdown()
    # exactly the eval-worthy traces, each for the reason it was kept (no share of the rest: the rate is 0 here)
    assert {c["trace_id"]: set(c["signals"]) for c in cases} == expected
    # traces kept only because the user regenerated, rephrased, escalated or abandoned the answer
    assert [c for c in cases if c["signals"] == ["user_action"]]
    failed = [c for c in cases if "error" in c["signals"]]
    assert failed and all(c["error"] == {"stage": "model_call", "type": "RateLimitError", "category": "rate_limited"} for c in failed)
    assert all(c["cost_usd"] > 0 for c in cases if "error" not in c["signals"] and c["question"])  # priced by the sidecar (the demo's calls)
    # the chunks survive redaction: ids are Tier 1 (identifiers), scores numbers (flattened, never masked)
    assert sum(len(c["retrieval"]) for c in cases) > len(cases)
    assert all(r["chunk_id"].startswith("kb-") and isinstance(r["score"], float) for c in cases for r in c["retrieval"])
    # after redaction: no PII the demo's questions carry reaches the files
    text = "".join(p.read_text() for p in out.parent.iterdir())
    for pii in ("jane.doe@example.com", "bob@example.org", "202-555-0143", "7946 0958"):
        assert pii not in text
    assert "<EMAIL>" in text or "<PHONE>" in text
    # the frozen cases replayed with the CLI (the demo answers each case's question on its route): a healthy
    # candidate passes the gate against a healthy baseline, a prompt drift fails it
    # a failed call keeps its input: every demo case can be replayed; the 5 event-scored and labelled calls carry no content
    without = [c for c in cases if not c["question"]]
    assert len(without) == 5 and all(c["signals"] == ["low_score"] and c["model"]["request"] == "gpt-4o" for c in without), without
    frozen = tmp_path / "cases.jsonl"
    frozen.write_text(dataset.dumps(cases))
    doc = spec_dict()
    for ev in doc["evals"]["evaluators"]:
        ev["min_samples"] = 20
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(doc))
    results = {}
    for name, scenario, seed in (("baseline", "healthy", 20), ("healthy", "healthy", 21), ("drift", "prompt_drift", 22)):
        results[name] = tmp_path / f"{name}.results.jsonl"
        rep = subprocess.run(CLI + ["demo", "--replay", str(frozen), "--results", str(results[name]), "--scenario", scenario, "--seed", str(seed)],
                             capture_output=True, text=True, timeout=300)
        assert rep.returncode == 0 and f"replayed {len(cases) - len(without)} cases" in rep.stdout and f"({len(without)} cases without a question skipped)" in rep.stdout, \
            rep.stdout + rep.stderr
    ok = subprocess.run(CLI + ["gate", str(spec_file), "--baseline", str(results["baseline"]), "--candidate", str(results["healthy"])],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "paired by case" in ok.stdout  # the replays carry the frozen cases' ids
    bad = subprocess.run(CLI + ["gate", str(spec_file), "--baseline", str(results["baseline"]), "--candidate", str(results["drift"])],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "faithfulness: mean score regressed" in bad.stdout
    # the cases file itself is not eval results: the gate says what to do with it
    wrong = subprocess.run(CLI + ["gate", "--baseline", str(frozen), "--candidate", str(frozen)], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "this is an eval case" in wrong.stderr and "--replay" in wrong.stderr


@pytest.mark.collector
def test_the_default_share_keeps_whole_traces_of_every_route(otelcol, tmp_path):
    """The stratified share as shipped (evals.dataset's default rate and bucket depth): of the traces no
    signal keeps, every route sent gets whole traces into the files (tail sampling's default bucket,
    twice the rate, admitted none of the demo's 16-span traces)."""
    out = tmp_path / "evals" / "traces.jsonl"
    out.parent.mkdir()
    spec = make_spec(collector_ports({"evals.dataset.enabled": True, "evals.dataset.path": str(out),
                                      "gateway.decision_wait_seconds": 2, "backends.tempo.endpoint": "127.0.0.1:1"}, tmp_path))
    d = spec.evals.dataset
    spans = demo_spans("healthy", 60, seed=31)
    rest = {format(s.context.trace_id, "032x") for s in spans} - set(_expected(spans))
    routes = {format(s.context.trace_id, "032x"): s.attributes[n.ROUTE] for s in spans if s.attributes.get(n.ROUTE)}
    sent = {}
    for s in spans:
        tid = format(s.context.trace_id, "032x")
        sent[tid] = sent.get(tid, 0) + 1
    assert max(sent[t] for t in rest) > 2 * d.sample_spans_per_second_per_route  # what the default bucket shut out
    assert max(sent[t] for t in rest) <= d.sample_burst_spans
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    with run_collector(otelcol, spec, tmp_path) as col:
        exporter = OTLPSpanExporter(endpoint=f"http://{col.otlp_grpc}", insecure=True)
        assert exporter.export(spans).name == "SUCCESS"
        wanted = {routes[t] for t in rest}
        deadline, kept = time.time() + 60, {}
        while time.time() < deadline:
            time.sleep(2)
            kept = {}
            for f in out.parent.iterdir():
                for line in f.read_text().splitlines():
                    for rs in json.loads(line).get("resourceSpans", []):
                        for ss in rs.get("scopeSpans", []):
                            for sp in ss.get("spans", []):
                                kept[sp["traceId"]] = kept.get(sp["traceId"], 0) + 1
            if {routes[t] for t in kept if t in rest} == wanted:
                break
        exporter.shutdown()
    shared = {t for t in kept if t in rest}
    assert {routes[t] for t in shared} == wanted, (sorted(wanted), sorted(routes[t] for t in shared))
    assert all(kept[t] == sent[t] for t in shared), {t: (kept[t], sent[t]) for t in shared if kept[t] != sent[t]}  # whole traces
    cases = dataset.build(sorted(out.parent.iterdir()), EVALUATORS, actions=ACTIONS, dedupe=False)
    assert {c["trace_id"] for c in cases if c["signals"] == ["sampled"]} == shared


def test_user_action_events_make_a_trace_eval_worthy(tmp_path):
    """A rising proxy recorded as the user-action event on the answer's span is the signal user_action,
    as the helper's user_action span is; a falling one (copy_answer) is not."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(mem))
    for kind in ("regenerate", "copy_answer"):
        with tp.get_tracer("t").start_as_current_span("chat gpt-4o", attributes={n.OPERATION: "chat", n.REQUEST_MODEL: "gpt-4o"}) as sp:
            sp.add_event(n.USER_ACTION_EVENT, {n.QUALITY_PROXY: kind})
    cases = dataset.build([write_otlp_json(tmp_path / "t.jsonl", list(mem.get_finished_spans()))], EVALUATORS, actions=ACTIONS)
    assert sorted(c["signals"] for c in cases) == [["sampled"], ["user_action"]]


# --- hand-written OTLP JSON: the shapes a trial found (values as another instrumentation or the redaction sends them) ----

def _value(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": v}


def _request(trace_id: str, request: dict, *children: dict, start: int = 1_796_043_157_000_000_000, resource: dict | None = None) -> str:
    """One export request (a line of the file exporter's output): a trace's request span with `request`'s
    attributes and, under it, a span per `children` item (its attributes; a `genai_o11y.stage` each)."""
    def span(i: int, attrs: dict, parent: str = "") -> dict:
        return {"traceId": trace_id, "spanId": f"{i + 1:016x}", "parentSpanId": parent, "name": str(attrs.get(n.STAGE, "span")),
                "startTimeUnixNano": str(start + i * 1000), "endTimeUnixNano": str(start + 1_000_000 - i),
                "attributes": [{"key": k, "value": _value(v)} for k, v in attrs.items()], "status": {}}

    spans = [span(0, {n.STAGE: "request", **request})] + [span(i, a, f"{1:016x}") for i, a in enumerate(children, 1)]
    res = {"service.name": "support-copilot", **(resource or {})}
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [{"key": k, "value": _value(v)} for k, v in res.items()]},
                                          "scopeSpans": [{"spans": spans}]}]}, ensure_ascii=False) + "\n"


def _tid(i: int) -> str:
    return f"{i:032x}"


def test_a_score_sent_as_a_numeric_string_is_that_number(tmp_path):
    """`gen_ai.evaluation.score.value: "0.1"` is the number the collector counts (the policy's `number`
    shape), not null: the case carries 0.1 and the score is past the floor."""
    path = tmp_path / "t.jsonl"
    path.write_text(_request(_tid(1), {n.ROUTE: "faq"}, {n.STAGE: "evaluation", n.EVAL_NAME: "faithfulness", n.EVAL_SCORE: "0.1"},
                             {n.STAGE: "feedback", n.FEEDBACK_SENTIMENT: "positive", n.FEEDBACK_SCORE: "1"}))
    [case] = dataset.build([path], EVALUATORS)
    assert case["evals"] == [{"evaluator": "faithfulness", "score": 0.1, "label": None}]
    assert case["feedback"] == [{"sentiment": "positive", "score": 1.0}]
    assert case["signals"] == ["low_score"]


def test_a_failing_label_is_a_low_score(tmp_path):
    """An eval given only as a label fails when the label is not one of its evaluator's pass_labels (the
    gate's rule): refusal_check labelled `true` where only `false` passes, faithfulness labelled `fail`."""
    from genai_o11y.spec.model import Evaluator

    evaluators = [*EVALUATORS, Evaluator(name="refusal_check", pass_labels=["false"])]
    labelled = {1: ("refusal_check", "true"), 2: ("faithfulness", "fail"), 3: ("refusal_check", "FALSE"), 4: ("faithfulness", "faithful"),
                5: ("not_in_the_spec", "fail")}
    path = tmp_path / "t.jsonl"
    path.write_text("".join(_request(_tid(i), {n.ROUTE: "faq"}, {n.STAGE: "evaluation", n.EVAL_NAME: name, n.EVAL_LABEL: label}, start=10**18 + i)
                            for i, (name, label) in labelled.items()))
    signals = {c["trace_id"]: c["signals"] for c in dataset.build([path], evaluators)}
    assert signals == {_tid(1): ["low_score"], _tid(2): ["low_score"], _tid(3): ["sampled"], _tid(4): ["sampled"], _tid(5): ["sampled"]}
    # the CLI reads them from the spec
    doc = spec_dict()
    doc["evals"]["evaluators"].append({"name": "refusal_check", "pass_labels": ["false"]})
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(doc))
    proc = subprocess.run(CLI + ["dataset", "build", str(path), "--spec", str(spec_file), "--signal", "low_score"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["trace_id"] for line in proc.stdout.splitlines()] == [_tid(1), _tid(2)]


def test_a_partial_last_line_is_skipped_with_a_warning(tmp_path):
    """A file the collector is still writing, or one a crash cut short, ends in a partial last line (no
    newline at its end): it is left out with a warning naming file and line; any other bad line stops."""
    whole = _request(_tid(1), {n.ROUTE: "faq", "gen_ai.input.messages": json.dumps([{"role": "user", "content": "où est ma commande"}], ensure_ascii=False)})
    cut = _request(_tid(2), {n.ROUTE: "faq"}, start=10**18 + 2)
    trunc = tmp_path / "trunc.jsonl"
    trunc.write_text(whole + cut[: len(cut) // 2])
    skipped: list[str] = []
    assert [c["trace_id"] for c in dataset.build([trunc], EVALUATORS, skipped=skipped)] == [_tid(1)]
    assert len(skipped) == 1 and skipped[0].startswith(f"{trunc}:2: partial last line skipped (no newline at its end, not JSON: "), skipped
    proc = subprocess.run(CLI + ["dataset", "build", str(trunc)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["trace_id"] == _tid(1), proc.stderr
    assert f"warning: {trunc}:2: partial last line skipped" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # cut inside a UTF-8 character: the same
    trunc.write_bytes(whole.encode() + whole.encode()[: whole.encode().index("ù".encode()) + 1])
    skipped = []
    assert len(dataset.build([trunc], EVALUATORS, skipped=skipped)) == 1 and "cut inside a UTF-8 character" in skipped[0]
    # a whole last line without its newline is read
    trunc.write_text(whole + cut.rstrip("\n"))
    skipped = []
    assert len(dataset.build([trunc], EVALUATORS, skipped=skipped)) == 2 and skipped == []
    # a bad line that ends in a newline, or that is not the last, is still an error (exit 2, file and line)
    for text, line in ((whole + cut[:40] + "\n", 2), (cut[:40] + "\n" + whole, 1)):
        trunc.write_text(text)
        proc = subprocess.run(CLI + ["dataset", "build", str(trunc)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and f"trunc.jsonl:{line}: not JSON" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_content_cut_at_max_content_chars_never_gives_a_wrong_question(tmp_path):
    """Redaction cuts content at max_content_chars (4096): a message array cut short no longer parses. The
    question is never the system prompt's text: it is the last user message among the messages whole
    before the cut when the message cut shows another role (an agent's tool result), else null, and the
    case says why (`truncated`); the CLI counts the cases that cannot be replayed."""
    from genai_o11y.redact import Redactor

    lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 100  # 5,700 characters
    def msgs(*m):  # noqa: E306
        return json.dumps([{"role": r, "parts": [{"type": "text", "content": t}]} for r, t in m])

    sent = {  # trace -> (input messages or input.value, output messages)
        1: (msgs(("system", lorem), ("user", "where is my order 4411")), msgs(("assistant", "It shipped."))),
        2: (msgs(("system", "You are a support agent."), ("user", "refund order 4411"), ("tool", lorem)), msgs(("assistant", lorem))),
        3: (msgs(("system", "Be brief."), ("user", "hi"), ("assistant", "Hello!"), ("user", "why " + lorem)), None),
        4: (msgs(("system", "Be brief."), ("user", "reset my password")), msgs(("assistant", "Use the link."))),
        5: ("why " + lorem, None),
    }
    redactor = Redactor(salt="test")  # the collector's redaction, app-side: the same policy and limit
    lines = []
    for i, (question, answer) in sent.items():
        attrs = {"gen_ai.input.messages" if question.startswith("[") else "input.value": question}
        if answer:
            attrs["gen_ai.output.messages"] = answer
        redacted, _ = redactor.attributes(attrs)
        assert all(len(v) <= 4096 for v in redacted.values())
        lines.append(_request(_tid(i), {n.ROUTE: "faq"}, {n.STAGE: "model_call", n.OPERATION: "chat", **redacted}, start=10**18 + i))
    path = tmp_path / "t.jsonl"
    path.write_text("".join(lines))
    cases = {int(c["trace_id"], 16): c for c in dataset.build([path], EVALUATORS)}
    for c in cases.values():
        jsonschema.validate(c, dataset.CASE_SCHEMA)
    got = {i: (c["question"], c["answer"], c["truncated"]) for i, c in cases.items()}
    assert got[1] == (None, "It shipped.", ["question"])  # the user's message was after the cut: no question, never the system prompt
    assert got[2] == ("refund order 4411", None, ["question", "answer"])  # cut in the tool's result: the user's message is whole before it
    assert got[3] == (None, None, ["question"])  # cut in a later user message: the earlier one is not the question
    assert got[4] == ("reset my password", "Use the link.", [])
    assert got[5][0] == ("why " + lorem)[:4096] and got[5][2] == ["question"]  # plain text: its beginning, said to be cut
    # OTTL counts bytes (never splitting a character): plain text that long in bytes is cut too
    accents = "é" * 3000
    path.write_text(_request(_tid(6), {n.ROUTE: "faq", "input.value": accents.encode()[:4096].decode()}))
    [c] = dataset.build([path], EVALUATORS)
    assert c["question"] == "é" * 2048 and c["truncated"] == ["question"]
    # the CLI counts the cases that cannot be replayed, and says why
    path.write_text("".join(lines))
    out = tmp_path / "cases.jsonl"
    proc = subprocess.run(CLI + ["dataset", "build", str(path), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "2 cases cannot be replayed: content truncated at redaction.max_content_chars (4096) before the user's message" in proc.stdout, proc.stdout
    assert "without a question (content not captured)" not in proc.stdout
    proc = subprocess.run(CLI + ["dataset", "build", str(path)], capture_output=True, text=True, timeout=60)
    assert "note: 2 cases cannot be replayed: content truncated" in proc.stderr, proc.stderr


def test_cases_carry_the_release_and_the_retriever_and_index_versions(tmp_path):
    """The release (the resource's service.version) and the retrieval's retriever and index versions, as
    the spans carry them (the helper's retrieval(retriever_version=..., index_version=...)); null when absent."""
    path = tmp_path / "t.jsonl"
    path.write_text(_request(_tid(1), {n.ROUTE: "faq"}, {n.STAGE: "retrieval", n.RETRIEVER_VERSION: "bm25-v2", n.INDEX_VERSION: "2026-11-29"},
                             resource={n.SERVICE_VERSION: "1.4.2"}, start=10**18)
                    + _request(_tid(2), {n.ROUTE: "faq"}, start=10**18 + 1))
    first, second = dataset.build([path], EVALUATORS)
    assert (first["release"], first["retriever_version"], first["index_version"]) == ("1.4.2", "bm25-v2", "2026-11-29")
    assert (second["release"], second["retriever_version"], second["index_version"]) == (None, None, None)
    for c in (first, second):
        jsonschema.validate(c, dataset.CASE_SCHEMA)
    # the demo's spans, as the helper records them
    [c, *_] = dataset.build([write_otlp_json(tmp_path / "demo.jsonl", demo_spans("healthy", 3, seed=3))], EVALUATORS)
    assert c["retriever_version"] and c["index_version"]


def test_the_same_question_on_the_same_route_is_one_case(tmp_path):
    """The demo asks a few questions many times: traces that asked the same question on the same route
    after the same conversation are one case (the gate's min_samples and bootstrap count cases), with
    how many traces it stands for, their ids and all their signals; --keep-duplicates keeps one per trace."""
    spans = demo_spans("healthy", 100, seed=9) + demo_spans("error_burst", 40, seed=10)
    path = write_otlp_json(tmp_path / "t.jsonl", spans)
    asked: dict[str, tuple] = {}  # trace -> (route, question), from what was sent
    routes = {format(s.context.trace_id, "032x"): s.attributes[n.ROUTE] for s in spans if s.attributes.get(n.ROUTE)}
    for s in spans:
        if "gen_ai.input.messages" in s.attributes:
            [user] = [m for m in json.loads(s.attributes["gen_ai.input.messages"]) if m["role"] == "user"]
            asked[format(s.context.trace_id, "032x")] = (routes[format(s.context.trace_id, "032x")], user["parts"][0]["content"])
    every = dataset.build([path], EVALUATORS, actions=ACTIONS, dedupe=False)
    cases = dataset.build([path], EVALUATORS, actions=ACTIONS)
    assert len(every) == 140 and len(cases) == len(set(asked.values())) < 40
    assert sorted(t for c in cases for t in c["trace_ids"]) == sorted(c["trace_id"] for c in every) == sorted(asked)
    by_trace = {c["trace_id"]: c for c in every}
    for c in cases:
        jsonschema.validate(c, dataset.CASE_SCHEMA)
        assert c["trace_count"] == len(c["trace_ids"]) and c["trace_ids"][0] == c["case_id"]
        assert {asked[t] for t in c["trace_ids"]} == {(c["route"], c["question"])}
        assert {k: v for k, v in c.items() if k not in ("signals", "trace_count", "trace_ids")} == \
            {k: v for k, v in by_trace[c["case_id"]].items() if k not in ("signals", "trace_count", "trace_ids")}  # the first trace's
        union = {s for t in c["trace_ids"] for s in by_trace[t]["signals"]}
        assert set(c["signals"]) == (union - {"sampled"} or {"sampled"})
    assert any(c["trace_count"] > 1 and "error" in c["signals"] for c in cases)
    # the same last question after another conversation is another case; without a question, no two are the same
    def chat(i, *m, start):  # noqa: E306
        return _request(_tid(i), {n.ROUTE: "faq"}, {n.STAGE: "model_call", "gen_ai.input.messages": json.dumps(
            [{"role": r, "content": t} for r, t in m])}, start=start)
    path.write_text(chat(1, ("system", "context A"), ("user", "and the refund?"), start=10**18)
                    + chat(2, ("system", "context B"), ("user", "and the refund?"), start=10**18 + 1)  # another system prompt: the same case
                    + chat(3, ("user", "my order 4411"), ("assistant", "shipped"), ("user", "and the refund?"), start=10**18 + 2)
                    + _request(_tid(4), {n.ROUTE: "faq"}, start=10**18 + 3) + _request(_tid(5), {n.ROUTE: "faq"}, start=10**18 + 4))
    assert [c["trace_ids"] for c in dataset.build([path], EVALUATORS)] == [[_tid(1), _tid(2)], [_tid(3)], [_tid(4)], [_tid(5)]]
    # the CLI merges by default and says so; --keep-duplicates keeps one case per trace
    out = tmp_path / "cases.jsonl"
    proc = subprocess.run(CLI + ["dataset", "build", str(path), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "4 eval cases" in proc.stdout and "from 5 traces" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run(CLI + ["dataset", "build", str(path), "--keep-duplicates"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and [json.loads(line)["trace_count"] for line in proc.stdout.splitlines()] == [1] * 5, proc.stderr


def test_the_tenant_is_documented_as_redaction_treats_it():
    """genai_o11y.tenant is Tier 1 metadata in the redaction policy, not an identifier it hashes: the case
    schema, the CLI's help and the README say it is kept as the app sent it, not that redaction hashes it."""
    from genai_o11y import redaction_policy
    from genai_o11y.cli import parser

    policy = redaction_policy.default_policy()
    assert n.TENANT in policy.metadata_keys and n.TENANT not in policy.identifier_keys
    assert "hashed by redaction" not in dataset.CASE_SCHEMA["properties"]["tenant"]["description"]
    assert "kept verbatim" in dataset.CASE_SCHEMA["properties"]["tenant"]["description"]
    build = parser()._subparsers._group_actions[0].choices["dataset"]
    assert "hashed" not in next(a.help for a in build._actions if "--tenant" in a.option_strings)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = " ".join(readme[readme.index("## Production traces → eval cases"):readme.index("## Release gate")].split())
    assert "`tenant` (hashed)" not in section and "--tenant h_" not in section and "not hashed by redaction" in section
