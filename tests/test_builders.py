"""Builders are pure: spec in, config data out. These check their contracts without a collector."""

from __future__ import annotations

import itertools
import json
import random
import re

from decimal import Decimal

import pytest
import yaml

from genai_o11y import catalog
from genai_o11y import artifacts, names, render
from genai_o11y.builders import collector, cost, gateway, ocb, ottl, redaction
from genai_o11y.builders import folding, sampling
from genai_o11y.spec import load
from genai_o11y.spec.model import Price
from genai_o11y.redaction_policy import PLAIN_TEXT_RE
from harness import make_spec

VARIANTS = {
    "default": {},
    "metadata-only": {"redaction.mode": "metadata-only"},
    "no-tenants": {"cardinality.max_tenants": 0},
    "ottl-engine": {"collector.engine": "ottl"},
    "eval-dataset": {"evals.dataset.enabled": True},
    "keep-below-floor": {"sampling.keep_below_floor": True, "sampling.keep_quality_proxies": True},
    "no-proxies": {"evals.proxies": []},
    "no-optional-sampling": {"sampling.slow_trace_ms": None, "sampling.expensive_span_usd": None, "sampling.keep_errors": False, "sampling.keep_negative_feedback": False,
                             "sampling.keep_slo_breaches": False},
    "sidecar-only": {"gateway.enabled": False},
    "sidecar-only-eval-dataset": {"gateway.enabled": False, "evals.dataset.enabled": True},
}


def _configs(spec) -> list[dict]:
    """Every collector config generated for `spec`: the sidecar, and the gateway when enabled."""
    return [collector.build(spec), *([gateway.build(spec)] if spec.gateway.enabled else [])]


def _types(cfg: dict, kind: str) -> set[str]:
    return {name.split("/")[0] for name in cfg.get(kind, {})}


def test_manifest_holds_exactly_the_components_the_configs_use():
    used = {k: set() for k in ocb.COMPONENTS}
    for overrides in VARIANTS.values():
        for cfg in _configs(make_spec(overrides)):
            for kind in used:
                used[kind] |= _types(cfg, kind)
    for kind in ocb.COMPONENTS:
        assert used[kind] == ocb.component_types(kind), kind


def test_manifest_pins_one_release():
    m = ocb.manifest()
    mods = [e["gomod"] for kind in ocb.COMPONENTS for e in m[kind] if "import" not in e]
    assert {g.split()[1] for g in mods} == {f"v{names.COLLECTOR_VERSION}"}
    ours = [e for kind in ocb.COMPONENTS for e in m[kind] if "import" in e]  # packages of our one module
    assert len(ours) == len(ocb.LOCAL_COMPONENTS) and {e["gomod"] for e in ours} == {f"{ocb.LOCAL_MODULE} {ocb.LOCAL_VERSION}"}
    assert all((ocb.local_root() / e["import"].removeprefix(ocb.LOCAL_MODULE + "/") / "factory.go").is_file() for e in ours)
    assert m["replaces"] == [f"{ocb.LOCAL_MODULE} => ../{ocb.LOCAL_ROOT_IN_REPO}", *ocb.REPLACES]  # ours relative to the output path, ./_build
    assert {e["gomod"].split()[1] for e in m["providers"]} == {f"v{names.COLLECTOR_CORE_STABLE_VERSION}"}
    assert m["dist"]["version"] == names.COLLECTOR_VERSION


def test_every_pipeline_component_is_defined_and_memory_limiter_first():
    for overrides in VARIANTS.values():
        for c in _configs(make_spec(overrides)):
            for name, p in c["service"]["pipelines"].items():
                for r in p["receivers"]:
                    assert r in c["receivers"] or r in c["connectors"], (name, r)
                for e in p["exporters"]:
                    assert e in c["exporters"] or e in c["connectors"], (name, e)
                for pr in p["processors"]:
                    assert pr in c["processors"], (name, pr)
            assert c["service"]["pipelines"]["traces/ingest"]["processors"][0] == "memory_limiter"
    cfg = collector.build(load())
    # redaction happens once, before the fan-out
    ingest = cfg["service"]["pipelines"]["traces/ingest"]["processors"]
    redact = names.redact_processor(load().collector.engine)
    assert redact in ingest
    assert all(redact not in p["processors"] for n, p in cfg["service"]["pipelines"].items() if n.startswith("traces/") and n != "traces/ingest")
    # logs: every pipeline that lets anything out (to an exporter or a connector, not nop) redacts first
    for spec in (load(), make_spec({"logs.export": "otlp", "logs.endpoint": "loki:4317"}), make_spec({"collector.engine": "ottl"})):
        pipes = collector.build(spec)["service"]["pipelines"]
        r = names.redact_processor(spec.collector.engine)
        logs = {n: p for n, p in pipes.items() if n.startswith("logs/")}
        assert logs and all(r in p["processors"] for p in logs.values() if p["exporters"] != ["nop"]), logs


def test_otlp_listens_on_localhost_by_default():
    cfg = collector.build(load())
    protos = cfg["receivers"]["otlp"]["protocols"]
    assert protos["grpc"]["endpoint"].startswith("127.0.0.1:") and protos["http"]["endpoint"].startswith("127.0.0.1:")


