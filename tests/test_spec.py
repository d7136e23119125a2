"""The spec: the default is valid, every kind of mistake is reported with field path and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genai_o11y.errors import SpecError
from genai_o11y.spec import default_text, load, parse

HERE = Path(__file__).parent / "spec"
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
VALID = sorted((HERE / "valid").glob("*.yaml"))


def test_default_spec_is_valid_and_complete():
    spec = load()
    assert spec.apiVersion == "genai-o11y/v1"
    assert spec.pipeline.stages[0] == "query_rewrite" and "model_call" in spec.pipeline.stages
    assert {m.name for m in spec.models} >= {"gpt-4o", "gpt-4o-mini"}
    assert spec.redaction.mode == "redacted"
    assert spec.prompts.expected_versions["answer"] == ["v7"]


def test_print_default_is_the_embedded_default(tmp_path):
    out = subprocess.run([sys.executable, "-m", "genai_o11y", "spec", "--print-default"], capture_output=True, text=True, check=True)
    assert out.stdout == default_text()
    f = tmp_path / "s.yaml"
    f.write_text(out.stdout)
    assert load(f) == load()
    assert "#" in out.stdout, "the printed default is commented"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_specs_load(path):
    spec = load(path)
    assert spec.app.services


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_spec_errors_match_golden(path, update_golden):
    with pytest.raises(SpecError) as exc:
        load(path)
    text = exc.value.render().replace(str(path), path.name) + "\n"
    golden = path.with_suffix(".errors.txt")
    if update_golden:
        golden.write_text(text)
    # a missing golden fails: writing it here would make any new case pass, whatever it printed
    assert golden.exists(), f"{golden.name} is missing: review the errors below, then run pytest --update-golden\n{text}"
    assert text == golden.read_text()
    assert "Traceback" not in text


def test_every_problem_names_a_field_and_a_line():
    for path in INVALID:
        with pytest.raises(SpecError) as exc:
            load(path)
        for p in exc.value.problems:
            assert p.line is not None, f"{path.name}: {p}"
            if path.stem not in ("not_yaml", "not_a_mapping", "duplicate_key"):
                assert p.path, f"{path.name}: {p} names no field"


@pytest.mark.parametrize(
    "path,needle",
    [
        ("unknown_stage", "pipeline.stages[1]: unknown stage 'teleport'"),
        ("negative_price", "models[0].price_usd_per_1m_tokens.input: must be >= 0"),
        ("bad_regex", "redaction.extra_patterns[0].regex: regex does not compile"),
        ("bad_regex", "redaction.extra_patterns[1].regex: regex '(?<=T-)[0-9]+': look-around"),
        ("unknown_key", "sampling.keep_erors: unknown key (allowed: "),
        ("wrong_api_version", "apiVersion: must be one of 'genai-o11y/v1'"),
        ("missing_app", "app: required field is missing"),
        ("duplicate_model", "model name 'gpt-4o' is already models[0].name"),
        ("duplicate_key", "key 'app' appears twice"),
        ("not_yaml", "not valid YAML"),
        ("slo_unknown_stage", "slos.latency[0].stage: 'model_call' is not a stage of pipeline.stages"),
        ("tool_unknown_route", "not in pipeline.routes"),
        ("bad_url", "an http(s):// URL or ${env:VAR}"),
    ],
)
def test_each_kind_of_mistake(path, needle):
    with pytest.raises(SpecError) as exc:
        load(HERE / "invalid" / f"{path}.yaml")
    assert needle in exc.value.render()


def test_all_problems_reported_together():
    with pytest.raises(SpecError) as exc:
        load(HERE / "invalid" / "out_of_range.yaml")
    paths = {p.path for p in exc.value.problems}
    assert paths == {"sampling.baseline_percent", "collector.otlp_grpc_endpoint", "collector.memory_limit_mib"}


def test_line_numbers_point_at_the_key():
    text = default_text().replace("input: 2.50", "input: -2.50")
    with pytest.raises(SpecError) as exc:
        parse(text, "s.yaml")
    (p,) = exc.value.problems
    line = text.splitlines()[p.line - 1]
    assert "-2.50" in line and p.path == "models[0].price_usd_per_1m_tokens.input"


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", ["unknown_stage", "not_yaml", "bad_regex"])
def test_cli_reports_spec_errors_without_traceback(path, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "genai_o11y", "generate", str(HERE / "invalid" / f"{path}.yaml"), "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not any(tmp_path.iterdir()), "nothing is written for a broken spec"


# One mistake per kind of check, in sections no other mistake's check reads: pydantic's field checks
# (sampling, collector), the checks across fields (models, logs, gateway) and the redaction policy file.
MISTAKES = {
    "field_range": "sampling: {baseline_percent: 150}\n",
    "field_form": "collector: {otlp_grpc_endpoint: localhost}\n",
    "duplicate_model": "models:\n  - {name: m, provider: openai, price_usd_per_1m_tokens: {input: 1, output: 2}}\n"
                       "  - {name: m, provider: openai, price_usd_per_1m_tokens: {input: 1, output: 2}}\n",
    "logs_export": "logs: {export: otlp}\n",
    "gateway_endpoints": "gateway: {replicas: 3, static_endpoints: ['gw-a:4317', 'gw-a:4317']}\n",
    "policy_regex": "redaction: {policy: policy.yaml}\n",
}
BASE = "apiVersion: genai-o11y/v1\napp: {services: [a]}\npipeline: {stages: [model_call]}\n"


def _problems(tmp_path, names) -> set[tuple]:
    (tmp_path / "policy.yaml").write_text("version: 1\ndetectors:\n  - {name: BAD, regex: '(?<=x)y', mask: '<X>'}\n")
    f = tmp_path / "spec.yaml"
    f.write_text(BASE + "".join(MISTAKES[n] for n in names))
    with pytest.raises(SpecError) as exc:
        load(f)
    assert exc.value.skipped is None, exc.value.render()  # no mistake here keeps another check from running
    return {(p.source or exc.value.source, p.path, p.message) for p in exc.value.problems}


def test_every_combination_of_mistakes_is_reported_in_one_run(tmp_path):
    """Each subset of the mistakes reports exactly the union of what each reports alone: a pydantic error
    no longer hides the checks across fields, nor these the policy file's (it took up to 3 runs)."""
    import itertools

    alone = {n: _problems(tmp_path, [n]) for n in MISTAKES}
    assert all(alone.values())
    for k in range(2, len(MISTAKES) + 1):
        for combo in itertools.combinations(MISTAKES, k):
            assert _problems(tmp_path, combo) == set().union(*(alone[n] for n in combo)), combo


