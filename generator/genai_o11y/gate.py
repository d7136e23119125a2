"""`genai-o11y gate`: the release gate. Compares a candidate's eval results with a baseline's, evaluator by
evaluator, against the floors and tolerated regressions in the spec's `evals` section, and exits
0 (pass), 1 (a regression, a floor broken, or too little evidence) or 2 (bad input).

Input files (any mix, each line one JSON object; documented in the README, "Release gate"):
- eval records: {"case_id": "...", "evaluator": "faithfulness", "score": 0.82, "label": "pass"}
  (score or label or both; optional "explanation", ignored; a score may be a numeric string, as in OTLP);
- OTLP JSON as the collector's file exporter writes it, one export request per line: spans carrying
  `gen_ai.evaluation.name` (the helper's linked eval spans), span events `gen_ai.evaluation.result`
  (the semantic conventions' eval event) and log records with that event name. The case is
  `genai_o11y.eval.case_id` where set, else the trace id. Spans also give per-stage latency and cost.

How a verdict is reached, per evaluator in the spec:
- fewer than `min_samples` scored cases in the candidate (or the baseline, or in both runs when they are
  compared case by case): fail, not enough evidence;
- the candidate's mean worse than `floor`: fail;
- the mean worse than the baseline's by more than `tolerated_regression` (or the pass rate by more than
  `tolerated_pass_rate_drop`) AND the bootstrap confidence interval of the change does not include zero:
  fail; worse by more than the tolerance but an interval that includes zero: inconclusive, not failed.
  The point estimate is held against the tolerance and the interval against zero: a true drop a little
  under the tolerance can fail (noise puts the estimate past it), and one past it can be inconclusive.
When both runs name their cases (case_id), the baseline's cases are the dataset: a baseline case the
candidate has no result for fails the evaluator (a crashed or timed-out case is a failure, not a missing
sample; `shared_only`, the CLI's --shared-cases-only, leaves such cases out instead and every report warns),
cases compare pairwise (the same case, before and after), and the means, pass rates and changes shown are
all on the cases both runs have; none in common: they ran different datasets, fail. Cases that are trace ids
compare pairwise only when 90% are in both runs; otherwise the two samples are resampled independently and
the report says so. The bootstrap is seeded: the same input gives the same report.
Evaluators found in the data but not in the spec are reported, not gated.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from . import names as n
from .errors import UserError
from .spec import Spec
from .spec.model import Evaluator

EVAL_EVENT = n.EVAL_EVENT
EVAL_LABEL = n.EVAL_LABEL
CASE_ID = n.EVAL_CASE_ID
RECORD_KEYS = {"case_id", "evaluator", "score", "label", "explanation"}


@dataclass(frozen=True)
class Result:
    case_id: str
    evaluator: str
    score: float | None
    label: str | None
    named: bool = True  # the case id was given (an eval record's case_id, genai_o11y.eval.case_id), not a trace id


@dataclass
class Run:
    """What one side of the comparison (baseline or candidate) holds."""

    results: list[Result] = field(default_factory=list)
    stage_ms: dict[str, list[float]] = field(default_factory=dict)  # stage -> span durations
    cost_usd: float = 0.0
    requests: int = 0


# --- reading ----------------------------------------------------------------------------------------

def _any_value(v: dict):
    """An OTLP JSON AnyValue as Python: scalars, lists (arrayValue), dicts (kvlistValue); bytes stay base64 text."""
    if not isinstance(v, dict):
        return None
    for k in ("stringValue", "doubleValue", "boolValue", "bytesValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])  # OTLP JSON writes 64-bit ints as strings
    if "arrayValue" in v:
        return [_any_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return _attrs(v["kvlistValue"].get("values"))
    return None


def _attrs(items) -> dict:
    return {a["key"]: _any_value(a.get("value", {})) for a in items or [] if isinstance(a, dict) and "key" in a}


def _score(value, where: str, key: str) -> float | None:
    """A score as a number: a numeric string ("0.9") is one, as in OTLP input and the collector; eval records
    and OTLP read it alike. Anything else is an error naming `key`, the field."""
    if value is None:
        return None
    if (x := number(value)) is None:
        raise UserError(f"{where}: {key} must be a finite number (got {value!r})")
    return x


def _record(doc: dict, where: str) -> Result:
    unknown = set(doc) - RECORD_KEYS
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; an eval record has {', '.join(sorted(RECORD_KEYS))}")
    for key in ("case_id", "evaluator"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise UserError(f"{where}: {key} must be a non-empty string (got {doc.get(key)!r})")
    label = doc.get("label")
    if label is not None and not isinstance(label, str):
        raise UserError(f"{where}: label must be a string (got {label!r})")
    score = _score(doc.get("score"), where, "score")
    if score is None and label is None:
        raise UserError(f"{where}: an eval record needs a score or a label")
    return Result(doc["case_id"], doc["evaluator"], score, label)


def number(value) -> float | None:
    """An OTLP attribute's number as the collector counts it (the policy's `number` shape): an int or a
    double, or a string of one (`"0.1"`), finite; else None (a bool is not a number)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _eval_from(attrs: dict, case: str, where: str) -> Result | None:
    name = attrs.get(n.EVAL_NAME)
    if not name:
        return None
    score = _score(attrs.get(n.EVAL_SCORE), where, n.EVAL_SCORE)
    label = attrs.get(EVAL_LABEL)
    if score is None and label is None:
        return None
    return Result(str(attrs.get(CASE_ID) or case), str(name), score, str(label) if label is not None else None, named=bool(attrs.get(CASE_ID)))


