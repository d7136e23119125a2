"""Redaction: the corpus through the real collector and through the app-side redactor.

Zero leaks anywhere that leaves the collector (traces at the sink, the metrics endpoints, its own
log), decoys survive, Tier 1 keys survive untouched, identifiers are hashed with the env salt, and
the app-side redactor gives the same text as the collector for the same input.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import pii_corpus as corpus
from genai_o11y import artifacts, catalog
from genai_o11y.builders import collector as collector_builder
from genai_o11y.redact import COUNT_KEY, MissingSalt, RedactingSpanExporter, Redactor, hash_id
from harness import (ID_PATH, REDACTION_BASE, TEST_SALT, TIER1, OtlpSink, _attrs, collector_ports, corpus_items, make_spec, run_collector, send,
                     span_pb, through_collector, wait_for)

pytestmark = pytest.mark.collector
BASE = REDACTION_BASE



# --- raw OTLP -------------------------------------------------------------------------------------

def exported_text(sink: OtlpSink) -> str:
    parts = []
    for s in sink.spans():
        parts += [s.name, repr(s.attributes), repr(s.resource), repr(s.events)]
    return "\n".join(parts)


# --- the app-side redactor --------------------------------------------------------------------------

def test_helper_masks_every_case_and_keeps_every_decoy():
    r = Redactor(salt="s")
    for case in corpus.cases():
        out, n = r.mask(case.text)
        assert not [x for x in case.needles() if x in out], (case.kind, case.text, out)
        assert case.token in out and n >= 1, (case.kind, out)
    for decoy, text in corpus.decoy_texts():
        out, n = r.mask(text)
        assert decoy in out and n == 0, (decoy, out)


def test_helper_keeps_tier1_hashes_ids_truncates_and_flattens():
    r = Redactor(salt="pepper", max_chars=100)
    out, n = r.attributes({**TIER1, "user.id": "u-42", "gen_ai.input.messages": "x" * 500 + " jane.doe@example.com",
                           "gen_ai.output.messages": [{"role": "assistant", "content": "call +1 202-555-0143"}]})
    for k, v in TIER1.items():
        assert out[k] == v
    assert out["user.id"] == hash_id("u-42", "pepper") and out["user.id"].startswith("h_") and len(out["user.id"]) == 18
    assert len(out["gen_ai.input.messages"]) == 100
    assert out["gen_ai.output.messages.0.content"] == "call <PHONE>" and out["gen_ai.output.messages.0.role"] == "assistant"
    assert n == 2


def test_helper_requires_a_salt(monkeypatch):
    monkeypatch.delenv("GENAI_O11Y_HASH_SALT", raising=False)
    with pytest.raises(MissingSalt, match="GENAI_O11Y_HASH_SALT is not set"):
        Redactor()
    assert hash_id("u-1", "a") != hash_id("u-1", "b") and hash_id("u-1", "a") == hash_id("u-1", "a")


def test_redacting_exporter_cleans_sdk_spans_before_export():
    """The app-side path: SDK spans -> RedactingSpanExporter -> OTLP, no collector in between."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from genai_o11y.redact import RedactingSpanExporter

    cases = [c for c in corpus.cases() if c.place in ("content", "event_message", "span_name", "resource")]
    with OtlpSink() as sink:
        tp = TracerProvider(resource=Resource.create({"service.name": "app", "app.owner_contact": cases[0].text}))
        tp.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(OTLPSpanExporter(endpoint=f"http://{sink.endpoint}", insecure=True), Redactor(salt="s"))))
        tracer = tp.get_tracer("t")
        for c in cases:
            with tracer.start_as_current_span(f"lookup {c.text}" if c.place == "span_name" else "chat") as span:
                span.set_attribute("user.id", "user-8812")
                if c.place in ("content", "resource"):
                    span.set_attribute("gen_ai.input.messages", c.text)
                if c.place == "event_message":
                    span.add_event("exception", {"exception.type": "ValueError", "exception.message": c.text})
        tp.shutdown()
        text = exported_text(sink)
        spans = sink.spans()
    assert len(spans) == len(cases)
    leaks = [(c.kind, n) for c in cases for n in c.needles() if n in text]
    assert not leaks, leaks[:5]
    assert all(s.attributes["user.id"] == hash_id("user-8812", "s") for s in spans)
    # PII in attributes or events is counted on the span (names are masked but not counted, as in the collector)
    named = {s.name for s in spans}
    assert sum(1 for s in spans if s.attributes.get("genai_o11y.redaction.count", 0) >= 1) == len([c for c in cases if c.place != "span_name"])
    assert all("<" in n for n in named if n.startswith("lookup "))


