"""The native engine: our own components, genai_redaction, genai_normalise and genai_usage's folding (gocomponents/), against the OTTL engine.

Their Go tests run on the configs generated from the default spec; their module pins match the
distribution's; and the same spans through a collector with each engine (collector.engine) leave
it identical: the PII corpus, decoys, probes and randomly shaped spans through the redaction stage
(both modes); and randomly labelled spans give the same series (label folding, the request view). The
native components are the OTTL statements, one pass per span.
"""

from __future__ import annotations

import math
import random
import time

import pytest

import pii_corpus as corpus
from genai_o11y import catalog
from genai_o11y import names
from genai_o11y.builders import collector as collector_builder
from harness import TIER1, OtlpSink, collector_ports, corpus_items, kv, make_spec, run_collector, send, span_pb, through_collector, wait_for

def test_default_spec_uses_the_native_engine_and_the_ottl_one_stays_available():
    native = collector_builder.build(make_spec())
    assert "genai_redaction" in native["service"]["pipelines"]["traces/ingest"]["processors"]
    # the native engine's metrics branch changes nothing (the fan-out copies no batch for it): genai_usage
    # folds what it reads and observes the request view in its one pass, without traces/requests; eval-event
    # log records go through genai_normalise, then genai_usage folds them as it does spans
    assert native["service"]["pipelines"]["traces/metrics"]["processors"] == []
    assert not [p for p in native["processors"] if p.startswith(("transform/request_view", "transform/dimensions", "filter/genai_spans"))]
    assert native["service"]["pipelines"]["logs/eval_events"]["processors"][-1] == "genai_normalise"
    assert native["connectors"]["genai_usage"]["fold"]["request_view"] == collector_builder.request_view_native()
    assert native["connectors"]["genai_usage"]["require_key"] == names.STAGE
    assert "traces/requests" not in native["service"]["pipelines"] and "traces/requests" in collector_builder.build(make_spec({"collector.engine": "ottl"}))["service"]["pipelines"]
    ingest = native["service"]["pipelines"]["traces/ingest"]["processors"]
    assert ingest[ingest.index("resource") + 1] == "genai_normalise"
    assert native["processors"]["genai_redaction"]["salt"] == "${env:GENAI_O11Y_HASH_SALT}"
    assert "$${1}<CREDENTIALS>@" in [d["mask"] for d in native["processors"]["genai_redaction"]["detectors"]]  # confmap-escaped
    ottl = collector_builder.build(make_spec({"collector.engine": "ottl"}))
    assert "transform/redact" in ottl["service"]["pipelines"]["traces/ingest"]["processors"]
    assert "transform/dimensions" in ottl["service"]["pipelines"]["traces/metrics"]["processors"]
    assert "genai_redaction" not in ottl["processors"]
    assert "signal_to_metrics" in ottl["connectors"] and "genai_usage" not in ottl["connectors"]
    assert "genai_usage" in native["connectors"] and "signal_to_metrics" not in native["connectors"]


SAMPLES = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "123-45-6789",
           "10.0.0.7", "2001:db8::8a2e:370:7334", "sk-proj-" + "a" * 24, "https://u:pw@db.internal/x", "Bearer abcdefgh.ijk",
           "/users/12345/", "3f2b8c1e-9d4a-4c7b-8e2f-1a2b3c4d5e6f"]


def _text(rng: random.Random) -> str:
    words = ["the", "order", "ünïcödé", "refund", "42", "2024-11-02", "v1.2.3", "a.b", "x:y", "€", "call", "at", "-", "(0)"]
    parts = [rng.choice(SAMPLES) if rng.random() < 0.15 else rng.choice(words) for _ in range(rng.randint(0, 120))]
    return " ".join(parts)


def _value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth < 3 and r < 0.12:
        return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randint(0, 3))}
    if depth < 3 and r < 0.24:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if r < 0.32:
        return rng.randint(-5, 10**9)
    if r < 0.36:
        return rng.random() < 0.5
    return _text(rng)


def random_items(n: int, seed: int = 11) -> list:
    """Spans with randomly shaped attributes: Tier 1 and other keys, nested maps and lists, ints,
    booleans, Unicode past the truncation limit, identifiers, events, resources, ids in names."""
    rng = random.Random(seed)
    keys = [*TIER1, "gen_ai.input.messages", "app.note", "url.full", "user.id", "session.id", "genai_o11y.account.id",
            "gen_ai", "gen_ai.request", "genai_o11y", "x"]
    items = []
    for i in range(n):
        attrs = {k: (_value(rng) if k not in ("user.id", "session.id") else rng.choice(["u-1", 7, "sé"])) for k in rng.sample(keys, rng.randint(0, 8))}
        if rng.random() < 0.2:
            attrs["genai_o11y.redaction.count"] = rng.randint(0, 3)
        events = [("exception", {"exception.type": "E", "exception.message": _text(rng), "user.id": "u-9"})] if rng.random() < 0.3 else []
        res = {"service.name": "random-bot", **({"app.owner": _text(rng)} if rng.random() < 0.3 else {})}
        name = rng.choice(["retrieval", "GET /users/98765/orders", f"lookup {rng.choice(SAMPLES)}", "execute_tool search_kb", _text(rng)[:60]])
        items.append((res, span_pb(7_000_000 + i, name, attrs, events)))
    return items


