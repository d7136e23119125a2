"""docker-compose.yml for one host, as data: the demo app with our collector as its sidecar (same
network namespace: OTLP stays on localhost), the gateway tier (gateway.enabled: `deploy.replicas`
replicas of our collector as one service named gateway.host; the sidecar's load_balancing exporter
resolves that name with Docker DNS, which answers with every replica), Tempo, Prometheus, Alertmanager, Grafana (provisioned),
and a webhook receiver standing in for the pager and chat. Pinned images, health checks with
depends_on conditions, named volumes for data and the collector's queue, ports on 127.0.0.1 only,
secrets from the environment (required, no defaults).
"""

from __future__ import annotations

import posixpath

from .. import names as n
from .. import __version__, names as n
from ..spec import Spec
from . import alertmanager
from . import collector as collector_builder
from . import prometheus_config
from . import gateway as gateway_builder
from ..redact import POLICY_ENV
from ..redaction_policy import GENERATED_FILE as REDACTION_POLICY
from .dashboards.provisioning import DASHBOARDS_PATH

#: Pinned images (current releases; bump together, then `make generate`).
IMAGES = {
    "tempo": "grafana/tempo:2.8.2",
    "prometheus": "prom/prometheus:v3.16.0",  # the release the tests run (Go module v0.316.0)
    "alertmanager": "prom/alertmanager:v0.28.1",
    "grafana": "grafana/grafana:12.1.1",
}
COLLECTOR_IMAGE = f"genai-o11y/otelcol:{n.COLLECTOR_VERSION}"
DEMO_IMAGE = f"genai-o11y/demo:{__version__}"
PROMETHEUS_CONFIG = "deploy/compose/prometheus.yml"
TEMPO_CONFIG = "deploy/compose/tempo.yaml"
COLLECTOR_DOCKERFILE = "collector/Dockerfile"
DEMO_DOCKERFILE = "deploy/docker/demo.Dockerfile"
#: Where the app container reads the generated redaction policy (redaction/policy.yaml, mounted)
APP_POLICY_PATH = "/etc/genai-o11y/redaction-policy.yaml"
SALT = "${GENAI_O11Y_HASH_SALT:?set GENAI_O11Y_HASH_SALT to a secret, stable value (ids are hashed with it)}"


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _wget(url: str) -> dict:
    return {"test": ["CMD", "wget", "-q", "-O", "/dev/null", url], "interval": "10s", "timeout": "5s", "retries": 6, "start_period": "20s"}


def _python_get(url: str) -> dict:
    code = f"import urllib.request,sys; urllib.request.urlopen('{url}', timeout=3)"
    return {"test": ["CMD", "python", "-c", code], "interval": "10s", "timeout": "5s", "retries": 6, "start_period": "10s"}