def test_a_check_that_reads_an_invalid_section_is_skipped_and_said_so(tmp_path):
    """slos.latency[].stage is checked against pipeline.stages: with pipeline itself invalid it cannot be,
    and the report says which checks were skipped (the others still ran)."""
    f = tmp_path / "spec.yaml"
    f.write_text("apiVersion: genai-o11y/v1\napp: {services: [a]}\npipeline: {stages: [model_call], bogus: 1}\n"
                 "slos: {latency: [{stage: retrieval, threshold_ms: 100, objective_percent: 99}]}\n" + MISTAKES["logs_export"])
    with pytest.raises(SpecError) as exc:
        load(f)
    paths = {p.path for p in exc.value.problems}
    assert paths == {"pipeline.bogus", "logs.endpoint"}, exc.value.render()
    assert "slos.latency stages against pipeline.stages" in exc.value.skipped
    assert exc.value.render().splitlines()[-1].startswith("  further checks skipped until these are fixed: ")


BAD_POLICY = """version: 1
identifier_keys: [user.id]
metadata_keys:
  gen_ai.request.model: model_id
  service.*: identifier
detectors:
  - {name: EMAIL, regex: '[a-z]+@[a-z]+', mask: '<EMAIL>'}
  - {name: BAD, regex: '(?<=x)y', mask: '<X>'}
"""


