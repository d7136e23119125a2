"""docker-compose.yml for one host (no Docker engine here): valid against the Compose Specification
schema, every mounted file and Dockerfile input exists, images pinned, ports on 127.0.0.1, secrets
from the environment only, health checks and depends_on conditions, configs pointing at services
that exist; the Prometheus config passes the real promtool; the commands the containers run work."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import harness
import pytest
import yaml

from genai_o11y import toolchain
from genai_o11y.builders import compose

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_matches_the_compose_specification(doc):
    import jsonschema

    schema = json.loads(harness.schema_file("compose-go_compose-spec.json").read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(doc)]
    assert errors == []


def test_every_mounted_file_and_build_input_exists(doc):
    for name, svc in doc["services"].items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if ":" not in v:
                assert v.startswith("/"), f"{name}: anonymous volume {v} needs an absolute path"  # a volume per container
            elif src.startswith("./"):
                assert (REPO / src).exists(), f"{name}: {src} does not exist"
            else:
                assert src in doc["volumes"], f"{name}: named volume {src} not declared"
        if "build" in svc:
            dockerfile = REPO / svc["build"]["dockerfile"]
            assert dockerfile.is_file(), dockerfile
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY ") and "--from=" not in line:
                    for src in line.split()[1:-1]:
                        assert (REPO / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"
    collector = (REPO / compose.COLLECTOR_DOCKERFILE).read_text()
    assert "COPY collector/builder-config.yaml" in collector and "builder@v0.161.0" in collector and "AS build" in collector
    # our own components: the manifest's local paths are what the image copies, at the same place
    copied = [line.split()[2].removeprefix("./") for line in collector.splitlines() if line.startswith("COPY ") and "--from=" not in line]
    manifest = yaml.safe_load((REPO / "collector/builder-config.yaml").read_text())
    # a replace to a directory is relative to the build's output path (./_build, beside the repository's root)
    out = manifest["dist"]["output_path"]
    local = [os.path.normpath(os.path.join(out, r.split(" => ")[1])) for r in manifest["replaces"] if r.split(" => ")[1].startswith(".")]
    assert local and all(any(p == c or p.startswith(c.rstrip("/") + "/") for c in copied) for p in local), (local, copied)
    assert all((REPO / p / "go.mod").is_file() for p in local)


def test_images_pinned_ports_local_secrets_required(doc):
    for name, svc in doc["services"].items():
        image = svc.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"
        for p in svc.get("ports", []):
            assert p.startswith("127.0.0.1:"), f"{name}: port {p} is published beyond localhost"
    env = doc["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?") and env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    text = (REPO / "docker-compose.yml").read_text()
    assert "${GENAI_O11Y_HASH_SALT:?" in text and "admin/admin" not in text.replace("no default admin/admin", "")
    for secret_like in re.findall(r"(?:PASSWORD|SALT|TOKEN|SECRET)[A-Z_]*: (.+)", text):
        assert secret_like.startswith("${"), secret_like


def test_health_checks_volumes_and_the_sidecar(doc):
    services = doc["services"]
    for name, svc in services.items():
        assert "healthcheck" in svc, name
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services and cond["condition"] in ("service_healthy", "service_started", "service_completed_successfully"), (name, dep)
    assert {"prometheus-data", "tempo-data", "grafana-data", "collector-queue"} <= set(doc["volumes"])
    col = services["collector"]
    assert col["network_mode"] == "service:app", "the collector is the app's sidecar: OTLP stays on localhost"
    assert "./collector/otelcol.yaml:/etc/otelcol/config.yaml:ro" in col["volumes"]
    assert any(v.startswith("collector-queue:") for v in col["volumes"])
    # the Go runtime's soft limit sits below the memory limiter's (50% of collector.memory_limit_mib)
    limit = yaml.safe_load((REPO / "collector" / "otelcol.yaml").read_text())["processors"]["memory_limiter"]["limit_mib"]
    assert col["environment"]["GOMEMLIMIT"] == f"{int(limit * 0.5)}MiB"
    # and every variable of the collector's runtime (GOGC too) as the builder gives it
    from genai_o11y.builders import collector as collector_builder
    from genai_o11y.spec import load

    assert collector_builder.runtime_env(load()).items() <= col["environment"].items()


def test_the_app_redacts_with_the_generated_policy_in_effect(doc, repo):
    """The helper read the embedded default policy in compose: a spec's own patterns, keys, limit and mode
    reached the sidecar only. The app gets the generated file, mounted where the variable says."""
    from genai_o11y import artifacts
    from genai_o11y.redact import POLICY_ENV, Redactor

    app = doc["services"]["app"]
    path = app["environment"][POLICY_ENV]
    (mount,) = [v for v in app["volumes"] if v.split(":")[1] == path]
    assert mount == f"./{artifacts.REDACTION_POLICY}:{path}:ro"
    from genai_o11y.spec import load

    spec = load()
    app_side = Redactor.from_file(repo / artifacts.REDACTION_POLICY, salt="s")
    assert (app_side.mode, app_side.max_chars) == (spec.redaction.mode, spec.redaction.max_content_chars)


def test_configs_point_at_services_that_exist(doc, repo):
    services = set(doc["services"])
    hosts = set()
    for rel in ("alerts/alertmanager.yml", "dashboards/provisioning/datasources.yaml", compose.PROMETHEUS_CONFIG, "collector/otelcol.yaml"):
        hosts |= set(re.findall(r"https?://([a-z][a-z0-9-]*):\d+", (repo / rel).read_text()))
        hosts |= set(re.findall(r"targets:\n\s+- ([a-z][a-z0-9-]*):\d+", (repo / rel).read_text()))
    sidecar = yaml.safe_load((repo / "collector/otelcol.yaml").read_text())
    gateway = yaml.safe_load((repo / compose.GATEWAY_CONFIG).read_text())
    hosts |= {re.match(r"([a-z0-9-]+):", gateway["exporters"]["otlp_grpc/tempo"]["endpoint"]).group(1)}
    hosts |= {sidecar["exporters"]["load_balancing"]["resolver"]["dns"]["hostname"]}
    # a replica's container name (<project>-<service>-<i>) names its service
    hosts = {m.group(1) if (m := re.fullmatch(rf"{re.escape(doc['name'])}-(.+)-\d+", h)) else h for h in hosts}
    assert hosts and hosts <= services, hosts - services
    tempo = yaml.safe_load((repo / compose.TEMPO_CONFIG).read_text())
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")


def test_gateway_tier_behind_docker_dns(doc, repo):
    """The gateway: replicas of one service, the sidecar's dns resolver on that service's name and port,
    no port published, a queue volume per replica, Prometheus scraping every replica."""
    from genai_o11y.spec import load

    spec = load()
    gw = doc["services"][spec.gateway.host]
    assert gw["deploy"]["replicas"] == spec.gateway.replicas == 2
    assert "ports" not in gw and f"./{compose.GATEWAY_CONFIG}:/etc/otelcol/config.yaml:ro" in gw["volumes"]
    assert spec.gateway.queue_directory in gw["volumes"], "an anonymous volume: each replica its own queue"
    assert gw["image"] == doc["services"]["collector"]["image"]
    assert doc["services"]["collector"]["depends_on"][spec.gateway.host] == {"condition": "service_healthy"}
    resolver = yaml.safe_load((repo / "collector/otelcol.yaml").read_text())["exporters"]["load_balancing"]["resolver"]
    assert resolver["dns"]["hostname"] == spec.gateway.host and resolver["dns"]["port"] == str(spec.gateway.otlp_grpc_port)
    gw_cfg = yaml.safe_load((repo / compose.GATEWAY_CONFIG).read_text())
    assert gw_cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(f":{spec.gateway.otlp_grpc_port}")
    prom = yaml.safe_load((repo / compose.PROMETHEUS_CONFIG).read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == spec.backends.prometheus.gateway_job)
    # compose names replica i <project>-<service>-<i>
    assert job["static_configs"] == [{"targets": [f"{doc['name']}-{spec.gateway.host}-{i}:{spec.gateway.telemetry_port}" for i in (1, 2)]}]


@pytest.mark.parametrize("gateway", [True, False])
def test_eval_dataset_volume_on_the_tier_that_samples(gateway):
    from genai_o11y.builders import compose as builder

    spec = harness.make_spec({"gateway.enabled": gateway, "evals.dataset.enabled": True})
    doc = builder.build(spec)
    mount = f"eval-dataset:{spec.evals.dataset.path.rsplit('/', 1)[0]}"
    assert (mount in doc["services"]["collector"]["volumes"]) != gateway
    assert gateway == (mount in doc["services"].get(spec.gateway.host, {}).get("volumes", []))
    assert "eval-dataset" in doc["volumes"]


def test_sidecar_only_compose_has_no_gateway():
    from genai_o11y.builders import compose as builder

    doc = builder.build(harness.make_spec({"gateway.enabled": False}))
    assert "genai-o11y-gateway" not in doc["services"] and doc["services"]["collector"]["depends_on"]["tempo"] == {"condition": "service_healthy"}


def test_compose_prometheus_config_passes_promtool(tmp_path, repo):
    promtool = toolchain.go_tool_path("promtool")
    if promtool is None:
        pytest.fail("promtool is not built: run `make prometheus`")
    cfg = (repo / compose.PROMETHEUS_CONFIG).read_text().replace("/etc/prometheus/rules.yaml", str(repo / "alerts" / "rules.yaml"))
    (tmp_path / "prometheus.yml").write_text(cfg)
    proc = subprocess.run([str(promtool), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_commands_the_containers_run_work(tmp_path):
    from genai_o11y.localstack import free_port

    port = free_port()
    hook = subprocess.Popen([sys.executable, "-m", "genai_o11y", "webhook", "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200
                break
            except OSError:
                time.sleep(0.2)
        body = json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "GenAICostSpike", "severity": "warning"}, "annotations": {"summary": "s"}}]}).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/chat", data=body, headers={"Content-Type": "application/json"}), timeout=5)
    finally:
        hook.terminate()
        out, _ = hook.communicate(timeout=10)
    assert '"alertname": "GenAICostSpike"' in out and '"receiver": "chat"' in out
    def demo(endpoint: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "genai_o11y", "demo", "--endpoint", endpoint, "--requests", "5", "--rps", "100", "--time-scale", "0"],
                              capture_output=True, text=True, timeout=60, env={**__import__("os").environ, "GENAI_O11Y_HASH_SALT": "s"})

    with harness.OtlpSink() as sink:  # the app container's command, against an OTLP receiver
        ok = demo(sink.endpoint)
        assert ok.returncode == 0 and "demo: 5 requests sent" in ok.stdout, ok.stdout + ok.stderr
        assert sink.spans(), "the demo reported success but the receiver got no span"
    down = demo("127.0.0.1:1")  # nothing listening: the demo says so and fails
    assert down.returncode == 1 and "not delivered to 127.0.0.1:1" in down.stdout + down.stderr, down.stdout + down.stderr


@pytest.mark.parametrize("overrides", [{}, {"evals.dataset.enabled": True}, {"evals.dataset.enabled": True, "gateway.enabled": False}],
                         ids=["default", "dataset-on-gateway", "dataset-on-sidecar"])
def test_every_volume_of_a_collector_service_is_writable_by_the_image_user(overrides):
    """A named or anonymous volume takes the owner of the image's directory it is mounted on (root's where the
    image has none): each volume a collector-image service mounts (queues, the eval dataset) must be a
    directory the Dockerfile creates for its user, or the collector cannot write its queue."""
    from genai_o11y.builders import dockerfiles

    spec = harness.make_spec(overrides)
    doc = compose.build(spec)
    dockerfile = dockerfiles.collector(spec, "test")
    (line,) = [ln for ln in dockerfile.splitlines() if ln.startswith("RUN adduser")]
    owned = set(line.split("chown", 1)[1].split()[1:])
    mounted = 0
    for name, svc in doc["services"].items():
        if svc.get("build", {}).get("dockerfile") != compose.COLLECTOR_DOCKERFILE:
            continue
        for v in svc.get("volumes", []):
            parts = v.split(":")
            if parts[0].startswith("./"):
                continue  # a bind-mounted file of the repository (read-only config)
            target = parts[1] if len(parts) > 1 else parts[0]
            mounted += 1
            assert target in owned, f"{name}: volume on {target}, which the image does not create for its user ({sorted(owned)})"
    assert mounted >= 2


def test_a_receiver_from_the_environment_reaches_alertmanager_as_the_file_it_reads():
    """A receiver URL given as ${env:NAME} is url_file in alertmanager.yml; compose mounts the variable's
    value at exactly that path (a platform engineer's trial: compose mounted nothing, so every page would
    have failed at send time while validate and check passed)."""
    import jsonschema

    from genai_o11y.builders import alertmanager

    spec = harness.make_spec({"alerting.receivers.pager.webhook_url": "${env:LEDGER_PAGER_URL}",
                              "alerting.receivers.chat.webhook_url": "${env:LEDGER_CHAT_URL}"})
    doc = compose.build(spec)
    files = sorted(r["webhook_configs"][0]["url_file"] for r in alertmanager.build(spec)["receivers"] if r.get("webhook_configs")
                   and "url_file" in r["webhook_configs"][0])
    assert files == [f"{alertmanager.SECRETS_DIR}/LEDGER_CHAT_URL", f"{alertmanager.SECRETS_DIR}/LEDGER_PAGER_URL"]
    mounts = {m["target"]: m["source"] for m in doc["services"]["alertmanager"]["secrets"]}
    assert sorted(mounts) == files
    assert {doc["secrets"][mounts[f]]["environment"] for f in files} == {"LEDGER_PAGER_URL", "LEDGER_CHAT_URL"}
    schema = json.loads(harness.schema_file("compose-go_compose-spec.json").read_text())
    assert not list(jsonschema.validators.validator_for(schema)(schema).iter_errors(doc))
    # a literal URL needs no secret
    plain = compose.build(harness.make_spec({"alerting.receivers.pager.webhook_url": "https://pager.example/hook",
                                             "alerting.receivers.chat.webhook_url": "https://chat.example/hook"}))
    assert "secrets" not in plain and "secrets" not in plain["services"]["alertmanager"]


def test_the_runbooks_compose_commands_name_services_that_exist(doc):
    """A runbook step said `docker compose ps gateway`; the service is genai-o11y-gateway (a platform
    engineer's trial)."""
    text = (REPO / "alerts/runbook.md").read_text()
    named = re.findall(r"docker compose (?:ps|logs|restart|cp)\s+([a-z0-9][-a-z0-9_]*)", text)
    assert named, "the runbook gives no compose command any more: drop this test or the check"
    assert not [s for s in named if s not in doc["services"]], named
