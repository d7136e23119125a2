"""Cost in USD per span, computed in the collector from each model's price terms.

A model's price resolves once, in the spec (`Model.price_terms()`), into terms (token kind -> USD
per token, the spec's per-1M price / 1e6 written as an exact decimal literal) and an optional
per-call fee. cost = sum of (tokens - tokens of the kinds inside it that have a term of their own) *
USD per token, term by term in names.TOKEN_KINDS order, + the per-call fee. With input, cached input
and output prices that is (input - cached) * input + cached * cached_input + output * output: input
tokens include cached ones, output tokens include reasoning ones, as the semantic conventions count
them. Three renderings of the same terms: the OTTL statements (statement_groups), the
genai_normalise processor's config (native_config) and the test oracle (expected_cost).

A span with token counts whose model is not in the table gets no cost and
`genai_o11y.cost.unpriced = true` (counted in genai_o11y_unpriced_calls_total): never a wrong number.
"""

from __future__ import annotations

from .. import names as n
from ..spec import Spec
from ..spec.model import PriceTerms
from .ottl import any_of, attr, num

#: A span is priced where it reports one of these counts (the kinds no other kind includes).
TRIGGER_KEYS = [k.attribute for k in n.TOKEN_KINDS if k.part_of is None]


def formula(price: PriceTerms) -> str:
    """The cost as an OTTL expression, left to right as the other renderings add it."""

    def tok(key: str) -> str:
        return f"Double(Coalesce([{attr(key)}, 0]))"

    parts = []
    for t in price.terms:
        count = " - ".join([tok(t.kind.attribute), *(tok(j.attribute) for j in t.minus)])
        parts.append(f"({count}) * {num(t.usd_per_token)}" if t.minus else f"{count} * {num(t.usd_per_token)}")
    if price.per_call_usd is not None:
        parts.append(num(price.per_call_usd))
    return " + ".join(parts)


def statement_groups(spec: Spec) -> list[dict]:
    has_tokens = "(" + " or ".join(f"{attr(k)} != nil" for k in TRIGGER_KEYS) + ")"
    stmts = []
    for m in spec.models:
        match = any_of(attr(n.REQUEST_MODEL), [m.name, *m.aliases])
        stmts.append(f"set({attr(n.COST_USD)}, {formula(m.price_terms())}) where {match}")
    stmts.append(f"set({attr(n.COST_UNPRICED)}, true) where {attr(n.COST_USD)} == nil")
    return [{"context": "span", "conditions": [has_tokens], "statements": stmts}]


def native_config(spec: Spec) -> dict:
    """The cost step of the genai_normalise processor: the same terms (the same decimal literals,
    so the same doubles) in the same order as statement_groups()."""
    models = []
    for m in spec.models:
        price = m.price_terms()
        terms = [{"kind": t.kind.name, "tokens": t.kind.attribute, **({"minus": [j.attribute for j in t.minus]} if t.minus else {}),
                  "usd": float(num(t.usd_per_token))} for t in price.terms]
        models.append({"names": [m.name, *m.aliases], "terms": terms,
                       **({"per_call_usd": float(num(price.per_call_usd))} if price.per_call_usd is not None else {})})
    return {"model_key": n.REQUEST_MODEL, "when_any": TRIGGER_KEYS, "cost_key": n.COST_USD, "unpriced_key": n.COST_UNPRICED, "models": models}


def expected_cost(spec: Spec, model: str, tokens: dict[str, float]) -> float | None:
    """The oracle: the cost the collector computes for a model call reporting `tokens` (token kind
    name -> count, absent kinds 0), from the same terms, in the same float operations and order.
    None for a model not in the table."""
    unknown = set(tokens) - set(n.TOKEN_KIND)
    if unknown:
        raise ValueError(f"unknown token kinds {sorted(unknown)}; known: {', '.join(n.TOKEN_KIND)}")
    for m in spec.models:
        if model in (m.name, *m.aliases):
            price = m.price_terms()
            total: float | None = None
            for t in price.terms:
                count = float(tokens.get(t.kind.name, 0))
                for j in t.minus:
                    count = count - float(tokens.get(j.name, 0))
                term = count * float(num(t.usd_per_token))
                total = term if total is None else total + term
            if price.per_call_usd is not None:
                total = float(num(price.per_call_usd)) if total is None else total + float(num(price.per_call_usd))
            return total if total is not None else 0.0
    return None


def tokens_of(attributes) -> dict[str, float]:
    """The token counts a span's (normalised) attributes report, by kind: expected_cost's input."""
    return {k.name: attributes[k.attribute] for k in n.TOKEN_KINDS if attributes.get(k.attribute) is not None}