def test_helper_metadata_only_drops_content():
    out, n = Redactor(salt="s", mode="metadata-only").attributes({**TIER1, "gen_ai.input.messages": "hello", "app.x": 1})
    assert out == TIER1 and n == 2


# --- the collector --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, otelcol):
    """The corpus through one collector (the default engine); what left it."""
    items = corpus_items()
    with through_collector(otelcol, tmp_path_factory.mktemp("redaction"), items) as (spec, col, sink):
        time.sleep(2)  # metrics flush
        metrics = col.metrics_text() + urllib.request.urlopen(col.telemetry_url, timeout=5).read().decode()
        yield {"spec": spec, "items": items, "sink": sink, "cases": corpus.cases(), "metrics": metrics, "log": col.log(), "spans": sink.spans()}


def test_zero_leaks_in_traces_metrics_and_logs(corpus_run):
    exported = exported_text(corpus_run["sink"])
    exported += "\n" + urllib.parse.unquote_plus(exported)  # nothing left encoded either
    leaks: dict[str, list] = {}
    for case in corpus_run["cases"]:
        for needle in case.needles():
            for where, text in (("traces", exported), ("metrics", corpus_run["metrics"]), ("log", corpus_run["log"])):
                if needle in text:
                    leaks.setdefault(case.kind, []).append((where, case.place, needle))
    assert not leaks, {k: v[:3] for k, v in leaks.items()}
    assert len(corpus_run["cases"]) >= 400


def test_every_place_shows_the_kind_of_what_was_masked(corpus_run):
    by_case = {}
    for s in corpus_run["spans"]:
        if "corpus.case" in s.attributes:
            by_case[s.attributes["corpus.case"]] = s
    missing = []
    for case in corpus_run["cases"]:
        s = by_case[case.id]
        text = s.name + repr(s.attributes) + repr(s.events) + repr(s.resource)
        if case.token not in text:
            missing.append((case.kind, case.place, text[:200]))
    assert not missing, missing[:5]


def helper_from_generated_file(spec, tmp_path) -> Redactor:
    """The app-side redactor as an app loads it: from the redaction/policy.yaml `generate` writes for `spec`."""
    path = tmp_path / "policy.yaml"
    path.write_text(artifacts.build_all(spec, "test spec")[artifacts.REDACTION_POLICY])
    return Redactor.from_file(path, salt=TEST_SALT)


class _Capture:
    """An inner exporter that keeps what it is given."""

    def export(self, spans):
        self.spans = list(spans)


