"""3. Cost attribution: who and what spends, per request, per success, per thumbs-up, against budget."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import ERROR, MODEL, PROVIDER, ROUTE, STAGE, TEMPLATE, TENANT, VERSION, WHOLE_SERVICE, P, Q, dashboard, sel, L
from .queries import PROM, REQ, or_zero, per_s, tokens_per_s, ratio

UID = n.BOARD_COST


def build(spec: Spec, source: str) -> dict:
    cost = PROM["cost"]
    per_hour = lambda by: f"{per_s(cost, by=by)} * 3600"  # noqa: E731
    prices = "; ".join(
        f"{m.name}: " + ", ".join(f"{t.kind.label} {getattr(m.price_usd_per_1m_tokens, t.kind.name)}" for t in m.price_terms().terms)
        + (f", per call {m.per_call_usd}" if m.per_call_usd is not None else "")
        for m in spec.models
    )
    task = L(n.TASK_TYPE)
    fb, sentiment = PROM["feedback"], L(n.FEEDBACK_SENTIMENT)
    budget = spec.budget.daily_usd
    panels = [
        P("Cost by model", f"USD per hour by provider and model. Prices (USD per 1M tokens) from the spec: {prices}. A new model at the top after a routing change is the usual cost spike.",
          [Q(per_hour(f"{PROVIDER}, {MODEL}"), "{{" + PROVIDER + "}}/{{" + MODEL + "}}")], unit="currencyUSD", stack=True),
        P("Cost by route", "USD per hour by route. A route whose cost grows faster than its traffic got more expensive per answer.",
          [Q(per_hour(ROUTE), "{{" + ROUTE + "}}")], unit="currencyUSD", stack=True),
        P("Cost by tenant", f"USD per hour of the 20 most expensive tenants (hashed ids; at most {spec.cardinality.max_tenants} tenants tracked). One tenant far above the rest: abuse or a runaway integration.",
          [Q(f'topk(20, sum by ({TENANT}) (rate({sel(PROM["tenant_cost"])}[$__rate_interval])) * 3600)', "{{" + TENANT + "}}")],
          unit="currencyUSD"),
        P("Cost by prompt version", "USD per hour by prompt template and version. A new version costing more per hour at the same traffic has longer prompts or answers.",
          [Q(per_hour(f"{TEMPLATE}, {VERSION}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}}")], unit="currencyUSD", stack=True),
        P("Cost by task type", "USD per hour by task type (feature). Which features the spend goes to.",
          [Q(per_hour(task), "{{" + task + "}}")], unit="currencyUSD", stack=True),
        P("Cost per request", "USD per end-to-end request, and per successful request. The gap is money spent on answers that failed.",
          [Q(ratio(per_s(cost), per_s(PROM["calls"], REQ)), "per request"),
           Q(ratio(per_s(cost), per_s(PROM["calls"], REQ, 'status_code!="STATUS_CODE_ERROR"')), "per successful request")],
          unit="currencyUSD"),
        P("Cost per thumbs-up", "USD spent per positive feedback: what a satisfied answer costs. Rising means more spend, fewer happy users, or both.",
          [Q(ratio(per_s(cost), per_s(fb, f'{sentiment}="positive"')), "per thumbs-up")], unit="currencyUSD"),
        P("Tokens by kind", "Tokens per second by kind (cached input is part of input, reasoning part of output, as the GenAI semantic conventions count them). "
          "Cached input falling while input holds means the provider's prompt cache stopped hitting (a changed prompt prefix); reasoning growing faster than output means the model thinks longer per answer.",
          [Q(q, legend) for q, legend in tokens_per_s()], unit="short"),
        P("Unpriced calls", "Calls per second with token counts to a model that has no price in the spec: their cost is missing everywhere (GenAIUnpricedModelCalls). Should be 0.",
          [Q(per_s(PROM["unpriced"], by=PROVIDER), "{{" + PROVIDER + "}}")], unit="ops", thresholds=[(0.0001, "red")]),
        P("Spend over 24 hours against the daily budget", (f"USD spent in the last 24 hours against the spec's daily budget ({budget} USD). Crossing the line means the month's budget runs out early." if budget is not None else "USD spent in the last 24 hours (no daily budget set in the spec)."),
          # the budget is the service's: the whole spend, whatever model, route or prompt version is picked
          [Q(f"sum (increase({sel(cost, skip=WHOLE_SERVICE)}[24h]))", "spent in 24h")] + ([Q(f"vector({budget})", "daily budget")] if budget is not None else []),
          unit="currencyUSD"),
    ]
    return dashboard(UID, "Where the money goes: by model, route, tenant, prompt version and task; per request, per success, per thumbs-up; against the daily budget.", panels, source,
                     needs="any GenAI instrumentation's token counts and `gen_ai.request.model` priced by the spec's price table. The splits by route, tenant, prompt version and task type need `genai_o11y.route`, `genai_o11y.tenant`, `genai_o11y.prompt.version`, `genai_o11y.task.type` (the helper sets them); per thumbs-up needs feedback spans.")