def test_sampling_policies_follow_the_spec():
    spec = make_spec({"sampling.slow_trace_ms": 1234, "sampling.baseline_percent": 7.5, "sampling.expensive_span_usd": 0.5})
    pol = {p["name"]: p for p in sampling.sampling_policies(spec)}
    assert pol["slow"]["latency"]["threshold_ms"] == 1234
    assert pol["baseline"]["probabilistic"]["sampling_percentage"] == 7.5
    assert ">= 0.5" in pol["expensive"]["ottl_condition"]["span"][0]
    assert set(pol) == {"errors", "negative-feedback", "slower-than-slo-request", "slower-than-slo-stages", "slow", "expensive", "baseline"}
    # every latency SLO: the request's on the trace end to end, each stage's on its spans (sampling.keep_slo_breaches)
    slos = {s.stage: s.threshold_ms for s in spec.slos.latency}
    assert pol["slower-than-slo-request"]["latency"]["threshold_ms"] == slos.pop("request")
    conds = pol["slower-than-slo-stages"]["ottl_condition"]["span"]
    assert len(conds) == len(slos) and all(any(f'== "{st}" and' in c and c.endswith(f"> {ms * 1_000_000}") for c in conds) for st, ms in slos.items())
    assert not any(p["name"].startswith("slower-than-slo") for p in sampling.sampling_policies(make_spec({"sampling.keep_slo_breaches": False})))
    off = make_spec(VARIANTS["no-optional-sampling"])
    assert [p["name"] for p in sampling.sampling_policies(off)] == ["baseline"]
    # low eval scores: the same policies as the eval dataset's, one per evaluator with a floor
    kept = make_spec(VARIANTS["keep-below-floor"])
    below = [p for p in sampling.sampling_policies(kept) if p["name"].startswith("below-floor-")]
    floors = [e.name for e in kept.evals.evaluators if e.floor is not None]
    assert [p["name"] for p in below] == [f"below-floor-{e}" for e in floors] and len(floors) == 2
    assert below == [p for p in sampling.dataset_policies(kept) if p["name"].startswith("below-floor-")]
    # traces users acted on after a bad answer: the proxies worse when they rise
    proxies = next(p for p in sampling.sampling_policies(kept) if p["name"] == "quality-proxies")["string_attribute"]
    assert proxies == {"key": names.QUALITY_PROXY, "values": [p.name for p in kept.evals.proxies if p.worse_when == "rise"]}
    assert set(proxies["values"]) == {"regenerate", "rephrase", "escalate", "abandon"}
    events = next(p for p in sampling.sampling_policies(kept) if p["name"] == "quality-proxy-events")["ottl_condition"]["spanevent"]
    assert events == [f'spanevent.name == "{names.USER_ACTION_EVENT}" and IsString(spanevent.attributes["{names.QUALITY_PROXY}"])'
                      f' and IsMatch(spanevent.attributes["{names.QUALITY_PROXY}"], "^(regenerate|rephrase|escalate|abandon)$")']


def test_quality_proxy_kinds_fold_to_the_spec_list_in_both_engines():
    for overrides, kinds in ((VARIANTS["default"], [p.name for p in load().evals.proxies]), (VARIANTS["no-proxies"], [names.OVERFLOW_VALUE])):
        spec = make_spec(overrides)
        assert folding.dimensions_config(spec)["allowed_values"][names.QUALITY_PROXY] == kinds
        fold = [st for st in folding.fold_statements(spec) if names.QUALITY_PROXY in st]
        assert len(fold) == 1 and "|".join(kinds) in fold[0], fold


@pytest.mark.parametrize("value,text", [(Decimal("2.5"), "2.5"), (Decimal("0"), "0.0"), (Decimal("0.0000025"), "0.0000025"), (10, "10.0"), (Decimal("1E-7"), "0.0000001")])
def test_ottl_numbers_are_float_literals(value, text):
    assert ottl.num(value) == text


def test_ottl_strings_are_escaped():
    assert ottl.q('a "b" \\c') == '"a \\"b\\" \\\\c"'


def test_cost_statement_uses_exact_per_token_prices():
    spec = load()
    stmts = cost.statement_groups(spec)[0]["statements"]
    gpt4o = next(s for s in stmts if '"gpt-4o"' in s)
    assert "* 0.0000025" in gpt4o and "* 0.00001" in gpt4o and "* 0.00000125" in gpt4o
    assert '"gpt-4o-2024-08-06"' in gpt4o, "aliases are priced"
    assert stmts[-1].startswith('set(span.attributes["genai_o11y.cost.unpriced"], true)')


def test_price_field_per_token_kind():
    """The spec's price fields are the catalog's token kinds (a kind is one catalog entry and one field)."""
    assert set(Price.model_fields) == set(names.TOKEN_KIND)
    for k in names.TOKEN_KINDS:  # one level: a kind inside another is inside a kind nothing includes
        assert k.part_of is None or names.TOKEN_KIND[k.part_of].part_of is None
        assert Price.model_fields[k.name].is_required() == (k.part_of is None)


SUBKINDS = [k.name for k in names.TOKEN_KINDS if k.part_of]


@pytest.mark.parametrize("priced", [frozenset(c) for r in range(len(SUBKINDS) + 1) for c in itertools.combinations(SUBKINDS, r)], ids=lambda p: "+".join(sorted(p)) or "base")
@pytest.mark.parametrize("fee", [None, "0.002"])
def test_price_terms_count_every_token_once_at_its_price(priced, fee):
    """Every combination of optional prices and the fee: the oracle rendered from the terms equals
    the cost computed token by token (each token in its finest kind, at that kind's price or, where
    the spec gives none, at the price of the kind it is part of), in exact decimals."""
    rng = random.Random(len(priced) * 7 + (fee is not None))
    prices = {k.name: Decimal(rng.randint(1, 4000)) / 100 for k in names.TOKEN_KINDS if k.part_of is None or k.name in priced}
    model = {"name": "m", "provider": "p", "price_usd_per_1m_tokens": {k: str(v) for k, v in prices.items()}, **({"per_call_usd": fee} if fee else {})}
    spec = make_spec({"models": [model]})
    terms = spec.models[0].price_terms()
    assert [t.kind.name for t in terms.terms] == [k.name for k in names.TOKEN_KINDS if k.name in prices]
    for _ in range(50):
        tokens = {k.name: rng.randint(0, 5000) for k in names.TOKEN_KINDS if k.part_of is None}
        tokens |= {k.name: rng.randint(0, tokens[k.part_of]) for k in names.TOKEN_KINDS if k.part_of}
        want = Decimal(fee or 0)
        for k in names.TOKEN_KINDS:  # tokens of k in no narrower kind, at the price they are billed at
            own = tokens[k.name] - sum(tokens[j.name] for j in names.TOKEN_KINDS if j.part_of == k.name)
            want += own * prices.get(k.name, prices.get(k.part_of or "", Decimal(0))) / 1_000_000
        assert cost.expected_cost(spec, "m", tokens) == pytest.approx(float(want), rel=1e-12, abs=1e-15)
    assert cost.expected_cost(spec, "unknown", {"input": 1000}) is None
    with pytest.raises(ValueError, match="unknown token kinds"):
        cost.expected_cost(spec, "m", {"thinking": 1})