def helper_output(r: Redactor, res: dict, span) -> tuple[str, dict, list, dict]:
    """What the app-side RedactingSpanExporter makes of one input span (as an SDK span): name, attributes
    (with the audit count), events, resource; shaped as the sink reports what left the collector."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import SpanContext

    sdk = ReadableSpan(name=span.name, context=SpanContext(int.from_bytes(span.trace_id, "big"), int.from_bytes(span.span_id, "big"), False),
                       resource=Resource(res), attributes=_attrs(span.attributes),
                       events=[Event(e.name, _attrs(e.attributes), e.time_unix_nano) for e in span.events])
    inner = _Capture()
    RedactingSpanExporter(inner, r).export([sdk])
    out = inner.spans[0]
    return out.name, dict(out.attributes), [(e.name, dict(e.attributes)) for e in out.events], dict(out.resource.attributes)


def assert_parity(items, spans, r: Redactor) -> int:
    """Every span of `items` as the collector exported it equals the app-side redactor's output on the same
    input, in every place (name, attributes, events, resource). Attributes the collector's pipeline adds
    after redaction (derived Tier 1 keys such as cost) are not the redactor's: they are left out, and only
    Tier 1 keys may be such additions."""
    by_trace = {s.trace_id: s for s in spans}
    diffs = []
    for res, span in items:
        got = by_trace[span.trace_id.hex()]
        name, attrs, events, resource = helper_output(r, res, span)
        # the audit count: absent in the helper's output when nothing was masked, 0 in the collector's
        assert got.attributes.get(COUNT_KEY, 0) == attrs.pop(COUNT_KEY, 0), (span.name, got.attributes, attrs)
        added = {k for k in got.attributes if k not in attrs and k != COUNT_KEY}
        assert all(r.policy.is_metadata(k) for k in added), sorted(k for k in added if not r.policy.is_metadata(k))
        got_attrs = {k: v for k, v in got.attributes.items() if k in attrs and k != COUNT_KEY}
        got_resource = {k: v for k, v in got.resource.items() if k in resource or not r.policy.is_metadata(k)}
        if (got.name, got_attrs, got.events, got_resource) != (name, attrs, events, resource):
            diffs.append({"span": span.name[:60], "collector": (got.name, got_attrs, got.events, got_resource), "helper": (name, attrs, events, resource)})
    assert not diffs, (len(diffs), diffs[:3])
    return len(items)


def test_collector_and_helper_agree_on_the_same_cases(corpus_run, tmp_path):
    """The default spec: the helper loaded from its generated policy file gives what the collector gives."""
    r = helper_from_generated_file(corpus_run["spec"], tmp_path)
    assert r.max_chars == corpus_run["spec"].redaction.max_content_chars == 512
    assert assert_parity(corpus_run["items"], corpus_run["spans"], r) >= 400


#: A spec that changes every redaction setting a policy file carries: an extra detector, a Tier 1 key
#: of its own, a content limit; run in each mode that exports content or drops it.
SETTINGS = {"redaction.max_content_chars": 100, "redaction.extra_patterns": [{"name": "EMPLOYEE_ID", "regex": "EMP-[0-9]{6}"}],
            "redaction.metadata_keys": {"app.customer_tier": {"enum": ["gold", "silver"]}}}


def settings_items() -> list:
    """The corpus, plus the spec's own detector and Tier 1 key in every place."""
    items = corpus_items()
    for i, text in enumerate(["badge EMP-004211 at the desk", "EMP-123456", "mail jane.doe@example.com, badge EMP-777000 " + "z" * 200]):
        items.append(({"service.name": "settings-bot", "app.customer_tier": "gold"},
                      span_pb(7_000_000 + i, f"lookup {text}", {"gen_ai.input.messages": text, "app.customer_tier": "silver", "app.note": text},
                              events=[("exception", {"exception.message": text, "app.customer_tier": "gold"})])))
    for i, tier in enumerate(["platinum", "gold", "gold jane.doe@example.com", 3]):  # off its contract: content
        items.append(({"service.name": "settings-bot"}, span_pb(7_100_000 + i, "tier", {"app.customer_tier": tier})))
    return items


@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_collector_and_helper_agree_under_a_specs_own_settings(otelcol, tmp_path, mode):
    """A spec with extra_patterns, metadata_keys, max_content_chars and a mode: the helper loaded from the
    generated policy file (and nothing else) gives what the collector gives, span by span."""
    items = settings_items()
    with through_collector(otelcol, tmp_path, items, {**SETTINGS, "redaction.mode": mode}) as (spec, _col, sink):
        spans = sink.spans()
    r = helper_from_generated_file(spec, tmp_path)
    assert (r.mode, r.max_chars) == (mode, 100) and r.policy.is_metadata("app.customer_tier")
    assert assert_parity(items, spans, r) >= 400
    # the spec's own settings did something on both sides
    emp = [s for s in spans if s.trace_id == (7_000_001).to_bytes(16, "big").hex()][0]
    assert emp.name == "lookup <EMPLOYEE_ID>" and emp.attributes["app.customer_tier"] == "silver"
    if mode == "redacted":
        assert emp.attributes["gen_ai.input.messages"] == "<EMPLOYEE_ID>"
        assert max(len(v) for s in spans for v in s.attributes.values() if isinstance(v, str)) == 100
    else:
        assert "gen_ai.input.messages" not in emp.attributes


