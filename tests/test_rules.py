"""Recording rules and SLO alerts: promtool (Prometheus 3) checks them and unit-tests the alerts."""

from __future__ import annotations

import subprocess

import pytest

from genai_o11y import render, toolchain
from genai_o11y.builders import rules
from genai_o11y.spec import load

SERIES = 'genai_o11y_span_calls_total{{genai_o11y_stage="request",status_code="{code}",service_name="copilot",deployment_environment_name="production"}}'


@pytest.fixture(scope="module")
def promtool():
    p = toolchain.go_tool_path("promtool")
    if p is None:
        pytest.fail("promtool is not built: run `make prometheus` (make test does)")
    return p


def _run(promtool, tmp_path, tests: list[dict]) -> subprocess.CompletedProcess:
    (tmp_path / "rules.yaml").write_text(render.to_yaml(rules.build(load())))
    (tmp_path / "test.yaml").write_text(render.to_yaml({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    return subprocess.run([str(promtool), "test", "rules", str(tmp_path / "test.yaml")], capture_output=True, text=True, timeout=300)


def _traffic(errors_per_min: int, ok_per_min: int, minutes: int) -> list[dict]:
    return [
        {"series": SERIES.format(code="STATUS_CODE_ERROR"), "values": f"0+{errors_per_min}x{minutes}"},
        {"series": SERIES.format(code="STATUS_CODE_UNSET"), "values": f"0+{ok_per_min}x{minutes}"},
    ]


def test_generated_rules_pass_promtool_check(promtool, tmp_path):
    (tmp_path / "r.yaml").write_text(render.to_yaml(rules.build(load())))
    proc = subprocess.run([str(promtool), "check", "rules", str(tmp_path / "r.yaml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_follows_the_conventions():
    for group in rules.build(load())["groups"]:
        for r in group["rules"]:
            if "alert" in r:
                assert r["alert"].startswith("GenAI") and r["alert"][0].isupper() and "_" not in r["alert"]
                assert r["labels"]["severity"] in ("critical", "warning", "info")
                assert set(r["annotations"]) >= {"summary", "description", "runbook_url"}
                assert r["annotations"]["runbook_url"].endswith("#" + r["alert"].lower())


def test_fast_burn_pages_on_a_10_percent_error_ratio(promtool, tmp_path):
    spec = load()
    tests = [{
        "interval": "1m",
        "input_series": _traffic(10, 90, 120),
        "alert_rule_test": [{
            "eval_time": "60m",
            "alertname": "GenAIErrorBudgetBurnFast",
            "exp_alerts": [{
                "exp_labels": {"severity": "critical", "genai_o11y_slo": "availability", "genai_o11y_sli": "availability",
                               "service_name": "copilot", "deployment_environment_name": "production"},
                "exp_annotations": {
                    "summary": f"Requests of copilot fail fast enough to exhaust the {spec.slos.availability.window_days}-day error budget",
                    "description": f"The error ratio of copilot (production) burns the {spec.slos.availability.objective_percent}% availability budget at "
                                   "14.4x over 1h and 5m / 6.0x over 6h and 30m: currently 10% of requests fail.",
                    "runbook_url": f"{rules.RUNBOOK}#genaierrorbudgetburnfast",
                },
            }],
        }],
    }]
    proc = _run(promtool, tmp_path, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_just_under_the_page_threshold_only_tickets(promtool, tmp_path):
    # 2.9% errors: under 6x (3%) and 14.4x (7.2%) of a 0.5% budget -> no page; over 3x (1.5%) -> ticket.
    tests = [{
        "interval": "1m",
        "input_series": _traffic(29, 971, 600),
        "alert_rule_test": [
            {"eval_time": "8h", "alertname": "GenAIErrorBudgetBurnFast", "exp_alerts": []},
            {"eval_time": "8h", "alertname": "GenAIErrorBudgetBurnSlow", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "genai_o11y_slo": "availability", "genai_o11y_sli": "availability",
                               "service_name": "copilot", "deployment_environment_name": "production"},
                "exp_annotations": {
                    "summary": "Requests of copilot fail slow enough to exhaust the 30-day error budget",
                    "description": "The error ratio of copilot (production) burns the 99.5% availability budget at "
                                   "3.0x over 1d and 2h / 1.0x over 3d and 6h: currently 2.9% of requests fail.",
                    "runbook_url": f"{rules.RUNBOOK}#genaierrorbudgetburnslow",
                },
            }]},
        ],
    }]
    proc = _run(promtool, tmp_path, tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
