"""The instrumentation helper: stage spans with semantic-convention names, prompt versions, feedback
and evals linked to the trace, redaction before export, never blocking or raising into the app, and
working alongside the official OpenAI instrumentation and OpenLLMetry (one trace, one model span)."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as GA

from genai_o11y import instrument, names as n
from genai_o11y.errors import UserError
from genai_o11y.instrument.core import EnrichingSpanProcessor, Observability
from harness import FakeOpenAI, collector_ports, make_spec, metric_value, run_collector, wait_for


@pytest.fixture
def mem():
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(EnrichingSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return Observability(tp), exporter, tp


def by_stage(exporter) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in exporter.get_finished_spans():
        out.setdefault(s.attributes.get(n.STAGE, "-"), []).append(s)
    return out


def run_pipeline(obs: Observability, prompts: instrument.PromptRegistry, route: str = "billing", call_tool: bool = True) -> str:
    with obs.request(route=None, tenant="h_5f0a", task_type="billing_question") as req:
        with obs.query_rewrite(model="gpt-4o-mini", provider="openai", prompt=prompts.get("rewrite")) as s:
            s.usage(120, 20)
        with obs.embedding("text-embedding-3-small", provider="openai") as s:
            s.usage(input_tokens=30).cache_hit(False)
        with obs.retrieval(retriever_version="dense-2", index_version="idx-11") as s:
            s.results(4, top_score=0.82)
        with obs.rerank() as s:
            s.displacement(1.5)
        with obs.prompt_assembly(prompt=prompts.get("answer")) as s:
            s.chunks(included=3, budget=1, dedupe=0, policy=0).truncated(False)
        with obs.routing() as s:
            s.route(route, reason="classifier")
        with obs.model_call("gpt-4o", provider="openai", prompt=prompts.get("answer")) as s:
            s.usage(input_tokens=812, output_tokens=96, cached_input_tokens=200, reasoning_tokens=40).response(model="gpt-4o-2024-08-06", finish_reasons=["stop"])
        if call_tool:
            with obs.tool_call("lookup_order", call_id="call_1") as s:
                s.outcome("ok")
        with obs.validation():
            pass
        with obs.moderation() as s:
            s.block()
        with obs.post_processing():
            pass
        return req.trace_id


@pytest.fixture
def prompts():
    r = instrument.PromptRegistry()
    r.register("rewrite", "v3", "Rewrite: $q")
    r.register("answer", "v7", "Answer using: $context\nQuestion: $q")
    return r


def test_every_stage_has_its_span_with_semconv_names(mem, prompts):
    obs, exporter, _ = mem
    trace_id = run_pipeline(obs, prompts)
    stages = by_stage(exporter)
    assert set(stages) == {"request", *n.STAGE_CATALOG}
    spans = exporter.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    model = stages["model_call"][0].attributes
    # names from the semantic-conventions package, not typed by hand
    assert model[GA.GEN_AI_REQUEST_MODEL] == "gpt-4o" and model[GA.GEN_AI_PROVIDER_NAME] == "openai" and model[GA.GEN_AI_OPERATION_NAME] == "chat"
    assert model[GA.GEN_AI_USAGE_INPUT_TOKENS] == 812 and model[GA.GEN_AI_USAGE_OUTPUT_TOKENS] == 96
    assert model[GA.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200 and model[GA.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert model[GA.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 40
    # the prompt registry: template, version and content hash on every model span
    answer = prompts.get("answer")
    assert (model[n.PROMPT_TEMPLATE], model[n.PROMPT_VERSION], model[n.PROMPT_HASH]) == ("answer", "v7", answer.hash)
    assert stages["query_rewrite"][0].attributes[n.PROMPT_VERSION] == "v3"
    # the route decided by routing reaches the request span and every later stage
    root = stages["request"][0].attributes
    assert root[n.ROUTE] == "billing" and root[n.TENANT] == "h_5f0a" and root[n.TASK_TYPE] == "billing_question"
    assert stages["model_call"][0].attributes[n.ROUTE] == "billing" and stages["routing"][0].attributes[n.ROUTE_REASON] == "classifier"
    assert root[n.TOOLS_CALLED] == "lookup_order"
    tool = stages["tool_call"][0].attributes
    assert tool[GA.GEN_AI_TOOL_NAME] == "lookup_order" and tool[GA.GEN_AI_TOOL_CALL_ID] == "call_1" and tool[n.TOOL_OUTCOME] == "ok"
    r = stages["retrieval"][0].attributes
    assert (r[n.RETRIEVAL_RESULTS], r[n.RETRIEVAL_TOP_SCORE], r[n.RETRIEVER_VERSION], r[n.INDEX_VERSION]) == (4, 0.82, "dense-2", "idx-11")
    pa = stages["prompt_assembly"][0].attributes
    assert pa[n.CHUNKS_INCLUDED] == 3 and pa[n.CHUNKS_EXCLUDED["budget"]] == 1 and pa[n.PROMPT_TRUNCATED] is False
    assert stages["moderation"][0].attributes[n.FAILURE_CATEGORY] == n.GUARDRAIL_BLOCK
    assert stages["rerank"][0].attributes[n.RERANK_DISPLACEMENT] == 1.5


def test_prompt_registry_versions_and_hashes():
    r = instrument.PromptRegistry()
    a7 = r.register("answer", "v7", "Answer: $q")
    a8 = r.register("answer", "v8", "Answer briefly: $q")
    assert r.get("answer") is a8 and a7.hash != a8.hash and len(a7.hash) == 16
    assert r.use("answer", "v7") is a7 and r.get("answer") is a7
    assert a7.render(q="where is my order?") == "Answer: where is my order?"
    with pytest.raises(UserError, match="new version"):
        r.register("answer", "v7", "changed text under the same label")
    with pytest.raises(UserError, match="known: answer:v7, answer:v8"):
        r.get("answer", "v9")


def test_app_exceptions_are_recorded_and_reraised(mem, prompts):
    obs, exporter, _ = mem

    class ToolTimeoutError(Exception):
        pass

    with pytest.raises(ToolTimeoutError):
        with obs.request(route="troubleshooting"):
            with obs.tool_call("search_kb"):
                raise ToolTimeoutError("kb did not answer")
    stages = by_stage(exporter)
    tool, root = stages["tool_call"][0], stages["request"][0]
    assert tool.status.status_code.name == "ERROR" and tool.attributes[n.ERROR_TYPE] == "ToolTimeoutError"
    assert tool.attributes[n.TOOL_OUTCOME] == "timeout"
    assert root.status.status_code.name == "ERROR" and root.attributes[n.TOOLS_CALLED] == "search_kb"
    assert any(e.name == "exception" for e in tool.events)


def test_helper_never_raises_into_the_app(mem, caplog):
    obs, exporter, _ = mem
    obs.record_feedback("not-a-trace-id", "negative")  # bad input: logged, not raised
    obs.record_eval(None, "faithfulness", 0.5)  # type: ignore[arg-type]
    with obs.request(route="faq") as req:
        with obs.tool_call("search_kb") as t:
            t.set(weird={"nested": object()})  # the SDK refuses the value type; the helper does not raise
            t.outcome("made_up_outcome")  # warned, still recorded
    assert req.trace_id
    assert "genai-o11y helper error" in caplog.text or "Invalid type" in caplog.text
    assert "made_up_outcome" in caplog.text


#: Values an app may pass by mistake, for any parameter.
BAD_VALUES = [None, "high", object(), float("nan"), -1, "", {"a": 1}, b"\xff"]


def test_no_record_method_raises_whatever_it_is_given(mem, caplog):
    """Every public record_* method of the helper (found by inspection, so a new one is covered), every
    parameter set to every bad value in turn: logged on one line, never raised, no traceback."""
    import inspect
    import logging

    obs, _exporter, _ = mem
    methods = [m for name, m in inspect.getmembers(obs, inspect.ismethod) if name.startswith("record_")]
    assert {m.__name__ for m in methods} >= {"record_feedback", "record_proxy", "record_eval"}
    tid = "0" * 31 + "1"
    with caplog.at_level(logging.INFO):
        for m in methods:
            params = [p for p in inspect.signature(m).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
            good = {"trace_id": tid, "sentiment": "negative", "kind": "regenerate", "name": "faithfulness", "score": 0.5}
            for p in params:
                for bad in BAD_VALUES:
                    args = {q.name: good.get(q.name, q.default if q.default is not q.empty else "x") for q in params}
                    args[p.name] = bad
                    m(**args)  # must not raise
    assert "Traceback" not in caplog.text
    assert "score 'high' is not a finite number (left out)" in caplog.text


def test_an_eval_without_a_finite_score_keeps_its_label_or_is_not_sent(mem, caplog):
    """A label-only result (a pass/fail judge) is sent; a NaN or infinite score (a judge whose output did
    not parse) is left out, so no NaN reaches the sidecar's sums: the label alone is sent, or nothing."""
    obs, exporter, _ = mem
    tid = "0" * 31 + "7"
    obs.record_eval(tid, "refusal_check", label="false")
    obs.record_eval(tid, "faithfulness", float("nan"), label="fail")
    obs.record_eval(tid, "faithfulness", float("inf"))
    obs.record_eval(tid, "faithfulness", "0.25")
    evals = [dict(s.attributes) for s in by_stage(exporter)["evaluation"]]
    assert [(a[GA.GEN_AI_EVALUATION_NAME], a.get(GA.GEN_AI_EVALUATION_SCORE_VALUE), a.get(n.EVAL_LABEL)) for a in evals] == [
        ("refusal_check", None, "false"), ("faithfulness", None, "fail"), ("faithfulness", 0.25, None)]
    assert "score nan is not a finite number" in caplog.text and "neither a finite score nor a label (not sent)" in caplog.text


