"""LLM-specific alerts, each against its own baseline (absolute thresholds mean nothing for quality,
feedback or cost): the last hour compared with the average of the `baseline_days` before it.

Recording rules come in two groups: the last hour (evaluated every minute) and the baselines
(every 2 minutes, well inside the 5-minute lookback so alerts always see a sample; ratios are rates over the whole baseline window, so they are right even while
the history is shorter; absolute values average the recorded hourly values for the same reason).
Factors and the traffic floor come from the spec (`alerting.thresholds`); the absolute floors below
keep a zero baseline ("never happened before") from paging on a single event.
"""

from __future__ import annotations

import math


from .. import catalog
from .. import names as n
from ..spec import Spec
from ..spec.model import Evaluator
from .alerting import Alert, Runbook, dashboard
from .promql import NOT_PIPELINE, REQUEST, le, prom_regex

CALLS, BUCKET, COUNT = catalog.PROM["calls"], catalog.PROM["duration_bucket"], catalog.PROM["duration_count"]
L = n.prom_label
STAGE, SVC, ENV, ROUTE = L(n.STAGE), L(n.SERVICE_NAME), L(n.ENVIRONMENT), L(n.ROUTE)
TEMPLATE, VERSION, EVAL = L(n.PROMPT_TEMPLATE), L(n.PROMPT_VERSION), L(n.EVAL_NAME)
MISSING = L(n.REQUIRED_TOOL_MISSING)
PROXY = L(n.QUALITY_PROXY)
G = f"{SVC}, {ENV}"
REQUESTS = f"{CALLS}{{{REQUEST}}}"

#: Absolute floors (share of the denominator) below which a rise is not worth an alert.
FLOORS = {
    "negative_feedback": 0.05,
    "guardrail_blocks": 0.01,
    "answers_missing_tool": 0.02,
    "prompt_truncations": 0.02,
    "retrieval_zero_results": 0.05,
    "cache_hits_baseline": 0.05,  # a cache that hardly ever hit cannot collapse
}


def _ratio(num: str, den: str, by: str, w: str, fallback: bool = True) -> str:
    """sum(rate(num)) / sum(rate(den)); with fallback, a missing numerator counts as 0."""
    top = f"sum by ({by}) (rate({num}[{w}]))"
    bottom = f"sum by ({by}) (rate({den}[{w}]))"
    if fallback:
        top = f"(\n  {top}\n  or\n  0 * {bottom}\n)"
    return f"{top}\n/\n{bottom}"


def _ratios(spec: Spec, w: str) -> dict[str, str]:
    """name -> expression for every ratio SLI over window `w` (an offset may follow the window)."""
    fb = catalog.PROM["feedback"]
    sentiment = L(n.FEEDBACK_SENTIMENT)
    out = {
        "feedback_negative": _ratio(f'{fb}{{{sentiment}="negative"}}', fb, G, w),
        "guardrail_blocks": _ratio(f'{catalog.PROM["failures"]}{{{L(n.FAILURE_CATEGORY)}="{n.GUARDRAIL_BLOCK}"}}', REQUESTS, G, w),
        "cache_hits": _ratio(f'{catalog.PROM["cache"]}{{{L(n.CACHE_HIT)}="true"}}', catalog.PROM["cache"], G, w),
        "prompt_truncations": _ratio(catalog.PROM["truncations"], REQUESTS, G, w),
        "retrieval_zero_results": _ratio(f'{catalog.PROM["retrieval_bucket"]}{{{le(0)}}}', catalog.PROM["retrieval_count"], G, w),
        # labelled eval results (gen_ai.evaluation.score.label) that pass, per evaluator
        "eval_pass": _pass_ratio(spec, w),
    }
    if _required_tools(spec):
        out["answers_missing_tool"] = (
            f"sum by ({G}, {ROUTE}, {MISSING}) (rate({catalog.PROM['missing_tool']}[{w}]))\n"
            f"/ on ({G}, {ROUTE}) group_left\n"
            f"sum by ({G}, {ROUTE}) (rate({REQUESTS}[{w}]))"
        )
    return out


def evaluator_selectors(spec: Spec) -> list[tuple[Evaluator, str]]:
    """Each evaluator the spec lists with the matcher of its series, and the spec's defaults (an
    Evaluator named "default") with the matcher of every evaluator it does not list."""
    listed = [e.name for e in spec.evals.evaluators]
    out = [(e, f'{EVAL}="{e.name}"') for e in spec.evals.evaluators]
    return out + [(Evaluator(name="default"), f'{EVAL}!~"{prom_regex(listed)}"' if listed else "")]


def pass_label_regex(ev: Evaluator) -> str:
    """The labels that count as a pass for one evaluator (its pass_labels), case-insensitive."""
    return "(?i)" + prom_regex(sorted({lab.lower() for lab in ev.pass_labels}))


def _pass_ratio(spec: Spec, w: str) -> str:
    """Labelled results that pass, per evaluator, each by its own pass_labels (a label one evaluator passes,
    "false" for a refusal check, is a failure of another): the evaluators' series are disjoint, so their
    passing rates are unioned under one sum."""
    res = catalog.PROM["eval_results"]
    selectors = []
    for ev, sel in evaluator_selectors(spec):
        label = f'{L(n.EVAL_LABEL)}=~"{pass_label_regex(ev)}"'
        selectors.append(f"rate({res}{{{', '.join(m for m in (sel, label) if m)}}}[{w}])")
    passing = "\n  or\n  ".join(selectors)
    by = f"{G}, {EVAL}"
    bottom = f"sum by ({by}) (rate({res}[{w}]))"
    return f"(\n  sum by ({by}) (\n  {passing}\n  )\n  or\n  0 * {bottom}\n)\n/\n{bottom}"


