"""7. Failure taxonomy: counts and trends per failure category."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import ERROR, FAILURE, MODEL, STAGE, VERSION, P, Q, dashboard, sel, L
from .queries import PROM, REQ, or_zero, per_s, ratio

UID = n.BOARD_FAILURES


def once_per_request(f: str) -> str:
    """Failures per second by category, a failure the request ended with counted once: the larger of the request spans'
    rate and the other stages' (the sidecar infers a category on every span ending in that error, the request's too)."""
    parts = [f'label_replace({per_s(f, matcher, by=FAILURE)}, "{PART}", "{part}", "", "")'
             for part, matcher in (("request", REQ), ("stages", f'{STAGE}!="request"'))]
    return f"max by ({FAILURE}) (\n  " + "\n  or\n  ".join(parts) + "\n)"


#: the label once_per_request() tells the two rates apart by (max by the category drops it)
PART = "counted_on"


def build(spec: Spec, source: str) -> dict:
    f = PROM["failures"]
    err = L(n.ERROR_TYPE)
    cats = ", ".join(n.FAILURE_CATEGORIES)
    panels = [
        P("Failures by category", f"Spans per second by failure category (genai_o11y.failure.category: {cats}; others fold into _other). The category that rose is the failure mode to chase.",
          [Q(or_zero(per_s(f, by=FAILURE), per_s(PROM["calls"], REQ), labels=(FAILURE,)), "{{" + FAILURE + "}}")], unit="ops", stack=True, w=24),
        P("Failure share of requests by category",
          "Failures of each category per end-to-end request. A request that ends in an error carries the category on its own span as well as on the "
          "stage it came from (a rate limit on the model call and on the request): each category is counted on the request spans or on the stages' "
          "spans, whichever has more, not on both. Hallucination flags or citation mismatches (on the stage that flagged them) rising with steady "
          "errors: answers are wrong, not failing.",
          [Q(or_zero(ratio(once_per_request(f), f"on () group_left\n{per_s(PROM['calls'], REQ)}"), per_s(PROM["calls"], REQ), labels=(FAILURE,)),
             "{{" + FAILURE + "}}")], unit="percentunit"),
        P("Failures by category and stage", "Failures over the range by category and the stage that reported them.",
          [Q(f"sum by ({FAILURE}, {STAGE}) (increase({sel(f)}[$__range]))", "{{" + FAILURE + "}} {{" + STAGE + "}}", instant=True)],
          kind="table", unit="short"),
        P("Failures by prompt version", "Failures per second by prompt version and category: a version that fails differently from its predecessor.",
          [Q(or_zero(per_s(f, by=f"{VERSION}, {FAILURE}"), per_s(PROM["calls"], REQ), labels=(VERSION, FAILURE)), "{{" + VERSION + "}} {{" + FAILURE + "}}")], unit="ops"),
        P("Failures by model", "Failures per second by model and category.", [Q(or_zero(per_s(f, by=f"{MODEL}, {FAILURE}"), per_s(PROM["calls"], REQ), labels=(MODEL, FAILURE)), "{{" + MODEL + "}} {{" + FAILURE + "}}")], unit="ops"),
        P("Errors by error type", "Spans ending in error per second by error.type and stage (exceptions, provider errors such as RateLimitError, timeouts); 'unspecified' when the app set no error.type.",
          [Q(or_zero(f'label_replace(\n  {per_s(PROM["calls"], ERROR, by=f"{err}, {STAGE}")},\n  "{err}", "unspecified", "{err}", ""\n)', per_s(PROM["calls"], REQ), labels=(err, STAGE)),
             "{{" + err + "}} {{" + STAGE + "}}")], unit="ops"),
        P("Guardrail blocks", "Share of requests blocked by a guardrail (failure category guardrail_block). 10x its baseline alerts (GenAIGuardrailBlockSpike).",
          [Q(or_zero(ratio(per_s(f, f'{FAILURE}="{n.GUARDRAIL_BLOCK}"'), per_s(PROM["calls"], REQ)), per_s(PROM["calls"], REQ)), "blocked")], unit="percentunit"),
    ]
    return dashboard(UID, "What kind of failure: counts and trends per failure category, by stage, prompt version and model.", panels, source,
                     needs="any GenAI instrumentation alone (our helper, `opentelemetry-instrumentation-openai-v2`, OpenLLMetry, OpenInference): where the app sets no `genai_o11y.failure.category`, the sidecar infers it from `error.type`, HTTP status, gRPC code and finish reasons (the spec's `failures.infer`: rate_limited, timeout, context_overflow, guardrail_block, refusal). retrieval_miss, wrong_tool, hallucination_flag, citation_mismatch and parse_error need the app (the helper's `fail()`). Guardrail blocks need moderation spans or finish reasons such as content_filter.")