def test_feedback_and_evals_join_the_request_trace(mem, prompts):
    obs, exporter, _ = mem
    trace_id = run_pipeline(obs, prompts)
    obs.record_feedback(trace_id, "negative", score=0.0, comment="wrong order number")
    obs.record_eval(trace_id, "faithfulness", 0.62, label="unfaithful")
    stages = by_stage(exporter)
    fb, ev, root = stages["feedback"][0], stages["evaluation"][0], stages["request"][0]
    for s in (fb, ev):
        assert s.context.trace_id == root.context.trace_id and s.parent.span_id == root.context.span_id
        # feedback and evals inherit what the request ran with, so their metrics split by it
        assert s.attributes[n.PROMPT_VERSION] == "v7" and s.attributes[n.REQUEST_MODEL] == "gpt-4o" and s.attributes[n.ROUTE] == "billing"
    assert fb.attributes[n.FEEDBACK_SENTIMENT] == "negative"
    assert ev.attributes[GA.GEN_AI_EVALUATION_NAME] == "faithfulness" and ev.attributes[GA.GEN_AI_EVALUATION_SCORE_VALUE] == 0.62
    # a trace the helper does not know (another process served it) is still joined
    other = "0af7651916cd43dd8448eb211c80319c"
    obs.record_feedback(other, "positive")
    assert any(format(s.context.trace_id, "032x") == other for s in by_stage(exporter)["feedback"])