def _otlp(doc: dict, run: Run, where: str) -> None:
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                attrs = _attrs(sp.get("attributes"))
                case = sp.get("traceId", "")
                r = _eval_from(attrs, case, where)
                if r:
                    run.results.append(r)
                for ev in sp.get("events", []):
                    if ev.get("name") == EVAL_EVENT:
                        r = _eval_from({CASE_ID: attrs.get(CASE_ID), **_attrs(ev.get("attributes"))}, case, where)
                        if r:
                            run.results.append(r)
                stage = attrs.get(n.STAGE)
                if stage and stage not in n.LINKED_STAGES:
                    try:
                        ms = (int(sp["endTimeUnixNano"]) - int(sp["startTimeUnixNano"])) / 1e6
                    except (KeyError, ValueError):
                        raise UserError(f"{where}: span {sp.get('spanId', '?')} lacks start/end times") from None
                    run.stage_ms.setdefault(str(stage), []).append(ms)
                    run.requests += stage == "request"
                cost = attrs.get(n.COST_USD)
                if isinstance(cost, (int, float)) and not isinstance(cost, bool):
                    run.cost_usd += float(cost)
    for rl in doc.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for rec in sl.get("logRecords", []):
                attrs = _attrs(rec.get("attributes"))
                if rec.get("eventName") == EVAL_EVENT or attrs.get("event.name") == EVAL_EVENT:
                    r = _eval_from(attrs, rec.get("traceId", "") or str(attrs.get("gen_ai.response.id", "")), where)
                    if r:
                        run.results.append(r)