def test_reasoning_tokens_are_priced_from_the_spec_and_catalog_alone():
    """A reasoning price reaches the OTTL statement and the native config as its own term, taken
    out of the output's; the fee per call is the last addend of both."""
    model = {"name": "o", "provider": "openai", "price_usd_per_1m_tokens": {"input": 1.1, "output": 4.4, "reasoning": 8.8}, "per_call_usd": 0.001}
    spec = make_spec({"models": [model]})
    stmt = cost.statement_groups(spec)[0]["statements"][0]
    out, reasoning = (f'Double(Coalesce([span.attributes["{key}"], 0]))' for key in (names.OUTPUT_TOKENS, names.REASONING_TOKENS))
    assert f"({out} - {reasoning}) * 0.0000044 + {reasoning} * 0.0000088 + 0.001)" in stmt
    native = cost.native_config(spec)["models"][0]
    assert native["terms"][1] == {"kind": "output", "tokens": names.OUTPUT_TOKENS, "minus": [names.REASONING_TOKENS], "usd": 4.4e-06}
    assert native["terms"][2]["usd"] == 8.8e-06 and native["per_call_usd"] == 0.001


@pytest.mark.parametrize("engine", ["native", "ottl"])
def test_confmap_dollars_are_escaped(engine):
    spec = make_spec({"redaction.extra_patterns": [{"name": "PRICE", "regex": "\\$[0-9]+$"}], "collector.engine": engine})
    text = render.to_yaml(collector.build(spec))
    assert "$${1}<CREDENTIALS>@" in text
    if engine == "ottl":  # inside an OTTL string literal the backslash is escaped too
        assert "\\\\$$[0-9]+$$" in text
    else:
        assert {"name": "PRICE", "regex": "\\$$[0-9]+$$", "mask": "<PRICE>"} in yaml.safe_load(text)["processors"]["genai_redaction"]["detectors"]
    # the only unescaped ${ are the deliberate env references: the release and the hash salt
    import re

    refs = re.findall(r"(?<!\$)\$\{[^}]*\}", text)
    assert set(refs) == {"${env:GENAI_O11Y_RELEASE:-unknown}", "${env:GENAI_O11Y_HASH_SALT}"}, set(refs)


def test_metadata_only_keeps_tier1_keys_only():
    spec = make_spec({"redaction.mode": "metadata-only"})
    groups = redaction.statement_groups(spec, collector.policy_for(spec))
    span = next(s for g in groups if g["context"] == "span" for s in g["statements"] if s.startswith("keep_matching_keys(span.attributes"))
    assert "gen_ai\\\\.usage\\\\.input_tokens" in span and "genai_o11y\\\\.stage" in span and ".*" not in span
    # a Tier 1 value that breaks its contract is dropped first
    assert any(s.startswith('delete_key(span.attributes, "gen_ai.request.model") where ') for g in groups if g["context"] == "span" for s in g["statements"])


def test_fold_statements_bound_label_values():
    stmts = folding.fold_statements(load())
    joined = "\n".join(stmts)
    assert 'set(span.attributes["gen_ai.request.model"], "gpt-4o") where span.attributes["gen_ai.request.model"] == "gpt-4o-2024-08-06"' in joined
    assert '"_other") where span.attributes["genai_o11y.route"] != nil' in joined
    assert '"_other") where span.attributes["gen_ai.tool.name"] != nil' in joined
    nofold = folding.fold_statements(make_spec({"pipeline.routes": [], "pipeline.tools": [], "models": []}))
    assert not any("genai_o11y.route" in s or "gen_ai.tool.name" in s or "gen_ai.request.model" in s for s in nofold)


def test_every_artifact_says_it_is_generated():
    """(Determinism is test_committed's two processes with different hash seeds.)"""
    a = artifacts.build_all(load(), "x")
    for path, text in a.items():
        if path.endswith(".json"):  # JSON has no comments: dashboards say it in their description, schemas in $comment
            doc = json.loads(text)
            assert "DO NOT EDIT" in doc.get("description", doc.get("$comment", "")), path
            continue
        first = text.splitlines()[0]
        assert first.startswith(("# Code generated by genai-o11y", "<!-- Code generated by genai-o11y", "{{/* Code generated by genai-o11y")), path
        assert "DO NOT EDIT" in first, path
        if path.endswith((".yaml", ".yml")) and "/templates/" not in path:  # Helm templates are YAML only once rendered
            list(yaml.safe_load_all(text))


def test_collector_cache_is_keyed_by_the_manifest(monkeypatch, tmp_path):
    from genai_o11y import toolchain

    monkeypatch.setenv("GENAI_O11Y_CACHE", str(tmp_path))
    monkeypatch.delenv("GENAI_O11Y_OTELCOL", raising=False)
    before = toolchain.collector_dir()
    assert before.parent == tmp_path and names.COLLECTOR_VERSION in before.name
    assert toolchain.collector_path() is None
    m = ocb.manifest()
    assert toolchain.manifest_hash(m) == toolchain.manifest_hash(ocb.manifest(output_path="/elsewhere")), "output path is not part of the key"
    m["exporters"].append({"gomod": "example.com/x v1.0.0"})
    assert toolchain.manifest_hash(m) != toolchain.manifest_hash()


def test_custom_policy_file_from_the_spec(tmp_path):
    from genai_o11y import redaction_policy
    from genai_o11y.errors import SpecError
    from genai_o11y.spec import load as load_spec

    (tmp_path / "policy.yaml").write_text(
        "version: 1\nmetadata_keys: {gen_ai.request.model: model_id}\nidentifier_keys: [user.id]\n"
        "detectors:\n  - {name: EMP, regex: 'EMP-[0-9]{6}', mask: '<EMPLOYEE>'}\nspan_name_rules: []\n"
    )
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("apiVersion: genai-o11y/v1\napp: {services: [a]}\npipeline: {stages: [model_call]}\nredaction: {policy: policy.yaml}\n")
    spec = load_spec(spec_file)
    cfg = collector.build(spec)
    regexes = [d["regex"] for d in cfg["processors"]["genai_redaction"]["detectors"]]
    assert "EMP-[0-9]{6}" in regexes and "<EMAIL>" not in str(cfg["processors"]["genai_redaction"])
    cfg = collector.build(spec.model_copy(update={"collector": spec.collector.model_copy(update={"engine": "ottl"})}))
    stmts = "\n".join(s for g in cfg["processors"]["transform/redact"]["trace_statements"] for s in g["statements"])
    assert "EMP-[0-9]{6}" in stmts and "<EMAIL>" not in stmts
    assert "EMP-[0-9]{6}" in artifacts.build_all(spec, "spec.yaml")[artifacts.REDACTION_POLICY]
    (tmp_path / "policy.yaml").write_text("version: 1\ndetectors:\n  - {name: BAD, regex: '(?<=x)y', mask: '<X>'}\n")
    with pytest.raises(SpecError, match=r"detectors\[0\]\.regex: look-around"):
        redaction_policy.load(tmp_path / "policy.yaml")


