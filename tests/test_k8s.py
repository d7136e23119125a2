"""Kubernetes: the Helm chart lints, its rendering equals the committed one, every manifest (rendered
chart and example app) validates with kubeconform -strict against the real schemas (core kinds from
the Kubernetes OpenAPI spec, custom resources from the OpenTelemetry and Prometheus operators' CRDs,
all from Go modules); the sidecar CR carries the generated collector config, which the real collector
validates; no secret in any generated file."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import harness
import pytest
import yaml

from genai_o11y import k8s_render, toolchain
from genai_o11y.builders import helm, sampling

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / helm.CHART


@pytest.fixture(scope="module")
def tools():
    h, k = toolchain.k8s_tool_path("helm"), toolchain.k8s_tool_path("kubeconform")
    schemas = toolchain.k8s_schema_dir()
    if not (h and k and (schemas / ".complete").is_file()):
        pytest.fail("helm, kubeconform or the schemas are missing: run `make k8s-tools` (make test does)")
    return h, k, schemas


@pytest.fixture(scope="module")
def rendered(tools):
    return k8s_render.helm_template(CHART)


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def kubeconform(k: Path, schemas: Path, *files: Path) -> subprocess.CompletedProcess:
    assert (k, schemas) == (toolchain.k8s_tool_path("kubeconform"), toolchain.k8s_schema_dir())
    return k8s_render.kubeconform(*files)


def test_helm_check_renders_a_teams_values_and_validates_offline(tools, tmp_path):
    """The README's check of a values file before installing, as written (make helm-check): helm from Go
    modules assumed Kubernetes v1.20 without --kube-version, and kubeconform downloaded schemas."""
    import sys

    good = tmp_path / "team.yaml"
    good.write_text(yaml.safe_dump({"sidecar": {"image": {"repository": "registry.example.com/otelcol", "tag": "1.2.3"},
                                                "resources": {"limits": {"memory": "600Mi"}}}}))
    ok = subprocess.run(["make", "-s", "helm-check", f"VALUES={good}"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0 and "Invalid: 0" in ok.stdout and "Errors: 0" in ok.stdout, ok.stdout + ok.stderr
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump({"sidecar": {"resources": {"limit": {"memory": "600Mi"}}}}))
    proc = subprocess.run([sys.executable, "-m", "genai_o11y.k8s_render", "--check", "-f", str(bad)], capture_output=True, text=True, timeout=300)
    # refused by the values schema, naming the values path (it was kubeconform's, naming a temporary file)
    assert proc.returncode == 2 and "at '/sidecar/resources': additional properties 'limit' not allowed" in proc.stderr, proc.stdout + proc.stderr
    missing = subprocess.run([sys.executable, "-m", "genai_o11y.k8s_render", "--check", "-f", str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no such values file" in missing.stderr and "Traceback" not in missing.stderr


def test_helm_check_takes_a_generated_chart_and_make_check_compares_the_rendering(tools, tmp_path):
    """A team that generated its chart elsewhere (generate --out) checks it with CHART= (a new user's trial:
    helm-check only took the repository's); make check's --compare says when the committed rendering is
    stale (make check's advice had been the only hint)."""
    import sys

    from genai_o11y import artifacts

    spec = harness.make_spec({"gateway.enabled": False})
    for path, text in artifacts.build_all(spec, "test").items():
        if path.startswith(helm.CHART):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    ok = subprocess.run(["make", "-s", "helm-check", f"CHART={tmp_path / helm.CHART}"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0 and "Invalid: 0" in ok.stdout and "Errors: 0" in ok.stdout, ok.stdout + ok.stderr
    assert f"chart: {tmp_path / helm.CHART}, its default values" in ok.stdout, ok.stdout
    repo = subprocess.run(["make", "-s", "helm-check"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert f"chart: {helm.CHART} (the repository's; CHART=DIR for one generated elsewhere)" in repo.stdout, repo.stdout
    valid = [int(re.search(r"Valid: (\d+)", p.stdout).group(1)) for p in (ok, repo)]
    assert valid[0] < valid[1], valid  # the generated chart was checked: it has no gateway objects, the repository's has
    k8s = [sys.executable, "-m", "genai_o11y.k8s_render"]
    nochart = subprocess.run(k8s + ["--check", "--chart", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert nochart.returncode == 2 and "no Chart.yaml there" in nochart.stderr and "Traceback" not in nochart.stderr
    same = subprocess.run(k8s + ["--compare"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and "up to date" in same.stdout, same.stdout + same.stderr
    stale = tmp_path / "stale.yaml"
    stale.write_text((REPO / helm.RENDERED).read_text().replace("replicas: 2", "replicas: 3", 1))
    proc = subprocess.run(k8s + ["--compare", str(stale)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "stale, 2 lines differ" in proc.stderr and "make helm-render" in proc.stderr, proc.stderr
    other = subprocess.run(k8s + ["--compare", str(stale), "--chart", str(tmp_path / helm.CHART)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert other.returncode == 1  # the generated chart (no gateway) renders otherwise


def test_helm_lint(tools):
    proc = subprocess.run([str(tools[0]), "lint", str(CHART), "--strict"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rendering_equals_the_committed_one(rendered):
    assert rendered == (REPO / helm.RENDERED).read_text(), "stale: run `make helm-render`"


def test_every_manifest_passes_kubeconform_strict(tools, tmp_path):
    _h, k, schemas = tools
    proc = kubeconform(k, schemas, REPO / helm.RENDERED, REPO / helm.EXAMPLE_APP)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in proc.stdout
    kinds = {d["kind"] for d in docs((REPO / helm.RENDERED).read_text())}
    assert kinds == {"OpenTelemetryCollector", "PrometheusRule", "PodMonitor", "ConfigMap", "AlertmanagerConfig", "Service"}


@pytest.mark.parametrize("kind,path", [("OpenTelemetryCollector", ["spec", "sidecarMode"]), ("PrometheusRule", ["spec", "groupz"]),
                                       ("AlertmanagerConfig", ["spec", "route", "recever"]), ("ConfigMap", ["dataa"])])
def test_kubeconform_schemas_are_strict(tools, tmp_path, kind, path):
    """A misspelt field in any kind we render is rejected: the schemas really constrain them."""
    _h, k, schemas = tools
    d = next(d for d in docs((REPO / helm.RENDERED).read_text()) if d["kind"] == kind)
    cur = d
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = {"x": 1}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(d))
    proc = kubeconform(k, schemas, tmp_path / "bad.yaml")
    assert proc.returncode != 0 and "Invalid: 1" in proc.stdout, proc.stdout


def test_sidecar_cr_carries_the_generated_config_and_the_collector_validates_it(rendered, otelcol, tmp_path):
    cr = next(d for d in docs(rendered) if d["kind"] == "OpenTelemetryCollector" and d["spec"]["mode"] == "sidecar")
    assert cr["spec"]["mode"] == "sidecar"
    committed = (REPO / "collector" / "otelcol.yaml").read_text()
    assert (CHART / "files" / "otelcol.yaml").read_text() == committed  # byte for byte in the chart
    assert cr["spec"]["config"] == yaml.safe_load(committed)  # the same document in the CR
    # and the same bytes: the CR's config block is the committed file, indented under `config:`
    block = rendered.split("byte for byte collector/otelcol.yaml\n  config:\n", 1)[1].split("\n---", 1)[0]
    lines = block.split("\n")
    body = [ln for ln in lines if ln.startswith("    ") or ln == ""]
    assert "\n".join(ln[4:] for ln in body).rstrip("\n") + "\n" == committed
    (tmp_path / "cr-config.yaml").write_text(yaml.safe_dump(cr["spec"]["config"]))
    proc = subprocess.run([str(otelcol), "validate", f"--config={tmp_path / 'cr-config.yaml'}"], capture_output=True, text=True,
                          env={"GENAI_O11Y_HASH_SALT": "placeholder", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    env = {e["name"]: e for e in cr["spec"]["env"]}
    assert env["GENAI_O11Y_HASH_SALT"]["valueFrom"]["secretKeyRef"] == {"name": "genai-o11y-hash-salt", "key": "salt"}
    limit = yaml.safe_load(committed)["processors"]["memory_limiter"]["limit_mib"]
    assert env["GOMEMLIMIT"]["value"] == f"{int(limit * 0.5)}MiB"  # below the limiter's soft limit (80%)
    from genai_o11y.builders import collector as collector_builder
    from genai_o11y.spec import load

    # every variable of the collector's runtime (GOGC too), as compose and the local stack set them
    assert {k: env[k]["value"] for k in env if "value" in env[k]}.items() >= collector_builder.runtime_env(load()).items()
    mounts = {m["mountPath"] for m in cr["spec"]["volumeMounts"]}
    assert yaml.safe_load(committed)["extensions"][sampling.QUEUE]["directory"] in mounts


def test_rules_dashboards_datasources_and_routing(rendered):
    all_docs = docs(rendered)
    rule = next(d for d in all_docs if d["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # the committed rules, every alert labelled with the release's namespace: the Operator routes an AlertmanagerConfig's
    # alerts only where namespace equals its own (OnNamespace), and the alerts aggregate the label away (a platform
    # engineer's trial: no page would have reached the pager route)
    committed = yaml.safe_load((REPO / "alerts" / "rules.yaml").read_text())
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(r["labels"].pop("namespace") == k8s_render.NAMESPACE for r in alerts)
    assert rule["spec"] == committed
    assert not any("namespace" in r.get("labels", {}) for g in committed["groups"] for r in g["rules"])  # compose's rules: no such label
    boards = {d["metadata"]["name"]: d for d in all_docs if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"}
    assert set(boards) == {p.stem for p in (REPO / "dashboards").glob("*.json")}
    for name, cm in boards.items():
        assert json.loads(cm["data"][f"{name}.json"]) == json.loads((REPO / "dashboards" / f"{name}.json").read_text())
        assert cm["metadata"]["annotations"]["grafana_folder"] == "GenAI"
    ds = next(d for d in all_docs if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_datasource") == "1")
    assert yaml.safe_load(ds["data"]["genai-o11y-datasources.yaml"]) == yaml.safe_load((REPO / "dashboards/provisioning/datasources.yaml").read_text())
    amc = next(d for d in all_docs if d["kind"] == "AlertmanagerConfig")
    routes = {r["matchers"][0]["value"]: (r["receiver"], r.get("continue", False)) for r in amc["spec"]["route"]["routes"]}
    assert routes == {"GenAIAlertDeliveryFailing": ("chat", True), "critical": ("pager", False), "warning": ("chat", False), "info": ("null", False)}
    assert [i["sourceMatch"][0] for i in amc["spec"]["inhibitRules"]] == [
        {"name": "severity", "value": "critical"}, {"name": "alertname", "value": "GenAILatencyBudgetBurn(Fast|Slow)", "matchType": "=~"},
        {"name": "alertname", "value": "GenAISidecarDown"},
        {"name": "alertname", "value": "GenAIGatewayDown|GenAIGatewayReplicasDown", "matchType": "=~"}]
    assert amc["spec"]["inhibitRules"][0]["sourceMatch"][1] == {"name": "genai_o11y_slo", "value": ".+", "matchType": "=~"}
    for r in amc["spec"]["receivers"]:
        for w in r.get("webhookConfigs", []):
            assert "url" not in w and w["urlSecret"]["name"]  # from a Secret, never inline
    monitors = {d["metadata"]["name"]: d["spec"] for d in all_docs if d["kind"] == "PodMonitor"}
    jobs = {name: [e["relabelings"][0]["replacement"] for e in pm["podMetricsEndpoints"]] for name, pm in monitors.items()}
    assert jobs["genai-o11y-sidecar"] == ["genai-o11y-sidecar"] and jobs["genai-o11y-collector"] == ["genai-o11y-collector"]
    # the sidecar's metrics in protobuf first (their start times: the zero sample of each new series), as the stacks we run scrape them
    from genai_o11y.builders import prometheus_config
    assert monitors["genai-o11y-sidecar"]["scrapeProtocols"] == prometheus_config.SIDECAR_SCRAPE_PROTOCOLS
    assert "scrapeProtocols" not in monitors["genai-o11y-collector"]


def test_example_app_injects_the_sidecar():
    dep = docs((REPO / helm.EXAMPLE_APP).read_text())[0]
    tpl = dep["spec"]["template"]["metadata"]
    assert tpl["annotations"]["sidecar.opentelemetry.io/inject"] == helm.values(__import__("genai_o11y.spec", fromlist=["load"]).load())["sidecar"]["name"]
    assert tpl["labels"]["genai-o11y/sidecar"] == "true"


def test_the_example_app_is_the_specs_first_service(tools, tmp_path):
    """The example app ran as support-copilot whatever the spec (a platform engineer's trial): it is named
    after the spec's first service (as a Kubernetes name) and the demo reports that service.name."""
    spec = harness.make_spec({"app.services": ["Ledger_API.v2", "ledger-retriever"]})
    dep = helm.example_app(spec)[0]
    assert dep["metadata"]["name"] == "ledger-api-v2" and dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "ledger-api-v2"
    cmd = dep["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[cmd.index("--service") + 1] == "Ledger_API.v2"
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(dep))
    _h, k, schemas = tools
    proc = kubeconform(k, schemas, tmp_path / "app.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_namespace_label_can_be_left_to_the_operator(tools):
    """A Prometheus with enforcedNamespaceLabel (or an Alertmanager with the None matcher strategy) needs no
    label of ours: prometheusRule.namespaceLabel=false leaves the rules as committed."""
    text = k8s_render.helm_template(CHART, ["--set", "prometheusRule.namespaceLabel=false"])
    rule = next(d for d in docs(text) if d["kind"] == "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((REPO / "alerts" / "rules.yaml").read_text())


def test_values_schema_rejects_unknown_and_wrong_values(tools):
    for bad in (["--set", "sidecar.unknown=1"], ["--set", "sidecar.ports.metrics=0"], ["--set", "prometheusRule.enabled=maybe"],
                # a misspelt resource key failed only at the API server, far from the values file (a platform engineer's trial)
                ["--set", "sidecar.resources.requests.memroy=256Mi"], ["--set", "gateway.resources.limit.memory=1Gi"],
                ["--set", "sidecar.resources.limits.memory=lots"]):
        with pytest.raises(Exception, match="values don't meet the specifications|schema"):
            k8s_render.helm_template(CHART, bad)


@pytest.mark.parametrize("who,config,field", [("sidecar", "otelcol.yaml", "collector.memory_limit_mib"), ("gateway", "gateway.yaml", "gateway.memory_limit_mib")])
def test_a_memory_limit_the_collector_would_be_killed_under_is_refused(tools, who, config, field):
    """A container memory limit below the memory limiter's (or a GOMEMLIMIT above the container's) passed helm-check,
    kubeconform and the API server, and the collector was OOM-killed under load instead of refusing data. The chart
    reads the limiter's limit from the generated config and refuses both, naming the values path; any notation of a
    quantity is read (Mi, Gi, G, plain bytes, a JSON number, 1e9)."""
    limiter = yaml.safe_load((CHART / "files" / config).read_text())["processors"]["memory_limiter"]["limit_mib"]
    mib = 1024 * 1024
    with pytest.raises(Exception, match=rf"{who}\.resources\.limits\.memory \({limiter - 1}Mi\) is below the memory limiter's limit of {limiter} MiB "
                                        rf"\(the spec's {re.escape(field)}.*OOMKilled.*Set {limiter * 5 // 4}Mi"):
        k8s_render.helm_template(CHART, ["--set", f"{who}.resources.limits.memory={limiter - 1}Mi"])
    for below in (f"{(limiter - 1) * mib}", f"{limiter * mib / 1e9 * 0.99:.3f}G"):
        with pytest.raises(Exception, match="is below the memory limiter's limit"):
            k8s_render.helm_template(CHART, ["--set-json", f"{who}.resources.limits.memory={json.dumps(below)}"])
    for fits in (f"{limiter}Mi", f"{limiter / 1024}Gi", str(limiter * mib), f"{limiter * mib}e0", "2e9", limiter * mib):
        k8s_render.helm_template(CHART, ["--set-json", f"{who}.resources.limits.memory={json.dumps(fits)}", "--set", f"{who}.goMemLimit={limiter // 2}MiB"])
    with pytest.raises(Exception, match=rf"{who}\.goMemLimit \({limiter * 2}MiB\) is above {who}\.resources\.limits\.memory \({limiter * 3 // 2}Mi\)"):
        k8s_render.helm_template(CHART, ["--set", f"{who}.resources.limits.memory={limiter * 3 // 2}Mi", "--set", f"{who}.goMemLimit={limiter * 2}MiB"])
    k8s_render.helm_template(CHART, ["--set", f"{who}.resources.limits=null", "--set", f"{who}.goMemLimit={limiter * 2}MiB"])  # no limit: nothing to exceed


@pytest.mark.parametrize("who,path,field", [("sidecar", "sidecar.queue.sizeLimit", "collector.queue_mib"), ("gateway", "gateway.queue.size", "gateway.queue_mib")])
def test_a_queue_volume_smaller_than_the_full_queues_is_refused(tools, who, path, field):
    """An emptyDir smaller than the full queues gets the pod (the app with it) evicted when the next hop is down; a
    claim that small fills and the queue's writes fail. The smallest size is the chart's annotation, generated from
    the spec as the default is; a smaller value is refused naming the values path, the default and more pass."""
    need = helm.queue_volumes(harness.make_spec())[who]
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["annotations"][helm.QUEUE_VOLUME_ANNOTATION.format(who)] == need
    mib = int(need.removesuffix("Mi"))
    with pytest.raises(Exception, match=rf"{re.escape(path)} \({mib - 1}Mi\) is below what the {who}'s persistent queues take on disk when full "
                                        rf"\({need}, from the spec's {re.escape(field)}.*Keep at least {need}"):
        k8s_render.helm_template(CHART, ["--set", f"{path}={mib - 1}Mi"])
    for fits in (need, f"{mib * 2}Mi", f"{(mib + 1024) // 1024}Gi"):
        k8s_render.helm_template(CHART, ["--set", f"{path}={fits}"])


def _consts(schema: dict, path: str = ""):
    """(dotted values path, value) of every value the schema fixes to what the generated configs were built with."""
    if "const" in schema:
        yield path, schema["const"]
    for k, sub in schema.get("properties", {}).items():
        yield from _consts(sub, f"{path}.{k}" if path else k)


def test_values_the_generated_configs_depend_on_cannot_drift(tools):
    """A team's values changed the PodMonitor's port, the job names, gateway.enabled and the replica count
    while the configs, rules and boards kept the spec's: each fixed value is refused when changed, the
    selector may not be empty, and the autoscaler may not stop below the replicas (found by a new user)."""
    fixed = dict(_consts(helm.values_schema(harness.make_spec())))
    assert {"sidecar.ports.metrics", "sidecar.ports.telemetry", "gateway.enabled", "gateway.replicas", "gateway.ports.telemetry",
            "podMonitor.sidecarJob", "podMonitor.collectorJob", "podMonitor.gatewayJob",
            # the directories the configs' queue storage and file exporter write to (a platform engineer moved the
            # queue volumes elsewhere and the queues landed on the containers' root filesystems)
            "sidecar.queue.path", "gateway.queue.path", "sidecar.evalDataset.path", "gateway.evalDataset.path"} <= set(fixed)
    for path, value in fixed.items():
        other = (not value) if isinstance(value, bool) else (value + 1 if isinstance(value, int) else f"{value}-x")
        with pytest.raises(Exception, match="values don't meet the specifications|schema"):
            k8s_render.helm_template(CHART, ["--set-json", f"{path}={json.dumps(other)}"])
        k8s_render.helm_template(CHART, ["--set-json", f"{path}={json.dumps(value)}"])  # the generated value itself renders
    with pytest.raises(Exception, match="values don't meet the specifications|schema"):
        k8s_render.helm_template(CHART, ["--set-json", 'podMonitor.selector.matchLabels={"genai-o11y/sidecar":null}'])
    with pytest.raises(Exception, match="maxReplicas .* is below gateway.replicas"):
        k8s_render.helm_template(CHART, ["--set", "gateway.autoscaling.enabled=true", "--set", "gateway.autoscaling.maxReplicas=1"])


def test_the_example_app_redacts_with_the_charts_policy_in_effect(rendered, tmp_path):
    """The Kubernetes path gave the app no policy (the helper applied the embedded default, not the spec's):
    the chart ships the generated redaction/policy.yaml as a ConfigMap, the example app mounts it where
    GENAI_O11Y_REDACTION_POLICY points (found by a new user)."""
    from genai_o11y import artifacts
    from genai_o11y.redact import POLICY_ENV, Redactor
    from genai_o11y.spec import load

    (cm,) = [d for d in docs(rendered) if d["kind"] == "ConfigMap" and d["metadata"]["name"] == helm.REDACTION_CONFIGMAP]
    assert cm["data"][helm.REDACTION_KEY] + "\n" == (REPO / artifacts.REDACTION_POLICY).read_text()
    (app,) = [d for d in docs((REPO / helm.EXAMPLE_APP).read_text()) if d["kind"] == "Deployment"]
    pod = app["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    path = {e["name"]: e.get("value") for e in c["env"]}[POLICY_ENV]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == path]
    (vol,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert vol["configMap"]["name"] == cm["metadata"]["name"] and mount["subPath"] in cm["data"]
    (tmp_path / "policy.yaml").write_text(cm["data"][mount["subPath"]])
    app_side = Redactor.from_file(tmp_path / "policy.yaml", salt="s")
    assert (app_side.mode, app_side.max_chars) == (load().redaction.mode, load().redaction.max_content_chars)


def test_chart_yaml_matches_its_schema():
    import jsonschema

    schema = json.loads(harness.schema_file("schemastore_chart.json").read_text())
    doc = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert [e.message for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(doc)] == []


def test_no_secret_values_in_generated_files():
    """Secret-looking keys only ever hold references (${ENV} or a secretKeyRef/urlSecret), never values."""
    import re

    for f in [*CHART.rglob("*.yaml"), REPO / helm.RENDERED, REPO / helm.EXAMPLE_APP, REPO / "docker-compose.yml"]:
        text = f.read_text()
        literal = re.findall(r"(?im)^[ \t]*[\w.-]*(?:password|token(?!s)|secret|apikey|api_key|salt)[\w.-]*:[ \t]+(?!\$\{)(\S.*)$", text)
        assert not literal, (f, literal)
        assert "BEGIN PRIVATE KEY" not in text, f


# --- the gateway tier ------------------------------------------------------------------------------------

def _gateway_objects(text: str) -> dict[str, dict]:
    out = {}
    for d in docs(text):
        if d["kind"] == "OpenTelemetryCollector" and d["spec"]["mode"] != "sidecar":
            out["cr"] = d
        elif d["kind"] == "Service":
            out["service"] = d
        elif d["kind"] == "PodMonitor" and d["metadata"]["name"] == "genai-o11y-gateway":
            out["podmonitor"] = d
    return out


def operator_selector_label_keys() -> set[str]:
    """The labels the OpenTelemetry Operator selects its collector pods by (manifestutils.SelectorLabels), from its source."""
    import re

    from genai_o11y import k8s_schemas

    src = (k8s_schemas.module_dir(k8s_schemas.OTEL_OPERATOR) / "internal/manifests/manifestutils/labels.go").read_text()
    body = src.split("func SelectorLabels(", 1)[1].split("\n}\n", 1)[0]
    return set(re.findall(r'"(app\.kubernetes\.io/[a-z-]+)":', body))


def test_gateway_cr_service_and_podmonitor(rendered, otelcol, tmp_path):
    """The gateway CR runs collector/gateway.yaml byte for byte (the real collector validates it); the headless
    Service is the name and port the sidecars' dns resolver looks up and selects the pods the Operator labels;
    the PodMonitor scrapes them as the job the gateway alerts select on."""
    from genai_o11y.spec import load

    spec = load()
    g = _gateway_objects(rendered)
    cr, svc, pm = g["cr"], g["service"], g["podmonitor"]
    committed = (REPO / "collector" / "gateway.yaml").read_text()
    assert (CHART / "files" / "gateway.yaml").read_text() == committed
    assert cr["spec"]["config"] == yaml.safe_load(committed)
    block = rendered.split("byte for byte collector/gateway.yaml\n  config:\n", 1)[1].split("\n---", 1)[0]
    assert "\n".join(ln[4:] for ln in block.split("\n")).rstrip("\n") + "\n" == committed
    (tmp_path / "gw.yaml").write_text(committed)
    proc = subprocess.run([str(otelcol), "validate", f"--config={tmp_path / 'gw.yaml'}"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert cr["spec"]["mode"] == "statefulset" and cr["spec"]["replicas"] == spec.gateway.replicas
    assert cr["spec"]["podDisruptionBudget"] == {"maxUnavailable": 1} and "autoscaler" not in cr["spec"]
    assert {m["mountPath"] for m in cr["spec"]["volumeMounts"]} == {yaml.safe_load(committed)["extensions"][sampling.QUEUE]["directory"]}
    assert [v["metadata"]["name"] for v in cr["spec"]["volumeClaimTemplates"]] == [m["name"] for m in cr["spec"]["volumeMounts"]]
    # the queue volume is writable by the image's user (a fresh volume is root's)
    user = next(ln.split()[1] for ln in (REPO / "collector" / "Dockerfile").read_text().splitlines() if ln.startswith("USER "))
    assert cr["spec"]["podSecurityContext"]["fsGroup"] == int(user)
    assert {e["name"]: e["value"] for e in cr["spec"]["env"]}["GOMEMLIMIT"] == f"{spec.gateway.memory_limit_mib // 2}MiB"
    # what the sidecars resolve is this Service
    dns = yaml.safe_load((REPO / "collector" / "otelcol.yaml").read_text())["exporters"]["load_balancing"]["resolver"]["dns"]
    assert svc["metadata"]["name"] == dns["hostname"] == spec.gateway.host == cr["spec"]["serviceName"]
    assert svc["spec"]["clusterIP"] == "None" and [p["port"] for p in svc["spec"]["ports"]] == [int(dns["port"])] == [spec.gateway.otlp_grpc_port]
    assert set(svc["spec"]["selector"]) == operator_selector_label_keys()
    assert svc["spec"]["selector"]["app.kubernetes.io/instance"] == f"{k8s_render.NAMESPACE}.{cr['metadata']['name']}"
    # scraped as the gateway job, on the telemetry port of the generated config
    assert pm["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["relabelings"][0]["replacement"] == spec.backends.prometheus.gateway_job
    assert ep["portNumber"] == yaml.safe_load(committed)["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"]
    assert ep["portNumber"] in [p["port"] for p in cr["spec"]["ports"]]


def test_gateway_autoscaler_is_optional_and_valid(tools, tmp_path):
    _h, k, schemas = tools
    text = k8s_render.helm_template(CHART, ["--set", "gateway.autoscaling.enabled=true", "--set", "gateway.autoscaling.maxReplicas=7"])
    cr = _gateway_objects(text)["cr"]
    assert cr["spec"]["autoscaler"] == {"minReplicas": cr["spec"]["replicas"], "maxReplicas": 7, "targetCPUUtilization": 70, "targetMemoryUtilization": 70}
    (tmp_path / "hpa.yaml").write_text(text)
    proc = kubeconform(k, schemas, tmp_path / "hpa.yaml")
    assert proc.returncode == 0 and "Invalid: 0, Errors: 0" in proc.stdout, proc.stdout
    for bad in (["--set", "gateway.replicas=0"], ["--set", "gateway.autoscaling.unknown=1"], ["--set", "gateway.queue.size=lots"]):
        with pytest.raises(Exception, match="values don't meet the specifications|schema"):
            k8s_render.helm_template(CHART, bad)


@pytest.mark.parametrize("enabled", [True, False])
def test_chart_from_a_spec_with_and_without_the_gateway(tools, tmp_path, enabled):
    """A chart generated from either spec renders and validates; without the tier it has no gateway objects,
    and turning them on in values alone fails with a message (the sidecars would not send to them)."""
    from genai_o11y import artifacts

    _h, k, schemas = tools
    spec = harness.make_spec({"gateway.enabled": enabled})
    for path, text in artifacts.build_all(spec, "test").items():
        if path.startswith(helm.CHART):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    chart = tmp_path / helm.CHART
    text = k8s_render.helm_template(chart)
    assert bool(_gateway_objects(text)) == enabled and len(_gateway_objects(text)) in (0, 3)
    (tmp_path / "r.yaml").write_text(text)
    proc = kubeconform(k, schemas, tmp_path / "r.yaml")
    assert proc.returncode == 0 and "Invalid: 0, Errors: 0" in proc.stdout, proc.stdout
    if not enabled:
        with pytest.raises(Exception, match="gateway/enabled|no load_balancing exporter with a dns resolver"):
            k8s_render.helm_template(chart, ["--set", "gateway.enabled=true"])


@pytest.mark.parametrize("gateway", [True, False], ids=["on-the-gateway", "sidecar-only"])
@pytest.mark.parametrize("volume", [None, {"persistentVolumeClaim": {"claimName": "eval-dataset"}}], ids=["emptyDir", "pvc"])
def test_the_eval_dataset_directory_is_a_volume_of_the_tier_that_samples(tools, tmp_path, volume, gateway):
    """A spec with evals.dataset.enabled generates a chart whose sampling tier (the gateway, or the sidecar
    with gateway.enabled: false) mounts the file exporter's directory (an emptyDir sized for the rotated
    files, or the volume given in values); the other tier mounts none; kubeconform-valid. The default spec's
    chart (the committed rendering) mounts nothing more than the queue."""
    from genai_o11y import artifacts
    from genai_o11y.builders import collector as collector_builder
    from genai_o11y.builders import sampling

    spec = harness.make_spec({"gateway.enabled": gateway, "evals.dataset.enabled": True, "evals.dataset.path": "/data/evals/traces.jsonl",
                              "evals.dataset.max_megabytes": 50, "evals.dataset.max_backups": 3})
    for rel, text in artifacts.build_all(spec, "test-spec.yaml").items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    tier = "gateway" if gateway else "sidecar"
    extra = ["--set-json", f"{tier}.evalDataset.volume={json.dumps(volume)}"] if volume else []
    out = k8s_render.helm_template(tmp_path / helm.CHART, extra)
    (tmp_path / "rendered.yaml").write_text(out)
    _h, k, schemas = tools
    proc = kubeconform(k, schemas, tmp_path / "rendered.yaml")
    assert proc.returncode == 0 and "Invalid: 0, Errors: 0" in proc.stdout, proc.stdout + proc.stderr
    crs = {d["spec"]["mode"]: d for d in docs(out) if d["kind"] == "OpenTelemetryCollector"}
    cr, other = (crs["statefulset"], crs["sidecar"]) if gateway else (crs["sidecar"], None)
    config = cr["spec"]["config"] if isinstance(cr["spec"]["config"], dict) else yaml.safe_load(cr["spec"]["config"])
    file_path = config["exporters"][sampling.DATASET_EXPORTER]["path"]
    if gateway:
        file_path = file_path.rsplit("/", 1)[0] + "/traces.jsonl"  # each replica writes traces-<host>.jsonl beside it
        assert "genai-o11y-eval-dataset" not in {m["name"] for m in other["spec"]["volumeMounts"]}
    mount = next(m for m in cr["spec"]["volumeMounts"] if m["name"] == "genai-o11y-eval-dataset")
    assert file_path == "/data/evals/traces.jsonl" and mount["mountPath"] == "/data/evals"
    vol = next(v for v in cr["spec"]["volumes"] if v["name"] == "genai-o11y-eval-dataset")
    assert vol == {"name": "genai-o11y-eval-dataset", **(volume or {"emptyDir": {"sizeLimit": "200Mi"}})}
    default = next(d for d in docs((REPO / helm.RENDERED).read_text()) if d["kind"] == "OpenTelemetryCollector" and d["spec"]["mode"] == "sidecar")
    assert [v["name"] for v in default["spec"]["volumes"]] == ["genai-o11y-queue"]


QUEUE_VARIANTS = [(gw, logs, full) for gw in (True, False) for logs in (False, True) for full in (False, True)]


@pytest.mark.parametrize("gateway,logs,full", QUEUE_VARIANTS,
                         ids=[f"gateway={g}-logs={lg}-full={f}" for g, lg, f in QUEUE_VARIANTS])
def test_the_queue_volumes_hold_every_persistent_queue_full(otelcol, tmp_path, gateway, logs, full):
    """Over every combination of the sidecar's persistent queues (traces to the gateways or to Tempo, logs,
    the full-content store): each is bounded in bytes (sizer: bytes), together they hold at most
    collector.queue_mib, and the Helm emptyDir's sizeLimit is QUEUE_DISK_FACTOR times that plus
    QUEUE_DISK_SLACK_MIB per queue (each queue's log: twice what it holds, an open segment and a frame; measured in
    bench/RESULTS.md), so a full
    queue cannot outgrow the volume whatever the batch or span size. The gateway's queue towards Tempo and its
    PersistentVolumeClaim likewise, from gateway.queue_mib. The real collector validates each config."""
    from genai_o11y import render
    from genai_o11y.builders import collector as collector_builder
    from genai_o11y.builders.sampling import QUEUE

    overrides = {"gateway.enabled": gateway, "collector.queue_mib": 300}
    if logs:
        overrides.update({"logs.export": "otlp", "logs.endpoint": "logs:4317"})
    if full:
        overrides.update({"redaction.mode": "full", "redaction.full_content_store": {"endpoint": "restricted:4317"}})
    spec = harness.make_spec(overrides)
    cfg = collector_builder.build(spec)
    queues = {name: e["sending_queue"] for name, e in cfg["exporters"].items() if e.get("sending_queue", {}).get("storage") == QUEUE}
    assert len(queues) == 1 + logs + full == len(collector_builder.sidecar_queues(spec)), queues
    assert all(q["sizer"] == "bytes" for q in queues.values()), queues
    total = sum(q["queue_size"] for q in queues.values())
    assert 300 * 1024 * 1024 - len(queues) < total <= 300 * 1024 * 1024
    assert helm.values(spec)["sidecar"]["queue"]["sizeLimit"] == f"{300 * collector_builder.QUEUE_DISK_FACTOR + len(queues) * collector_builder.QUEUE_DISK_SLACK_MIB}Mi"
    configs = {"otelcol.yaml": cfg}
    if gateway:  # the gateway's one queue towards Tempo, and its volume, from gateway.queue_mib
        from genai_o11y.builders import gateway as gateway_builder

        gw = harness.make_spec({**overrides, "gateway.queue_mib": 100})
        configs["gateway.yaml"] = gateway_builder.build(gw)
        gw_queues = [e["sending_queue"] for e in configs["gateway.yaml"]["exporters"].values() if e.get("sending_queue", {}).get("storage") == QUEUE]
        assert gw_queues == [{**gw_queues[0], "sizer": "bytes", "queue_size": 100 * 1024 * 1024}]
        assert helm.values(gw)["gateway"]["queue"]["size"] == f"{100 * collector_builder.QUEUE_DISK_FACTOR + collector_builder.QUEUE_DISK_SLACK_MIB}Mi"
    for name, c in configs.items():
        p = tmp_path / name
        p.write_text(render.to_yaml(c))
        proc = subprocess.run([str(otelcol), "validate", f"--config={p}"], capture_output=True, text=True, timeout=60,
                              env={"GENAI_O11Y_HASH_SALT": "s", "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