def json_lines(path: Path, what: str, skipped: list[str] | None = None):
    """(where, object) for each non-empty line of a JSON Lines file; a bad line is an error naming the
    file and line (`what`: what the file should hold, for the message). With `skipped` (a list), a partial
    last line (no newline at its end, and not JSON: a file still being written, or cut short by a crash)
    is left out and said there, naming the file and line, instead of being an error."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    tail = b""
    if skipped is not None and not data.endswith(b"\n"):
        data, tail = data[:data.rfind(b"\n") + 1], data[data.rfind(b"\n") + 1:]
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text ({what}, one per line)") from None
    for i, line in enumerate(lines, 1):
        if line.strip():
            yield f"{path}:{i}", _json_object(line, f"{path}:{i}")
    if tail.strip():
        where = f"{path}:{len(lines) + 1}"
        try:
            line = tail.decode("utf-8")
            json.loads(line)
        except ValueError as e:  # UnicodeDecodeError too: cut inside a character
            reason = f"not JSON: {e.msg}" if isinstance(e, json.JSONDecodeError) else "cut inside a UTF-8 character"
            skipped.append(f"{where}: partial last line skipped (no newline at its end, {reason}: a file still being written, or cut short)")
            return
        yield where, _json_object(line, where)


def _json_object(line: str, where: str) -> dict:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{where}: not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(doc, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc


def read(paths: list[Path]) -> Run:
    """Every result in these files; a bad line is an error naming the file and line."""
    run = Run()
    for path in paths:
        for where, doc in json_lines(path, "eval records or OTLP JSON"):
            if "schema_version" in doc and "signals" in doc:
                raise UserError(f"{where}: this is an eval case (`genai-o11y dataset build` output), not an eval result: replay the cases "
                                "(your app, or `genai-o11y demo --replay CASES --results R.jsonl`) and give the gate their results")
            if "resourceSpans" in doc or "resourceLogs" in doc:
                _otlp(doc, run, where)
            else:
                run.results.append(_record(doc, where))
    return run


# --- statistics -------------------------------------------------------------------------------------

def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _percentile(sorted_xs: list[float], q: float) -> float:
    i = min(len(sorted_xs) - 1, max(0, int(round(q * (len(sorted_xs) - 1)))))
    return sorted_xs[i]


def bootstrap_delta(base: list[float], cand: list[float], paired: bool, resamples: int, confidence: float, rng: random.Random) -> tuple[float, float]:
    """Percentile interval of mean(cand) - mean(base): pairs resampled together when `paired`."""
    deltas = []
    if paired:
        k = len(base)
        for _ in range(resamples):
            idx = [rng.randrange(k) for _ in range(k)]
            deltas.append(sum(cand[i] - base[i] for i in idx) / k)
    else:
        for _ in range(resamples):
            b = [base[rng.randrange(len(base))] for _ in base]
            c = [cand[rng.randrange(len(cand))] for _ in cand]
            deltas.append(_mean(c) - _mean(b))
    deltas.sort()
    tail = (1 - confidence) / 2
    return _percentile(deltas, tail), _percentile(deltas, 1 - tail)


# --- verdicts ---------------------------------------------------------------------------------------

@dataclass
class Side:
    n: int = 0
    mean: float | None = None
    pass_rate: float | None = None


@dataclass
class Verdict:
    evaluator: str
    gated: bool
    status: str  # pass | fail | inconclusive | reported
    base: Side
    cand: Side
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    pass_delta: float | None = None
    pass_ci: tuple[float, float] | None = None
    paired: bool = False
    floor: float | None = None
    left_out: int = 0  # --shared-cases-only: baseline cases without a candidate result, left out
    reasons: list[str] = field(default_factory=list)


def label_passes(ev: Evaluator, label: str) -> bool:
    """A case reported with a label passes when the label is one of the evaluator's pass_labels (any case)."""
    return label.lower() in {p.lower() for p in ev.pass_labels}


def _passes(ev: Evaluator, r: Result) -> bool | None:
    if r.label is not None:
        return label_passes(ev, r.label)
    threshold = ev.pass_threshold if ev.pass_threshold is not None else ev.floor
    if r.score is None or threshold is None:
        return None
    return r.score >= threshold if ev.direction == "higher" else r.score <= threshold


def _by_case(results: list[Result], name: str) -> tuple[dict[str, Result], int]:
    """The evaluator's result per case, and how many cases had more than one (the last wins: a re-run
    judge; the report says so)."""
    out: dict[str, Result] = {}
    repeated: set[str] = set()
    for r in results:
        if r.evaluator == name:
            if r.case_id in out:
                repeated.add(r.case_id)
            out[r.case_id] = r
    return out, len(repeated)


def _side(cases: dict[str, Result], ev: Evaluator) -> Side:
    scores = [r.score for r in cases.values() if r.score is not None]
    passes = [p for p in (_passes(ev, r) for r in cases.values()) if p is not None]
    return Side(len(cases), _mean(scores) if scores else None, _mean([float(p) for p in passes]) if passes else None)


def _examples(cases: list[str], k: int = 5) -> str:
    return ", ".join(cases[:k]) + (", …" if len(cases) > k else "")