def _gate_texts() -> list[str]:
    """Corpus texts, decoys, case variants and seeded random strings over the characters PII is made of."""
    import random
    import uuid

    import pii_corpus as corpus

    texts = [c.text for c in corpus.cases()] + [t for _d, t in corpus.decoy_texts()] + [v for _k, vs in corpus.SECRETS.values() for v in vs]
    rnd = random.Random(7)
    texts += [f"GET /orders/{uuid.UUID(int=rnd.getrandbits(128))}/items/{rnd.randint(100, 10**7)}" for _ in range(50)]
    texts += ["QUJD" * 30, " " + "aGVsbG8gd29ybGQ" * 8 + "==\n"]  # whole-value base64 blobs
    texts += [t.upper() for t in texts] + [t.swapcase() for t in texts]
    alphabets = ["abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_ .", "0123456789 -.()+/:", "0123456789abcdefABCDEF:.", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@/: ",
                 "atdoAT.@%2540 ()[]{}<>ex"]  # the obfuscated e-mail's pieces
    for i in range(30000):
        alpha = alphabets[i % len(alphabets)]
        texts.append("".join(rnd.choice(alpha) for _ in range(rnd.randint(6, 48))))
    return texts


def test_every_gate_is_a_necessary_condition_of_its_detector():
    """A gate that missed a text its detector matches would let PII through: over the corpus, case
    variants and 30,000 random strings, every match implies the gate (checked per detector, per
    joined detector as the collector applies them, and per span-name rule)."""
    from genai_o11y.redaction_policy import default_policy

    policy = default_policy()
    rules = policy.detectors + policy.compiled_detectors() + policy.span_name_rules
    # every rule is gated, or anchored at the start of the value (Go's regexp then tries position 0 only)
    assert all(r.gated or r.regex.startswith("^") for r in policy.detectors + policy.span_name_rules), "the default policy gates every rule"
    assert {r.name for r in policy.detectors if r.plain_capable} == {"JWT", "BEARER_TOKEN", "AWS_ACCESS_KEY", "GITHUB_TOKEN", "GOOGLE_API_KEY",
                                                                     "EMAIL_OBFUSCATED", "BASE64_VALUE"}
    texts = _gate_texts()
    matched = {r.name: 0 for r in rules}
    for r in rules:
        pattern, _ = r.python()
        for t in texts:
            if pattern.search(t):
                matched[r.name] += 1
                assert r.gate_holds(t.lower()), f"{r.name}: the gate misses {t!r}"
                assert r.plain_capable or not re.fullmatch(PLAIN_TEXT_RE, t.lower()), f"{r.name}: matches plain {t!r}"
    assert all(n > 0 for n in matched.values()), f"every rule matched something: {matched}"
    # and the gates do skip text: most random strings pass no gate of the key detectors
    assert not any(r.gate_holds("retrieval search_kb") for r in policy.detectors if r.gated)


@pytest.mark.parametrize("rule, problem", [
    ("requires_any: ['AKIA']", r"detectors\[0\]\.requires_any: 'AKIA' must be lowercase"),
    ("requires_any: 'x'", r"detectors\[0\]\.requires_any: must be a list"),
    ("requires_match: '[A-Z]{2}'", r"detectors\[0\]\.requires_match: must not contain uppercase"),
    ("requires_match: '[0-9'", r"detectors\[0\]\.requires_match: regex does not compile"),
    ("requires: ['x']", r"detectors\[0\]: must have name, regex, mask and may have requires_any, requires_match"),
])
def test_bad_gates_are_rejected_naming_the_field(tmp_path, rule, problem):
    from genai_o11y import redaction_policy
    from genai_o11y.errors import SpecError

    (tmp_path / "policy.yaml").write_text(f"version: 1\ndetectors:\n  - {{name: K, regex: 'k[0-9]+', mask: '<K>', {rule}}}\n")
    with pytest.raises(SpecError, match=problem):
        redaction_policy.load(tmp_path / "policy.yaml")


