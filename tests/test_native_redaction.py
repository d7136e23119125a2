"""The native redaction engine (our genai_redaction processor, gocomponents/genairedactionprocessor).

Its Go tests run on the config generated from the embedded policy; its module pins match the
distribution's; and the same spans (the PII corpus, decoys, probes and randomly shaped attributes)
through a collector with each engine leave it identical: the native processor is the OTTL policy,
one pass per span.
"""

from __future__ import annotations

import os
import random
import re
import subprocess

import pytest
import yaml

import pii_corpus as corpus
from genai_o11y import toolchain
from genai_o11y.builders import collector as collector_builder
from genai_o11y.builders import ocb, redaction
from harness import make_spec
from test_redaction import TIER1, corpus_items, span_pb, through_collector

COMPONENT = ocb.local_root() / "genairedactionprocessor"


def test_go_tests_pass_on_the_generated_policy(tmp_path):
    spec = make_spec()
    cfg = redaction.native_config(spec, collector_builder.policy_for(spec))
    cfg["salt"] = "test-salt"
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = dict(os.environ, GENAI_REDACTION_CONFIG=str(tmp_path / "policy.yaml"), GOFLAGS="-mod=readonly")
    proc = subprocess.run([toolchain._go(), "test", "-count=1", "./..."], cwd=COMPONENT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_module_pins_are_the_distributions():
    """Go picks the highest version any module asks for: ours must not pull a newer collector."""
    gomod = (COMPONENT / "go.mod").read_text()
    pins = re.findall(r"^\s+(go\.opentelemetry\.io/collector/\S+|github\.com/open-telemetry/\S+) (v\S+)", gomod, re.M)
    assert len(pins) >= 8
    allowed = {f"v{toolchain.names.COLLECTOR_VERSION}", f"v{toolchain.names.COLLECTOR_CORE_STABLE_VERSION}"}
    assert {v for _m, v in pins} <= allowed, [p for p in pins if p[1] not in allowed]


def test_default_spec_uses_the_native_engine_and_the_ottl_one_stays_available():
    native = collector_builder.build(make_spec())
    assert "genai_redaction" in native["service"]["pipelines"]["traces/ingest"]["processors"]
    assert native["processors"]["genai_redaction"]["salt"] == "${env:GENAI_O11Y_HASH_SALT}"
    assert "$${1}<CREDENTIALS>@" in [d["mask"] for d in native["processors"]["genai_redaction"]["detectors"]]  # confmap-escaped
    ottl = collector_builder.build(make_spec({"redaction.engine": "ottl"}))
    assert "transform/redact" in ottl["service"]["pipelines"]["traces/ingest"]["processors"]
    assert "genai_redaction" not in ottl["processors"]


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


def _by_trace(spans) -> dict:
    return {s.trace_id: (s.name, s.attributes, s.events, s.resource) for s in spans}


@pytest.mark.collector
@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_both_engines_give_the_same_spans(otelcol, tmp_path, mode):
    items = corpus_items() + random_items(300)
    out = {}
    for engine in ("native", "ottl"):
        (tmp_path / engine).mkdir()
        with through_collector(otelcol, tmp_path / engine, items, {"redaction.engine": engine, "redaction.mode": mode}) as (_spec, _col, sink):
            out[engine] = _by_trace(sink.spans())
    assert len(out["native"]) == len(items) == len(out["ottl"])
    diff = [(t, out["native"][t], out["ottl"][t]) for t in out["ottl"] if out["native"].get(t) != out["ottl"][t]]
    assert not diff, f"{len(diff)} spans differ; first: {diff[:2]}"
    masked = sum(repr(v).count("<EMAIL>") for v in out["native"].values())
    assert (masked > 100) == (mode == "redacted")  # the comparison covered real masking
    assert len(corpus.cases()) >= 400