LIMIT = 512  # through_collector's redaction.max_content_chars


def _bytes_cut(s: str, limit: int) -> str:
    """s cut to at most `limit` bytes without splitting a UTF-8 sequence (OTTL's truncate_all)."""
    b = s.encode()[:limit]
    return b.decode("utf-8", "ignore")


def _same(native, ottl) -> bool:
    """Identical, except where only the native engine can reach: max_content_chars counts
    characters there and bytes in OTTL (redaction.OTTL_LIMITS), so a value of more than LIMIT bytes
    is, in OTTL, the native engine's value cut at LIMIT bytes (never more, never other text)."""
    if isinstance(native, str) and isinstance(ottl, str):
        return native == ottl or (len(native) <= LIMIT < len(native.encode()) and ottl == _bytes_cut(native, LIMIT))
    if isinstance(native, dict) and isinstance(ottl, dict):
        return native.keys() == ottl.keys() and all(_same(native[k], ottl[k]) for k in native)
    if isinstance(native, (list, tuple)) and isinstance(ottl, (list, tuple)):
        return len(native) == len(ottl) and all(_same(a, b) for a, b in zip(native, ottl))
    return native == ottl


def test_parity_allows_only_the_byte_cut():
    s = "ü" * LIMIT
    assert _same(s, _bytes_cut(s, LIMIT)) and _same({"a": [s]}, {"a": [_bytes_cut(s, LIMIT)]})
    assert _same(s[:300], _bytes_cut(s, LIMIT))  # 300 characters, 600 bytes
    assert not _same(s, _bytes_cut(s, LIMIT)[:-1]) and not _same("é" + s[1:], _bytes_cut(s, LIMIT)) and not _same("ab", "a")
    assert not _same("x" * LIMIT, "x" * (LIMIT - 1))  # ASCII: the same cut in both engines


def _by_trace(spans) -> dict:
    return {s.trace_id: (s.name, s.attributes, s.events, s.resource) for s in spans}


@pytest.mark.collector
@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_both_engines_give_the_same_spans(otelcol, tmp_path, mode):
    items = corpus_items(exclude_places=("url_encoded",)) + random_items(300)  # OTTL cannot decode (redaction.OTTL_LIMITS)
    out = {}
    for engine in ("native", "ottl"):
        (tmp_path / engine).mkdir()
        with through_collector(otelcol, tmp_path / engine, items, {"collector.engine": engine, "redaction.mode": mode}) as (_spec, _col, sink):
            out[engine] = _by_trace(sink.spans())
    assert len(out["native"]) == len(items) == len(out["ottl"])
    diff = [(t, out["native"][t], out["ottl"][t]) for t in out["ottl"] if not _same(out["native"].get(t), out["ottl"][t])]
    assert not diff, f"{len(diff)} spans differ; first: {diff[:2]}"
    masked = sum(repr(v).count("<EMAIL>") for v in out["native"].values())
    assert (masked > 100) == (mode == "redacted")  # the comparison covered real masking
    assert len(corpus.cases()) >= 400


def dimension_items(n: int, seed: int = 5) -> list:
    """Spans with randomly chosen label values, valid and not, of several types, as the metrics branch sees them."""
    rng = random.Random(seed)
    spec = make_spec()
    pick = lambda *xs: rng.choice(xs)  # noqa: E731
    stages = [*spec.all_stages, "warmup", 3]
    models = [m.name for m in spec.models] + [a for m in spec.models for a in m.aliases] + ["llama-3", 7]
    tools = [t.name for t in spec.pipeline.tools] + ["shell"]
    items = []
    for i in range(n):
        a: dict = {names.STAGE: "request" if rng.random() < 0.4 else rng.choice(stages)}  # request spans carry the most rules
        optional = {
            names.ROUTE: lambda: pick(*spec.pipeline.routes, "legal", 1),
            names.REQUEST_MODEL: lambda: rng.choice(models),
            names.TOOL_NAME: lambda: rng.choice(tools),
            names.FAILURE_CATEGORY: lambda: pick(*names.FAILURE_CATEGORIES, "oops", 2),
            names.TOOLS_CALLED: lambda: pick(rng.sample(tools, rng.randint(0, 3)), " search_kb ,lookup_order", "", "lookup_orders", 5),
            names.INPUT_TOKENS: lambda: rng.randint(0, 900),
            names.COST_USD: lambda: rng.random(),
            names.RETRIEVAL_RESULTS: lambda: rng.randint(0, 9),
            names.RERANK_DISPLACEMENT: lambda: rng.random(),
            names.CHUNKS_INCLUDED: lambda: rng.randint(0, 9),
            names.PROMPT_TRUNCATED: lambda: pick(True, False, "true"),
            # a judge whose output did not parse: NaN, an infinity, "nan" (one would make the sum NaN for good)
        names.EVAL_SCORE: lambda: rng.choice([rng.random()] * 8 + [float("nan"), float("-inf"), "nan", "0.4"]),
            names.QUALITY_PROXY: lambda: pick(*[p.name for p in spec.evals.proxies], "thumbs_sideways", 4),
            names.SERVICE_NAME: lambda: "span-level-name",
            # the resource's labels: the span's own value wins
            names.ENVIRONMENT: lambda: "canary",
            names.SERVICE_VERSION: lambda: "r-span",
            names.REQUEST_DELEGATED: lambda: True,
        }
        for k in rng.sample(list(optional), rng.randint(0, len(optional))):
            a[k] = optional[k]()
        if rng.random() < 0.1:
            del a[names.STAGE]  # not a GenAI span: feeds nothing
        res = {names.SERVICE_NAME: pick("svc-a", "svc-b"), **({names.ENVIRONMENT: "prod"} if rng.random() < 0.5 else {}),
               **({names.SERVICE_VERSION: "r-res"} if rng.random() < 0.5 else {}), "service.instance.id": f"pod-{i}"}
        sp = span_pb(8_000_000 + i, "x", a, error=rng.random() < 0.3)
        if rng.random() < 0.3:
            sp.parent_span_id = (i + 1).to_bytes(8, "big")  # not a root: no request view
        items.append((res, sp))
    return items