def judge(ev: Evaluator, gated: bool, base_run: Run, cand_run: Run, resamples: int, confidence: float, seed: int,
          shared_only: bool = False) -> Verdict:
    """`shared_only`: baseline cases the candidate has no result for are left out (and said so), not failed."""
    (base, base_repeated), (cand, cand_repeated) = _by_case(base_run.results, ev.name), _by_case(cand_run.results, ev.name)
    v = Verdict(ev.name, gated, "pass", _side(base, ev), _side(cand, ev), floor=ev.floor)
    for side, k in (("baseline", base_repeated), ("candidate", cand_repeated)):
        if k:
            v.reasons.append(f"{k} {side} case{'s' if k > 1 else ''} had more than one {ev.name} result: the last of each counts")
    worse = -1.0 if ev.direction == "higher" else 1.0  # the sign of a change for the worse
    missing = [side for side, k in (("baseline", v.base.n), ("candidate", v.cand.n)) if k == 0]
    if missing:
        v.status = "fail"
        v.reasons.append(f"no results for {ev.name} in the {' and the '.join(missing)}")
        return _finish(v)
    shared = sorted(set(base) & set(cand))
    named = all(r.named for r in base.values()) and all(r.named for r in cand.values())
    absent = sorted(set(base) - set(cand)) if named and shared else []  # baseline cases the candidate has no result for
    absent_reason = (f"{len(absent)} of the baseline's {len(base)} cases have no {ev.name} result in the candidate "
                     f"({_examples(absent)}): a case that crashed or timed out is a failure, give it a failing score or label "
                     f"(--shared-cases-only compares on the cases both runs have instead)")
    if v.cand.n < ev.min_samples or v.base.n < ev.min_samples:
        v.status = "fail"
        v.reasons.append(f"not enough evidence: {v.base.n} baseline / {v.cand.n} candidate cases, min_samples is {ev.min_samples}")
        if absent and not shared_only:
            v.reasons.append(absent_reason)
        return _finish(v)
    if named:
        # both runs name their cases (case_id): the baseline's cases are the dataset, compared case by case
        if not shared:
            # none is in both: two datasets, not a before and after
            v.status = "fail"
            v.reasons.append(f"the baseline's {v.base.n} and the candidate's {v.cand.n} case ids have none in common: "
                             f"they ran different datasets (replay the same dataset for both, or compare runs of it)")
            return _finish(v)
        v.paired = True
        if absent and shared_only:
            v.left_out = len(absent)
            v.reasons.append(f"--shared-cases-only: {len(absent)} of the baseline's {len(base)} cases have no {ev.name} result in the "
                             f"candidate and are left out ({_examples(absent)})")
        elif absent:
            v.status = "fail"
            v.reasons.append(absent_reason)
        extra = len(cand) - len(shared)
        if extra:
            v.reasons.append(f"{extra} candidate case{'s are' if extra > 1 else ' is'} not in the baseline: not compared")
    else:
        # cases are trace ids (different in every run) on one side at least: paired only when nearly all are the same traces
        v.paired = len(shared) >= ev.min_samples and len(shared) >= 0.9 * min(len(base), len(cand))
        if not v.paired:
            v.reasons.append(f"compared unpaired: {len(shared)} of the baseline's {v.base.n} cases "
                             f"{'is' if len(shared) == 1 else 'are'} in the candidate (pairing needs 90%); "
                             "cases without genai_o11y.eval.case_id are their trace ids, which differ between runs")
    if v.paired:
        # every figure shown (means, pass rates, n, change) is on the cases both runs have
        if len(shared) < len(base) or len(shared) < len(cand):
            v.reasons.append(f"the means, pass rates and changes are on the {len(shared)} cases both runs have")
        base, cand = {c: base[c] for c in shared}, {c: cand[c] for c in shared}
        v.base.n = v.cand.n = len(shared)
        if len(shared) < ev.min_samples:
            v.status = "fail"
            v.reasons.append(f"not enough evidence: {len(shared)} cases in both runs, min_samples is {ev.min_samples}")
            return _finish(v)
    rng = random.Random(f"{seed}:{ev.name}")
    if v.paired:
        pairs = [(base[c].score, cand[c].score) for c in shared if base[c].score is not None and cand[c].score is not None]
        b, c = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        b = [r.score for r in base.values() if r.score is not None]
        c = [r.score for r in cand.values() if r.score is not None]
    v.base.mean, v.cand.mean = (_mean(b) if b else None), (_mean(c) if c else None)
    if b and c:
        v.delta = _mean(c) - _mean(b)
        v.delta_ci = bootstrap_delta(b, c, v.paired, resamples, confidence, rng)
        if ev.floor is not None and (v.cand.mean - ev.floor) * -worse < 0:
            v.status = "fail"
            v.reasons.append(f"mean {v.cand.mean:.3f} is {'below' if worse < 0 else 'above'} the floor {ev.floor:g}")
        _regression(v, v.delta, v.delta_ci, ev.tolerated_regression, worse, "mean score", confidence)
    elif ev.floor is not None and v.status != "fail":
        v.reasons.append(f"no scores (labels only): the floor {ev.floor:g} and the mean are not checked")
    if v.paired:
        pp = [(_passes(ev, base[c]), _passes(ev, cand[c])) for c in shared]
        pp = [(float(a), float(b)) for a, b in pp if a is not None and b is not None]
        b, c = [p[0] for p in pp], [p[1] for p in pp]
    else:
        b = [float(p) for p in (_passes(ev, r) for r in base.values()) if p is not None]
        c = [float(p) for p in (_passes(ev, r) for r in cand.values()) if p is not None]
    v.base.pass_rate, v.cand.pass_rate = (_mean(b) if b else None), (_mean(c) if c else None)
    if b and c:
        v.pass_delta = _mean(c) - _mean(b)
        v.pass_ci = bootstrap_delta(b, c, v.paired, resamples, confidence, rng)
        _regression(v, v.pass_delta, v.pass_ci, ev.tolerated_pass_rate_drop, -1.0, "pass rate", confidence, points=True)
    return _finish(v)