def test_quality_proxies_join_the_request_trace(mem, prompts, caplog):
    """Every proxy the default spec lists, and a kind it does not (recorded; metrics fold it), become
    user_action spans of the answer's trace carrying what the request ran with; a kind that is not a
    string is refused with a warning, never an exception."""
    from genai_o11y.spec import load

    obs, exporter, _ = mem
    trace_id = run_pipeline(obs, prompts)
    kinds = [p.name for p in load().evals.proxies] + ["thumbs_sideways"]
    assert len(kinds) == 7
    for kind in kinds:
        obs.record_proxy(trace_id, kind, response_id="resp-1")
    obs.record_proxy(trace_id, None)
    obs.record_proxy(trace_id, "")
    assert "quality proxy kind None" in caplog.text
    stages = by_stage(exporter)
    root, actions = stages["request"][0], stages[n.USER_ACTION]
    assert [s.attributes[n.QUALITY_PROXY] for s in actions] == kinds
    for s in actions:
        assert s.context.trace_id == root.context.trace_id and s.parent.span_id == root.context.span_id
        assert s.attributes[n.PROMPT_VERSION] == "v7" and s.attributes[n.REQUEST_MODEL] == "gpt-4o" and s.attributes[n.ROUTE] == "billing"
        assert s.attributes["gen_ai.response.id"] == "resp-1" and s.name == f"user_action {s.attributes[n.QUALITY_PROXY]}"


