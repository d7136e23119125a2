"""The generated cost config, not a Python copy of it.

Random model calls, reporting each token kind of names.TOKEN_KINDS in its current spelling or in an
older instrumentation's (as integers, numeric strings, integral doubles, or not a number), to models
priced in every shape (default terms, a reasoning price, a fee per call, no cached price) and to
unknown ones, go through the real collector with each engine (collector.engine). The cost on every
span that leaves equals, to the last bit, the oracle rendered from the same price terms
(cost.expected_cost over Model.price_terms()), computed from what was sent; the token counters
count every kind, reasoning included.
"""

from __future__ import annotations

import random

import pytest

from genai_o11y import catalog, names
from genai_o11y.builders import cost
from harness import make_spec, span_pb, spec_dict, through_collector, wait_for

#: Models beyond the default spec's, one per price shape the terms can take.
EXTRA_MODELS = [
    {"name": "o4-mini", "provider": "openai", "price_usd_per_1m_tokens": {"input": 1.1, "output": 4.4, "cached_input": 0.275, "reasoning": 8.8}, "per_call_usd": 0.0005},
    {"name": "r1", "provider": "deepseek", "price_usd_per_1m_tokens": {"input": 0.55, "output": 2.19}, "per_call_usd": 0.001},
    {"name": "think-1", "provider": "anthropic", "price_usd_per_1m_tokens": {"input": 3, "output": 15, "reasoning": 3.75}},
]
N = 600


def _overrides() -> dict:
    return {"models": [*spec_dict()["models"], *EXTRA_MODELS], "sampling.baseline_percent": 100,
            "pipeline.stages": spec_dict()["pipeline"]["stages"]}


def _spelled(rng: random.Random, value: int):
    return rng.choice([value, value, str(value), float(value)])


def cost_items(spec, n: int, seed: int = 41) -> tuple[list, dict]:
    """(resource, span) items and, per trace id, what the collector must leave: the expected cost
    (None: unpriced) and the counts by kind that count in the token metrics."""
    rng = random.Random(seed)
    models = [m for model in spec.models for m in (model.name, *model.aliases)] + ["llama-3"]
    items, expect = [], {}
    for i in range(n):
        counts = {k.name: rng.randint(0, 4000) for k in names.TOKEN_KINDS if k.part_of is None}
        counts |= {k.name: rng.randint(0, counts[k.part_of]) for k in names.TOKEN_KINDS if k.part_of}
        sent = {k: v for k, v in counts.items() if rng.random() < 0.85}  # some kinds not reported
        model = rng.choice(models)
        attrs: dict = {names.STAGE: "model_call", names.REQUEST_MODEL: model, names.PROVIDER: "openai"}
        broken = rng.choice(sorted(sent)) if sent and rng.random() < 0.08 else None  # a reported count that is not a number
        for k in names.TOKEN_KINDS:
            if k.name not in sent:
                continue
            key = rng.choice([k.attribute, *(legacy for legacy, _who in k.legacy)])
            attrs[key] = "n/a" if k.name == broken else _spelled(rng, sent[k.name])
            if key == k.attribute and k.legacy and rng.random() < 0.1:
                attrs[rng.choice(k.legacy)[0]] = 999_999  # the current spelling wins
        trace_id = 11_000_000 + i
        trace = {"counts": {k: v for k, v in sent.items() if k != broken}}
        triggered = any(names.TOKEN_KIND[k].part_of is None for k in sent)
        if not triggered:
            trace["cost"] = "none"
        else:
            price = next((m.price_terms() for m in spec.models if model in (m.name, *m.aliases)), None)
            reads = {t.kind.name for t in price.terms} | {j.name for t in price.terms for j in t.minus} if price else set()
            trace["cost"] = None if price is None or broken in reads else cost.expected_cost(spec, model, trace["counts"])
        items.append(({names.SERVICE_NAME: "cost-bot"}, span_pb(trace_id, "chat", attrs, error=False)))
        expect[trace_id.to_bytes(16, "big").hex()] = trace
    return items, expect


@pytest.mark.collector
@pytest.mark.parametrize("engine", ["native", "ottl"])
def test_generated_cost_config_matches_the_oracle(otelcol, tmp_path, engine):
    spec = make_spec(_overrides())
    items, expect = cost_items(spec, N)
    # the sample covers every shape: priced by each model with its own terms, unpriced, not a number, no tokens
    costs = [e["cost"] for e in expect.values()]
    assert sum(isinstance(c, float) for c in costs) > N * 0.6 and costs.count(None) > 40 and "none" in costs
    with through_collector(otelcol, tmp_path, items, {**_overrides(), "collector.engine": engine}) as (_spec, col, sink):
        spans = {s.trace_id: s.attributes for s in sink.spans()}
        assert set(spans) == set(expect)
        wrong = []
        for trace_id, want in expect.items():
            a = spans[trace_id]
            got = (a.get(names.COST_USD), a.get(names.COST_UNPRICED))
            if got != {"none": (None, None), None: (None, True)}.get(want["cost"], (want["cost"], None)):
                wrong.append((trace_id, want, dict(a)))
        assert not wrong, f"{len(wrong)} of {len(expect)} spans priced otherwise than the oracle; first: {wrong[:2]}"
        assert not [a for a in spans.values() if any(legacy in a for k in names.TOKEN_KINDS for legacy, _w in k.legacy)]

        # the token counters count each kind, reasoning included (numeric counts only)
        def totals():
            smp = col.samples()
            return {k.name: sum(s.value for s in smp if s.name == catalog.PROM[k.key] and s.labels.get("service_name") == "cost-bot") for k in names.TOKEN_KINDS}

        want_tokens = {k.name: sum(e["counts"].get(k.name, 0) for e in expect.values()) for k in names.TOKEN_KINDS}
        assert want_tokens["reasoning"] > 0
        try:
            wait_for(lambda: totals() == want_tokens, timeout=30, what="token counters")
        finally:
            assert totals() == want_tokens
