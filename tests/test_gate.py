"""`genai-o11y gate`, the release gate: eval results of a baseline and a candidate, per evaluator, against
the spec's floors and tolerated regressions; exit 0 pass, 1 regression, 2 bad input.

The end-to-end cases run the demo app (healthy, prompt_drift, retrieval_drift) with its deterministic
judge, export its real spans as OTLP JSON (the collector's file-exporter format: hex ids, one export
request per line), and gate on those files through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import demo_spans, write_otlp_json

from genai_o11y import gate, names
from genai_o11y.errors import UserError
from genai_o11y.spec import load
from genai_o11y.spec.model import Evaluator

CLI = [sys.executable, "-m", "genai_o11y"]
GOLDEN = Path(__file__).parent / "gate"


def demo_run(path: Path, scenario: str, requests: int = 45, seed: int = 1) -> Path:
    return write_otlp_json(path, demo_spans(scenario, requests, seed))


def run_gate(base: Path, cand: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + ["gate", "--baseline", str(base), "--candidate", str(cand), *extra], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("evals")
    return {
        "healthy": demo_run(d / "healthy.otlp.jsonl", "healthy", seed=1),
        "healthy_again": demo_run(d / "healthy-again.otlp.jsonl", "healthy", seed=2),
        "prompt_drift": demo_run(d / "prompt-drift.otlp.jsonl", "prompt_drift", seed=3),
        "retrieval_drift": demo_run(d / "retrieval-drift.otlp.jsonl", "retrieval_drift", seed=4),
    }


def test_healthy_against_healthy_passes(runs, tmp_path):
    proc = run_gate(runs["healthy"], runs["healthy_again"], "--markdown", str(tmp_path / "gate.md"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate: PASS" in proc.stdout
    assert "FAIL" not in proc.stdout
    # the traces' own figures come along: per-stage latency and cost per request
    assert "model_call" in proc.stdout and "cost per request (USD)" in proc.stdout
    assert (tmp_path / "gate.md").read_text().startswith("### genai-o11y release gate: ✅ pass")


@pytest.mark.parametrize("drift", ["prompt_drift", "retrieval_drift"])
def test_a_drift_fails_and_names_the_regression(runs, tmp_path, drift):
    proc = run_gate(runs["healthy"], runs[drift], "--markdown", str(tmp_path / "gate.md"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate: FAIL" in proc.stdout
    assert "faithfulness: mean score regressed" in proc.stdout
    md = (tmp_path / "gate.md").read_text()
    assert md.startswith("### genai-o11y release gate: ❌ fail")
    assert "- **faithfulness**: " in md and "below the floor 0.6" in md


def test_the_eval_event_and_log_shapes_give_what_the_eval_span_gives(tmp_path):
    """The same results as the helper's linked eval spans, as `gen_ai.evaluation.result` span events on the
    evaluated span, and as OTel events (log records): identical verdicts."""
    import random

    rng = random.Random(7)
    results = [(f"{i:032x}", "faithfulness", round(rng.uniform(0.5, 1.0), 3), rng.choice(["pass", "fail"])) for i in range(1, 41)]

    def attrs(name, score, label):
        return [{"key": names.EVAL_NAME, "value": {"stringValue": name}},
                {"key": names.EVAL_SCORE, "value": {"doubleValue": score}},
                {"key": "gen_ai.evaluation.score.label", "value": {"stringValue": label}}]

    span = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": t, "spanId": "01" * 8, "name": f"evaluation {e}", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
         "attributes": [{"key": "genai_o11y.stage", "value": {"stringValue": "evaluation"}}] + attrs(e, s, lab)} for t, e, s, lab in results]}]}]}
    event = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": t, "spanId": "02" * 8, "name": "chat", "startTimeUnixNano": "1", "endTimeUnixNano": "2", "attributes": [],
         "events": [{"name": "gen_ai.evaluation.result", "attributes": attrs(e, s, lab)}]} for t, e, s, lab in results]}]}]}
    log = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"traceId": t, "eventName": "gen_ai.evaluation.result", "attributes": attrs(e, s, lab)} for t, e, s, lab in results]}]}]}
    shapes = {}
    for name, doc in (("span", span), ("event", event), ("log", log)):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(doc) + "\n")
        shapes[name] = gate.read([tmp_path / f"{name}.jsonl"]).results
    assert len(shapes["span"]) == 40
    assert sorted(shapes["span"], key=repr) == sorted(shapes["event"], key=repr) == sorted(shapes["log"], key=repr)


def _records(path: Path, evaluator: str, scores: list[float], prefix: str = "c") -> Path:
    path.write_text("".join(json.dumps({"case_id": f"{prefix}{i}", "evaluator": evaluator, "score": s}) + "\n" for i, s in enumerate(scores)))
    return path


def _verdict(ev: Evaluator, base: list[float], cand: list[float], tmp_path: Path, paired: bool = True):
    """paired=False: the candidate's cases are trace ids (no case_id), 3 of them the baseline's (an unpaired comparison)."""
    b = gate.read([_records(tmp_path / "b.jsonl", ev.name, base)])
    c = gate.read([_records(tmp_path / "c.jsonl", ev.name, cand)])
    if not paired:
        c.results[:] = [gate.Result(r.case_id if i < 3 else f"d{i}", r.evaluator, r.score, r.label, named=False) for i, r in enumerate(c.results)]
    return gate.judge(ev, True, b, c, resamples=500, confidence=0.95, seed=0)


def test_floor_min_samples_noise_and_direction(tmp_path):
    ev = Evaluator(name="q", floor=0.7, tolerated_regression=0.05, min_samples=10)
    steady = [0.8 + 0.01 * (i % 5) for i in range(20)]
    assert _verdict(ev, steady, steady, tmp_path).status == "pass"
    # below the floor fails even with no regression against a baseline that was already low
    low = [0.65 + 0.01 * (i % 3) for i in range(20)]
    v = _verdict(ev, low, low, tmp_path)
    assert v.status == "fail" and any("below the floor 0.7" in r for r in v.reasons)
    # too few cases: no verdict is a failure, not a pass
    v = _verdict(ev, steady[:9], steady[:9], tmp_path)
    assert v.status == "fail" and "not enough evidence" in v.reasons[0]
    # a drop beyond the tolerance that noise explains is reported, not failed
    noisy_b = [0.95 if i % 2 else 0.75 for i in range(12)]
    noisy_c = [0.95 if i % 3 == 0 else 0.72 for i in range(12)]
    v = _verdict(ev, noisy_b, noisy_c, tmp_path, paired=False)
    assert v.delta < -0.05 and v.delta_ci[1] >= 0 and v.status == "inconclusive", v
    assert ("mean score moved -0.053, worse by more than the tolerated 0.05, but the 95% interval of the change (-0.142 .. +0.033) "
            "includes zero: inconclusive, not failed") in v.reasons, v.reasons
    assert not v.paired and ("compared unpaired: 3 of the baseline's 12 cases are in the candidate (pairing needs 90%); "
                             "cases without genai_o11y.eval.case_id are their trace ids, which differ between runs") in v.reasons
    # lower is better: a rise is the regression, a ceiling the floor
    lat = Evaluator(name="hallucination_rate", direction="lower", floor=0.2, tolerated_regression=0.02, min_samples=10)
    base = [0.05 + 0.001 * i for i in range(20)]
    assert _verdict(lat, base, [x + 0.1 for x in base], tmp_path).status == "fail"
    assert _verdict(lat, base, [x - 0.03 for x in base], tmp_path).status == "pass"


def test_a_case_judged_twice_counts_once_and_the_report_says_so(tmp_path):
    """A re-run judge appends a second result for a case: the last counts, and the verdict says how
    many cases had more than one (found by a new user: the mean moved and nothing said why)."""
    ev = Evaluator(name="q", floor=0.5, tolerated_regression=0.05, min_samples=10)
    steady = [0.8 + 0.01 * (i % 5) for i in range(20)]
    b = gate.read([_records(tmp_path / "b.jsonl", ev.name, steady)])
    twice = _records(tmp_path / "c.jsonl", ev.name, steady, "c")
    first = twice.read_text().splitlines()
    again = [json.loads(line) for line in first[:2]]
    for doc in again:
        doc["score"] = 0.1
    twice.write_text("\n".join(first + [json.dumps(d) for d in again]) + "\n")
    v = gate.judge(ev, True, b, gate.read([twice]), resamples=200, confidence=0.95, seed=0)
    assert v.cand.n == 20 and v.cand.mean < v.base.mean  # the second (last) result of those two cases counts
    assert "2 candidate cases had more than one q result: the last of each counts" in v.reasons


def test_an_evaluator_the_spec_expects_but_the_run_lacks_fails(tmp_path):
    spec = load()
    b = gate.read([_records(tmp_path / "b.jsonl", "faithfulness", [0.8] * 40)])
    verdicts = {v.evaluator: v for v in gate.compare(spec, b, b)}
    assert verdicts["faithfulness"].status == "pass"
    assert verdicts["answer_length_ok"].status == "fail" and not gate.passed(list(verdicts.values()))
    assert verdicts["answer_length_ok"].reasons == ["no results for answer_length_ok in the baseline and the candidate"]


def test_runs_of_different_datasets_fail_and_trace_id_cases_compare_unpaired(tmp_path):
    """Two runs that name their cases and share none replayed different datasets: comparing their means
    says nothing about the candidate, so the gate fails and says why (a new user's trial: it compared
    them silently). Production traces (cases are trace ids, different in every run) compare unpaired,
    and the report says that too."""
    ev = Evaluator(name="q", floor=0.5, tolerated_regression=0.05, min_samples=10)
    steady = [0.8 + 0.01 * (i % 5) for i in range(20)]
    b = gate.read([_records(tmp_path / "b.jsonl", "q", steady, "a")])
    c = gate.read([_records(tmp_path / "c.jsonl", "q", steady, "z")])
    v = gate.judge(ev, True, b, c, resamples=200, confidence=0.95, seed=0)
    assert v.status == "fail" and v.reasons == [
        "the baseline's 20 and the candidate's 20 case ids have none in common: they ran different datasets "
        "(replay the same dataset for both, or compare runs of it)"]
    # the same scores as OTLP spans without a case id: the trace id is the case, and no two runs share one
    def spans(prefix):
        return {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": f"{prefix}{i:031x}", "spanId": f"{i:016x}", "attributes": [
                {"key": names.EVAL_NAME, "value": {"stringValue": "q"}},
                {"key": names.EVAL_SCORE, "value": {"doubleValue": s}}]}
            for i, s in enumerate(steady)]}]}]}
    (tmp_path / "b.otlp.jsonl").write_text(json.dumps(spans("a")) + "\n")
    (tmp_path / "c.otlp.jsonl").write_text(json.dumps(spans("b")) + "\n")
    b, c = gate.read([tmp_path / "b.otlp.jsonl"]), gate.read([tmp_path / "c.otlp.jsonl"])
    assert len(b.results) == 20 and not any(r.named for r in b.results)
    v = gate.judge(ev, True, b, c, resamples=200, confidence=0.95, seed=0)
    assert v.status == "pass" and not v.paired
    assert v.reasons == ["compared unpaired: 0 of the baseline's 20 cases are in the candidate (pairing needs 90%); "
                         "cases without genai_o11y.eval.case_id are their trace ids, which differ between runs"]


@pytest.mark.parametrize("line, message", [
    ("not json", "b.jsonl:2: not JSON"),
    ('{"case_id": "x", "evaluator": "q", "score": "high"}', "b.jsonl:2: score must be a finite number (got 'high')"),
    ('{"case_id": "x", "evaluator": "q"}', "b.jsonl:2: an eval record needs a score or a label"),
    ('{"case": "x", "evaluator": "q", "score": 1}', "b.jsonl:2: unknown key(s) case"),
    ('[1, 2]', "b.jsonl:2: expected a JSON object, got list"),
    ('{"case_id": "", "evaluator": "q", "score": 1}', "b.jsonl:2: case_id must be a non-empty string"),
])
def test_bad_input_exits_2_naming_file_and_line(tmp_path, line, message):
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"case_id": "a", "evaluator": "q", "score": 1}\n' + line + "\n")
    with pytest.raises(UserError, match=message.split(": ", 1)[1].replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        gate.read([bad])
    proc = run_gate(bad, bad)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_missing_file_and_empty_input_exit_2(tmp_path):
    proc = run_gate(tmp_path / "nope.jsonl", tmp_path / "nope.jsonl", "--markdown", str(tmp_path / "gate.md"))
    assert proc.returncode == 2 and "nope.jsonl: cannot read" in proc.stderr
    # the Markdown a workflow posts as the PR comment is written, and says why there is no verdict
    md = (tmp_path / "gate.md").read_text()
    assert md.startswith("### genai-o11y release gate: ⚠️ no verdict (bad input)") and "nope.jsonl: cannot read" in md
    (tmp_path / "empty.jsonl").write_text("\n")
    proc = run_gate(tmp_path / "empty.jsonl", tmp_path / "empty.jsonl")
    assert proc.returncode == 2 and "--baseline: no eval results" in proc.stderr


def test_markdown_report_golden(update_golden):
    """A fixed pair of runs (committed under tests/gate/) gives this exact report: the PR comment's format."""
    base, cand = gate.read([GOLDEN / "baseline.jsonl"]), gate.read([GOLDEN / "candidate.jsonl"])
    verdicts = gate.compare(load(), base, cand)
    text = gate.markdown_report(verdicts, base, cand, 0.95)
    golden = GOLDEN / "report.md"
    if update_golden:
        golden.write_text(text)
    assert golden.exists(), "tests/gate/report.md is missing: review the report, then pytest --update-golden"
    assert text == golden.read_text()
    # and the same input in another process gives the same bytes (the bootstrap is seeded)
    proc = subprocess.run(CLI + ["gate", "--baseline", str(GOLDEN / "baseline.jsonl"), "--candidate", str(GOLDEN / "candidate.jsonl"),
                                 "--markdown", "/dev/stdout"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and text in proc.stdout


def _cases(path: Path, scores: dict[str, float]) -> Path:
    """Eval records of the default spec's two evaluators for these cases (answer_length_ok always passes)."""
    path.write_text("".join(json.dumps({"case_id": c, "evaluator": e, "score": s}) + "\n"
                            for c, score in scores.items() for e, s in (("faithfulness", score), ("answer_length_ok", 1.0))))
    return path


def test_baseline_cases_the_candidate_has_no_result_for_fail_the_gate(tmp_path):
    """A user's trial: a candidate without results for the 10 worst of 100 baseline cases passed (exit 0, no
    note) and its table showed a better mean with a change of +0.000; one with 35 of the 100 cases passed too.
    A case the candidate lacks is not a missing sample (a crashed or timed-out case is a failure): the gate
    fails and names how many and which; --shared-cases-only compares on the shared cases, and says so loudly."""
    base = {f"case-{i:03d}": round(0.61 + 0.0035 * i, 4) for i in range(100)}  # case-000 .. case-009 are the worst
    b = _cases(tmp_path / "b.jsonl", base)
    c = _cases(tmp_path / "c.jsonl", {k: s for k, s in base.items() if k >= "case-010"})
    proc = run_gate(b, c, "--markdown", str(tmp_path / "gate.md"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("faithfulness: 10 of the baseline's 100 cases have no faithfulness result in the candidate "
            "(case-000, case-001, case-002, case-003, case-004, …)") in proc.stdout
    assert "a case that crashed or timed out is a failure" in proc.stdout and "--shared-cases-only" in proc.stdout
    assert "gate: FAIL" in proc.stdout and "- **faithfulness**: 10 of the baseline's 100 cases" in (tmp_path / "gate.md").read_text()
    # the means shown and the change are on the same cases, and the report says which
    row = " ".join(next(line for line in proc.stdout.splitlines() if line.startswith("faithfulness ")).split())
    assert row.startswith("faithfulness FAIL 0.801 (n=90) 0.801 (n=90) +0.000"), row
    assert "faithfulness: the means, pass rates and changes are on the 90 cases both runs have" in proc.stdout
    # 35 of the 100
    c35 = _cases(tmp_path / "c35.jsonl", {k: s for k, s in base.items() if k >= "case-065"})
    proc = run_gate(b, c35)
    assert proc.returncode == 1 and "65 of the baseline's 100 cases have no faithfulness result" in proc.stdout, proc.stdout
    # too few cases to judge: that, and which are missing
    proc = run_gate(b, _cases(tmp_path / "c16.jsonl", {k: s for k, s in base.items() if k >= "case-084"}))
    assert "faithfulness: not enough evidence: 100 baseline / 16 candidate cases, min_samples is 30\n" in proc.stdout, proc.stdout
    assert "faithfulness: 84 of the baseline's 100 cases have no faithfulness result in the candidate (case-000, " in proc.stdout
    # asked for explicitly: compared on the shared cases, and every report says what was left out
    proc = run_gate(b, c, "--shared-cases-only", "--markdown", str(tmp_path / "gate.md"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warning = ("WARNING: --shared-cases-only: baseline cases the candidate has no result for are left out, not failed "
               "(faithfulness 10, answer_length_ok 10)")
    assert proc.stdout.startswith(warning + "\n"), proc.stdout
    assert "gate: PASS (95% bootstrap intervals, paired by case; --shared-cases-only: baseline cases left out, see the warning above)" in proc.stdout
    assert ("faithfulness: --shared-cases-only: 10 of the baseline's 100 cases have no faithfulness result in the candidate and are "
            "left out (case-000, case-001, case-002, case-003, case-004, …)") in proc.stdout
    md = (tmp_path / "gate.md").read_text()
    assert md.startswith("### genai-o11y release gate: ✅ pass\n\n**⚠️ " + warning + "**"), md
    # too few shared cases is still too little evidence (20 of the baseline's, and 15 new ones)
    c20 = {k: s for k, s in base.items() if k >= "case-080"} | {f"new-{i}": 0.9 for i in range(15)}
    proc = run_gate(b, _cases(tmp_path / "c20.jsonl", c20), "--shared-cases-only")
    assert proc.returncode == 1 and "not enough evidence: 20 cases in both runs, min_samples is 30" in proc.stdout, proc.stdout


def test_candidate_cases_the_baseline_lacks_are_not_compared_and_the_means_match_the_change(tmp_path):
    ev = Evaluator(name="q", floor=0.5, tolerated_regression=0.05, min_samples=10)
    steady = [0.8 + 0.01 * (i % 5) for i in range(20)]
    b = gate.read([_records(tmp_path / "b.jsonl", "q", steady)])
    c = gate.read([_records(tmp_path / "c.jsonl", "q", steady + [0.1] * 5)])  # 5 new cases (c20 .. c24), all bad
    v = gate.judge(ev, True, b, c, resamples=200, confidence=0.95, seed=0)
    assert v.status == "pass" and v.paired and v.base.n == v.cand.n == 20
    assert v.cand.mean - v.base.mean == pytest.approx(v.delta) == 0
    assert v.reasons == ["5 candidate cases are not in the baseline: not compared",
                         "the means, pass rates and changes are on the 20 cases both runs have"]


def test_markdown_into_a_missing_directory_exits_2_naming_the_path(runs, tmp_path):
    """A user's trial: --markdown into a directory that does not exist printed a FileNotFoundError traceback
    and exited 1 after a passing gate (CI read a regression). It is bad input: exit 2, the path named, checked
    before the gate runs; a file that cannot be written for another reason is too."""
    target = tmp_path / "no-such-dir" / "gate.md"
    proc = run_gate(runs["healthy"], runs["healthy_again"], "--markdown", str(target))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == f"error: --markdown {target}: its directory {target.parent} does not exist\n" and proc.stdout == ""
    (tmp_path / "dir.md").mkdir()
    proc = run_gate(runs["healthy"], runs["healthy_again"], "--markdown", str(tmp_path / "dir.md"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"error: --markdown {tmp_path / 'dir.md'}: cannot write"), proc.stderr


def test_a_spec_after_the_options_is_a_usage_error_saying_where_it_goes(runs, tmp_path):
    """A user's trial: `gate --baseline a --candidate b spec.yaml` read spec.yaml as a candidate file
    (`spec.yaml:1: not JSON`): --candidate takes every argument up to the next option."""
    spec = tmp_path / "spec.yml"
    spec.write_text("service: {name: x}\n")
    proc = run_gate(runs["healthy"], runs["healthy_again"], str(spec))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == (f"error: --candidate {spec}: a spec file? The spec goes before the options: genai-o11y gate SPEC "
                           "--baseline FILE... --candidate FILE... (each takes every argument up to the next option)\n")


RULE = ("fails when its mean or pass rate is worse than the baseline's by more than its tolerance and the 95% interval of the "
        "change does not include zero; a change past the tolerance whose interval includes zero is inconclusive and does not fail")


def test_the_reports_say_exactly_what_is_decided(runs):
    """A user's trial: "its interval excludes no change" was hard to parse, and the README's "a drop that noise
    explains is printed as inconclusive" promised more than the rule does. Both reports state the rule."""
    proc = run_gate(runs["healthy"], runs["healthy_again"])
    footer = f"\nrule: an evaluator {RULE} (also failing: a mean past the floor, fewer than min_samples cases)\ngate: PASS"
    assert proc.returncode == 0 and footer in proc.stdout, proc.stdout
    base, cand = gate.read([GOLDEN / "baseline.jsonl"]), gate.read([GOLDEN / "candidate.jsonl"])
    md = gate.markdown_report(gate.compare(load(), base, cand), base, cand, 0.95)
    assert f"An evaluator {RULE}." in md and "excludes no change" not in md


def _otlp_scores(path: Path, scores: dict[str, object]) -> Path:
    """The same results as OTLP JSON eval spans carrying genai_o11y.eval.case_id, the score's AnyValue as given."""
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": f"{i:032x}", "spanId": f"{i:016x}", "attributes": [
            {"key": names.EVAL_NAME, "value": {"stringValue": "q"}},
            {"key": names.EVAL_CASE_ID, "value": {"stringValue": case}},
            {"key": names.EVAL_SCORE, "value": value}]}
        for i, (case, value) in enumerate(scores.items(), 1)]}]}]}) + "\n")
    return path