def test_gated_detectors_only_scan_where_their_gate_holds():
    """The generated groups: spans whose keys are all Tier 1 skip the content group (one condition);
    each gated detector carries its gate on the lowercased values; plain span names skip the
    group of rules that need another character."""
    spec = make_spec()
    groups = [g for g in redaction.statement_groups(spec, collector.policy_for(spec)) if g["context"] == "span"]
    first, content, other_names, plain_names, others = groups
    pending = f'span.attributes["{redaction.PENDING}"]'
    # the mark: Tier 1 is exact keys (by hash), and a Tier 1 value that breaks its contract marks the span too
    assert "conditions" not in first and first["statements"][-1] == f'set({pending}, true) where Len(span.cache["rest"]) < span.cache["n"]'
    assert not any(s.startswith("delete_matching_keys(") for s in first["statements"])
    keep = next(s for s in first["statements"] if s.startswith('keep_keys(span.cache["rest"], ['))
    assert '"gen_ai.request.model"' in keep and '"user.id"' in keep and '"genai_o11y.stage"' in keep and '"genai_o11y.feedback.comment"' not in keep
    assert any(s.startswith(f'set({pending}, true) where span.attributes["gen_ai.request.model"] != nil and not (') for s in first["statements"])
    assert not any("replace" in s for s in first["statements"] if not s.startswith('replace_all_patterns(span.cache["t1"], '))  # only the copy for the contracts
    assert content["conditions"] == [f"{pending} != nil"] and content["statements"][0] == f'delete_key(span.attributes, "{redaction.PENDING}")'
    masks = [s for s in content["statements"] if s.startswith('replace_all_patterns(span.cache["rest"], ')]
    n = len(collector.policy_for(spec).compiled_detectors())
    assert len(masks) == 2 * n and all(' where (IsMatch(span.cache["kv"], ' in s for s in masks if "BASE64_VALUE" not in s and "^\\\\s*" not in s)
    assert len([s for s in masks if s.startswith('replace_all_patterns(span.cache["rest"], "key", ')]) == n  # keys are masked too
    # the other string fields: trace state and status message masked, links removed (OTTL cannot reach them)
    assert any(s.startswith("replace_pattern(span.status.message, ") and "<EMAIL>" in s for s in others["statements"])
    assert any(s.startswith("replace_pattern(span.trace_state, ") for s in others["statements"])
    assert "set(span.links, nil) where Len(span.links) > 0" in others["statements"]
    assert any('IsMatch(span.cache["kv"], "@")' in s and "<EMAIL>" in s for s in masks)
    assert other_names["conditions"] == [f'not IsMatch(span.name, "{redaction.PLAIN_NAME_RE}")']
    assert len([s for s in other_names["statements"] if s.startswith("replace_pattern(span.name")]) == len([r for r in redaction.span_name_rules(collector.policy_for(spec)) if not r.plain_capable])
    assert "conditions" not in plain_names
    assert len([s for s in plain_names["statements"] if s.startswith("replace_pattern(span.name")]) == 7  # can match letters alone
    assert all(" where IsMatch(span.cache[\"name\"], " in s for g in (other_names, plain_names) for s in g["statements"]
               if s.startswith("replace_pattern") and not s.startswith('replace_pattern(span.name, "^'))  # ungated only when anchored
    # the mark never leaves the stage: a custom policy without genai_o11y.* in Tier 1 still drops it before merging back
    assert f'delete_key(span.cache["rest"], "{redaction.PENDING}")' in content["statements"]


def test_the_native_engine_makes_the_usage_metrics_in_one_connector_without_markers():
    """genai_usage gets every usage, quality and tenant metric from the same data as signal_to_metrics
    (UsageMetric), checks their conditions first, and sends cumulative values: no markers, no
    delta_to_cumulative, no unmark step."""
    spec = make_spec({"cardinality.max_tenants": 7})
    cfg = collector.build(spec)
    usage = cfg["connectors"][names.USAGE_CONNECTORS["native"]]
    want = catalog.usage_metrics() + catalog.tenant_metrics(7)
    # the span metrics first (#17: genai_usage makes them in the same pass, no span_metrics connector)
    spans = len(catalog.SPAN_METRICS)
    assert usage["metrics"][:spans] == catalog.span_metrics_native((s.threshold_ms for s in spec.slos.latency), spec.cardinality.max_series_per_metric)
    assert [m["name"] for m in usage["metrics"][:spans]] == [m.name for m in catalog.SPAN_METRICS]
    assert "span_metrics" not in cfg["connectors"] and "metrics/spans" not in cfg["service"]["pipelines"]
    ottl = collector.build(make_spec({"collector.engine": "ottl"}))
    assert "span_metrics" in ottl["connectors"] and ottl["service"]["pipelines"]["metrics/spans"]["receivers"] == ["span_metrics"]
    assert [m["name"] for m in usage["metrics"][spans:]] == [m.name for m in want]
    for m, um in zip(usage["metrics"][spans:], want):
        assert [w["key"] for w in m["when"]] == [w.key for w in um.when] and m["when"]
        assert [lab["key"] for lab in m["labels"]] == list(um.labels)
        # the label a span must carry is the metric's own (a marker is signal_to_metrics's device)
        assert [lab["key"] for lab in m["labels"] if "default" not in lab] == ([um.requires] if um.requires in um.labels else [])
    assert {m["name"]: m.get("max_streams", 0) for m in usage["metrics"]}["genai_o11y.tenant.requests"] == 7
    text = yaml.safe_dump(cfg)
    assert collector.MARKER_PREFIX not in text
    assert not {"signal_to_metrics", "delta_to_cumulative", "transform/unmark"} & (set(cfg["connectors"]) | set(cfg["processors"]))
    assert cfg["service"]["pipelines"]["metrics/usage"] == {"receivers": ["genai_usage"], "processors": [], "exporters": ["prometheus"]}
    assert "genai_usage" in cfg["service"]["pipelines"]["traces/metrics"]["exporters"]


def test_every_signal_to_metrics_metric_is_skipped_cheaply_and_markers_are_dropped():
    """ottl engine: each signal_to_metrics metric requires one attribute (checked before the label
    hash): a label of its own or a family marker that the metrics branch sets and the metric
    pipelines drop."""
    cfg = collector.build(make_spec({"collector.engine": "ottl"}))
    folds = "\n".join(s for g in cfg["processors"]["transform/dimensions"]["trace_statements"] for s in g["statements"])
    marks = {k for k in re.findall(r'set\(span\.attributes\["([^"]+)"\], true\) where ', folds)}
    connectors = {k: v for k, v in cfg["connectors"].items() if k.startswith("signal_to_metrics")}
    assert len(connectors) >= 3
    for name, conn in connectors.items():
        for m in conn["spans"]:
            required = [a["key"] for a in m["attributes"] if "default_value" not in a]
            assert len(required) == 1, (m["name"], required)
            key = required[0]
            if key.startswith(collector.MARKER_PREFIX):
                assert key in marks, key
            else:
                # a real label required: the metric's condition is exactly that label being present
                assert m["conditions"] == [f'span.attributes["{key}"] != nil'], m["name"]
        pipeline = next(p for p in cfg["service"]["pipelines"].values() if name in p["receivers"])
        assert pipeline["processors"][0] == "transform/unmark", name
    unmark = cfg["processors"]["transform/unmark"]["metric_statements"][0]["statements"]
    assert unmark == ['delete_matching_keys(datapoint.attributes, "^genai_o11y\\\\.s2m\\\\.")']
    # a marker's condition is necessary for its members: each member's condition names a key of it
    fams = catalog.marker_families()
    for m in (m for conn in connectors.values() for m in conn["spans"]):
        key = next(a["key"] for a in m["attributes"] if "default_value" not in a)
        if key.startswith(collector.MARKER_PREFIX):
            keys = re.findall(r'span\.attributes\["([^"]+)"\]', m["conditions"][0])
            fam = fams[key.removeprefix(collector.MARKER_PREFIX)]
            # the condition reads a key of the family, or a key the metrics branch sets only under the family's condition
            assert any(f'span.attributes["{k}"]' in fam or re.search(rf'set\(span\.attributes\["{re.escape(k)}"\], [^)]*\) where {re.escape(fam)} and ', folds)
                       for k in keys), m["name"]