def test_ids_in_span_names_become_placeholders(corpus_run):
    s = next(x for x in corpus_run["spans"] if x.trace_id == (9_000_002).to_bytes(16, "big").hex())
    assert s.name == "GET /users/<ID>/orders/<ID> for <EMAIL>"
    assert s.name == Redactor(salt="s").span_name(ID_PATH)


def test_decoys_survive(corpus_run):
    kept = {s.attributes["decoy"]: s.attributes["gen_ai.input.messages"] for s in corpus_run["spans"] if "decoy" in s.attributes}
    lost = [d for i, (d, _t) in enumerate(corpus.decoy_texts()) if d not in kept[i]]
    assert not lost, lost


def test_tier1_untouched_ids_hashed_content_truncated_and_counted(corpus_run):
    probe = next(s for s in corpus_run["spans"] if s.name == "probe")
    for k, v in TIER1.items():
        assert probe.attributes[k] == v, k
    assert probe.attributes["user.id"] == hash_id("user-8812", TEST_SALT)
    assert probe.attributes["session.id"] == hash_id(99120, TEST_SALT)
    assert probe.attributes["genai_o11y.account.id"] == hash_id("acct-55", TEST_SALT)
    assert probe.resource["user.id"] == hash_id("u-resource-7", TEST_SALT)
    assert dict(probe.events[0][1])["user.id"] == hash_id("user-8812", TEST_SALT)
    assert len(probe.attributes["gen_ai.input.messages"]) == 512
    # the audit count: 3 values masked in the span (past the truncation point too) + 1 in the event
    assert probe.attributes["genai_o11y.redaction.count"] == 3 + 1
    assert "jane.doe" not in repr(probe.events)
    # the stage's internal mark on spans with content never leaves it
    assert not [sp.name for sp in corpus_run["spans"] if "genai_o11y.redaction.pending" in sp.attributes]


def test_metric_labels_come_from_tier1_keys_only():
    policy = collector_builder.policy_for(make_spec())
    keys = set(catalog.SPAN_DIMENSIONS) | set(catalog.USAGE_DIMENSIONS) | set(catalog.RESOURCE_TO_LABEL)
    for m in catalog.usage_metrics() + catalog.tenant_metrics():
        keys |= set(m.labels)
    assert all(policy.is_metadata(k) for k in keys), [k for k in keys if not policy.is_metadata(k)]


def test_same_hash_after_restart_other_salt_other_hash(otelcol, tmp_path):
    def run(salt: str) -> str:
        with OtlpSink() as sink:
            spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, **BASE}, tmp_path))
            with run_collector(otelcol, spec, tmp_path, env={"GENAI_O11Y_HASH_SALT": salt}) as col:
                send(col.otlp_grpc, [({"service.name": "h"}, span_pb(777, "x", {"user.id": "user-1"}))])
                return wait_for(lambda: [s.attributes["user.id"] for s in sink.spans()], what="span")[0]

    a1, a2, b = run("salt-a"), run("salt-a"), run("salt-b")
    assert a1 == a2 == hash_id("user-1", "salt-a")
    assert b != a1 and b == hash_id("user-1", "salt-b")