def _regression(v: Verdict, delta: float, ci: tuple[float, float], tolerated: float, worse: float, what: str, confidence: float,
                points: bool = False) -> None:
    """The rule (`rule()` words it for the reports): the change worse than the tolerance (the point estimate) and its interval
    not including zero: fail; worse than the tolerance with an interval that includes zero: inconclusive."""
    beyond = delta * worse > tolerated
    certain = (ci[1] < 0) if worse < 0 else (ci[0] > 0)
    if points:  # a pass rate: shown in percentage points
        shown, interval, tol = f"{delta * 100:+.1f} points", f"{ci[0] * 100:+.1f} .. {ci[1] * 100:+.1f}", f"{tolerated * 100:g} points"
    else:
        shown, interval, tol = f"{delta:+.3f}", f"{ci[0]:+.3f} .. {ci[1]:+.3f}", f"{tolerated:g}"
    if beyond and certain:
        v.status = "fail"
        v.reasons.append(f"{what} regressed {shown} (interval {interval}), beyond the tolerated {tol}")
    elif beyond and v.status == "pass":
        v.status = "inconclusive"
        v.reasons.append(f"{what} moved {shown}, worse by more than the tolerated {tol}, but the {confidence * 100:g}% interval of the change "
                         f"({interval}) includes zero: inconclusive, not failed")


def _finish(v: Verdict) -> Verdict:
    if not v.gated:
        v.reasons = ["not in the spec's evals: reported, not gated"]
        v.status = "reported"
    return v


def compare(spec: Spec, base: Run, cand: Run, seed: int = 0, shared_only: bool = False) -> list[Verdict]:
    e = spec.evals
    configured = {ev.name: ev for ev in e.evaluators}
    seen = sorted({r.evaluator for r in base.results + cand.results} - set(configured))
    out = [judge(ev, True, base, cand, e.bootstrap_resamples, e.confidence_percent / 100, seed, shared_only) for ev in e.evaluators]
    out += [judge(Evaluator(name=name), False, base, cand, e.bootstrap_resamples, e.confidence_percent / 100, seed, shared_only) for name in seen]
    return out


def passed(verdicts: list[Verdict]) -> bool:
    return all(v.status in ("pass", "inconclusive", "reported") for v in verdicts)


# --- reports ----------------------------------------------------------------------------------------