def _run_mark(statements: list[str], keys: list[str]) -> bool:
    """The mark statements applied to a span with these keys, as the transform processor would:
    set rest = attributes; delete_matching_keys(regex); set n = Len; keep_keys([...]); mark where."""
    import json
    import re as _re

    rest, n, marked = list(keys), None, False
    for s in statements:
        if s.startswith('set(span.cache["t1"]') or s.startswith('keep_matching_keys(span.cache["t1"]') or s.startswith('replace_all_patterns(span.cache["t1"]'):
            continue  # the Tier 1 value contracts: they read values (the parity and coverage tests hold them)
        if s.startswith(f'set(span.attributes["{redaction.PENDING}"], true) where span.attributes["') and " != nil and not (" in s:
            continue  # a Tier 1 value that breaks its contract (no values here: all keep it)
        if s.startswith('set(span.cache["rest"], span.attributes)'):
            rest = list(keys)
        elif m := _re.fullmatch(r'delete_matching_keys\(span\.cache\["rest"\], (".*?")\)( where Len\(span\.cache\["rest"\]\) > 0)?', s):
            pattern = json.loads(m.group(1))
            rest = [k for k in rest if not _re.search(pattern, k)]
        elif s == 'set(span.cache["n"], Len(span.cache["rest"]))':
            n = len(rest)
        elif m := _re.fullmatch(r'keep_keys\(span\.cache\["rest"\], (\[.*\])\)', s):
            rest = [k for k in rest if k in set(json.loads(m.group(1)))]
        elif s.startswith(f'set(span.attributes["{redaction.PENDING}"], true) where '):
            cond = s.split(" where ", 1)[1]
            marked = len(rest) < n if cond.endswith('< span.cache["n"]') else len(rest) > 0
        else:
            raise AssertionError(f"unexpected statement in the mark: {s}")
    return marked


@pytest.mark.parametrize("meta", [
    None,  # the default policy
    ("service.*", "gen_ai.request.model"),  # no own namespace (prefixes: only in a Policy built in code; policy files have exact keys)
    ("genai_o11y.*", "k8s.*"),  # no exact keys
    ("user.id",),  # no prefixes
])
def test_the_content_mark_is_set_exactly_when_a_key_is_outside_tier_1(meta):
    """The cheap mark (literal prefix, prefix regex, exact keys by hash) agrees with the policy's
    own Tier 1 test on random key sets: a span with any other key enters the content group."""
    import random

    from genai_o11y import redaction_policy

    policy = redaction_policy.default_policy()
    if meta is not None:
        policy = redaction_policy.Policy(meta, (), (redaction_policy.Rule("K", "k[0-9]+", "<K>"),), ())
    statements = redaction._mark(policy)
    prefixes, exact = policy.metadata_keys_split()
    pool = ([f"{p}.x" for p in prefixes] + [f"{p}x.y" for p in prefixes] + list(exact) + [e + ".more" for e in exact]
            + ["gen_ai.input.messages", "prompt", "genai_o11y", "genai_o11yx.a", "user.id2", "xuser.id", "service", "k8s"])
    rng = random.Random(7)
    seen = {True: 0, False: 0}
    for _ in range(3000):
        keys = rng.sample(pool, rng.randint(0, min(8, len(pool))))
        expected = any(not policy.is_metadata(k) for k in keys)
        assert _run_mark(statements, keys) == expected, keys
        seen[expected] += 1
    assert seen[True] and seen[False]


def test_fold_groups_skip_statements_only_where_they_cannot_apply():
    """The model and request groups' conditions are necessary conditions of every statement in them:
    each statement's own `where` requires the same thing (a model set; a request span)."""
    groups = folding.fold_groups(load())
    model = next(g for g in groups if g.get("conditions") == ['span.attributes["gen_ai.request.model"] != nil'])
    request = next(g for g in groups if g.get("conditions") == ['span.attributes["genai_o11y.stage"] == "request"'])
    for st in model["statements"]:
        where = st.split(" where ", 1)[1]
        assert where.startswith('span.attributes["gen_ai.request.model"] == "') or where.startswith('span.attributes["gen_ai.request.model"] != nil and '), st
    for st in request["statements"]:
        assert st.split(" where ", 1)[1].startswith('span.attributes["genai_o11y.stage"] == "request"'), st
    assert any("tool.required_missing" in st for st in request["statements"]) and any("s2m.request" in st for st in request["statements"])
    every = groups[0]
    assert "conditions" not in every and not any('== "request"' in st for st in every["statements"])


def test_the_spec_adds_tier1_keys_with_a_contract_and_bad_ones_are_named():
    from pydantic import ValidationError

    from genai_o11y import redaction_policy
    from genai_o11y.errors import SpecError

    spec = make_spec({"redaction.metadata_keys": {"my.team": "identifier", "my.tier": {"enum": ["gold", "silver"]}}})
    policy = collector.policy_for(spec)
    assert policy.is_metadata("my.team") and policy.conforms("my.tier", "gold") and not policy.conforms("my.tier", "bronze")
    assert not policy.conforms("my.team", "jane doe") and not policy.conforms("my.team", "sk-proj-" + "a" * 24)
    shapes = redaction.native_config(spec, policy)["metadata_shapes"]
    assert any("my.team" in g["keys"] for g in shapes) and any(g["keys"] == ["my.tier"] and g["regex"] == "^(?:gold|silver)$" for g in shapes)
    for bad, words in [({"my.*": "identifier"}, "no prefixes"), ({"my.key": "text"}, "unknown shape 'text'"), ({"my.key": {"enum": []}}, "my.key.enum")]:
        with pytest.raises(ValidationError, match=r"redaction\.metadata_keys") as e:
            make_spec({"redaction.metadata_keys": bad})
        assert words in str(e.value), str(e.value)
    with pytest.raises(SpecError, match=r"metadata_keys: must be a mapping of exact attribute keys"):
        redaction_policy.parse("version: 1\nmetadata_keys: ['service.*']\ndetectors: [{name: K, regex: 'k', mask: '<K>'}]\n", "p.yaml")
    with pytest.raises(SpecError, match=r"metadata_keys\.service\.\*: must be an exact attribute key"):
        redaction_policy.parse("version: 1\nmetadata_keys: {'service.*': identifier}\ndetectors: [{name: K, regex: 'k', mask: '<K>'}]\n", "p.yaml")


