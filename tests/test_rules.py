"""Rules and routing: promtool (Prometheus 3) checks and unit-tests every alert, amtool checks the
Alertmanager config and its routing tree. The promtool test files live beside the rules
(alerts/tests/*.test.yaml) and run against the committed alerts/rules.yaml (test_committed proves
it equals a fresh generation)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import harness
import pytest
import yaml

from genai_o11y import names, render, toolchain
from genai_o11y.builders import alertmanager, alerting, pipeline_alerts, rules, runbook
from genai_o11y.spec import load

REPO = Path(__file__).resolve().parent.parent
TESTS = sorted((REPO / "alerts" / "tests").glob("*.test.yaml"))


@pytest.fixture(scope="module")
def promtool():
    p = toolchain.go_tool_path("promtool")
    if p is None:
        pytest.fail("promtool is not built: run `make prometheus` (make test does)")
    return p


@pytest.fixture(scope="module")
def amtool():
    p = toolchain.amtool_path()
    if p is None:
        pytest.fail("amtool is missing: run `make alertmanager` (make test does)")
    return p


def alert_names() -> set[str]:
    return {r["alert"] for g in rules.build(load())["groups"] for r in g["rules"] if "alert" in r}


def test_generated_rules_pass_promtool_check(promtool, tmp_path):
    (tmp_path / "r.yaml").write_text(render.to_yaml(rules.build(load())))
    proc = subprocess.run([str(promtool), "check", "rules", str(tmp_path / "r.yaml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(promtool, test_file):
    proc = subprocess.run([str(promtool), "test", "rules", test_file.name], cwd=test_file.parent, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "SUCCESS" in proc.stdout


def _cases() -> dict[str, dict[str, list[str]]]:
    """alertname -> {"fires": [test names], "quiet": [test names]} over every test file."""
    out: dict[str, dict[str, list[str]]] = {}
    for f in TESTS:
        doc = yaml.safe_load(f.read_text())
        for t in doc["tests"]:
            for case in t.get("alert_rule_test", []):
                kind = "fires" if case.get("exp_alerts") else "quiet"
                out.setdefault(case["alertname"], {"fires": [], "quiet": []})[kind].append(f"{f.name}: {t.get('name', '?')}")
    return out


def test_every_alert_has_a_firing_and_a_quiet_case():
    cases = _cases()
    missing = [f"{a}: no {kind} case" for a in sorted(alert_names()) for kind in ("fires", "quiet") if not cases.get(a, {}).get(kind)]
    assert not missing, "alerts without promtool tests:\n" + "\n".join(missing)
    unknown = sorted(set(cases) - alert_names())
    assert not unknown, f"tests for alerts that do not exist: {unknown}"


def test_firing_cases_check_labels_and_all_annotations():
    for f in TESTS:
        for t in yaml.safe_load(f.read_text())["tests"]:
            for case in t.get("alert_rule_test", []):
                for exp in case.get("exp_alerts") or []:
                    assert "severity" in exp["exp_labels"], (f.name, t["name"])
                    assert set(exp["exp_annotations"]) == {"summary", "description", "runbook_url", "dashboard_url"}, (f.name, t["name"])


def test_every_alert_follows_the_conventions():
    for group in rules.build(load())["groups"]:
        for r in group["rules"]:
            if "alert" not in r:
                continue
            assert re.fullmatch(r"GenAI[A-Z][A-Za-z0-9]+", r["alert"]), r["alert"]
            assert r["labels"]["severity"] in ("critical", "warning", "info")
            assert set(r["annotations"]) == {"summary", "description", "runbook_url", "dashboard_url"}
            assert r["annotations"]["runbook_url"] == f"{load().alerting.runbook_url}#{r['alert'].lower()}"
            # the board the runbook checks first, on the spec's Grafana (an on-call's notification had no link to a board)
            board = re.fullmatch(rf"{re.escape(load().alerting.grafana_url)}/d/([a-z0-9-]+)\?from=now-1h&to=now\{{\{{.*", r["annotations"]["dashboard_url"])
            assert board and board.group(1) in names.DASHBOARDS, (r["alert"], r["annotations"]["dashboard_url"])


def test_every_alert_links_the_runbook_the_spec_names():
    """The link was a constant: a team's page opened this project's runbook (its thresholds, not the team's)."""
    spec = harness.make_spec({"alerting.runbook_url": "https://wiki.example.com/llm/runbook.md"})
    alerts = [r for g in rules.build(spec)["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(r["annotations"]["runbook_url"] == f"https://wiki.example.com/llm/runbook.md#{r['alert'].lower()}" for r in alerts)
    with pytest.raises(Exception, match="runbook_url"):
        harness.make_spec({"alerting.runbook_url": "wiki/runbook.md#x"})


def test_every_rules_expression_is_in_its_alerts_runbook_section(repo):
    """The latency SLO alerts are one name for 4 rules (one per stage): the section printed the request
    stage's expression only, and an on-call paged for tool_call ran a query that returned nothing."""
    text = (repo / "alerts" / "runbook.md").read_text()
    sections = dict(re.findall(r"^## (GenAI\w+)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    for group in rules.build(load())["groups"]:
        for r in group["rules"]:
            if "alert" in r:
                assert r["expr"].strip() in sections[r["alert"]], (r["alert"], r["expr"][:80])


def test_runbook_has_a_section_for_every_alert(repo):
    text = (repo / "alerts" / "runbook.md").read_text()
    headings = set(re.findall(r"^## (GenAI\w+)$", text, flags=re.M))
    assert headings == alert_names()
    for a in runbook.grouped_alerts(load()):
        section = text.split(f"## {a.name}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("**What it means.**", "**How to confirm.**", "**First actions.**"):
            assert part in section, (a.name, part)
        assert "/d/genai-o11y-" in section, f"{a.name}: the runbook must say where to confirm in the dashboards"


def test_rules_stay_valid_on_prometheus_2(repo):
    """Rules must also load on Debian's Prometheus 2.42: no Prometheus-3-only functions or syntax."""
    text = (repo / "alerts" / "rules.yaml").read_text()
    for p3_only in ("info(", "limitk(", "limit_ratio(", "double_exponential_smoothing(", "ts_of_", "first_over_time(", "sort_by_label("):
        assert p3_only not in text, p3_only


def test_alertmanager_config_passes_amtool(amtool, repo):
    proc = subprocess.run([str(amtool), "check-config", str(repo / "alerts" / "alertmanager.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "labels,receiver",
    [
        (["alertname=GenAIErrorBudgetBurnFast", "severity=critical", "service_name=copilot"], "pager"),
        (["alertname=GenAICostSpike", "severity=warning", "service_name=copilot"], "chat"),
        (["alertname=GenAIQualityProxyRise", "severity=warning", "genai_o11y_quality_proxy=regenerate", "service_name=copilot"], "chat"),
        (["alertname=GenAITenantBudgetExhausted", "severity=info"], "null"),
        (["alertname=GenAIGatewayDown", "severity=critical", "job=genai-o11y-gateway"], "pager"),
        (["alertname=GenAILoadBalancerExportFailing", "severity=warning", "job=genai-o11y-collector"], "chat"),
        (["alertname=SomethingWithoutSeverity"], "chat"),
        # failing deliveries reach both receivers: whichever works shows it
        (["alertname=GenAIAlertDeliveryFailing", "severity=critical", "integration=webhook"], "chat,pager"),
    ],
)
def test_routing_by_severity(amtool, repo, labels, receiver):
    proc = subprocess.run(
        [str(amtool), "config", "routes", "test", f"--config.file={repo / 'alerts' / 'alertmanager.yml'}", *labels],
        capture_output=True, text=True,
    )
    assert proc.stdout.strip() == receiver, proc.stdout + proc.stderr


def test_env_receiver_becomes_a_secret_file_not_a_literal(tmp_path):
    spec = load(str(REPO / "tests" / "spec" / "valid" / "env_receivers.yaml"))
    cfg = alertmanager.build(spec)
    pager = next(r for r in cfg["receivers"] if r["name"] == "pager")["webhook_configs"][0]
    assert pager["url_file"] == "/etc/alertmanager/secrets/PAGER_WEBHOOK_URL" and "url" not in pager
    assert "${env:" not in render.to_yaml(cfg)
    assert alertmanager.secret_files(spec) == ["PAGER_WEBHOOK_URL"]


def test_inhibition_rules(repo):
    cfg = yaml.safe_load((repo / "alerts" / "alertmanager.yml").read_text())
    slo, latency, sidecar, gateway = cfg["inhibit_rules"]
    assert 'severity="critical"' in slo["source_matchers"] and 'severity="warning"' in slo["target_matchers"]
    assert set(slo["equal"]) == {"genai_o11y_slo", "genai_o11y_stage", "service_name", "deployment_environment_name"}
    # a stage's latency SLO alert holds back its regression ticket (an on-call got both for one slow tool): both names
    # are alerts we generate, and the regression's expression keeps the labels the rule compares
    names = alert_names()
    (src,), (dst,) = latency["source_matchers"], latency["target_matchers"]
    assert {a for a in names if re.fullmatch(src.removeprefix('alertname=~"').removesuffix('"'), a)} == {"GenAILatencyBudgetBurnFast", "GenAILatencyBudgetBurnSlow"}
    regression = dst.removeprefix('alertname="').removesuffix('"')
    assert regression in names and set(latency["equal"]) == {"genai_o11y_stage", "service_name", "deployment_environment_name"}
    expr = next(r["expr"] for g in rules.build(load())["groups"] for r in g["rules"] if r.get("alert") == regression)
    assert all(label in expr for label in latency["equal"]), expr
    assert sidecar["source_matchers"] == ['alertname="GenAISidecarDown"'] and sidecar["target_matchers"] == ['genai_o11y_data="spans"']
    # gateway replicas down hold back the load-balancer alerts they cause; every name in it is an alert we generate
    for side in ("source_matchers", "target_matchers"):
        (m,) = gateway[side]
        listed = m.removeprefix('alertname=~"').removesuffix('"').split("|")
        assert listed and set(listed) <= names, (side, listed)
    assert "equal" not in gateway
    # every alert computed from span data carries the label the inhibition targets; pipeline alerts do not
    for g in rules.build(load())["groups"]:
        for r in g["rules"]:
            if "alert" in r:
                assert (r["labels"].get("genai_o11y_data") == "spans") == (g["name"] != "genai-o11y.pipeline-alerts"), r["alert"]


@pytest.mark.parametrize("enabled", [True, False])
def test_gateway_alerts_and_their_inhibition_follow_gateway_enabled(enabled):
    """The gateway tier's alerts and inhibition exist exactly when the spec has the tier; their thresholds
    are the gateway config's (replicas, decision_wait, num_traces), so a changed spec moves them."""
    spec = harness.make_spec({"gateway.enabled": enabled, "gateway.replicas": 5, "gateway.decision_wait_seconds": 8, "gateway.num_traces": 1000})
    gw = {a.name: a for a in pipeline_alerts.gateway_alerts(spec)}
    all_names = {r["alert"] for g in rules.build(spec)["groups"] for r in g["rules"] if "alert" in r}
    inhibits = [i for i in alertmanager.build(spec)["inhibit_rules"] if any("GenAIGateway" in m for m in i["source_matchers"])]
    if not enabled:
        assert gw == {} and not inhibits and not any("Gateway" in a or "LoadBalancer" in a for a in all_names)
        return
    assert set(gw) <= all_names and len(inhibits) == 1
    assert gw["GenAIGatewayReplicasDown"].expr.split("\n")[0].endswith("< 5") and gw["GenAILoadBalancerBackendsMissing"].expr.endswith("< 5")
    assert gw["GenAIGatewayDecisionsLate"].expr.split("\n")[0].endswith(f"> {8 * pipeline_alerts.LATE_FACTOR:g}")
    assert gw["GenAIGatewaySamplingBufferFull"].expr.endswith(f"> {int(1000 * pipeline_alerts.BUFFER_FULL_SHARE)}")
    assert 'job=~"genai-o11y-collector|genai-o11y-gateway"' in next(a for a in pipeline_alerts.alerts(spec) if a.name == "GenAITempoExportFailing").expr


# --- schemas (SchemaStore's, copied as they are; harness.schema_file says where) -----------------------

def _validate_schema(doc, schema_file: str) -> list[str]:
    import json

    import jsonschema

    path = harness.schema_file(schema_file)
    schema = json.loads(path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_rules_file_matches_the_prometheus_rules_schema(repo):
    assert _validate_schema(yaml.safe_load((repo / "alerts" / "rules.yaml").read_text()), "schemastore_prometheus.rules.json") == []


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_test_files_match_their_schema(test_file):
    assert _validate_schema(yaml.safe_load(test_file.read_text()), "schemastore_prometheus.rules.test.json") == []


def test_alertmanager_config_matches_its_schema(repo):
    assert _validate_schema(yaml.safe_load((repo / "alerts" / "alertmanager.yml").read_text()), "schemastore_prometheus-alertmanager.json") == []


#: scrape_config keys Prometheus 3 has that the SchemaStore copy predates; promtool (the authority) checks them below
SCHEMA_PREDATES = {"scrape_protocols"}


def test_prometheus_config_matches_its_schema(promtool, tmp_path):
    import copy

    from genai_o11y.builders import prometheus_config

    spec = harness.make_spec({"gateway.enabled": True})
    cfg = prometheus_config.build(spec, ["sidecar:8889"], ["sidecar:8888"], ["alertmanager:9093"], ["/etc/prometheus/rules.yaml"],
                                  gateway_targets=["gateway:8888"])
    older = copy.deepcopy(cfg)
    for job in older["scrape_configs"]:
        for key in SCHEMA_PREDATES & job.keys():
            del job[key]
    assert _validate_schema(older, "schemastore_prometheus.json") == []
    # every key the schema does not know is used, and the real Prometheus accepts the whole file
    assert SCHEMA_PREDATES <= {k for job in cfg["scrape_configs"] for k in job}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([str(promtool), "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("overrides", [{}, {"evals.dataset.enabled": True}, {"evals.dataset.enabled": True, "gateway.enabled": False}])
def test_the_runbooks_dataset_step_runs_on_this_spec(overrides, tmp_path):
    """The runbook's "turn the traces into eval cases" step is a command the CLI accepts, on the files this
    spec writes; on a spec that keeps no eval-worthy traces (the default) it says how to start keeping
    them (a new user ran the step on the default spec and had no file to give it)."""
    import shlex

    from genai_o11y import cli
    from genai_o11y.builders import sampling

    spec = harness.make_spec(overrides)
    steps = [a for al in rules.all_alerts(spec) if al.runbook for a in al.runbook.actions if "dataset build" in a]
    assert len(steps) >= 2, steps
    d = spec.evals.dataset
    for step in steps:
        cmd = re.search(r"`(genai-o11y dataset build [^`]*)`", step).group(1)
        args = cli.parser().parse_args(shlex.split(cmd)[1:])
        assert args.signal == "low_score"
        name = d.path.rsplit("/", 1)[1]
        files = "evals/" + (sampling.replica_dataset_path(name, "*") if spec.gateway.enabled else name)
        assert args.files == [files], (args.files, files)
        # the files are fetched from where the pipeline writes them first, into the directory the command reads
        directory = d.path.rsplit("/", 1)[0]
        assert f"cp POD:{directory} evals" in step, step
        if spec.gateway.enabled:
            assert f"docker compose cp --index N {spec.gateway.host}:{directory} evals" in step, step
        if d.enabled:
            assert "evals.dataset.enabled" not in step
        else:
            assert "set `evals.dataset.enabled: true`" in step, step


def _counters(repo: Path) -> set[str]:
    """Counter names: our components' (Int64Counter in their Go source) and every collector metric the
    rules read with rate() or increase() (a counter, whatever its suffix)."""
    out = set()
    for go in (repo / "generator/genai_o11y/gocomponents").rglob("*.go"):
        if not go.name.endswith("_test.go"):
            out |= set(re.findall(r'(?:Int64|Float64)Counter\("(otelcol_[a-z_]+)"', go.read_text()))
    rules_text = (repo / "alerts/rules.yaml").read_text()
    for sel in re.findall(r'(?:rate|increase)\(\{__name__=~"\(([^)]+)\)\(_total\)\?"', rules_text):
        out |= set(sel.split("|"))
    out |= set(re.findall(r"(?:rate|increase)\((otelcol_[a-z_]+?)(?:_total)?[{\[]", rules_text))
    return {c for c in out if not c.endswith(("_count", "_sum", "_bucket"))}


def test_the_counters_runbooks_and_the_readme_name_are_the_series_prometheus_has(repo):
    """Prose names a counter as Prometheus stores it, with `_total`: a platform engineer typed the runbook's
    `otelcol_genai_usage_join_misses` into Prometheus and got nothing (the series is ..._total). The rules'
    own expressions match either spelling, `(name)(_total)?`."""
    counters = _counters(repo)
    assert {"otelcol_genai_usage_join_misses", "otelcol_receiver_refused_spans", "otelcol_exporter_sent_log_records"} <= counters
    bare = []
    for doc in (repo / "alerts/runbook.md", repo / "README.md"):
        fenced = False
        for i, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
            if fenced:  # expressions: they match both spellings
                continue
            for m in re.finditer(r"(?<!\w)(otelcol_[a-z_]+)(?!\)\(_total\)\?|\|)", line):  # not an expression's (a|b)(_total)?
                if m.group(1) in counters:
                    bare.append(f"{doc.name}:{i}: {m.group(1)}")
    assert not bare, "counters named without _total:\n" + "\n".join(bare)


def _eval_series(name: str, service: str, **labels: str) -> str:
    extra = "".join(f',{names.prom_label(k)}="{v}"' for k, v in labels.items())
    return (f'{name}{{{names.prom_label(names.EVAL_NAME)}="{service}"{extra},{names.prom_label(names.SERVICE_NAME)}="copilot",'
            f'{names.prom_label(names.ENVIRONMENT)}="production"}}')


def test_eval_alerts_follow_each_evaluators_direction_and_pass_labels(promtool, tmp_path):
    """A trial found GenAIQualityScoreDrop firing when a lower-is-better score improved and quiet when it
    worsened, and the pass rate counting a label as a pass if any evaluator listed it (a refusal check whose
    pass label is "false" read 100% passing at 50%). On a spec with such evaluators, through promtool: a
    toxicity rise 0.05 -> 0.15 fires, a fall 0.15 -> 0.05 does not, a rise over a baseline of 0 within the
    evaluator's tolerated_regression does not; refusal_check's "true" share 5% -> 50% fires, with the pass
    rate read at 50%; faithfulness "true" still passes."""
    spec = harness.make_spec({"evals.evaluators": [
        {"name": "faithfulness", "direction": "higher", "floor": 0.6},
        {"name": "toxicity", "direction": "lower", "tolerated_regression": 0.05},
        {"name": "refusal_check", "pass_labels": ["false"]},
    ]})
    (tmp_path / "rules.yaml").write_text(render.to_yaml(rules.build(spec)))
    score = names.prom_label(names.EVAL_LABEL)
    cnt, tot, res = "genai_o11y_evaluation_score_count", "genai_o11y_evaluation_score_sum", "genai_o11y_evaluation_results_total"
    lab = lambda ev, label: _eval_series(res, ev, **{names.EVAL_LABEL: label})  # noqa: E731
    # what fires, read from ALERTS (the texts are checked by alerts/tests/ on the default spec)
    exp = lambda ev, alert="GenAIQualityScoreDrop": {"labels": f'ALERTS{{alertname="{alert}",alertstate="firing",deployment_environment_name="production",gen_ai_evaluation_name="{ev}",'  # noqa: E731
                                f'genai_o11y_data="spans",service_name="copilot",severity="warning"}}', "value": 1}
    cases = [
        ("toxicity 0.05 -> 0.15 (lower is better) fires", [(cnt, "toxicity", "0+10x306"), (tot, "toxicity", "0+0.5x288 144+1.5x17")],
         "GenAIQualityScoreDrop", [exp("toxicity")]),
        ("toxicity 0.15 -> 0.05 is an improvement", [(cnt, "toxicity", "0+10x306"), (tot, "toxicity", "0+1.5x288 432+0.5x17")],
         "GenAIQualityScoreDrop", []),
        ("toxicity 0 -> 0.02 is within its tolerated regression", [(cnt, "toxicity", "0+10x306"), (tot, "toxicity", "0+0x288 0+0.2x17")],
         "GenAIQualityScoreDrop", []),
        ("faithfulness 0.8 -> 0.7 still fires", [(cnt, "faithfulness", "0+10x306"), (tot, "faithfulness", "0+8x288 2304+7x17")],
         "GenAIQualityScoreDrop", [exp("faithfulness")]),
    ]
    tests = []
    for name, series, alert, alerts in cases:
        tests.append({"name": name, "interval": "5m",
                      "input_series": [{"series": _eval_series(m, ev), "values": v} for m, ev, v in series],
                      "promql_expr_test": [{"expr": f'ALERTS{{alertname="{alert}",alertstate="firing"}}', "eval_time": "25h30m", "exp_samples": alerts}]})
    # refusal_check passes on "false": 95% -> 50%; faithfulness labelled "true" (a default pass label) 90% -> 90%
    tests.append({"name": "each evaluator's own pass labels", "interval": "5m", "input_series": [
        {"series": lab("refusal_check", "false"), "values": "0+19x288 5472+10x17"},
        {"series": lab("refusal_check", "true"), "values": "0+1x288 288+10x17"},
        {"series": lab("faithfulness", "true"), "values": "0+9x306"},
        {"series": lab("faithfulness", "false"), "values": "0+1x306"},
    ], "promql_expr_test": [{"expr": "genai_o11y:eval_pass:ratio_rate1h", "eval_time": "25h30m", "exp_samples": [
        {"labels": f'genai_o11y:eval_pass:ratio_rate1h{{{names.prom_label(names.EVAL_NAME)}="faithfulness",{names.prom_label(names.SERVICE_NAME)}="copilot",'
                   f'{names.prom_label(names.ENVIRONMENT)}="production"}}', "value": 0.9},
        {"labels": f'genai_o11y:eval_pass:ratio_rate1h{{{names.prom_label(names.EVAL_NAME)}="refusal_check",{names.prom_label(names.SERVICE_NAME)}="copilot",'
                   f'{names.prom_label(names.ENVIRONMENT)}="production"}}', "value": 0.5},
    ]}, {"expr": 'ALERTS{alertname="GenAIEvalPassRateDrop",alertstate="firing"}', "eval_time": "25h30m", "exp_samples": [exp("refusal_check", "GenAIEvalPassRateDrop")]}]})
    (tmp_path / "t.test.yaml").write_text(render.to_yaml({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    proc = subprocess.run([str(promtool), "test", "rules", "t.test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout[-6000:] + proc.stderr[-3000:]
