"""6. Quality and versions: feedback and eval scores by prompt version, model, release."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import EVAL, MODEL, RELEASE, STAGE, TEMPLATE, VERSION, P, Q, change_annotations, dashboard, L
from .queries import PROM, mean, or_zero, per_s, quantile, ratio

UID = "genai-o11y-quality"


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
            f"(GenAIEvalScoreBelowFloor); the release gate holds candidates to the same floor (genai-o11y gate).",
            [Q(mean(ev, f'{EVAL}="{e.name}"', by=f"{TEMPLATE}, {VERSION}, {MODEL}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}} {{" + MODEL + "}}")],
            unit="short", thresholds=[(e.floor, "green" if e.direction == "higher" else "red")],
            threshold_base="red" if e.direction == "higher" else "green", threshold_lines=True)
          for e in spec.evals.evaluators if e.floor is not None],
        P("Response length by prompt version", "Median and p90 answer length in output tokens per prompt version. Much shorter answers after a change (prompt drift) usually come with lower feedback.",
          [Q(quantile(0.5, metric=PROM["response_tokens_bucket"], by=VERSION), "{{" + VERSION + "}} p50"),
           Q(quantile(0.9, metric=PROM["response_tokens_bucket"], by=VERSION), "{{" + VERSION + "}} p90")], unit="short"),
        P("Calls by prompt version", f"Model calls per second by prompt template and version. Expected in production: {expected}; any other version alerts (GenAIUnexpectedPromptVersion).",
          [Q(per_s(PROM["calls"], f'{STAGE}="model_call"', by=f"{TEMPLATE}, {VERSION}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}}")], unit="ops", stack=True),
    ]
    return dashboard(UID, "Quality by what changed: feedback and eval scores by prompt version, model and release, with annotations where versions changed.",
                     panels, source, annotations=change_annotations(),
                     needs="feedback and evaluation spans (the helper's `record_feedback` / `record_eval`, or spans with stage feedback / evaluation carrying `genai_o11y.feedback.sentiment`, `gen_ai.evaluation.name` and `gen_ai.evaluation.score.value`) and prompt versions (`genai_o11y.prompt.template` / `.version`, set by the helper). Response length and calls fill from any GenAI instrumentation's model calls.")