def _f(x: float | None, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _ci(ci: tuple[float, float] | None, scale: float = 1.0) -> str:
    return "" if ci is None else f" [{ci[0] * scale:+.3f} .. {ci[1] * scale:+.3f}]"


def left_out_warning(verdicts: list[Verdict]) -> str | None:
    """--shared-cases-only left baseline cases out: the first thing each report says."""
    left = [f"{v.evaluator} {v.left_out}" for v in verdicts if v.left_out]
    if not left:
        return None
    return f"WARNING: --shared-cases-only: baseline cases the candidate has no result for are left out, not failed ({', '.join(left)})"


def _rows(verdicts: list[Verdict]) -> list[list[str]]:
    rows = []
    for v in verdicts:
        rows.append([
            v.evaluator, v.status.upper() if v.status == "fail" else v.status,
            f"{_f(v.base.mean)} (n={v.base.n})", f"{_f(v.cand.mean)} (n={v.cand.n})",
            (f"{v.delta:+.3f}" if v.delta is not None else "—") + _ci(v.delta_ci),
            f"{_pct(v.base.pass_rate)} → {_pct(v.cand.pass_rate)}", _f(v.floor, "g"),
        ])
    return rows


HEADER = ["evaluator", "verdict", "baseline mean", "candidate mean", "change [interval]", "pass rate", "floor"]


def stage_rows(base: Run, cand: Run) -> list[list[str]]:
    rows = []
    for stage in sorted(set(base.stage_ms) | set(cand.stage_ms)):
        b, c = base.stage_ms.get(stage, []), cand.stage_ms.get(stage, [])
        mb, mc = (_mean(b) if b else None), (_mean(c) if c else None)
        change = f"{(mc / mb - 1) * 100:+.1f}%" if mb and mc is not None else "—"
        rows.append([stage, _f(mb, ".1f"), _f(mc, ".1f"), change])
    if base.requests and cand.requests:
        b, c = base.cost_usd / base.requests, cand.cost_usd / cand.requests
        rows.append(["cost per request (USD)", f"{b:.6f}", f"{c:.6f}", f"{(c / b - 1) * 100:+.1f}%" if b else "—"])
    return rows


def rule(confidence: float) -> str:
    """What the gate decides on a change, as both reports state it."""
    return (f"an evaluator fails when its mean or pass rate is worse than the baseline's by more than its tolerance and the "
            f"{confidence * 100:g}% interval of the change does not include zero; a change past the tolerance whose interval "
            "includes zero is inconclusive and does not fail")


def text_report(verdicts: list[Verdict], base: Run, cand: Run, confidence: float) -> str:
    rows = [HEADER] + _rows(verdicts)
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    warning = left_out_warning(verdicts)
    lines = [warning, ""] if warning else []
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    for v in verdicts:
        lines += [f"  {v.evaluator}: {reason}" for reason in v.reasons]
    srows = stage_rows(base, cand)
    if srows:
        lines += ["", "stage                      baseline ms   candidate ms   change"]
        lines += [f"{r[0]:26} {r[1]:>11}   {r[2]:>12}   {r[3]}" for r in srows]
    verdict = "PASS" if passed(verdicts) else "FAIL"
    lines += ["", f"rule: {rule(confidence)} (also failing: a mean past the floor, fewer than min_samples cases)"]
    lines += [f"gate: {verdict} ({confidence * 100:g}% bootstrap intervals{', paired by case' if any(v.paired for v in verdicts) else ''}"
              f"{'; --shared-cases-only: baseline cases left out, see the warning above' if warning else ''})"]
    return "\n".join(lines) + "\n"


def markdown_error(message: str) -> str:
    """The --markdown file when the input is bad (exit 2): a workflow that posts it says why there is no verdict."""
    return "\n".join(["### genai-o11y release gate: ⚠️ no verdict (bad input)", "", "```", message, "```", ""])


def markdown_report(verdicts: list[Verdict], base: Run, cand: Run, confidence: float) -> str:
    ok = passed(verdicts)
    out = [f"### genai-o11y release gate: {'✅ pass' if ok else '❌ fail'}", ""]
    warning = left_out_warning(verdicts)
    if warning:
        out += [f"**⚠️ {warning}**", ""]
    failing = [v for v in verdicts if v.status == "fail"]
    if failing:
        out += [f"- **{v.evaluator}**: {'; '.join(v.reasons)}" for v in failing] + [""]
    out += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(r) + " |" for r in _rows(verdicts)]
    notes = [f"- {v.evaluator}: {r}" for v in verdicts if v.status != "fail" for r in v.reasons]
    if notes:
        out += ["", *notes]
    srows = stage_rows(base, cand)
    if srows:
        out += ["", "| stage | baseline mean ms | candidate mean ms | change |", "|---|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in srows]
    r = rule(confidence)
    out += ["", f"<sub>Changes are candidate − baseline, with {confidence * 100:g}% bootstrap intervals. {r[0].upper() + r[1:]}. "
            "It also fails when its mean is past the floor or it has fewer than min_samples cases. "
            "Floors and tolerances: the spec's `evals`.</sub>"]
    return "\n".join(out) + "\n"