class _Blocked:
    """An exporter stuck like a hung collector connection, until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def export(self, spans):
        self.calls += 1
        self.release.wait(30)
        return SpanExportResult.FAILURE

    def shutdown(self):
        self.release.set()


def test_a_hung_collector_never_blocks_the_app_and_drops_are_counted(prompts):
    exporter = _Blocked()
    obs = instrument.setup("svc", exporter=exporter, redact=False, max_queue=500, set_global=False)
    start = time.monotonic()
    for _ in range(300):  # 300 requests x 12 spans while every export hangs
        run_pipeline(obs, prompts)
    elapsed = time.monotonic() - start
    wait_for(lambda: exporter.calls >= 1, timeout=5, what="the exporter called (and hanging)")
    assert elapsed < 20, f"the app waited on the exporter: {elapsed:.1f}s"
    spans = 300 * 12
    assert obs.processor.dropped_queue_full >= spans - 500 - obs.processor.batch_size
    assert obs.dropped_spans >= obs.processor.dropped_queue_full
    exporter.release.set()
    obs.provider.shutdown()


def test_collector_down_counts_dropped_spans_with_the_real_exporter(prompts):
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("genai_o11y_helper_dropped_spans_total", {"reason": "export_failed"}) or 0
    obs = instrument.setup("svc", endpoint="127.0.0.1:1", redact=False, set_global=False, export_timeout_s=0.5)
    run_pipeline(obs, prompts)
    obs.processor.force_flush(10_000)
    wait_for(lambda: obs.processor.dropped_export_failed >= 12, timeout=15, what="failed exports counted")
    after = REGISTRY.get_sample_value("genai_o11y_helper_dropped_spans_total", {"reason": "export_failed"})
    assert after - before >= 12
    obs.provider.shutdown()


def test_redaction_applies_before_export(monkeypatch, prompts):
    monkeypatch.setenv("GENAI_O11Y_HASH_SALT", "salt-1")
    exporter = InMemorySpanExporter()
    obs = instrument.setup("svc", exporter=exporter, set_global=False)
    with obs.request(route="billing", user_id="alice@example.com") as req:
        with obs.model_call("gpt-4o", provider="openai", prompt=prompts.get("answer")) as m:
            m.set(gen_ai__input__messages="Customer jane.doe@example.com, card 4111 1111 1111 1111").usage(10, 2)
    obs.processor.force_flush()
    spans = {s.attributes.get(n.STAGE): s for s in exporter.get_finished_spans()}
    content = spans["model_call"].attributes["gen_ai.input.messages"]
    assert "jane.doe@example.com" not in content and "<EMAIL>" in content and "4111" not in content
    assert spans["request"].attributes["user.id"].startswith("h_") and "alice" not in spans["request"].attributes["user.id"]
    assert spans["model_call"].attributes[n.PROMPT_VERSION] == "v7"  # Tier 1 kept verbatim
    assert req.trace_id
    obs.provider.shutdown()


#: A spec's own redaction settings, each visible in one span: an extra detector, a Tier 1 key, a content limit.
POLICY_SETTINGS = {"redaction.max_content_chars": 64, "redaction.extra_patterns": [{"name": "EMPLOYEE_ID", "regex": "EMP-[0-9]{6}"}],
                   "redaction.metadata_keys": {"app.customer_tier": "identifier"}}


def generated_policy(tmp_path, overrides: dict) -> "Path":
    from genai_o11y import artifacts

    path = tmp_path / "policy.yaml"
    path.write_text(artifacts.build_all(make_spec(overrides), "spec.yaml")[artifacts.REDACTION_POLICY])
    return path


def one_redacted_span(obs) -> dict:
    with obs.request(route="billing") as req:
        req.set(app__customer_tier="gold", app__note="badge EMP-004211 " + "z" * 200)
    obs.processor.force_flush()
    attrs = dict(obs.processor_exporter.get_finished_spans()[-1].attributes)
    obs.provider.shutdown()
    return attrs


@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
@pytest.mark.parametrize("how", ["parameter", "env"])
def test_the_helper_applies_the_generated_policy_in_effect(monkeypatch, tmp_path, how, mode):
    """setup(redaction_policy=) or GENAI_O11Y_REDACTION_POLICY: the generated file's settings apply (the
    spec's detector, Tier 1 key, content limit and mode); without it the embedded default applies."""
    from genai_o11y.redact import POLICY_ENV

    monkeypatch.setenv("GENAI_O11Y_HASH_SALT", "salt-1")
    path = generated_policy(tmp_path, {**POLICY_SETTINGS, "redaction.mode": mode})
    exporter = InMemorySpanExporter()
    if how == "env":
        monkeypatch.setenv(POLICY_ENV, str(path))
    obs = instrument.setup("svc", exporter=exporter, set_global=False, redaction_policy=path if how == "parameter" else None)
    obs.processor_exporter = exporter
    attrs = one_redacted_span(obs)
    assert attrs["app.customer_tier"] == "gold"  # the spec's Tier 1 key: kept verbatim in every mode
    if mode == "redacted":
        assert attrs["app.note"] == ("badge <EMPLOYEE_ID> " + "z" * 200)[:64]
    else:
        assert "app.note" not in attrs
    monkeypatch.delenv(POLICY_ENV, raising=False)
    obs = instrument.setup("svc", exporter=(exporter := InMemorySpanExporter()), set_global=False)
    obs.processor_exporter = exporter
    default = one_redacted_span(obs)
    assert default["app.note"] == "badge EMP-004211 " + "z" * 200  # the embedded policy knows no EMPLOYEE_ID, cuts at 4096