def test_a_numeric_string_score_is_a_number_in_records_and_otlp_alike(tmp_path):
    """A user's trial: "0.9" was rejected in an eval record (exit 2) but accepted in OTLP input (and by the
    collector). Both forms take a numeric string as a number and give identical results and verdicts; both
    reject a non-numeric one naming the field."""
    ev = Evaluator(name="q", floor=0.5, tolerated_regression=0.05, min_samples=10)
    base = {f"c{i}": 0.8 + 0.01 * (i % 5) for i in range(20)}
    cand = {c: s - 0.1 for c, s in base.items()}
    verdicts = []
    for form in ("records", "otlp"):
        runs = []
        for side, scores in (("b", base), ("c", cand)):
            path = tmp_path / f"{form}-{side}.jsonl"
            if form == "records":
                path.write_text("".join(json.dumps({"case_id": c, "evaluator": "q", "score": str(s)}) + "\n" for c, s in scores.items()))
            else:
                _otlp_scores(path, {c: {"stringValue": str(s)} for c, s in scores.items()})
            runs.append(gate.read([path]))
        assert [r.score for r in runs[0].results] == list(base.values())
        verdicts.append(gate.judge(ev, True, *runs, resamples=200, confidence=0.95, seed=0))
    assert verdicts[0] == verdicts[1] and verdicts[0].status == "fail"
    assert [r.score for r in gate.read([_otlp_scores(tmp_path / "n.jsonl", {c: {"doubleValue": s} for c, s in base.items()})]).results] == \
        [r.score for r in gate.read([tmp_path / "records-b.jsonl"]).results]
    # not a number: exit 2, the file, line and field named, in both forms
    (tmp_path / "bad.jsonl").write_text(json.dumps({"case_id": "a", "evaluator": "q", "score": "high"}) + "\n")
    _otlp_scores(tmp_path / "bad.otlp.jsonl", {"a": {"stringValue": "high"}})
    for bad, field in ((tmp_path / "bad.jsonl", "score"), (tmp_path / "bad.otlp.jsonl", names.EVAL_SCORE)):
        proc = run_gate(bad, bad)
        assert proc.returncode == 2 and proc.stderr == f"error: {bad}:1: {field} must be a finite number (got 'high')\n", proc.stderr
    for value in ('"nan"', '"inf"', '""', "true"):
        (tmp_path / "odd.jsonl").write_text('{"case_id": "a", "evaluator": "q", "score": %s}\n' % value)
        with pytest.raises(UserError, match="odd.jsonl:1: score must be a finite number"):
            gate.read([tmp_path / "odd.jsonl"])