@pytest.mark.collector
def test_both_engines_fold_labels_the_same(otelcol, tmp_path):
    """Randomly labelled spans through the whole default pipeline with each engine give the same series:
    the native engine folds the values genai_usage reads (its `fold`, require_key, copy_from_resource,
    the request view), the ottl one rewrites the spans (filter/genai_spans, transform/dimensions,
    traces/requests). Folding, aliases, the request flags, the views and the resource's labels
    (a span's own value wins) all reach the series compared."""
    items = dimension_items(800)
    out = _series_through_each_engine(otelcol, tmp_path, items)
    native, ottl = out["native"], out["ottl"]
    assert set(native) == set(ottl), (sorted(set(native) - set(ottl))[:5], sorted(set(ottl) - set(native))[:5])
    diff = [(k, native[k], ottl[k]) for k in ottl if not math.isclose(native[k], ottl[k], rel_tol=1e-9, abs_tol=1e-9)]
    assert not diff, f"{len(diff)} values differ; first: {diff[:3]}"
    labels = lambda name: [dict(k[1]) for k in native if k[0] == name]  # noqa: E731
    calls = labels(catalog.PROM["calls"])
    lab = names.prom_label
    # the comparison covered folding, aliases, the request flags, the views and the resource's labels
    assert {c.get(lab(names.ROUTE)) for c in calls} >= {names.OVERFLOW_VALUE, *make_spec().pipeline.routes}
    assert {c.get(lab(names.STAGE)) for c in calls} >= {names.OVERFLOW_VALUE, "request", "retrieval"}
    assert {c.get(lab(names.REQUEST_MODEL)) for c in calls} >= {"gpt-4o", names.OVERFLOW_VALUE}
    assert len(labels("genai_o11y_answers_missing_required_tool_total")) > 1
    assert len(labels("genai_o11y_answers_failed_after_tools_total")) > 1
    assert {p.get(lab(names.QUALITY_PROXY)) for p in labels("genai_o11y_quality_proxies_total")} >= {names.OVERFLOW_VALUE, "regenerate"}
    assert {c.get(lab(names.ENVIRONMENT)) for c in calls} >= {"prod", "canary", "production"}  # production: genai_normalise's default
    assert {c.get(lab(names.SERVICE_VERSION)) for c in calls} >= {"r-span", "r-res"}
    spans_with_stage = sum(any(kv.key == names.STAGE for kv in sp.attributes) for _r, sp in items)
    views = sum(v for (name, labels), v in native.items() if name == catalog.PROM["calls"]) - spans_with_stage
    assert 0 < views < spans_with_stage and spans_with_stage < len(items)  # some views, some spans without a stage