#: Each way a policy file can be wrong: (file text, or None for no file; what the one-line error names).
BAD_POLICIES = [
    (None, "redaction policy file not found"),
    ("version: 1\ndetectors: [\n", "not valid YAML"),
    ("version: 2\ndetectors:\n  - {name: K, regex: 'k[0-9]+', mask: '<K>'}\n", "version: must be 1"),
    ("version: 1\ndetectors:\n  - {name: K, regex: '(?<=x)k', mask: '<K>'}\n", "detectors[0].regex: look-around"),
    ("version: 1\ndetectors:\n  - {name: K, regex: 'k[0-9]+', mask: '<K>'}\nfrom_spec: {mode: loud}\n", "from_spec.mode: must be one of"),
    ("version: 1\ndetectors:\n  - {name: K, regex: 'k[0-9]+', mask: '<K>'}\nfrom_spec: {max_content_chars: 3}\n", "from_spec.max_content_chars"),
    ("version: 1\ndetectors:\n  - {name: K, regex: 'k[0-9]+', mask: '<K>'}\nfrom_spec: {extra_patterns: [{name: e, regex: x}]}\n",
     "from_spec.extra_patterns[0].name"),
    ("version: 1\ndetectors:\n  - {name: K, regex: 'k[0-9]+', mask: '<K>'}\nfrom_spec: {metadata_keys: {a.b: nope}}\n", "unknown shape 'nope'"),
    ("version: 1\ndetectors: []\n", "at least one detector"),
]


@pytest.mark.parametrize("text, names", BAD_POLICIES)
@pytest.mark.parametrize("how", ["parameter", "env"])
def test_a_missing_or_bad_policy_file_fails_closed_in_one_line(monkeypatch, tmp_path, text, names, how):
    """setup raises BadPolicy (a UserError: no traceback from the CLI) before any span can be exported:
    one line naming the file (and the variable it came from) and the cause."""
    from genai_o11y.redact import POLICY_ENV, BadPolicy

    monkeypatch.setenv("GENAI_O11Y_HASH_SALT", "salt-1")
    path = tmp_path / "policy.yaml"
    if text is not None:
        path.write_text(text)
    if how == "env":
        monkeypatch.setenv(POLICY_ENV, str(path))
    exporter = InMemorySpanExporter()
    with pytest.raises(BadPolicy) as e:
        instrument.setup("svc", exporter=exporter, set_global=False, redaction_policy=path if how == "parameter" else None)
    msg = str(e.value)
    assert isinstance(e.value, UserError) and "\n" not in msg and str(path) in msg and names in msg, msg
    assert (f"(from {POLICY_ENV})" in msg) == (how == "env"), msg
    assert not exporter.get_finished_spans()