def _required_tools(spec: Spec) -> bool:
    return any(t.required_for_routes for t in spec.pipeline.tools)


def current_records(spec: Spec) -> list[dict]:
    """The last hour (the eval floor: FLOOR_WINDOW): what the LLM alerts and the dashboards compare."""
    w = "1h"
    rec = [
        {"record": catalog.REC_REQUESTS_1H, "expr": f"sum by ({G}) (rate({REQUESTS}[{w}]))"},
        {"record": catalog.REC_ROUTE_REQUESTS_1H, "expr": f"sum by ({G}, {ROUTE}) (rate({REQUESTS}[{w}]))"},
        {"record": catalog.REC_COST_PER_HOUR_1H, "expr": f"sum by ({G}) (rate({catalog.PROM['cost']}[{w}])) * 3600"},
        {"record": catalog.REC_FEEDBACK_1H, "expr": f"sum by ({G}) (rate({catalog.PROM['feedback']}[{w}]))"},
        {"record": catalog.REC_CACHE_LOOKUPS_1H, "expr": f"sum by ({G}) (rate({catalog.PROM['cache']}[{w}]))"},
        {"record": catalog.REC_RETRIEVALS_1H, "expr": f"sum by ({G}) (rate({catalog.PROM['retrieval_count']}[{w}]))"},
        {"record": catalog.REC_EVALS_1H, "expr": f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_count']}[{w}]))"},
        {"record": catalog.REC_EVAL_RESULTS_1H, "expr": f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_results']}[{w}]))"},
        {
            "record": catalog.REC_EVAL_SCORE_MEAN_1H,
            "expr": f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_sum']}[{w}]))\n/\nsum by ({G}, {EVAL}) (rate({catalog.PROM['eval_count']}[{w}]))",
        },
        {"record": catalog.REC_EVALS_15M, "expr": f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_count']}[{FLOOR_WINDOW}]))"},
        {
            "record": catalog.REC_EVAL_SCORE_MEAN_15M,
            "expr": f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_sum']}[{FLOOR_WINDOW}]))\n/\n"
                    f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_count']}[{FLOOR_WINDOW}]))",
        },
        {
            "record": catalog.REC_STAGE_P99_1H,
            "expr": f'histogram_quantile(0.99, sum by (le, {G}, {STAGE}) (rate({BUCKET}{{{STAGE}!~"{NOT_PIPELINE}"}}[{w}])))',
        },
        {"record": catalog.REC_STAGE_CALLS_1H, "expr": f'sum by ({G}, {STAGE}) (rate({COUNT}{{{STAGE}!~"{NOT_PIPELINE}"}}[{w}]))'},
    ]
    rec += [{"record": catalog.ratio_1h(name), "expr": expr} for name, expr in _ratios(spec, w).items()]
    if spec.evals.proxies:
        rec.append({"record": catalog.ratio_1h('quality_proxy'), "expr": proxy_ratio(spec, w)})
    return rec


def proxy_ratio(spec: Spec, w: str, offset: str = "") -> str:
    """Each quality proxy (evals.proxies) per request over `w`, by service and environment: 0 where there
    are requests and none of that proxy (each listed proxy gets a zero series, so a baseline of "never"
    is a baseline and a proxy that stopped is a fall to 0)."""
    off = f" offset {offset}" if offset else ""
    requests = f"sum by ({G}) (rate({REQUESTS}[{w}]{off}))"
    zeros = [f'label_replace(0 * {requests}, "{PROXY}", "{p.name}", "", "")' for p in spec.evals.proxies]
    top = "\n  or\n  ".join([f'sum by ({G}, {PROXY}) (rate({catalog.PROM["quality_proxies"]}[{w}]{off}))', *zeros])
    return f"(\n  {top}\n)\n/ on ({G}) group_left\n{requests}"


def baseline_records(spec: Spec) -> list[dict]:
    """The `baseline_days` before the last hour."""
    d = spec.alerting.thresholds.baseline_days
    rec = []
    for name, expr in _ratios(spec, f"{d}d").items():
        expr = expr.replace(f"[{d}d])", f"[{d}d] offset 1h)")
        if name == "answers_missing_tool":
            # a route with traffic but no skipped tool has a baseline of 0 for each tool it requires
            zeros = [
                f'label_replace(0 * sum by ({G}, {ROUTE}) (rate({CALLS}{{{STAGE}="request",{ROUTE}=~"{prom_regex(t.required_for_routes)}"}}[{d}d] offset 1h)), '
                f'"{MISSING}", "{t.name}", "", "")'
                for t in spec.pipeline.tools if t.required_for_routes
            ]
            expr = f"(\n{expr}\n)\nor\n" + "\nor\n".join(zeros)
        rec.append({"record": catalog.ratio_baseline(name), "expr": expr})
    if spec.evals.proxies:
        rec.append({"record": catalog.ratio_baseline('quality_proxy'), "expr": proxy_ratio(spec, f"{d}d", offset="1h")})
    rec += [
        {"record": catalog.REC_COST_PER_HOUR_BASELINE, "expr": f"avg_over_time({catalog.REC_COST_PER_HOUR_1H}[{d}d] offset 1h)"},
        {"record": catalog.REC_STAGE_P99_BASELINE, "expr": f"avg_over_time({catalog.REC_STAGE_P99_1H}[{d}d] offset 1h)"},
        {
            "record": catalog.REC_EVAL_SCORE_MEAN_BASELINE,
            "expr": (
                f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_sum']}[{d}d] offset 1h))\n/\n"
                f"sum by ({G}, {EVAL}) (rate({catalog.PROM['eval_count']}[{d}d] offset 1h))"
            ),
        },
    ]
    return rec


def _rise(name: str, factor: float, floor: float, volume: str, on: str) -> str:
    """The last hour above `factor` times the baseline. No baseline (a service younger than the window
    offset), no alert; a zero baseline (traffic, but none of these events) is a baseline."""
    cur, base = catalog.ratio_1h(name), catalog.ratio_baseline(name)
    return (
        f"{cur} > {factor} * {base}\n"
        f"and\n{cur} > {floor}\n"
        f"and on ({on})\n{volume}"
    )


#: the window of the eval floor's mean: an hour took 30 - 60 minutes to cross the floor after an hour of good scores,
#: and as long to clear after a rollback (an on-call's trial)
FLOOR_WINDOW = "15m"
FLOOR_WINDOW_S = 900


def floor_min(ev) -> int:
    """Results an evaluator needs in FLOOR_WINDOW: its min_samples (per hour) for that share of an hour, at least 1."""
    return max(1, math.ceil(ev.min_samples * FLOOR_WINDOW_S / 3600))


def floor_expr(spec: Spec) -> str | None:
    """Each evaluator with a floor (evals.evaluators): its mean over the last FLOOR_WINDOW past the floor (below it,
    or above it when lower is better), with at least floor_min() results in that window."""
    parts = []
    for ev in spec.evals.evaluators:
        if ev.floor is None:
            continue
        sel = f'{{{EVAL}="{ev.name}"}}'
        op = "<" if ev.direction == "higher" else ">"
        parts.append(f"(\n  {catalog.REC_EVAL_SCORE_MEAN_15M}{sel} {op} {ev.floor!r}\n  and on ({G}, {EVAL})\n  "
                     f"{catalog.REC_EVALS_15M}{sel} * {FLOOR_WINDOW_S} >= {floor_min(ev)}\n)")
    return "\nor\n".join(parts) if parts else None


def lower_is_better(spec: Spec) -> str:
    """The evaluators the spec says are better lower, for the texts that name a direction."""
    return ", ".join(e.name for e in spec.evals.evaluators if e.direction == "lower") or "none in the spec"


def quality_drop_expr(spec: Spec) -> str:
    """Per evaluator: its mean score over the last hour quality_drop_percent worse than its baseline, in
    the evaluator's direction (below it; above it where lower is better, and there also by more than the
    evaluator's tolerated_regression in score units, so that 0.001 over a baseline of 0 is no drop;
    evaluators the spec does not list are higher-is-better), with at least min_requests_per_hour scores in
    the hour."""
    t = spec.alerting.thresholds
    share = t.quality_drop_percent / 100
    cur, base = catalog.REC_EVAL_SCORE_MEAN_1H, catalog.REC_EVAL_SCORE_MEAN_BASELINE
    parts = []
    for ev, matcher in evaluator_selectors(spec):
        sel = f"{{{matcher}}}" if matcher else ""
        if ev.direction == "higher":
            cond = f"{cur}{sel} < {round(1 - share, 6)!r} * {base}{sel}"
        else:
            cond = (f"{cur}{sel} > {round(1 + share, 6)!r} * {base}{sel}\n  and\n  "
                    f"{cur}{sel} - {base}{sel} > {ev.tolerated_regression!r}")
        parts.append(f"(\n  {cond}\n  and on ({G}, {EVAL})\n  {catalog.REC_EVALS_1H}{sel} * 3600 >= {t.min_requests_per_hour}\n)")
    return "\nor\n".join(parts)


def pass_rate_drop_expr(spec: Spec) -> str:
    """Per evaluator: its pass rate over the last hour more than its tolerated_pass_rate_drop (points) below
    the baseline, with at least min_samples labelled results in the hour; evaluators the spec does not
    list use the spec's defaults."""
    parts = []
    for ev, matcher in evaluator_selectors(spec):
        sel = f"{{{matcher}}}" if matcher else ""
        parts.append(f"(\n  {catalog.ratio_1h('eval_pass')}{sel} < {catalog.ratio_baseline('eval_pass')}{sel} - {ev.tolerated_pass_rate_drop!r}\n"
                     f"  and on ({G}, {EVAL})\n  {catalog.REC_EVAL_RESULTS_1H}{sel} * 3600 >= {ev.min_samples}\n)")
    return "\nor\n".join(parts)


def proxy_expr(spec: Spec, worse_when: str) -> str | None:
    """Each quality proxy that is worse when it rises (falls): its rate per request over the last hour past
    tolerated_factor times (divided by) its baseline, a rise also above min_rate, a fall only from a baseline
    of at least min_rate, with at least min_requests_per_hour requests in the hour."""
    cur, base = catalog.ratio_1h('quality_proxy'), catalog.ratio_baseline('quality_proxy')
    parts = []
    for p in spec.evals.proxies:
        if p.worse_when != worse_when:
            continue
        sel = f'{{{PROXY}="{p.name}"}}'
        if worse_when == "rise":
            cond = f"{cur}{sel} > {p.tolerated_factor!r} * {base}{sel}\n  and\n  {cur}{sel} > {p.min_rate!r}"
        else:
            cond = f"{cur}{sel} < {base}{sel} / {p.tolerated_factor!r}\n  and\n  {base}{sel} >= {p.min_rate!r}"
        parts.append(f"(\n  {cond}\n  and on ({G})\n  {catalog.REC_REQUESTS_1H} * 3600 >= {p.min_requests_per_hour}\n)")
    return "\nor\n".join(parts) if parts else None


def _proxy_alerts(spec: Spec, for_: str) -> list[Alert]:
    days = spec.alerting.thresholds.baseline_days
    svc = f"{{{{ $labels.{SVC} }}}} ({{{{ $labels.{ENV} }}}})"
    kind = f"{{{{ $labels.{PROXY} }}}}"
    panel = dashboard(n.BOARD_QUALITY, "Quality proxies per request")
    out = []
    for worse_when, name, verb in (("rise", "GenAIQualityProxyRise", "rose"), ("fall", "GenAIQualityProxyFall", "fell")):
        expr = proxy_expr(spec, worse_when)
        if expr is None:
            continue
        listed = [p for p in spec.evals.proxies if p.worse_when == worse_when]
        minimum = "; ".join(f"{p.name} {p.min_requests_per_hour}" for p in listed)
        tolerance = "; ".join(f"{p.name} {'above' if worse_when == 'rise' else 'below'} "
                              f"{'' if worse_when == 'rise' else '1/'}{p.tolerated_factor:g}x, min rate {p.min_rate:g}" for p in listed)
        if worse_when == "rise":
            meaning = ("Users do more often what they do after a bad answer (ask again, reword the question, ask for a human, leave): "
                       "answers got worse in a way users notice before any evaluator or thumbs-down does. Quality proxies are noisy one by one, "
                       "so each alerts only against its own baseline, past the spec's factor and an absolute rate (evals.proxies), "
                       f"with at least its `min_requests_per_hour` requests in the hour ({minimum}).")
            actions = [
                "Correlate with the prompt-version and release annotations on the quality board; roll back a change that lines up.",
                "Read a few traces of the proxy (Tempo: `genai_o11y.stage` = user_action and `genai_o11y.quality.proxy` = the proxy, or the answer span's "
                f"`{n.USER_ACTION_EVENT}` event): the answer before it is in the same trace. Proxies sent as log records are in the logs backend only; "
                "if their series say `_none` for model and route, they reach another collector than their answer's span (`otelcol_genai_usage_join_misses_total`).",
                "A rise of escalate alone with normal answers: the human hand-off (or its button) changed, not the model; check the release notes of the UI.",
            ]
        else:
            meaning = ("Users do less often what they do with a good answer (copy it, open the sources it cites): answers got less useful, "
                       "or citations stopped showing or working. Each proxy is compared with its own baseline (evals.proxies), "
                       f"with at least its `min_requests_per_hour` requests in the hour ({minimum}).")
            actions = [
                "Correlate with the prompt-version and release annotations on the quality board; roll back a change that lines up.",
                "open_citation fell alone: check that answers still carry citations and that the links resolve (retrieval and post-processing).",
                "copy_answer fell alone: a UI change (the copy button) explains it as well as worse answers; check the release notes of the UI.",
            ]
        out.append(Alert(
            name=name,
            expr=expr,
            severity="warning",
            for_=for_,
            summary=f"Quality proxy {kind} of {{{{ $labels.{SVC} }}}} {verb} {'above' if worse_when == 'rise' else 'below'} its {days}-day rate per request",
            description=(f"{kind} per request of {svc} over the last hour is {{{{ $value | printf \"%.3f\" }}}}: it {verb} past the tolerated change against "
                         f"the previous {days} days ({tolerance})."),
            runbook=Runbook(
                meaning=meaning,
                confirm=[
                    f"{panel}: which proxy, since when; the annotations mark prompt-version and release changes.",
                    f"{dashboard(n.BOARD_QUALITY, 'Eval score by prompt version')} and *Feedback positive rate by prompt version*: whether evals and feedback moved too.",
                    f"{dashboard(n.BOARD_DRILLDOWN)}: traces of the route and prompt version the proxy follows.",
                ],
                actions=actions,
            ),
        ))
    return out


def dataset_step(spec: Spec, what: str) -> str:
    """The runbook action that turns this alert's traces into eval cases, as this spec can run it: the
    dataset files where the spec writes them, or, with evals.dataset off (the default), how to turn it
    on first (a new user ran the command on the default spec and had no file to give it)."""
    import posixpath

    from .sampling import replica_dataset_path

    d = spec.evals.dataset
    directory, name = posixpath.split(d.path)
    local = posixpath.join("evals", posixpath.basename(replica_dataset_path(name, "*")) if spec.gateway.enabled else name)
    cmd = f"genai-o11y dataset build {local} --spec SPEC --signal low_score --out cases.jsonl"
    if spec.gateway.enabled:  # each replica writes its own file, on its own volume; the CLI is not in the collector image
        fetch = (f"copy each gateway replica's files off first (Kubernetes: `kubectl -n NAMESPACE cp POD:{directory} evals` for each gateway pod; "
                 f"compose: `docker compose cp --index N {spec.gateway.host}:{directory} evals` for each replica), then")
    else:
        fetch = f"copy the sidecars' files off first (`kubectl -n NAMESPACE cp POD:{directory} evals -c SIDECAR` for each app pod), then"
    if d.enabled:
        return f"{what}: {fetch} `{cmd}`; gate the fix on them (`genai-o11y gate`)."
    return (f"{what}: this spec keeps no eval-worthy traces yet; set `evals.dataset.enabled: true`, regenerate and deploy. From then on "
            f"{fetch} `{cmd}` builds the cases, and `genai-o11y gate` gates the fix on them.")


def _floor_alerts(spec: Spec, for_: str) -> list[Alert]:
    expr = floor_expr(spec)
    if expr is None:
        return []
    floors = "; ".join(f"{e.name} {'>=' if e.direction == 'higher' else '<='} {e.floor:g}" for e in spec.evals.evaluators if e.floor is not None)
    mins = "; ".join(f"{e.name} {floor_min(e)}" for e in spec.evals.evaluators if e.floor is not None)
    svc = f"{{{{ $labels.{SVC} }}}} ({{{{ $labels.{ENV} }}}})"
    return [Alert(
        name="GenAIEvalScoreBelowFloor",
        expr=expr,
        severity="critical",
        for_=for_,
        summary=f"Eval score {{{{ $labels.{EVAL} }}}} of {{{{ $labels.{SVC} }}}} is past its floor",
        description=(f"The mean {{{{ $labels.{EVAL} }}}} score of {svc} over the last {FLOOR_WINDOW} is {{{{ $value | printf \"%.3f\" }}}}, "
                     f"past the floor the spec sets ({floors})."),
        runbook=Runbook(
            meaning="Answers are worse than the team's absolute line for this evaluator (evals.evaluators in the spec), whatever the baseline: "
                    "a slow decline that a relative alert never sees ends here too. It pages: users get answers the team decided are not acceptable. "
                    f"The mean is over the last {FLOOR_WINDOW}, with at least the evaluator's `min_samples` (per hour) for that share of an hour "
                    f"in it ({mins}), and the condition must hold for the alert's `for`: it pages within about that plus a few minutes of a "
                    f"change, however long the scores were good before, and clears within {FLOOR_WINDOW} of a rollback.",
            confirm=[
                f"{dashboard(n.BOARD_QUALITY, 'Eval score by prompt version')}: which prompt version, model or release scores below the floor. "
                "Scores under model and prompt version `_none` are eval results sent as log records that did not find their span "
                "(`otelcol_genai_usage_join_misses_total` on the sidecar: the judge exports through another collector than the app, or later than "
                "`collector.event_join.ttl_seconds`); split those by the judge's own traces instead.",
                f"{dashboard(n.BOARD_QUALITY)}: the annotations mark prompt-version and release changes.",
                f"{dashboard(n.BOARD_DRILLDOWN)}: open low-scoring traces and read the answers and the retrieved context.",
            ],
            actions=[
                "Roll back the prompt version, model or release the low scores follow (the quality board splits by each).",
                "If the evaluator itself changed (a new judge prompt or model), check it against labelled cases before trusting the page.",
                dataset_step(spec, "Turn the low-scoring traces into eval cases, so the release gate catches this next time"),
            ],
        ),
    )]


def alerts(spec: Spec) -> list[Alert]:
    t = spec.alerting.thresholds
    days = t.baseline_days
    min_rate = f"* 3600 >= {t.min_requests_per_hour}"
    svc = f"{{{{ $labels.{SVC} }}}} ({{{{ $labels.{ENV} }}}})"
    quick, slow = f"{t.sustain_minutes}m", f"{2 * t.sustain_minutes}m"
    out = [
        Alert(
            name="GenAIQualityScoreDrop",
            expr=quality_drop_expr(spec),
            severity="warning",
            for_=slow,
            summary=f"Eval score {{{{ $labels.{EVAL} }}}} of {{{{ $labels.{SVC} }}}} is {t.quality_drop_percent:g}% or more worse than its {days}-day average",
            description=(
                f"The mean {{{{ $labels.{EVAL} }}}} score of {svc} over the last hour is {{{{ $value | printf \"%.3f\" }}}}, "
                f"at least {t.quality_drop_percent:g}% worse than its average of the previous {days} days "
                f"(below it; above it for an evaluator whose lower scores are better: {lower_is_better(spec)})."
            ),
            runbook=Runbook(
                meaning="Answers got worse by the app's own evaluations (online evals, LLM-as-judge, heuristics) while requests may all succeed: the quiet failure of a prompt, model or retrieval change.",
                confirm=[
                    f"{dashboard(n.BOARD_QUALITY, 'Eval score by prompt version')}: which prompt version, model or release the drop follows.",
                    f"{dashboard(n.BOARD_QUALITY)}: the annotations mark prompt-version and release changes.",
                    f"{dashboard(n.BOARD_RETRIEVAL)}: a retrieval drift (low scores, zero results) lowers answer quality too.",
                ],
                actions=[
                    "If the drop starts at a prompt-version or release annotation: roll that change back and compare on the quality dashboard.",
                    "If the model changed (provider snapshot, routing): pin the previous model version.",
                    "Open low-scoring traces from the drill-down (filter by prompt version) and read a few answers before deciding.",
                ],
            ),
        ),
        *_floor_alerts(spec, quick),
        Alert(
            name="GenAIEvalPassRateDrop",
            expr=pass_rate_drop_expr(spec),
            severity="warning",
            for_=slow,
            summary=f"Pass rate of {{{{ $labels.{EVAL} }}}} for {{{{ $labels.{SVC} }}}} dropped below its {days}-day average",
            description=(f"The share of {{{{ $labels.{EVAL} }}}} results of {svc} labelled as a pass (gen_ai.evaluation.score.label) over the last hour "
                         f"is {{{{ $value | humanizePercentage }}}}, more than the evaluator's tolerated drop below its average of the previous {days} days."),
            runbook=Runbook(
                meaning="A labelling evaluator (pass/fail, correct/incorrect: an LLM judge or a human review queue) passes fewer answers than it used to. "
                        "It reads labels where score-based alerts read scores, with the tolerance the release gate uses (evals.evaluators.tolerated_pass_rate_drop).",
                confirm=[
                    f"{dashboard(n.BOARD_QUALITY, 'Eval score by prompt version')}: which prompt version, model or release the drop follows.",
                    f"{dashboard(n.BOARD_QUALITY)}: the annotations mark prompt-version and release changes.",
                ],
                actions=[
                    "Roll back the change the drop follows, or hold its rollout.",
                    dataset_step(spec, "Build eval cases from the failing traces"),
                ],
            ),
        ),
        Alert(
            name="GenAINegativeFeedbackRise",
            expr=_rise("feedback_negative", t.negative_feedback_factor, FLOORS["negative_feedback"], f"{catalog.REC_FEEDBACK_1H} {min_rate}", G),
            severity="warning",
            for_=slow,
            summary=f"Negative feedback on {{{{ $labels.{SVC} }}}} rose to {t.negative_feedback_factor:g}x its {days}-day share",
            description=(
                f"{{{{ $value | humanizePercentage }}}} of the feedback on {svc} in the last hour is negative, "
                f"more than {t.negative_feedback_factor:g}x the share of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="Users are thumbs-downing more answers than usual. Users see quality problems before evals do.",
                confirm=[
                    f"{dashboard(n.BOARD_QUALITY, 'Feedback positive rate by prompt version')}: which version, model or route.",
                    f"{dashboard(n.BOARD_DRILLDOWN)}: negative-feedback traces are always sampled; read the answers.",
                ],
                actions=[
                    "Correlate with the prompt-version and release annotations; roll back a change that lines up.",
                    "Check the failure taxonomy for a category that rose at the same time (retrieval miss, wrong tool, hallucination flag).",
                ],
            ),
        ),
        *_proxy_alerts(spec, slow),
        Alert(
            name="GenAICostSpike",
            expr=(
                f"{catalog.REC_COST_PER_HOUR_1H} >= {t.cost_spike_factor:g} * {catalog.REC_COST_PER_HOUR_BASELINE}\n"
                f"and\n{catalog.REC_COST_PER_HOUR_1H} >= {t.min_cost_usd_per_hour}"
            ),
            severity="warning",
            for_=quick,
            summary=f"{{{{ $labels.{SVC} }}}} spends {t.cost_spike_factor:g}x its usual cost per hour",
            description=(
                f"{svc} spent {{{{ $value | printf \"%.2f\" }}}} USD in the last hour, at least {t.cost_spike_factor:g}x "
                f"the hourly average of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="LLM spend per hour tripled against its own baseline: routing to a more expensive model, longer prompts (more retrieved chunks), a retry loop, a cache that stopped hitting, or abusive traffic.",
                confirm=[
                    f"{dashboard(n.BOARD_COST, 'Cost by model')} and *Cost by route*: what changed.",
                    f"{dashboard(n.BOARD_COST, 'Cost by tenant')}: one tenant, or everyone.",
                    f"{dashboard(n.BOARD_COST, 'Tokens by kind')}: prompt growth or cache loss.",
                ],
                actions=[
                    "A route now sends to an expensive model: revert the routing change.",
                    "One tenant drives it: rate-limit that tenant.",
                    "Cached tokens fell: see GenAICacheHitRateCollapse; a prompt prefix change breaks provider caching.",
                ],
            ),
        ),
        Alert(
            name="GenAIGuardrailBlockSpike",
            expr=_rise("guardrail_blocks", t.guardrail_block_factor, FLOORS["guardrail_blocks"], f"{catalog.REC_REQUESTS_1H} {min_rate}", G),
            severity="warning",
            for_=quick,
            summary=f"Guardrails block {t.guardrail_block_factor:g}x more answers of {{{{ $labels.{SVC} }}}} than usual",
            description=(
                f"{{{{ $value | humanizePercentage }}}} of the requests of {svc} in the last hour were blocked by a guardrail "
                f"(failure category {n.GUARDRAIL_BLOCK}), over {t.guardrail_block_factor:g}x the share of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="Moderation or validation guardrails block far more answers than usual: a prompt or model change producing policy-violating output, a guardrail misconfiguration, or an attack (prompt injection, jailbreak attempts).",
                confirm=[
                    f"{dashboard(n.BOARD_FAILURES, 'Failures by category')}: the guardrail_block trend by route and prompt version.",
                    f"{dashboard(n.BOARD_DRILLDOWN)}: blocked traces (failure category guardrail_block).",
                ],
                actions=[
                    "Concentrated on one tenant: treat as abuse; rate-limit or block the tenant.",
                    "Follows a prompt/model change: roll back.",
                    "Follows a guardrail configuration change: review and roll back the guardrail config.",
                ],
            ),
        ),
        Alert(
            name="GenAICacheHitRateCollapse",
            expr=(
                f"{catalog.ratio_1h('cache_hits')} <= {round(1 - t.cache_hit_drop_percent / 100, 6)} * {catalog.ratio_baseline('cache_hits')}\n"
                f"and on ({G})\n{catalog.ratio_baseline('cache_hits')} >= {FLOORS['cache_hits_baseline']}\n"
                f"and on ({G})\n{catalog.REC_CACHE_LOOKUPS_1H} {min_rate}"
            ),
            severity="warning",
            for_=quick,
            summary=f"The cache hit ratio of {{{{ $labels.{SVC} }}}} fell by {t.cache_hit_drop_percent:g}% or more",
            description=(
                f"Only {{{{ $value | humanizePercentage }}}} of the cache lookups of {svc} hit in the last hour, "
                f"at least {t.cache_hit_drop_percent:g}% below the hit ratio of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="The app's cache (semantic, response or embedding cache; spans with genai_o11y.cache.hit) stopped answering: more model calls, higher latency and cost follow.",
                confirm=[
                    f"{dashboard(n.BOARD_STAGES, 'Cache hit vs miss')}: when the hit ratio fell.",
                    f"{dashboard(n.BOARD_COST, 'Tokens by kind')}: whether cost rose with it.",
                ],
                actions=[
                    "Cache store down or flushed (restart, eviction): check the cache backend.",
                    "A release changed the cache key (prompt text, embedding model, normalisation): roll back or warm the cache.",
                ],
            ),
        ),
        Alert(
            name="GenAIPromptTruncationRise",
            expr=_rise("prompt_truncations", t.truncation_factor, FLOORS["prompt_truncations"], f"{catalog.REC_REQUESTS_1H} {min_rate}", G),
            severity="warning",
            for_=slow,
            summary=f"Prompts of {{{{ $labels.{SVC} }}}} are truncated {t.truncation_factor:g}x more often than usual",
            description=(
                f"{{{{ $value | humanizePercentage }}}} of the requests of {svc} in the last hour had their prompt truncated "
                f"to fit the context budget, over {t.truncation_factor:g}x the share of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="Prompt assembly cuts content (retrieved chunks, history) to fit the budget far more often than before: usually a change (longer template, more chunks, smaller model context) and answers lose the context they need.",
                confirm=[
                    f"{dashboard(n.BOARD_RETRIEVAL, 'Chunks dropped at prompt assembly')}: dropped by budget since when.",
                    f"{dashboard(n.BOARD_QUALITY)}: a prompt version or release annotation at the start of the rise.",
                ],
                actions=[
                    "Roll back the prompt or retrieval change that made prompts longer, or raise the budget if the model allows it.",
                    "Reduce retrieved chunks (top-k) or summarise history.",
                ],
            ),
        ),
        Alert(
            name="GenAIRetrievalZeroResultSpike",
            expr=_rise("retrieval_zero_results", t.zero_result_factor, FLOORS["retrieval_zero_results"], f"{catalog.REC_RETRIEVALS_1H} {min_rate}", G),
            severity="warning",
            for_=quick,
            summary=f"Retrieval of {{{{ $labels.{SVC} }}}} returns nothing {t.zero_result_factor:g}x more often than usual",
            description=(
                f"{{{{ $value | humanizePercentage }}}} of the retrievals of {svc} in the last hour returned no document, "
                f"over {t.zero_result_factor:g}x the share of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="The retriever finds nothing for many more queries: an empty or re-built index, an embedding model mismatch between index and queries, a filter bug, or a query-rewrite change. The model then answers from memory.",
                confirm=[
                    f"{dashboard(n.BOARD_RETRIEVAL, 'Zero-result rate')} and *Results per query*.",
                    f"{dashboard(n.BOARD_RETRIEVAL, 'Retrieval score distribution')}: scores falling with it point to an embedding mismatch.",
                ],
                actions=[
                    "Check the index (document count, last build) and that queries and index use the same embedding model version.",
                    "Roll back a query-rewrite or retriever release that lines up with the rise.",
                ],
            ),
        ),
        Alert(
            name=STAGE_REGRESSION,
            expr=_stage_p99(t.stage_p99_factor, t.min_requests_per_hour),
            severity="warning",
            for_=slow,
            summary=f"Stage {{{{ $labels.{STAGE} }}}} of {{{{ $labels.{SVC} }}}} is {t.stage_p99_factor:g}x slower at p99 while the other stages hold",
            description=(
                f"The p99 latency of stage {{{{ $labels.{STAGE} }}}} of {svc} over the last hour is {{{{ $value | printf \"%.0f\" }}}} ms, "
                f"over {t.stage_p99_factor:g}x its p99 of the previous {days} days, while most other stages are unchanged."
            ),
            runbook=Runbook(
                meaning="One stage's tail latency regressed on its own (the others hold): the cause is in that stage (a slow tool, a provider, a bigger index), not the platform.",
                confirm=[
                    f"{dashboard(n.BOARD_STAGES, 'Latency by stage')}: the stage's p99 against the others.",
                    "Exemplars on the latency panel open slow traces of that stage in Tempo.",
                ],
                actions=[
                    "tool_call: look at the tool's latency and timeouts on the tool reliability dashboard; contact its owner.",
                    "model_call: compare providers/models; a provider degradation or longer outputs.",
                    "retrieval/rerank: index size or replica health.",
                ],
            ),
        ),
        Alert(
            name="GenAIUnpricedModelCalls",
            expr=f"sum by ({G}, {L(n.PROVIDER)}) (increase({catalog.PROM['unpriced']}[15m])) > 0",
            severity="warning",
            for_="5m",
            summary=f"{{{{ $labels.{SVC} }}}} calls a model of {{{{ $labels.{L(n.PROVIDER)} }}}} that has no price",
            description=(
                f"{{{{ $value | humanize }}}} calls of {svc} to unpriced {{{{ $labels.{L(n.PROVIDER)} }}}} models in the last 15 minutes had token "
                "counts but no price in the spec: their cost is missing from every cost panel and alert."
            ),
            runbook=Runbook(
                meaning="A model not in the spec's price table (nor an alias) is being called. Its cost is not estimated (never a wrong number), so cost dashboards under-report.",
                confirm=[
                    f"{dashboard(n.BOARD_COST, 'Unpriced calls')}: since when, which provider.",
                    "In Tempo, spans with genai_o11y.cost.unpriced=true show the model name.",
                ],
                actions=[
                    "Add the model (or the new dated snapshot as an alias) with its prices to the spec's `models`, regenerate, redeploy the sidecar config.",
                    "If the model should not be used at all, fix the routing.",
                ],
            ),
        ),
    ]
    if spec.prompts.expected_versions:
        out.append(_unexpected_prompt(spec))
    if _required_tools(spec):
        out.append(Alert(
            name="GenAIRequiredToolSkipped",
            expr=_rise("answers_missing_tool", t.missing_tool_factor, FLOORS["answers_missing_tool"], f"{catalog.REC_ROUTE_REQUESTS_1H} {min_rate}", f"{G}, {ROUTE}"),
            severity="warning",
            for_=slow,
            summary=f"Answers on route {{{{ $labels.{ROUTE} }}}} skip the required tool {{{{ $labels.{MISSING} }}}} more often",
            description=(
                f"{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.{ROUTE} }}}} answers of {svc} in the last hour were given without "
                f"calling {{{{ $labels.{MISSING} }}}}, which the spec requires for that route: over {t.missing_tool_factor:g}x the share of the previous {days} days."
            ),
            runbook=Runbook(
                meaning="The model answers without calling the tool the route needs (e.g. order lookup for billing): answers from memory, plausible and wrong. Typical after a prompt, model or routing change.",
                confirm=[
                    f"{dashboard(n.BOARD_TOOLS, 'Answers without a required tool')}: route and tool, since when.",
                    f"{dashboard(n.BOARD_DRILLDOWN)}: traces of the route; the request span lists genai_o11y.tools.called.",
                ],
                actions=[
                    "Roll back the prompt/model/routing change that lines up.",
                    "Force the tool call for the route (tool_choice) until fixed.",
                ],
            ),
        ))
    return out


#: one stage's p99 against its own baseline (a ticket; a latency SLO alert of the stage holds it back: alertmanager)
STAGE_REGRESSION = "GenAIStageLatencyRegression"


def _stage_p99(factor: float, min_per_hour: int) -> str:
    cur, base = catalog.REC_STAGE_P99_1H, catalog.REC_STAGE_P99_BASELINE
    breach = f"({cur} > {factor:g} * {base})"
    return (
        f"{breach}\n"
        f"and on ({G}, {STAGE})\n{catalog.REC_STAGE_CALLS_1H} * 3600 >= {min_per_hour}\n"
        f"and on ({G}) (\n"
        f"  count by ({G}) {breach} <= 0.5 * count by ({G}) ({base})\n"
        f"  or\n"
        f"  count by ({G}) {breach} == 1\n"
        f")"
    )


def _unexpected_prompt(spec: Spec) -> Alert:
    expected = spec.prompts.expected_versions
    env = spec.app.environment
    sel_env = f'{ENV}="{env}"'
    parts = [
        f'sum by ({G}, {TEMPLATE}, {VERSION}) (increase({CALLS}{{{sel_env},{TEMPLATE}="{tpl}",{VERSION}!~"{prom_regex(vers)}"}}[10m])) > 0'
        for tpl, vers in expected.items()
    ]
    parts.append(
        f'sum by ({G}, {TEMPLATE}, {VERSION}) (increase({CALLS}{{{sel_env},{TEMPLATE}=~".+",{TEMPLATE}!~"{prom_regex(list(expected))}"}}[10m])) > 0'
    )
    listing = "; ".join(f"{tpl}: {', '.join(v)}" for tpl, v in expected.items())
    return Alert(
        name="GenAIUnexpectedPromptVersion",
        expr="\nor\n".join(parts),
        severity="warning",
        for_="5m",
        summary=f"Prompt {{{{ $labels.{TEMPLATE} }}}} version \"{{{{ $labels.{VERSION} }}}}\" serves {env} but is not expected",
        description=(
            f"{{{{ $labels.{SVC} }}}} sent {{{{ $value | humanize }}}} spans in {env} in the last 10 minutes with prompt "
            f"{{{{ $labels.{TEMPLATE} }}}} version \"{{{{ $labels.{VERSION} }}}}\" (every stage that carries the prompt: model calls, "
            f"prompt assembly, evaluations, feedback; the quality board counts model calls); the spec expects {listing}."
        ),
        runbook=Runbook(
            meaning=f"A prompt version that the spec does not list for {env} is serving traffic (an empty version means the app sent none): a change that bypassed review, a stale deployment, or an experiment leaking into production.",
            confirm=[
                f"{dashboard(n.BOARD_QUALITY, 'Calls by prompt version')}: since when and how much traffic.",
                "Which pods/releases serve it: the `service_version` label of the same series.",
            ],
            actions=[
                "Unintended: roll back the deployment serving it.",
                "Intended (a reviewed rollout): add the version to `prompts.expected_versions` in the spec and regenerate.",
            ],
        ),
    )