def tempo_config() -> dict:
    return {
        "stream_over_http_enabled": True,
        "server": {"http_listen_port": 3200, "log_level": "info"},
        "distributor": {"receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}}},
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": "168h"}},
        "storage": {"trace": {"backend": "local", "wal": {"path": "/var/tempo/wal"}, "local": {"path": "/var/tempo/blocks"}}},
        # metrics-generator (service graphs, span metrics in Tempo) is optional: our sidecar already
        # derives the metrics; enable it here and in Grafana's Tempo datasource if wanted.
    }


GATEWAY_CONFIG = "collector/gateway.yaml"


def gateway_service(spec: Spec) -> dict:
    """The gateway tier: replicas of our collector (the same image as the sidecar) behind the service
    name; no published port (the sidecars reach it on the compose network); each replica's queue on a
    volume of its own (an anonymous one: replicas cannot share a queue directory)."""
    g = spec.gateway
    return {
        "build": {"context": ".", "dockerfile": COLLECTOR_DOCKERFILE},
        "image": COLLECTOR_IMAGE,
        "command": ["--config=/etc/otelcol/config.yaml"],
        "environment": gateway_builder.runtime_env(spec),
        "volumes": [f"./{GATEWAY_CONFIG}:/etc/otelcol/config.yaml:ro", g.queue_directory]
        # the replicas share the eval-dataset volume, each writing its own file (named after its host)
        + ([f"eval-dataset:{posixpath.dirname(spec.evals.dataset.path)}"] if spec.evals.dataset.enabled else []),
        "deploy": {"replicas": g.replicas},
        "healthcheck": _wget(f"http://127.0.0.1:{g.health_port}/"),
        "depends_on": {"tempo": {"condition": "service_healthy"}},
        "restart": "unless-stopped",
    }


PROJECT = "genai-o11y"


def gateway_replica_targets(spec: Spec) -> list[str]:
    """host:port of each replica's telemetry: compose names replica i `<project>-<service>-<i>`, a name
    Docker DNS resolves on the project network."""
    g = spec.gateway
    return [f"{PROJECT}-{g.host}-{i}:{g.telemetry_port}" for i in range(1, g.replicas + 1)] if g.enabled else []


#: where a notification's links (Prometheus' generatorURL, Alertmanager's own) point: the published ports on the
#: host by default; PROMETHEUS_EXTERNAL_URL / ALERTMANAGER_EXTERNAL_URL for the address others reach (without them
#: the links named the container's host name, an on-call's trial)
PROMETHEUS_URL, ALERTMANAGER_URL = "http://localhost:9090", "http://localhost:9093"


def _secret(variable: str) -> str:
    """The compose secret holding a receiver URL's environment variable."""
    return "alertmanager-" + variable.lower().replace("_", "-")


def build(spec: Spec) -> dict:
    c = spec.collector
    metrics, telemetry, health = _port(c.metrics_endpoint), _port(c.telemetry_endpoint), _port(c.health_endpoint)
    return {
        "name": PROJECT,
        "services": {
            "app": {
                "build": {"context": ".", "dockerfile": DEMO_DOCKERFILE},
                "image": DEMO_IMAGE,
                "command": ["genai-o11y", "demo", "--endpoint", c.otlp_grpc_endpoint, "--scenario", "${DEMO_SCENARIO:-healthy}"],
                # the app masks what the sidecar masks: the spec's policy in effect, generated beside the collector's config
                "environment": {"GENAI_O11Y_HASH_SALT": SALT, "GENAI_O11Y_RELEASE": "${GENAI_O11Y_RELEASE:-demo}", POLICY_ENV: APP_POLICY_PATH},
                "volumes": [f"./{REDACTION_POLICY}:{APP_POLICY_PATH}:ro"],
                # the sidecar shares this network namespace: its metrics ports are published here
                "ports": [f"127.0.0.1:{metrics}:{metrics}", f"127.0.0.1:{telemetry}:{telemetry}"],
                "healthcheck": {"test": ["CMD", "genai-o11y", "--version"], "interval": "30s", "timeout": "5s", "retries": 3},
                "restart": "unless-stopped",
            },
            "collector": {
                "build": {"context": ".", "dockerfile": COLLECTOR_DOCKERFILE},
                "image": COLLECTOR_IMAGE,
                "network_mode": "service:app",
                "command": ["--config=/etc/otelcol/config.yaml"],
                "environment": {"GENAI_O11Y_HASH_SALT": SALT, "GENAI_O11Y_RELEASE": "${GENAI_O11Y_RELEASE:-demo}", **collector_builder.runtime_env(spec)},
                "volumes": ["./collector/otelcol.yaml:/etc/otelcol/config.yaml:ro", f"collector-queue:{c.queue_directory}"]
                + ([f"eval-dataset:{posixpath.dirname(spec.evals.dataset.path)}"] if spec.evals.dataset.enabled and not spec.gateway.enabled else []),
                "healthcheck": _wget(f"http://127.0.0.1:{health}/"),
                "depends_on": {"app": {"condition": "service_started"},
                               **({spec.gateway.host: {"condition": "service_healthy"}} if spec.gateway.enabled else {"tempo": {"condition": "service_healthy"}})},
                "restart": "unless-stopped",
            },
            **({spec.gateway.host: gateway_service(spec)} if spec.gateway.enabled else {}),
            "tempo": {
                "image": IMAGES["tempo"],
                "command": ["-config.file=/etc/tempo.yaml"],
                "volumes": [f"./{TEMPO_CONFIG}:/etc/tempo.yaml:ro", "tempo-data:/var/tempo"],
                "ports": ["127.0.0.1:3200:3200"],
                "healthcheck": _wget("http://127.0.0.1:3200/ready"),
                "restart": "unless-stopped",
            },
            "prometheus": {
                "image": IMAGES["prometheus"],
                "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", prometheus_config.FEATURE_FLAG,
                            "--web.enable-lifecycle", f"--web.external-url=${{PROMETHEUS_EXTERNAL_URL:-{PROMETHEUS_URL}}}"],
                "volumes": [f"./{PROMETHEUS_CONFIG}:/etc/prometheus/prometheus.yml:ro", "./alerts/rules.yaml:/etc/prometheus/rules.yaml:ro",
                            "prometheus-data:/prometheus"],
                "ports": ["127.0.0.1:9090:9090"],
                "healthcheck": _wget("http://127.0.0.1:9090/-/ready"),
                "depends_on": {"alertmanager": {"condition": "service_healthy"}},
                "restart": "unless-stopped",
            },
            "alertmanager": {
                "image": IMAGES["alertmanager"],
                "command": ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager", "--cluster.listen-address=",
                            f"--web.external-url=${{ALERTMANAGER_EXTERNAL_URL:-{ALERTMANAGER_URL}}}"],
                "volumes": ["./alerts/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro", "alertmanager-data:/alertmanager"],
                # a receiver given as ${env:NAME}: the variable's value, as the file its url_file reads
                **({"secrets": [{"source": _secret(v), "target": f"{alertmanager.SECRETS_DIR}/{v}"} for v in alertmanager.secret_files(spec)]}
                   if alertmanager.secret_files(spec) else {}),
                "ports": ["127.0.0.1:9093:9093"],
                "healthcheck": _wget("http://127.0.0.1:9093/-/ready"),
                "depends_on": {"webhook": {"condition": "service_healthy"}},
                "restart": "unless-stopped",
            },
            "grafana": {
                "image": IMAGES["grafana"],
                "environment": {
                    "GF_SECURITY_ADMIN_USER": "admin",
                    "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD (no default admin/admin)}",
                    "GF_AUTH_ANONYMOUS_ENABLED": "false",
                    "GF_USERS_ALLOW_SIGN_UP": "false",
                    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": f"{DASHBOARDS_PATH}/{n.BOARD_OVERVIEW}.json",
                },
                "volumes": [
                    "./dashboards/provisioning/datasources.yaml:/etc/grafana/provisioning/datasources/genai-o11y.yaml:ro",
                    "./dashboards/provisioning/dashboards.yaml:/etc/grafana/provisioning/dashboards/genai-o11y.yaml:ro",
                    f"./dashboards:{DASHBOARDS_PATH}:ro",
                    "grafana-data:/var/lib/grafana",
                ],
                "ports": ["127.0.0.1:3000:3000"],
                "healthcheck": _wget("http://127.0.0.1:3000/api/health"),
                "depends_on": {"prometheus": {"condition": "service_healthy"}, "tempo": {"condition": "service_healthy"},
                               "alertmanager": {"condition": "service_healthy"}},
                "restart": "unless-stopped",
            },
            "webhook": {
                "image": DEMO_IMAGE,
                "command": ["genai-o11y", "webhook", "--host", "0.0.0.0", "--port", "8080"],
                "healthcheck": _python_get("http://127.0.0.1:8080/healthz"),
                "depends_on": {"app": {"condition": "service_started"}},  # the same image: built once, by app
                "restart": "unless-stopped",
            },
        },
        "volumes": {v: {} for v in ("collector-queue", "tempo-data", "prometheus-data", "alertmanager-data", "grafana-data")
                    + (("eval-dataset",) if spec.evals.dataset.enabled else ())},
        **({"secrets": {_secret(v): {"environment": v} for v in alertmanager.secret_files(spec)}} if alertmanager.secret_files(spec) else {}),
    }