def test_the_demo_command_refuses_a_bad_policy_in_one_line_without_a_traceback(tmp_path):
    """The CLI path (`genai-o11y demo`, as compose runs the app): exit 2, one line on stderr, nothing sent."""
    import os
    import subprocess
    import sys

    from genai_o11y.redact import POLICY_ENV

    env = dict(os.environ, GENAI_O11Y_HASH_SALT="s", **{POLICY_ENV: str(tmp_path / "missing.yaml")})
    run = subprocess.run([sys.executable, "-m", "genai_o11y", "demo", "--requests", "1", "--endpoint", "127.0.0.1:1"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and run.stdout == "", (run.returncode, run.stdout)
    assert run.stderr.splitlines() == [f"error: redaction policy {tmp_path / 'missing.yaml'} (from {POLICY_ENV}): redaction policy file not found"], run.stderr


# --- alongside other instrumentations -----------------------------------------------------------------

@pytest.fixture
def fake_openai():
    with FakeOpenAI() as srv:
        yield srv.base_url


@pytest.fixture(params=["official-openai-v2", "openllmetry"])
def instrumented_client(request, mem, fake_openai):
    """An OpenAI client against the fake server, with the library's own instrumentation on `mem`'s provider."""
    import openai

    if request.param == "official-openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    else:
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=mem[2])
    try:
        yield openai.OpenAI(api_key="test-key", base_url=fake_openai)
    finally:
        inst.uninstrument()


def test_alongside_other_openai_instrumentations_one_trace_one_model_span(mem, prompts, instrumented_client):
    obs, exporter, _tp = mem
    with obs.request(route="billing") as req:
        with obs.model_call("gpt-4o", provider="openai", prompt=prompts.get("answer")) as s:
            instrumented_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "where is my order?"}])
            s.usage(input_tokens=12, output_tokens=5, cached_input_tokens=2, reasoning_tokens=3)  # the app's own counts on the wrapper
    spans = exporter.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {req.trace_id}, "one trace"
    model_spans = [s for s in spans if s.attributes.get(n.STAGE) == "model_call"]
    assert len(model_spans) == 1, [s.name for s in spans]
    theirs = model_spans[0]
    assert theirs.instrumentation_scope.name != "genai_o11y.instrument", "the library's own span is the model span"
    assert theirs.attributes[n.PROMPT_VERSION] == "v7" and theirs.attributes[n.ROUTE] == "billing"
    assert theirs.attributes[GA.GEN_AI_USAGE_INPUT_TOKENS] == 12
    # our wrapper is not a second model span for the collector either (no stage, no operation)
    ours = next(s for s in spans if s.instrumentation_scope.name == "genai_o11y.instrument" and s.name.startswith("chat"))
    assert n.STAGE not in ours.attributes and GA.GEN_AI_OPERATION_NAME not in ours.attributes
    assert not [k.attribute for k in n.TOKEN_KINDS if k.attribute in ours.attributes], "tokens counted once, on their span"


def test_an_embedding_inside_the_helpers_embedding_stage_is_one_embedding_span(mem, instrumented_client):
    """A trial counted every embedding twice with the official instrumentation: the helper's stage span and
    the library's span (the collector derives stage embedding from its operation) both counted."""
    obs, exporter, _tp = mem
    with obs.request(route="faq"):
        with obs.embedding("text-embedding-3-small", provider="openai"):
            instrumented_client.embeddings.create(model="text-embedding-3-small", input="where is my order?")
    spans = exporter.get_finished_spans()
    theirs = [s for s in spans if s.instrumentation_scope.name != "genai_o11y.instrument"]
    assert theirs, "the library made its span"
    assert [s.instrumentation_scope.name != "genai_o11y.instrument" for s in spans if s.attributes.get(n.STAGE) == "embedding"] == [True]
    ours = next(s for s in spans if s.instrumentation_scope.name == "genai_o11y.instrument" and s.name.startswith("embeddings"))
    # nothing the collector would derive a second embedding stage from
    assert n.STAGE not in ours.attributes and GA.GEN_AI_OPERATION_NAME not in ours.attributes