@pytest.mark.parametrize("engine", ["native", "ottl"])
def test_no_salt_is_a_clear_startup_error(otelcol, tmp_path, engine):
    spec = make_spec(collector_ports({"collector.engine": engine}, tmp_path))
    cfg = tmp_path / "c.yaml"
    from genai_o11y import render

    cfg.write_text(render.to_yaml(collector_builder.build(spec)))
    env = {k: v for k, v in os.environ.items() if k != "GENAI_O11Y_HASH_SALT"}
    proc = subprocess.run([str(otelcol), f"--config={cfg}"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    if engine == "native":  # the processor's own validation names the field and the variable
        assert "genai_redaction: salt: empty" in proc.stderr and "GENAI_O11Y_HASH_SALT" in proc.stderr
    else:
        assert "GENAI_O11Y_HASH_SALT_must_be_set" in proc.stderr + proc.stdout


def test_metadata_only_mode_keeps_tier1_only(otelcol, tmp_path):
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, "redaction.mode": "metadata-only", **BASE}, tmp_path))
        with run_collector(otelcol, spec, tmp_path) as col:
            send(col.otlp_grpc, [({"service.name": "m", "app.owner_contact": "x@y.com"}, span_pb(4242, "chat", {**TIER1, "gen_ai.input.messages": "hello", "app.note": "n", "user.id": "u"},
                                                                                              events=[("exception", {"exception.type": "E", "exception.message": "m"})]))])
            s = wait_for(lambda: sink.spans(), what="span")[0]
    assert {k: s.attributes[k] for k in TIER1} == TIER1
    assert "gen_ai.input.messages" not in s.attributes and "app.note" not in s.attributes
    assert s.attributes["user.id"] == hash_id("u", TEST_SALT)
    assert s.attributes["genai_o11y.redaction.count"] == 2
    assert dict(s.events[0][1]) == {"exception.type": "E"}
    assert "app.owner_contact" not in s.resource


def test_full_mode_sends_content_only_to_the_restricted_store(otelcol, tmp_path):
    with OtlpSink() as main, OtlpSink() as restricted:
        spec = make_spec(collector_ports({
            "backends.tempo.endpoint": main.endpoint, "redaction.mode": "full",
            "redaction.full_content_store": {"name": "audit_store", "endpoint": restricted.endpoint, "insecure": True}, **BASE,
        }, tmp_path))
        cfg = collector_builder.build(spec)
        assert "otlp_grpc/audit_store" in cfg["exporters"]
        with run_collector(otelcol, spec, tmp_path) as col:
            send(col.otlp_grpc, [({"service.name": "f"}, span_pb(31337, "chat", {"gen_ai.input.messages": "mail jane.doe@example.com"}))])
            raw = wait_for(lambda: restricted.spans(), what="restricted copy")[0]
            red = wait_for(lambda: main.spans(), what="main copy")[0]
    assert raw.attributes["gen_ai.input.messages"] == "mail jane.doe@example.com"
    assert red.attributes["gen_ai.input.messages"] == "mail <EMAIL>"


def test_helper_limits_count_characters_not_bytes():
    """max_content_chars counts characters (2-byte "ü", 3-byte CJK, 4-byte emoji), never splitting one."""
    r = Redactor(salt="s", max_chars=100)
    for ch in ("ü", "日", "😀", "-"):
        out, _ = r.attributes({"gen_ai.input.messages": ch * 300})
        assert out["gen_ai.input.messages"] == ch * 100
        out, _ = r.attributes({"gen_ai.input.messages": ch * 99})
        assert out["gen_ai.input.messages"] == ch * 99
    assert r.message("ü" * 300) == "ü" * 100


def test_collector_limits_count_characters_not_bytes(otelcol, tmp_path):
    items = [({"service.name": "u"}, span_pb(61_000 + i, "chat", {"gen_ai.input.messages": ch * 600, "k": i}))
             for i, ch in enumerate(("ü", "日", "😀", "-"))]
    with through_collector(otelcol, tmp_path, items) as (_spec, _col, sink):
        got = {s.attributes["k"]: s.attributes["gen_ai.input.messages"] for s in sink.spans()}
    assert got == {i: ch * 512 for i, ch in enumerate(("ü", "日", "😀", "-"))}, {k: (len(v), v[:3]) for k, v in got.items()}
