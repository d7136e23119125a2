"""6. Quality and versions: feedback and eval scores by prompt version, model, release."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import EVAL, MODEL, RELEASE, STAGE, TEMPLATE, VERSION, P, Q, change_annotations, dashboard, data_link, L
from .queries import PROM, REQ, TEMPO_SCOPE, mean, or_zero, per_s, quantile, ratio, tempo, where

UID = n.BOARD_QUALITY
PROXY = L(n.QUALITY_PROXY)


def proxies_per_request(spec: Spec) -> str:
    """Each quality proxy per request, by proxy; 0 for each of the spec's proxies where there are requests
    and none of it (a proxy that stopped is a fall to 0, not "No data")."""
    requests = per_s(PROM["calls"], REQ)
    expr = f"{per_s(PROM['quality_proxies'], by=PROXY)}\n/ on () group_left\n{requests}"
    zeros = "\nor\n  ".join(f'label_replace(0 * {requests}, "{PROXY}", "{p.name}", "", "")' for p in spec.evals.proxies)
    return f"(\n  {expr}\n)\nor on ({PROXY})\n  {zeros}" if zeros else expr


def acted_on(spec: Spec) -> str | None:
    """TraceQL: traces where a user did what users do after a bad answer (the proxies worse when they rise)."""
    kinds = [p.name for p in spec.evals.proxies if p.worse_when == "rise"]
    return where(*TEMPO_SCOPE, f'span.{n.QUALITY_PROXY} =~ "{"|".join(kinds)}"') if kinds else None


def low_scores(spec: Spec) -> str | None:
    """TraceQL: traces with an eval span past its evaluator's floor (one spanset per evaluator with a floor)."""
    sets = [where(*TEMPO_SCOPE, f'span.{n.EVAL_NAME} = "{e.name}"', f"span.{n.EVAL_SCORE} {'<' if e.direction == 'higher' else '>'} {e.floor!r}")
            for e in spec.evals.evaluators if e.floor is not None]
    return " || ".join(sets) or None