@pytest.mark.collector
def test_through_the_real_collector_metrics_carry_what_the_helper_set(otelcol, tmp_path, prompts, fake_openai):
    """Helper -> real collector: stages counted once, feedback split by prompt version, the HTTP span
    above the request not counted as a second request, OpenLLMetry's model span not duplicated."""
    import openai
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    spec = make_spec(collector_ports({"backends.tempo.endpoint": "127.0.0.1:1"}, tmp_path))
    with run_collector(otelcol, spec, tmp_path) as col:
        obs = instrument.setup("helper-e2e", endpoint=col.otlp_grpc, release="2026.11.3", redact=False, set_global=False)
        tracer = obs.provider.get_tracer("http-server")
        inst = OpenAIInstrumentor()
        inst.instrument(tracer_provider=obs.provider)
        try:
            client = openai.OpenAI(api_key="test-key", base_url=fake_openai)
            for i in range(4):
                with tracer.start_as_current_span("POST /ask"):  # e.g. the web framework's server span
                    tid = run_pipeline(obs, prompts)
                with tracer.start_as_current_span("POST /ask"):
                    with obs.request(route="faq") as faq:
                        with obs.model_call("gpt-4o", provider="openai", prompt=prompts.get("answer")):
                            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
                obs.record_feedback(tid, "negative" if i == 0 else "positive")
                obs.record_eval(faq.trace_id, "faithfulness", 0.9)
        finally:
            inst.uninstrument()
        assert obs.processor.force_flush(10_000)

        def ready():
            smp = col.samples()
            fb = metric_value(smp, "genai_o11y_feedback_total", service_name="helper-e2e")
            retrieval = metric_value(smp, "genai_o11y_span_calls_total", service_name="helper-e2e", genai_o11y_stage="retrieval")
            evals = metric_value(smp, "genai_o11y_evaluation_score_count", service_name="helper-e2e")
            return smp if fb == 4 and retrieval == 4 and evals == 4 else None

        smp = wait_for(ready, what="helper metrics")
        calls = "genai_o11y_span_calls_total"
        assert metric_value(smp, calls, service_name="helper-e2e", genai_o11y_stage="request") == 8  # not 12: the HTTP span is not a request
        assert metric_value(smp, calls, service_name="helper-e2e", genai_o11y_stage="model_call") == 8  # OpenLLMetry's span, once
        assert metric_value(smp, calls, service_name="helper-e2e", genai_o11y_stage="tool_call", gen_ai_tool_name="lookup_order", genai_o11y_tool_outcome="ok") == 4
        assert metric_value(smp, "genai_o11y_feedback_total", service_name="helper-e2e", genai_o11y_feedback_sentiment="negative", genai_o11y_prompt_version="v7", gen_ai_request_model="gpt-4o") == 1
        assert metric_value(smp, "genai_o11y_failures_total", service_name="helper-e2e", genai_o11y_failure_category="guardrail_block") == 4
        assert metric_value(smp, calls, service_name="helper-e2e", service_version="2026.11.3", genai_o11y_stage="retrieval") == 4
        # the eval of the OpenLLMetry-instrumented request still carries the request's model and route
        assert metric_value(smp, "genai_o11y_evaluation_score_count", service_name="helper-e2e", gen_ai_request_model="gpt-4o", genai_o11y_route="faq") == 4
        obs.provider.shutdown()


# --- the request span is labelled with its answer's model and prompt version ------------------------------

@pytest.mark.parametrize("app_sets", ["nothing", "at_start", "on_handle"])
@pytest.mark.parametrize("calls", [0, 1, 2, 3])
def test_request_takes_the_last_model_calls_model_and_prompt_version_unless_the_app_set_them(mem, app_sets, calls):
    obs, exporter, _ = mem
    reg = instrument.PromptRegistry()
    made = [(f"model-{i}", reg.register(f"p{i}", f"v{i}", f"template {i}: $q")) for i in range(calls)]
    own = {"gen_ai__request__model": "app-model", "genai_o11y__prompt__version": "app-v"} if app_sets == "at_start" else {}
    with obs.request(route="faq", **own) as req:
        for model, prompt in made:
            with obs.model_call(model, provider="openai", prompt=prompt):
                pass
            with obs.tool_call("search_kb"):  # a later stage that is not a model call changes nothing
                pass
        if app_sets == "on_handle":
            req.set(gen_ai__request__model="app-model", genai_o11y__prompt__version="app-v")
    span = by_stage(exporter)["request"][0]
    got = (span.attributes.get(n.REQUEST_MODEL), span.attributes.get(n.PROMPT_VERSION))
    if app_sets != "nothing":
        assert got == ("app-model", "app-v")
    elif calls:
        assert got == (made[-1][0], made[-1][1].version)
    else:
        assert got == (None, None)