def normalise_items(n: int, seed: int = 31) -> list:
    """Spans as other instrumentations send them: legacy keys (several at once, of every type),
    provider spellings, span kinds, token counts as strings and doubles, models with aliases and
    unknown ones, tool spans with error types and statuses, root and child spans, old resources."""
    from genai_o11y.builders import normalise

    rng = random.Random(seed)
    spec = make_spec()
    models = [m.name for m in spec.models] + [a for m in spec.models for a in m.aliases] + ["llama-3", 7]
    tokens = lambda: rng.choice([rng.randint(0, 5000), str(rng.randint(0, 5000)), rng.random() * 900, "n/a", True])  # noqa: E731
    kinds = {k: sorted({v for kk, v, _o in normalise.OPERATION_FROM + normalise.STAGE_FROM if kk == k} | {"OTHER"}) for k, _v, _o in normalise.OPERATION_FROM + normalise.STAGE_FROM}
    providers = [*normalise.PROVIDER_VALUES, "OpenAI", "Azure", "anthropic", 3]
    items = []
    for i in range(n):
        a: dict = {}
        for legacy, current, _w in rng.sample(normalise.RENAMES, rng.randint(0, 4)):
            a[legacy] = rng.choice(providers) if current == names.PROVIDER else tokens() if "token" in legacy else rng.choice(models + ["search_kb"])
        for k in rng.sample(normalise.DROPPED_LEGACY, rng.randint(0, 1)):
            a[k] = rng.randint(0, 9)
        optional = {
            names.PROVIDER: lambda: rng.choice(providers),
            **{k.attribute: tokens for k in names.TOKEN_KINDS},
            names.REQUEST_MODEL: lambda: rng.choice(models), names.RESPONSE_MODEL: lambda: rng.choice(models),
            names.OPERATION: lambda: rng.choice(["chat", "embeddings", "execute_tool", "generate_content", "retrieval"]),
            names.STAGE: lambda: rng.choice(["tool_call", "retrieval", "request", "model_call"]),
            names.TOOL_OUTCOME: lambda: rng.choice(["ok", "skipped"]),
            names.ERROR_TYPE: lambda: rng.choice(["ReadTimeout", "TIMEOUT", "rate_limit", 504, "<class 'openai.RateLimitError'>", "openai.APITimeoutError",
                                                  "a.b", "BadRequestError", "ContentPolicyViolation", "<class 'KeyError'>"]),
            names.FAILURE_CATEGORY: lambda: rng.choice(["refusal", "oops"]),
            "http.response.status_code": lambda: rng.choice([429, 504, 200, "429", 429.0]),
            "http.status_code": lambda: rng.choice([408, 500]),
            "rpc.grpc.status_code": lambda: rng.choice([4, 8, 0]),
            names.FINISH_REASONS: lambda: rng.choice([["stop"], ["stop", "content_filter"], "length", ["refusal"], [8], "SAFETY", []]),
            "llm.invocation_parameters": lambda: rng.choice(['{"model": "gpt-4o"}', '{"model": 4}', "[1]", "not json", '{"n": 1}', 7]),
            "embedding.invocation_parameters": lambda: rng.choice(['{"model": "text-embedding-3-small"}', "{}"]),
            names.REQUEST_DELEGATED: lambda: True,
            names.COST_USD: lambda: 0.5,
            "traceloop.span.kind": lambda: rng.choice(["tool", "agent", "workflow"]),
            **{k: (lambda k=k: rng.choice(v)) for k, v in kinds.items() if k != names.OPERATION},
        }
        for k in rng.sample(list(optional), rng.randint(0, 7)):
            a[k] = optional[k]()
        res = rng.choice([{"service.name": "norm-bot"}, {"service.name": "unknown_service:python", "deployment.environment": "staging"},
                          {"deployment.environment": "dev", "deployment.environment.name": "prod"}, {}])
        events = [("exception", rng.choice([{"exception.type": "openai.RateLimitError"}, {"exception.message": "m"}, {"exception.type": 5}]))
                  for _ in range(rng.choice([0, 0, 1, 2]))] + ([("log", {"exception.type": "NotAnException"})] if rng.random() < 0.1 else [])
        if rng.random() < 0.3:  # roots that are no request (app.not_requests): health probes, calls outside any request
            if rng.random() < 0.6:
                a[rng.choice(normalise.ROOT_PATH_KEYS)] = rng.choice(["/healthz", "/healthz/", "/metrics?x=1", "/chat", "/healthzz", "/v1/ping", 7])
            else:  # gRPC: health checks by service (older conventions) or '<service>/<method>' (newer), and calls that are requests
                a[rng.choice(normalise.ROOT_RPC_KEYS)] = rng.choice(RPC_VALUES + RPC_REQUESTS)
        sp = span_pb(9_500_000 + i, "x", a, events, error=rng.random() < 0.4)
        sp.kind = rng.randint(0, 5)
        if rng.random() < 0.6:
            sp.parent_span_id = (i + 1).to_bytes(8, "big")
        items.append((res, sp))
    return items