def test_eval_events_feed_the_eval_metrics_in_both_engines():
    """The eval metrics are fed by gen_ai.evaluation.result span events too: genai_usage reads them
    (span_event: the result from the event, the dimensions from the span); the ottl engine lifts one
    event per span per stage onto a span copy for the same signal_to_metrics definitions; the
    request view drops eval and user-action events in both (they are counted on the span itself).
    The quality proxies' user-action event feeds the native engine only (EVENT_LOGS_OTTL_LIMITS)."""
    evals = [m for m in catalog.usage_metrics() if m.span_event == names.EVAL_EVENT]
    assert {m.name for m in evals} == {names.METRIC_EVAL_SCORE, names.METRIC_EVAL_RESULTS}
    events = {m.name: m.span_event for m in catalog.usage_metrics() if m.span_event}
    assert events == {**{m.name: names.EVAL_EVENT for m in evals}, names.METRIC_QUALITY_PROXIES: names.USER_ACTION_EVENT}
    native = collector.build(make_spec())
    usage = {m["name"]: m for m in native["connectors"][names.USAGE_CONNECTORS["native"]]["metrics"]}
    for m in evals:
        ev = usage[m.name]["span_event"]
        assert ev["name"] == names.EVAL_EVENT
        assert ev["span_labels"] == catalog.QUALITY_DIMENSIONS  # the evaluated span's dimensions
        assert names.EVAL_NAME not in ev["span_labels"]  # the evaluator is the event's
    assert {m["name"]: m["span_event"]["name"] for m in usage.values() if "span_event" in m} == events
    results = usage[names.METRIC_EVAL_RESULTS]
    assert [lab["key"] for lab in results["labels"] if "default" not in lab] == [names.EVAL_LABEL]
    assert not [p for p in native["service"]["pipelines"] if p.startswith("traces/eval_events")]
    ottl = collector.build(make_spec({"collector.engine": "ottl"}))
    pl = ottl["service"]["pipelines"]
    stages = [pl[f"traces/eval_events_{i}"] for i in range(collector.EVAL_EVENT_STAGES)]
    assert stages[0]["receivers"] == [sampling.FORWARD] and "transform/dimensions" in stages[0]["processors"]
    for i, st in enumerate(stages):
        assert st["exporters"][0] == "signal_to_metrics"
        if i:
            assert st["receivers"] == stages[i - 1]["exporters"][1:]
    assert stages[-1]["exporters"] == ["signal_to_metrics"]
    lift = "\n".join(s for g in ottl["processors"]["transform/eval_event_lift"]["trace_statements"] for s in g["statements"])
    for key in (names.EVAL_NAME, names.EVAL_SCORE, names.EVAL_LABEL):
        assert f'set(span.attributes["{key}"], spanevent.attributes["{key}"])' in lift
    assert f'keep_keys(span.attributes, [{", ".join(chr(34) + k + chr(34) for k in catalog.QUALITY_DIMENSIONS)}' in lift
    assert {m["name"] for m in ottl["connectors"]["signal_to_metrics"]["logs"]} == {m.name for m in evals}
    # the request view of a root span drops its eval and user-action events (counted once, on the span), in either engine
    assert ottl["processors"]["filter/request_view"]["traces"]["spanevent"] == [
        f'spanevent.name == "{names.EVAL_EVENT}" or spanevent.name == "{names.USER_ACTION_EVENT}"']
    assert native["connectors"][names.USAGE_CONNECTORS["native"]]["fold"]["request_view"]["drop_events"] == [names.EVAL_EVENT, names.USER_ACTION_EVENT]


def _pipelines_with(cfg: dict, component: str) -> list[str]:
    return [name for name, p in cfg["service"]["pipelines"].items() if component in p["processors"] + p["exporters"]]


@pytest.mark.parametrize("enabled", [True, False], ids=["gateway", "sidecar-only"])
@pytest.mark.parametrize("dataset", [True, False], ids=["dataset", "no-dataset"])
@pytest.mark.parametrize("engine", ["native", "ottl"])
@pytest.mark.parametrize("mode", ["metadata-only", "redacted"])
def test_exactly_one_tier_samples(enabled, dataset, engine, mode):
    """Every combination: tail sampling (and the eval-dataset sampler) sits in exactly one tier, the
    gateway when enabled; the stateless sidecar holds no trace and sends every span to the gateways by
    trace id; the sampler is the same one builder on either tier."""
    spec = make_spec({"gateway.enabled": enabled, "evals.dataset.enabled": dataset, "collector.engine": engine, "redaction.mode": mode})
    side = collector.build(spec)
    gw = gateway.build(spec)
    sampler = names.TAIL_SAMPLER
    if enabled:
        assert not any(p.startswith("tail_sampling") for p in side["processors"]), "the sidecar must hold no trace"
        assert names.TEMPO_EXPORTER not in side["exporters"]
        assert _pipelines_with(side, names.GATEWAY_EXPORTER) == ["traces/gateway"]
        lb = side["exporters"][names.GATEWAY_EXPORTER]
        assert lb["routing_key"] == "traceID"
        assert lb["sending_queue"]["storage"] == sampling.QUEUE and lb["retry_on_failure"]["enabled"]
        assert lb["resolver"] == {"dns": {"hostname": spec.gateway.host, "port": str(spec.gateway.otlp_grpc_port), "interval": "5s", "timeout": "1s"}}
        assert gw["processors"][sampler] == sampling.tail_sampling_processor(spec)
        assert _pipelines_with(gw, sampler) == ["traces/sample"] and _pipelines_with(gw, names.TEMPO_EXPORTER) == ["traces/sample"]
        assert gw["service"]["pipelines"]["traces/sample"]["processors"] == [sampler, "batch"]
        assert (sampling.DATASET_SAMPLER in gw["processors"]) == dataset and sampling.DATASET_SAMPLER not in side["processors"]
        if dataset:  # replicas share the directory, each writes its own file
            assert gw["exporters"][sampling.DATASET_EXPORTER]["path"] == spec.evals.dataset.path.replace(".jsonl", "-${env:HOSTNAME}.jsonl")
        # the metrics are still taken in the sidecar, before sampling
        assert "traces/metrics" in side["service"]["pipelines"] and "span_metrics" not in gw.get("connectors", {})
    else:
        assert side["processors"][sampler] == sampling.tail_sampling_processor(spec)
        assert _pipelines_with(side, sampler) == ["traces/sample"]
        assert names.GATEWAY_EXPORTER not in side["exporters"]
        assert (sampling.DATASET_SAMPLER in side["processors"]) == dataset
        if dataset:
            assert side["exporters"][sampling.DATASET_EXPORTER]["path"] == spec.evals.dataset.path