def build(spec: Spec, source: str) -> dict:
    fb, sentiment = PROM["feedback"], L(n.FEEDBACK_SENTIMENT)
    pos = lambda by: or_zero(ratio(per_s(fb, f'{sentiment}="positive"', by=by), per_s(fb, by=by)), per_s(fb, by=by), on=by)  # noqa: E731
    ev = "genai_o11y_evaluation_score"
    expected = "; ".join(f"{k}: {', '.join(v)}" for k, v in spec.prompts.expected_versions.items()) or "none"
    panels = [
        P("Feedback positive rate by prompt version", "Share of positive feedback per prompt template and version. A new version below the old one is a regression users see; the annotations mark version changes.",
          [Q(pos(f"{TEMPLATE}, {VERSION}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}}")], unit="percentunit"),
        P("Feedback positive rate by model", "Share of positive feedback per model.", [Q(pos(MODEL), "{{" + MODEL + "}}")], unit="percentunit"),
        P("Feedback positive rate by release", "Share of positive feedback per release (service.version).", [Q(pos(RELEASE), "{{" + RELEASE + "}}")], unit="percentunit"),
        P("Eval score by prompt version", "Mean evaluation score (gen_ai.evaluation.score.value) per evaluation and prompt version. A drop of 10% against the 7-day average alerts (GenAIQualityScoreDrop).",
          [Q(mean(ev, by=f"{EVAL}, {TEMPLATE}, {VERSION}"), "{{" + EVAL + "}} {{" + TEMPLATE + "}} {{" + VERSION + "}}")], unit="short"),
        P("Eval score by model", "Mean evaluation score per evaluation and model.", [Q(mean(ev, by=f"{EVAL}, {MODEL}"), "{{" + EVAL + "}} {{" + MODEL + "}}")], unit="short"),
        P("Eval score by release", "Mean evaluation score per evaluation and release.", [Q(mean(ev, by=f"{EVAL}, {RELEASE}"), "{{" + EVAL + "}} {{" + RELEASE + "}}")], unit="short"),
        *[P(f"Eval score {e.name} by prompt version and model, floor {e.floor:g}",
            f"Mean {e.name} score per prompt version and model, with the floor the spec sets drawn as a line ({'higher' if e.direction == 'higher' else 'lower'} "
            f"is better). Past the floor for {spec.alerting.thresholds.sustain_minutes} minutes with at least {e.min_samples} results an hour pages "
            f"(GenAIEvalScoreBelowFloor); the release gate holds candidates to the same floor (genai-o11y gate). The worst decile over all "
            f"versions carries exemplars: each dot is a scored trace, click it to open it in Tempo (native engine).",
            [Q(mean(ev, f'{EVAL}="{e.name}"', by=f"{TEMPLATE}, {VERSION}, {MODEL}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}} {{" + MODEL + "}}"),
             Q(quantile(0.1 if e.direction == "higher" else 0.9, f'{EVAL}="{e.name}"', metric=ev + "_bucket"),
               f"{'p10' if e.direction == 'higher' else 'p90'} (exemplars: example traces)", exemplar=True)],
            unit="short", thresholds=[(e.floor, "green" if e.direction == "higher" else "red")],
            threshold_base="red" if e.direction == "higher" else "green", threshold_lines=True)
          for e in spec.evals.evaluators if e.floor is not None],
        *([P("Quality proxies per request", "What users do with answers, per request (the helper's record_proxy: regenerate, rephrase, copy the answer, open a "
             f"cited source, escalate, abandon; or the {n.USER_ACTION_EVENT} event on the answer's span or as a log record naming it). Regenerate, rephrase, escalate and abandon rising, or copy and open-citation falling, against their own "
             "7-day rate alerts (GenAIQualityProxyRise / GenAIQualityProxyFall, tolerances in the spec's evals.proxies); the annotations mark version changes.",
             [Q(proxies_per_request(spec), "{{" + PROXY + "}}")], unit="short"),
           P("Quality proxies by prompt version and model", "User actions per second by proxy, prompt version and model: which version or model users "
             "regenerate, escalate or abandon.",
             [Q(per_s(PROM["quality_proxies"], by=f"{PROXY}, {TEMPLATE}, {VERSION}, {MODEL}"),
                "{{" + PROXY + "}} {{" + TEMPLATE + "}} {{" + VERSION + "}} {{" + MODEL + "}}")], unit="ops")] if spec.evals.proxies else []),
        *([P("Traces users acted on after a bad answer",
             "Traces with a user action of a proxy that rises with bad answers (" + ", ".join(p.name for p in spec.evals.proxies if p.worse_when == "rise")
             + "), that Tempo holds: read the answer the user reacted to, in the same trace. Tail sampling keeps them all with "
             f"sampling.keep_quality_proxies, else the baseline share. user_action spans only: a {n.USER_ACTION_EVENT} event (on a span or a log "
             "record) is counted in the panels above but not listed here. Click a row to open it in the request drill-down.",
             kind="table", w=24, h=10, options={"targets": [tempo(acted_on(spec), limit=20)]},
             data_links=[data_link("Open this trace", n.BOARD_DRILLDOWN, **{"var-trace_id": "${__data.fields.traceID}"})])] if acted_on(spec) else []),
        *([P("Low-scoring traces", "Traces with an eval span past its evaluator's floor (" + "; ".join(
             f"{e.name} {'<' if e.direction == 'higher' else '>'} {e.floor:g}" for e in spec.evals.evaluators if e.floor is not None)
             + "), that Tempo holds: open one to read the question, the retrieved context and the answer that scored low. "
             + ("Tail sampling keeps every such trace (sampling.keep_below_floor). " if spec.sampling.keep_below_floor else
                f"Tail sampling keeps only its baseline share ({spec.sampling.baseline_percent:g}%) of them: sampling.keep_below_floor is off "
                "(on: every one, at one more OTTL condition per span at each decision). ")
             + "Click a row to open the trace in the request drill-down.", kind="table", w=24, h=10,
             options={"targets": [tempo(low_scores(spec), limit=20)]},
             data_links=[data_link("Open this trace", n.BOARD_DRILLDOWN, **{"var-trace_id": "${__data.fields.traceID}"})])] if low_scores(spec) else []),
        P("Response length by prompt version", "Median and p90 answer length in output tokens per prompt version. Much shorter answers after a change (prompt drift) usually come with lower feedback.",
          [Q(quantile(0.5, metric=PROM["response_tokens_bucket"], by=VERSION), "{{" + VERSION + "}} p50"),
           Q(quantile(0.9, metric=PROM["response_tokens_bucket"], by=VERSION), "{{" + VERSION + "}} p90")], unit="short"),
        P("Calls by prompt version", f"Model calls per second by prompt template and version. Expected in production: {expected}; any other version alerts (GenAIUnexpectedPromptVersion).",
          [Q(per_s(PROM["calls"], f'{STAGE}="model_call"', by=f"{TEMPLATE}, {VERSION}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}}")], unit="ops", stack=True),
    ]
    return dashboard(UID, "Quality by what changed: feedback and eval scores by prompt version, model and release, with annotations where versions changed.",
                     panels, source, annotations=change_annotations(),
                     needs="feedback and evaluation spans (the helper's `record_feedback` / `record_eval`, or spans with stage feedback / evaluation carrying `genai_o11y.feedback.sentiment`, `gen_ai.evaluation.name` and `gen_ai.evaluation.score.value`), user actions (the helper's `record_proxy`, or spans with stage user_action carrying `genai_o11y.quality.proxy`) and prompt versions (`genai_o11y.prompt.template` / `.version`, set by the helper). Response length and calls fill from any GenAI instrumentation's model calls.")