def test_a_policy_file_is_checked_when_the_spec_loads_each_problem_at_its_line(tmp_path):
    """The redaction policy is parsed once, at load time (not when the collector config is built):
    `validate`, `check` and `generate` all report its problems, each with the policy file's line."""
    (tmp_path / "policy.yaml").write_text(BAD_POLICY)
    spec = tmp_path / "spec.yaml"
    spec.write_text("apiVersion: genai-o11y/v1\napp: {services: [a]}\npipeline: {stages: [model_call]}\nredaction: {policy: policy.yaml}\n")
    with pytest.raises(SpecError) as exc:
        load(spec)
    assert exc.value.source == str(tmp_path / "policy.yaml")
    lines = BAD_POLICY.splitlines()
    got = {p.path: lines[p.line - 1] for p in exc.value.problems}
    assert set(got) == {"metadata_keys.service.*", "detectors[1].regex"}, got
    assert got["metadata_keys.service.*"].strip().startswith("service.*:")
    assert "(?<=x)y" in got["detectors[1].regex"]
    proc = subprocess.run([sys.executable, "-m", "genai_o11y", "generate", str(spec), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{tmp_path / 'policy.yaml'}:8: detectors[1].regex: look-around" in proc.stderr, proc.stderr


def test_the_loaded_policy_is_the_one_the_collector_config_uses(tmp_path):
    """Parsed once: the spec carries its policy; a copy pointing elsewhere reads the other file."""
    from genai_o11y.builders import collector

    (tmp_path / "policy.yaml").write_text("version: 1\ndetectors:\n  - {name: EMP, regex: 'EMP-[0-9]{6}', mask: '<EMP>'}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("apiVersion: genai-o11y/v1\napp: {services: [a]}\npipeline: {stages: [model_call]}\nredaction: {policy: policy.yaml}\n")
    loaded = load(spec)
    (tmp_path / "policy.yaml").write_text("not: [valid")  # read once: a later change is not seen by this spec
    assert [d.name for d in collector.policy_for(loaded).detectors] == ["EMP"]
    default = loaded.model_copy(update={"redaction": loaded.redaction.model_copy(update={"policy": None})})
    assert "EMAIL" in {d.name for d in collector.policy_for(default).detectors}


def test_prices_are_exact_decimals():
    spec = load()
    p = spec.models[0].price_usd_per_1m_tokens
    from decimal import Decimal

    assert p.input == Decimal("2.50") and p.cached_input == Decimal("1.25")
    assert yaml.safe_load(default_text())["models"][0]["price_usd_per_1m_tokens"]["input"] == 2.5


def test_the_default_failure_table_is_the_one_the_default_spec_spells_out():
    """spec/default.yaml shows users the table a spec without `failures` gets."""
    from genai_o11y.spec.model import DEFAULT_FAILURE_RULES, Failures

    spelled = load().failures
    assert spelled == Failures() and len(spelled.infer) == len(DEFAULT_FAILURE_RULES) >= 10
    assert {r.category for r in spelled.infer} >= {"rate_limited", "timeout", "guardrail_block", "context_overflow", "refusal"}


def _string_lists(node, path=""):
    """Every list of strings in a spec document, by its field path (items of lists of objects too)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _string_lists(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        if node and all(isinstance(x, str) for x in node):
            yield path, node
        else:
            for i, x in enumerate(node):
                yield from _string_lists(x, f"{path}[{i}]")


def _set_at(doc, path: str, value) -> None:
    import re as _re

    parts = [p for p in _re.split(r"\.|\[(\d+)\]", path) if p]
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value


def test_a_value_listed_twice_in_any_list_is_an_error_at_its_field():
    """Every list of strings the default spec fills (routes, stages, services, a tool's routes, patterns...)
    is a set: its first value repeated is reported at that field, never accepted (it generated `a|a`)."""
    doc = yaml.safe_load(default_text())
    found = list(_string_lists(doc))
    assert len(found) >= 5, found
    for path, values in found:
        bad = yaml.safe_load(default_text())
        _set_at(bad, path, [*values, values[0]])
        with pytest.raises(SpecError) as exc:
            parse(yaml.safe_dump(bad, sort_keys=False), "dup.yaml")
        # a list inside a mapping (prompts.expected_versions.answer) is reported at the mapping, naming its key
        assert any((p.path == path or path.startswith(p.path + ".") and path.rsplit(".", 1)[1] + ":" in p.message)
                   and f"{values[0]!r} is listed twice" in p.message for p in exc.value.problems), (path, exc.value.render())
