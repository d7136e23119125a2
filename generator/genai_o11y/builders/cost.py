"""Cost in USD per span, computed in the collector from the spec's price table (OTTL).

cost = (input - cached) * input_price + cached * cached_input_price + output * output_price,
prices per token (the spec's per-1M price / 1e6, written as exact decimal literals). Input tokens
include cached ones, as OpenAI, Anthropic and the semantic conventions count them.

A span with token counts whose model is not in the table gets no cost and
`genai_o11y.cost.unpriced = true` (counted in genai_o11y_unpriced_calls_total): never a wrong number.
"""

from __future__ import annotations

from decimal import Decimal

from .. import names as n
from ..spec import Spec
from .ottl import any_of, attr, num

MILLION = Decimal(1_000_000)


def per_token(price_per_million: Decimal) -> Decimal:
    return price_per_million / MILLION


def formula(input_price: Decimal, output_price: Decimal, cached_price: Decimal) -> str:
    def tok(key: str) -> str:
        return f"Double(Coalesce([{attr(key)}, 0]))"

    inp, out, cached = tok(n.INPUT_TOKENS), tok(n.OUTPUT_TOKENS), tok(n.CACHE_READ_TOKENS)
    return (
        f"({inp} - {cached}) * {num(per_token(input_price))}"
        f" + {cached} * {num(per_token(cached_price))}"
        f" + {out} * {num(per_token(output_price))}"
    )


def statement_groups(spec: Spec) -> list[dict]:
    has_tokens = f"({attr(n.INPUT_TOKENS)} != nil or {attr(n.OUTPUT_TOKENS)} != nil)"
    stmts = []
    for m in spec.models:
        p = m.price_usd_per_1m_tokens
        cached = p.cached_input if p.cached_input is not None else p.input
        match = any_of(attr(n.REQUEST_MODEL), [m.name, *m.aliases])
        stmts.append(f"set({attr(n.COST_USD)}, {formula(p.input, p.output, cached)}) where {match}")
    stmts.append(f"set({attr(n.COST_UNPRICED)}, true) where {attr(n.COST_USD)} == nil")
    return [{"context": "span", "conditions": [has_tokens], "statements": stmts}]


def native_config(spec: Spec) -> dict:
    """The cost step of the genai_normalise processor: the same prices (the same decimal literals,
    so the same doubles) and the same formula as statement_groups()."""
    models = []
    for m in spec.models:
        p = m.price_usd_per_1m_tokens
        cached = p.cached_input if p.cached_input is not None else p.input
        models.append({"names": [m.name, *m.aliases], "input": float(num(per_token(p.input))),
                       "cached_input": float(num(per_token(cached))), "output": float(num(per_token(p.output)))})
    return {
        "model_key": n.REQUEST_MODEL, "input_key": n.INPUT_TOKENS, "output_key": n.OUTPUT_TOKENS, "cached_key": n.CACHE_READ_TOKENS,
        "cost_key": n.COST_USD, "unpriced_key": n.COST_UNPRICED, "models": models,
    }


def expected_cost(spec: Spec, model: str, input_tokens: int = 0, output_tokens: int = 0, cached_tokens: int = 0) -> float | None:
    """The cost the collector computes, reproduced in Python (same float operations, same order)."""
    for m in spec.models:
        if model in (m.name, *m.aliases):
            p = m.price_usd_per_1m_tokens
            cached = p.cached_input if p.cached_input is not None else p.input
            pin, pout, pc = (float(num(per_token(x))) for x in (p.input, p.output, cached))
            return (float(input_tokens) - float(cached_tokens)) * pin + float(cached_tokens) * pc + float(output_tokens) * pout
    return None
