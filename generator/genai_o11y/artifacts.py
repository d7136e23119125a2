"""spec -> {relative path: file text}: every artifact `generate` writes."""

from __future__ import annotations

from pathlib import Path

from . import redaction_policy, render
from .builders import alertmanager, collector, compose, cortex, dashboards, dockerfiles, helm, ocb, prometheus_config, rules, runbook
from .builders.dashboards import provisioning
from .spec import Spec

COLLECTOR_CONFIG = "collector/otelcol.yaml"
OCB_MANIFEST = "collector/builder-config.yaml"
REDACTION_POLICY = "redaction/policy.yaml"
RULES = "alerts/rules.yaml"
ALERTMANAGER = "alerts/alertmanager.yml"
RUNBOOK = "alerts/runbook.md"
COMPOSE = "docker-compose.yml"
DASHBOARDS_DIR = "dashboards"
DATASOURCES = "dashboards/provisioning/datasources.yaml"
DASHBOARD_PROVIDERS = "dashboards/provisioning/dashboards.yaml"
CORTEX_CONFIG = "deploy/cortex/cortex.yaml"  # only with backends.remote_write.rules_on_store


def build_all(spec: Spec, source: str) -> dict[str, str]:
    head = render.header(source)
    return {
        COLLECTOR_CONFIG: render.to_yaml(collector.build(spec), head),
        OCB_MANIFEST: render.to_yaml(ocb.manifest(), head),
        REDACTION_POLICY: _policy_text(spec, head),
        RULES: render.to_yaml(rules.build(spec), head),
        ALERTMANAGER: render.to_yaml(alertmanager.build(spec), head),
        RUNBOOK: runbook.render(spec, source),
        DATASOURCES: render.to_yaml(provisioning.datasources(spec), head),
        DASHBOARD_PROVIDERS: render.to_yaml(provisioning.providers(), head),
        **{f"{DASHBOARDS_DIR}/{uid}.json": render.to_json(board) for uid, board in dashboards.build_all(spec, source).items()},
        COMPOSE: render.to_yaml(compose.build(spec), head),
        compose.PROMETHEUS_CONFIG: render.to_yaml(_compose_prometheus(spec), head),
        compose.TEMPO_CONFIG: render.to_yaml(compose.tempo_config(), head),
        compose.COLLECTOR_DOCKERFILE: dockerfiles.collector(spec, source),
        compose.DEMO_DOCKERFILE: dockerfiles.demo(source),
        **_chart(spec, source, head),
        **({CORTEX_CONFIG: render.to_yaml(cortex.build(spec), head + _cortex_note(spec))} if cortex.wanted(spec) else {}),
    }


def _cortex_note(spec: Spec) -> str:
    return (f"# Cortex, one file for every process (-target=distributor|ingester|querier|store-gateway|ruler).\n"
            f"# The ruler reads {RULES} unchanged from {cortex.rules_path(spec.backends.remote_write.tenant_id)}.\n")


def _chart(spec: Spec, source: str, head: str) -> dict[str, str]:
    """The Helm chart: data from the spec, Helm templates as they are, files/ from the artifacts above."""
    c = helm.CHART
    out = {
        f"{c}/Chart.yaml": render.to_yaml(helm.chart(), head),
        f"{c}/values.yaml": render.to_yaml(helm.values(spec), head),
        f"{c}/values.schema.json": render.to_json(helm.values_schema()),
        f"{c}/files/otelcol.yaml": render.to_yaml(collector.build(spec), head),
        f"{c}/files/rules.yaml": render.to_yaml(rules.build(spec), head),
        f"{c}/files/alertmanagerconfig-routing.yaml": render.to_yaml(helm.alertmanager_routing(spec), head),
        f"{c}/files/datasources.yaml": render.to_yaml(provisioning.datasources(spec), head),
        **{f"{c}/files/dashboards/{uid}.json": render.to_json(board) for uid, board in dashboards.build_all(spec, source).items()},
        **{f"{c}/templates/{t}": helm.template_text(t) for t in helm.TEMPLATES},
        helm.EXAMPLE_APP: render.to_yaml_all(helm.example_app(spec), head),
    }
    return out


def _compose_prometheus(spec: Spec) -> dict:
    """Prometheus in compose scrapes the sidecar through the app service (they share a network namespace)."""
    port = lambda e: e.rsplit(":", 1)[1]  # noqa: E731
    c = spec.collector
    return prometheus_config.build(spec, [f"app:{port(c.metrics_endpoint)}"], [f"app:{port(c.telemetry_endpoint)}"], ["alertmanager:9093"],
                                   ["/etc/prometheus/rules.yaml"])


def _policy_text(spec: Spec, head: str) -> str:
    """The effective redaction policy, for review (edit a copy and point redaction.policy at it)."""
    text = Path(spec.redaction.policy).read_text(encoding="utf-8") if spec.redaction.policy else redaction_policy.default_text()
    return head + "# The redaction policy in effect. To change it: copy, edit, set redaction.policy in the spec.\n" + text