#: gRPC roots that are no request by the default app.not_requests.rpc_services, and ones that are
RPC_VALUES = ["grpc.health.v1.Health", "grpc.health.v1.Health/Check", "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]
RPC_REQUESTS = ["chat.v1.Chat", "chat.v1.Chat/Ask", "grpc.health.v1.HealthX/Check", "Check", "grpc.health.v1.Health/Check/x"]


@pytest.mark.collector
def test_both_engines_normalise_and_price_the_same(otelcol, tmp_path):
    """genai_normalise (native) and the transform statements (ottl) leave the same spans."""
    items = normalise_items(1200)
    out = {}
    for engine in ("native", "ottl"):
        (tmp_path / engine).mkdir()
        with through_collector(otelcol, tmp_path / engine, items, {"collector.engine": engine, "sampling.baseline_percent": 100}) as (_spec, _col, sink):
            out[engine] = _by_trace(sink.spans())
    assert len(out["native"]) == len(items) == len(out["ottl"])
    diff = [(t, out["native"][t], out["ottl"][t]) for t in out["ottl"] if not _same(out["native"].get(t), out["ottl"][t])]
    assert not diff, f"{len(diff)} spans differ; first: {diff[:2]}"
    spans = [attrs for _n, attrs, _e, _r in out["native"].values()]
    # the comparison covered renames, conversions, derivations, outcomes and prices
    assert sum(names.COST_USD in a and a[names.COST_USD] != 0.5 for a in spans) > 50
    assert sum(a.get(names.COST_UNPRICED) is True for a in spans) > 50
    assert sum(a.get(names.PROVIDER) == "azure.ai.openai" for a in spans) > 5
    assert {a.get(names.TOOL_OUTCOME) for a in spans} >= {"ok", "error", "timeout", "skipped"}
    assert sum(a.get(names.STAGE) == "request" for a in spans) > 50
    # error types from exception events and in one spelling, categories from each kind of matcher, models from parameters
    assert sum(a.get(names.ERROR_TYPE) == "RateLimitError" for a in spans) > 30
    assert not [a for a in spans if str(a.get(names.ERROR_TYPE, "")).startswith(("<class", "openai."))]
    assert {a.get(names.FAILURE_CATEGORY) for a in spans} >= {"rate_limited", "timeout", "guardrail_block", "refusal", "context_overflow", "oops"}
    assert sum(a.get(names.REQUEST_MODEL) == "text-embedding-3-small" for a in spans) > 5
    assert not [a for a in spans if "llm.usage.prompt_tokens" in a or "gen_ai.system" in a]
    # roots that are no request (app.not_requests) stayed without a stage; others became requests
    from genai_o11y.builders import normalise

    sent = {sp.trace_id.hex(): sp for _r, sp in items}
    roots = [(sent[t], out["native"][t][1]) for t in out["native"] if not sent[t].parent_span_id]
    probe = lambda sp: any(kv.key in normalise.ROOT_PATH_KEYS and kv.value.string_value in ("/healthz", "/healthz/", "/metrics?x=1")  # noqa: E731
                           or kv.key in normalise.ROOT_RPC_KEYS and kv.value.string_value in RPC_VALUES for kv in sp.attributes)
    assert sum(names.STAGE not in a and (sp.kind in (3, 4) or probe(sp)) for sp, a in roots) > 20  # CLIENT, PRODUCER
    rpc = lambda sp, values: sp.kind not in (3, 4) and any(kv.key in normalise.ROOT_RPC_KEYS and kv.value.string_value in values for kv in sp.attributes)  # noqa: E731
    assert sum(names.STAGE not in a for sp, a in roots if rpc(sp, RPC_VALUES)) > 5  # gRPC health checks: no request
    assert sum(a.get(names.STAGE) == "request" for sp, a in roots if rpc(sp, RPC_REQUESTS)) > 5  # other gRPC calls: requests
    by_rule = [(sp, a) for sp, a in roots if a.get(names.STAGE) == "request" and not any(kv.key == names.STAGE for kv in sp.attributes)]
    assert not [a for sp, a in by_rule if sp.kind in (3, 4) or probe(sp)]  # only the root rule makes "request" (derive never does)
    assert sum(sp.kind == 2 for sp, _a in by_rule) > 5  # SERVER
    assert {r.get("service.name") for _n, _a, _e, r in out["native"].values()} >= {"norm-bot", "support-copilot"}


def usage_items(n: int, seed: int = 23) -> list:
    """Spans feeding every usage, quality and tenant metric, with values of every type the
    conversions meet (numeric strings, doubles for integer metrics, booleans, non-numbers)."""
    rng = random.Random(seed)
    spec = make_spec()
    models = [m.name for m in spec.models] + ["llama-3"]
    number = lambda hi: rng.choice([rng.randint(0, hi), float(rng.randint(0, hi)) + 0.7, str(rng.randint(0, hi)), True, "many"] if rng.random() < 0.15 else [rng.randint(0, hi)])  # noqa: E731
    optional = {
        names.ROUTE: lambda: rng.choice([*spec.pipeline.routes, "legal"]),
        names.REQUEST_MODEL: lambda: rng.choice(models),
        names.PROVIDER: lambda: rng.choice(["openai", "anthropic"]),
        names.PROMPT_TEMPLATE: lambda: rng.choice(["answer", "rewrite"]),
        names.PROMPT_VERSION: lambda: f"v{rng.randint(1, 3)}",
        names.TASK_TYPE: lambda: rng.choice(["support", "billing_question"]),
        names.TENANT: lambda: f"t{rng.randint(0, 9)}",
        names.TOOLS_CALLED: lambda: rng.choice(["search_kb", "lookup_order,search_kb", ""]),
        **{k.attribute: (lambda: number(600)) for k in names.TOKEN_KINDS},
        names.COST_USD: lambda: rng.choice([rng.random(), rng.randint(0, 2), "0.25", "NaN"]),
        names.COST_UNPRICED: lambda: rng.choice([True, False, "true"]),
        names.FEEDBACK_SENTIMENT: lambda: rng.choice(["positive", "negative"]),
        names.QUALITY_PROXY: lambda: rng.choice([*[p.name for p in spec.evals.proxies], "thumbs_sideways", 3]),
        names.FAILURE_CATEGORY: lambda: rng.choice([*names.FAILURE_CATEGORIES, "oops"]),
        names.CACHE_HIT: lambda: rng.choice([True, False]),
        names.RETRIEVAL_TOP_SCORE: lambda: rng.choice([rng.random(), 0.5, 1, "0.3", float("inf")]),
        names.RETRIEVAL_RESULTS: lambda: number(12),
        names.RETRIEVER_VERSION: lambda: rng.choice(["bm25-1", "dense-2"]),
        names.RERANK_DISPLACEMENT: lambda: rng.random() * 10,
        names.CHUNKS_INCLUDED: lambda: number(9),
        **{key: (lambda: number(5)) for key in names.CHUNKS_EXCLUDED.values()},
        names.PROMPT_TRUNCATED: lambda: rng.choice([True, False, "true"]),
        # a judge whose output did not parse: NaN, an infinity, "nan" (one would make the sum NaN for good)
        names.EVAL_SCORE: lambda: rng.choice([rng.random()] * 8 + [float("nan"), float("-inf"), "nan", "0.4"]),
        names.EVAL_NAME: lambda: rng.choice(["faithfulness", "relevance"]),
        names.EVAL_LABEL: lambda: rng.choice(["pass", "fail"]),
    }
    items = []
    for i in range(n):
        a: dict = {names.STAGE: rng.choice(["request", "model_call", "model_call", "retrieval", "feedback", "tool_call", "prompt_assembly", "evaluation", names.USER_ACTION])}
        for k in rng.sample(list(optional), rng.randint(2, 12)):
            a[k] = optional[k]()
        if rng.random() < 0.05:
            a[names.REQUEST_DELEGATED] = True
        res = {names.SERVICE_NAME: rng.choice(["svc-a", "svc-b"]), **({names.ENVIRONMENT: "prod"} if rng.random() < 0.5 else {}), "service.instance.id": f"pod-{i % 3}"}
        sp = span_pb(9_000_000 + i, "x", a, random_eval_events(rng), error=rng.random() < 0.2)
        if rng.random() < 0.3:  # a child, or a span whose parent is remote: not a root
            sp.parent_span_id = (i + 1).to_bytes(8, "big")
        items.append((res, sp))
    return items


def random_eval_events(rng: random.Random) -> list[tuple[str, dict]]:
    """gen_ai.evaluation.result span events (as many as the ottl engine lifts per span), some partial,
    some carrying keys that are the span's to give (ignored), and other events with eval keys."""
    if rng.random() < 0.7:
        return []
    events = []
    for _ in range(rng.randint(1, collector_builder.EVAL_EVENT_STAGES)):
        e: dict = {}
        if rng.random() < 0.9:
            e[names.EVAL_NAME] = rng.choice(["faithfulness", "relevance", "tone"])
        if rng.random() < 0.8:
            e[names.EVAL_SCORE] = rng.choice([rng.random(), rng.random(), 1, "0.3"])
        if rng.random() < 0.6:
            e[names.EVAL_LABEL] = rng.choice(["pass", "fail"])
        if rng.random() < 0.1:
            e[names.ERROR_TYPE] = "judge_timeout"
        if rng.random() < 0.1:
            e[names.REQUEST_MODEL] = "not-the-spans"
        events.append((names.EVAL_EVENT, e))
    if rng.random() < 0.2:
        events.insert(rng.randint(0, len(events)), ("exception", {names.EVAL_NAME: "relevance", names.EVAL_SCORE: 0.5, names.EVAL_LABEL: "pass"}))
    return events


def expected_requests(items: list) -> int:
    """Every trace counts one request: its root (whatever its stage, feedback, evals, user actions and
    delegating outer spans excepted), or the span that says it is the request."""
    count = 0
    for _res, sp in items:
        a = {kv.key: kv.value for kv in sp.attributes}
        stage = a[names.STAGE].string_value
        root = not sp.parent_span_id and names.REQUEST_DELEGATED not in a and stage not in names.LINKED_STAGES
        count += stage == "request" or root
    return count


def _usage_series(col) -> dict:
    """(name, labels) -> value of every usage series and every span metrics series (calls, duration
    buckets, sum and count) the sidecar exports."""
    out = {}
    for smp in col.samples():
        if smp.name.startswith("genai_o11y_") and not smp.name.endswith("_created"):
            out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return out


def _series_through_each_engine(otelcol, tmp_path, items) -> dict:
    """engine -> the usage and span metrics series the sidecar exports for `items`, once settled."""
    out = {}
    for engine in ("native", "ottl"):
        (tmp_path / engine).mkdir()
        with OtlpSink() as tempo:
            spec = make_spec(collector_ports({"backends.tempo.endpoint": tempo.endpoint, "gateway.decision_wait_seconds": 1, "collector.engine": engine}, tmp_path / engine))
            with run_collector(otelcol, spec, tmp_path / engine) as col:
                send(col.otlp_grpc, items)
                last: dict = {}

                def settled():
                    nonlocal last
                    now = _usage_series(col)
                    done = now and now == last
                    last = now
                    return now if done else None

                out[engine] = wait_for(settled, timeout=60, interval=3, what=f"usage series settled ({engine})")
    return out


#: Span durations (ms) that cover every duration bucket, its bounds (a bound is in its own bucket)
#: and a hair past them, and an end before the start (0 ms).
def _durations_ms() -> list[float]:
    bounds = catalog.duration_buckets_ms(s.threshold_ms for s in make_spec().slos.latency)
    return [-3.0, 0.0, *bounds, *(b + 0.001 for b in bounds), bounds[-1] * 3]


def with_span_fields(items: list, seed: int = 29) -> list:
    """The items with a duration of _durations_ms() each and every status code; some spans carry a
    service.name attribute unlike their resource's (span metrics are labelled by the resource's)."""
    rng = random.Random(seed)
    durations = _durations_ms()
    for i, (_res, sp) in enumerate(items):
        sp.end_time_unix_nano = sp.start_time_unix_nano + round(durations[i % len(durations)] * 1_000_000)
        if rng.random() < 0.2:
            sp.status.code = sp.status.STATUS_CODE_OK
        if rng.random() < 0.05:
            sp.attributes.append(kv(names.SERVICE_NAME, "impostor"))
    return items


@pytest.mark.collector
def test_both_engines_make_the_same_usage_metrics(otelcol, tmp_path):
    """The same spans through the whole default pipeline with each engine: genai_usage (native) and
    signal_to_metrics -> delta_to_cumulative (ottl) export the same series with the same values; and
    the span metrics, made by genai_usage (native) and by span_metrics (ottl), the same series: names,
    label sets (status code, service), bucket counts, sums."""
    items = with_span_fields(usage_items(1500))
    out = _series_through_each_engine(otelcol, tmp_path, items)
    native, ottl = out["native"], out["ottl"]
    assert set(native) == set(ottl), (sorted(set(native) - set(ottl))[:5], sorted(set(ottl) - set(native))[:5])
    diff = [(k, native[k], ottl[k]) for k in ottl if not math.isclose(native[k], ottl[k], rel_tol=1e-9, abs_tol=1e-9)]
    assert not diff, f"{len(diff)} values differ; first: {diff[:3]}"
    # the comparison covered every metric, many label sets, and the conversions
    exported = {k[0] for k in native}
    for m in catalog.usage_metrics() + catalog.tenant_metrics():
        base = m.name.replace(".", "_")
        assert (base + ("_bucket" if m.buckets is not None else "_total")) in exported, m.name
    assert len(native) > 1000
    # non-finite values (NaN, infinities, "nan") are in the input, and in no sum
    assert not [k for k, v in native.items() if not math.isfinite(v)], "a series is NaN or infinite"
    assert any(isinstance(v, float) and not math.isfinite(v) or v == "nan"
               for _r, sp in items for kv in sp.attributes for v in [kv.value.double_value if kv.value.HasField("double_value") else kv.value.string_value])
    assert not [k for k in native if any(lab.startswith("genai_o11y_s2m") for lab, _v in k[1])]
    # the span metrics: every series, labelled as the catalog says, every status code, every bucket reached
    span_series = [k for k in native if k[0] in {catalog.PROM[s] for s in ("calls", "duration_bucket", "duration_sum", "duration_count")}]
    assert {k[0] for k in span_series} == {catalog.PROM[s] for s in ("calls", "duration_bucket", "duration_sum", "duration_count")}
    assert all({lab for lab, _v in k[1]} <= catalog.prom_labels(k[0]) | {"job", "instance"} for k in span_series), span_series[:3]
    status = names.prom_label(catalog.SPAN_STATUS_CODE)
    assert {dict(k[1])[status] for k in span_series} == {"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"}
    assert "impostor" not in {dict(k[1]).get("job") for k in span_series} | {dict(k[1]).get(names.prom_label(names.SERVICE_NAME)) for k in span_series}
    per_le: dict = {}
    for (name, labels), v in native.items():
        if name == catalog.PROM["duration_bucket"]:
            le = dict(labels)["le"]
            per_le[le] = per_le.get(le, 0) + v
    cumulative = sorted(per_le.values())
    assert len(set(cumulative)) == len(per_le), f"a bucket no span fell in: {per_le}"
    calls = sum(v for (name, _l), v in native.items() if name == catalog.PROM["calls"])
    assert calls == max(cumulative) == sum(v for (name, _l), v in native.items() if name == catalog.PROM["duration_count"]) >= len(items)
    # one request per trace: a root model call, retrieval, ... counts as a request too, nothing else does
    requests = sum(v for (name, labels), v in native.items() if name == "genai_o11y_span_calls_total" and (names.prom_label(names.STAGE), "request") in labels)
    assert requests == expected_requests(items)
    tenant_requests = sum(v for (name, _l), v in native.items() if name == "genai_o11y_tenant_requests_total")
    assert 0 < tenant_requests <= requests
    # the request view of a root span carries no failure (nor tokens, cost): each span's failure is counted once
    failures = sum(v for (name, _l), v in native.items() if name == "genai_o11y_failures_total")
    assert failures == sum(any(kv.key == names.FAILURE_CATEGORY for kv in sp.attributes) for _r, sp in items)


def eval_shapes(n: int, seed: int = 41) -> tuple[list, list]:
    """The same evaluations twice: as our eval spans (each carrying the result and the evaluated
    call's dimensions) under service evals-as-spans, and as gen_ai.evaluation.result span events on
    the evaluated model call under service evals-as-events."""
    rng = random.Random(seed)
    spec = make_spec()
    spans, events = [], []
    for i in range(n):
        dims = {names.REQUEST_MODEL: rng.choice([m.name for m in spec.models] + ["llama-3"]), names.PROMPT_TEMPLATE: "answer",
                names.PROMPT_VERSION: f"v{rng.randint(1, 3)}", **({names.ROUTE: rng.choice(spec.pipeline.routes)} if rng.random() < 0.8 else {})}
        env = {names.ENVIRONMENT: "prod"} if rng.random() < 0.5 else {}
        results = []
        for _ in range(rng.randint(1, collector_builder.EVAL_EVENT_STAGES)):
            r = {names.EVAL_NAME: rng.choice(["faithfulness", "relevance"]), names.EVAL_SCORE: round(rng.random(), 3)}
            if rng.random() < 0.7:
                r[names.EVAL_LABEL] = "pass" if r[names.EVAL_SCORE] >= 0.5 else "fail"
            results.append(r)
        for j, r in enumerate(results):
            spans.append(({names.SERVICE_NAME: "evals-as-spans", **env}, span_pb(7_000_000 + i * 10 + j, "eval", {names.STAGE: "evaluation", **dims, **r}, error=False)))
        events.append(({names.SERVICE_NAME: "evals-as-events", **env},
                       span_pb(7_500_000 + i, "chat", {names.STAGE: "model_call", **dims}, [(names.EVAL_EVENT, r) for r in results], error=False)))
    return spans, events


def _eval_series(col) -> dict:
    """(name, labels but the job's) -> value of the evaluation series, by the service that sent them."""
    out: dict = {}
    for smp in col.samples():
        if smp.name.startswith(("genai_o11y_evaluation_score", "genai_o11y_evaluation_results")) and not smp.name.endswith("_created"):
            labels = dict(smp.labels)
            service = labels.pop(names.prom_label(names.SERVICE_NAME), None) or labels.pop("job", None)
            labels.pop("job", None)
            out.setdefault(service, {})[(smp.name, tuple(sorted(labels.items())))] = smp.value
    return out


@pytest.mark.collector
def test_eval_events_and_eval_spans_give_the_same_series(otelcol, tmp_path):
    """Through the real collector, with each engine: the semantic conventions' evaluation events feed
    the score histogram and the results counter exactly as the same results sent as eval spans do,
    labelled with the evaluated span's dimensions."""
    spans, events = eval_shapes(120)
    for engine in ("native", "ottl"):
        (tmp_path / engine).mkdir()
        with OtlpSink() as tempo:
            spec = make_spec(collector_ports({"backends.tempo.endpoint": tempo.endpoint, "gateway.decision_wait_seconds": 1, "collector.engine": engine}, tmp_path / engine))
            with run_collector(otelcol, spec, tmp_path / engine) as col:
                send(col.otlp_grpc, spans)
                send(col.otlp_grpc, events)
                last: dict = {}

                def settled():
                    nonlocal last
                    now = _eval_series(col)
                    done = len(now) == 2 and now == last
                    last = now
                    return now if done else None

                out = wait_for(settled, timeout=60, interval=3, what=f"eval series settled ({engine})")
        as_spans, as_events = out["evals-as-spans"], out["evals-as-events"]
        assert set(as_spans) == set(as_events), (engine, sorted(set(as_spans) ^ set(as_events))[:4])
        # the same results, summed in another order (the ottl engine lifts one event per span at a time)
        diff = [(k, as_spans[k], as_events[k]) for k in as_spans if not math.isclose(as_spans[k], as_events[k], rel_tol=1e-9, abs_tol=1e-9)]
        assert not diff, (engine, diff[:3])
        results = sum(v for (name, _l), v in as_events.items() if name == "genai_o11y_evaluation_results_total")
        assert results == sum(names.EVAL_LABEL in dict((kv.key, 1) for kv in sp.attributes) for _r, sp in spans)
        count = sum(v for (name, _l), v in as_events.items() if name == "genai_o11y_evaluation_score_count")
        assert count == len(spans)
        assert {dict(k[1]).get(names.prom_label(names.PROMPT_VERSION)) for k in as_events} == {"v1", "v2", "v3"}
        assert {dict(k[1]).get(names.prom_label(names.EVAL_LABEL)) for k in as_events} >= {"pass", "fail"}


@pytest.mark.collector
def test_eval_events_past_the_ottl_stages_are_counted_by_the_native_engine_only(otelcol, tmp_path):
    """The documented limit: the ottl engine counts EVAL_EVENT_STAGES eval events per span, the native one all."""
    k = collector_builder.EVAL_EVENT_STAGES
    events = [(names.EVAL_EVENT, {names.EVAL_NAME: "relevance", names.EVAL_SCORE: 0.5, names.EVAL_LABEL: "pass"}) for _ in range(k + 2)]
    item = ({names.SERVICE_NAME: "many-evals"}, span_pb(6_000_001, "chat", {names.STAGE: "model_call"}, events, error=False))
    for engine, want in (("native", k + 2), ("ottl", k)):
        (tmp_path / engine).mkdir()
        with OtlpSink() as tempo:
            spec = make_spec(collector_ports({"backends.tempo.endpoint": tempo.endpoint, "gateway.decision_wait_seconds": 1, "collector.engine": engine}, tmp_path / engine))
            with run_collector(otelcol, spec, tmp_path / engine) as col:
                send(col.otlp_grpc, [item])
                last: dict = {}

                def settled():
                    nonlocal last
                    now = {name: v for (name, _l), v in _eval_series(col).get("many-evals", {}).items()
                           if name in ("genai_o11y_evaluation_results_total", "genai_o11y_evaluation_score_count")}
                    done = now and now == last
                    last = now
                    return now if done else None

                counts = wait_for(settled, timeout=60, interval=3, what=f"eval series settled ({engine})")
        assert counts == {"genai_o11y_evaluation_results_total": want, "genai_o11y_evaluation_score_count": want}, (engine, counts)