def test_gateway_sized_from_the_spec():
    spec = make_spec({"gateway.memory_limit_mib": 2048, "gateway.decision_wait_seconds": 45, "gateway.num_traces": 12345,
                      "gateway.otlp_grpc_port": 14317, "gateway.telemetry_port": 18888, "gateway.static_endpoints": ["a:1", "b:2"]})
    gw = gateway.build(spec)
    assert gw["processors"]["memory_limiter"]["limit_mib"] == 2048
    assert gw["processors"]["tail_sampling"]["decision_wait"] == "45s" and gw["processors"]["tail_sampling"]["num_traces"] == 12345
    assert gw["receivers"]["otlp"]["protocols"] == {"grpc": {"endpoint": "0.0.0.0:14317", "max_recv_msg_size_mib": 32}}
    assert gw["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"] == 18888
    assert gateway.runtime_env(spec) == {"GOMEMLIMIT": "1024MiB"}
    assert collector.build(spec)["exporters"][names.GATEWAY_EXPORTER]["resolver"] == {"static": {"hostnames": ["a:1", "b:2"]}}


@pytest.mark.parametrize("static", [True, False])
def test_the_balancer_keeps_the_queue_and_the_retries_with_either_resolver(static):
    """The per-replica exporters queue nothing and retry briefly (their telemetry is a no-op meter in
    v0.161: a queue there would hide a failing gateway from GenAILoadBalancerExportFailing); the
    balancer keeps the persistent queue and retries forever."""
    spec = make_spec({"gateway.static_endpoints": ["a:1", "b:2"] if static else []})
    lb = collector.build(spec)["exporters"][names.GATEWAY_EXPORTER]
    per = lb["protocol"]["otlp"]
    assert lb["sending_queue"]["storage"] == sampling.QUEUE and lb["retry_on_failure"] == collector.GATEWAY_RETRY
    assert per["sending_queue"] == {"enabled": False} and per["retry_on_failure"]["max_elapsed_time"] == "10s"
    assert per["compression"] == collector.GATEWAY_COMPRESSION


def test_gateway_artifact_only_when_enabled():
    assert artifacts.GATEWAY_CONFIG in artifacts.build_all(load(), "x")
    assert artifacts.GATEWAY_CONFIG not in artifacts.build_all(make_spec({"gateway.enabled": False}), "x")


def test_recording_rule_names_are_typed_once_in_the_catalog():
    """Every record the generator writes is named by catalog.record() (level:metric:operations), and no
    builder types a record name itself: a renamed record changes in one place, its readers with it."""
    import re as _re
    from pathlib import Path as _Path

    from genai_o11y import catalog as _catalog
    from genai_o11y.builders import rules as _rules

    for spec in (make_spec(), make_spec({"collector.engine": "ottl", "pipeline.routes": []})):
        records = [r["record"] for g in _rules.build(spec)["groups"] for r in g["rules"] if "record" in r]
        assert len(records) > 30
        assert all(_re.fullmatch(r"genai_o11y:[a-z0-9_]+:[a-z0-9_]+", r) for r in records), records
    builders = _Path(_catalog.__file__).parent / "builders"
    typed = [(f.name, ln.strip()) for f in builders.rglob("*.py") for ln in f.read_text().splitlines() if _re.search(r"genai_o11y:[a-z_{]+:", ln)]
    assert not typed, f"record names typed outside catalog.py: {typed}"


def test_dashboard_uids_are_typed_once_in_names():
    """Boards, their links, runbooks and compose name a board by names.BOARD_*: no other module types a uid."""
    import re as _re
    from pathlib import Path as _Path

    from genai_o11y import names as _n

    root = _Path(_n.__file__).parent
    uids = "|".join(_re.escape(u) for u in _n.DASHBOARDS)
    typed = [(f.name, ln.strip()) for f in root.rglob("*.py") if f.name != "names.py" for ln in f.read_text().splitlines() if _re.search(rf"({uids})\b", ln)]
    assert not typed, typed
    assert len(_n.DASHBOARDS) == 9


@pytest.mark.parametrize("engine", ["native", "ottl"])
def test_a_shared_sidecar_names_no_unnamed_service_after_the_spec(engine):
    """Telemetry without a service name (an SDK's unknown_service:python) is named after the spec's first
    app service where the sidecar serves that app's pod; the local stack's sidecar serves the demo and the
    user's own apps (`shared`): there a trial's app without OTEL_SERVICE_NAME was counted as the demo."""
    from genai_o11y.builders import collector as collector_builder

    spec = make_spec({"collector.engine": engine})
    text = lambda cfg: yaml.safe_dump(cfg["processors"])  # noqa: E731
    own, shared = collector_builder.build(spec), collector_builder.build(spec, shared=True)
    first = spec.app.services[0]
    assert "unknown_service" in text(own) and first in text(own)
    assert "unknown_service" not in text(shared)
