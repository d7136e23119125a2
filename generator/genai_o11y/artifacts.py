"""spec -> {relative path: file text}: every artifact `generate` writes."""

from __future__ import annotations

from pathlib import Path

from . import redaction_policy, render
from .builders import alertmanager, collector, compose, cortex, dashboards, dockerfiles, gateway, helm, ocb, prometheus_config, rules, runbook
from .builders.dashboards import provisioning
from .spec import Spec

COLLECTOR_CONFIG = "collector/otelcol.yaml"
GATEWAY_CONFIG = compose.GATEWAY_CONFIG  # gateway.enabled only
OCB_MANIFEST = "collector/builder-config.yaml"
REDACTION_POLICY = redaction_policy.GENERATED_FILE
RULES = "alerts/rules.yaml"
ALERTMANAGER = "alerts/alertmanager.yml"
RUNBOOK = "alerts/runbook.md"
COMPOSE = "docker-compose.yml"
DASHBOARDS_DIR = "dashboards"
DATASOURCES = "dashboards/provisioning/datasources.yaml"
DASHBOARD_PROVIDERS = "dashboards/provisioning/dashboards.yaml"
CORTEX_CONFIG = "deploy/cortex/cortex.yaml"  # only with backends.remote_write.rules_on_store


def build_all(spec: Spec, source: str) -> dict[str, str]:
    """Every artifact, each built once: the chart's files/ carry the same texts as the root's."""
    head = render.header(source)
    boards = {uid: render.to_json(board) for uid, board in dashboards.build_all(spec, source).items()}
    collector_config = render.to_yaml(collector.build(spec), head)
    gateway_config = render.to_yaml(gateway.build(spec), head) if spec.gateway.enabled else None
    rule_groups = render.to_yaml(rules.build(spec), head)
    datasources = render.to_yaml(provisioning.datasources(spec), head)
    policy = _policy_text(spec, head)
    return {
        COLLECTOR_CONFIG: collector_config,
        **({GATEWAY_CONFIG: gateway_config} if gateway_config else {}),
        OCB_MANIFEST: render.to_yaml(ocb.manifest(), head),
        REDACTION_POLICY: policy,
        RULES: rule_groups,
        ALERTMANAGER: render.to_yaml(alertmanager.build(spec), head),
        RUNBOOK: runbook.render(spec, source),
        DATASOURCES: datasources,
        DASHBOARD_PROVIDERS: render.to_yaml(provisioning.providers(), head),
        **{f"{DASHBOARDS_DIR}/{uid}.json": text for uid, text in boards.items()},
        COMPOSE: render.to_yaml(compose.build(spec), head),
        compose.PROMETHEUS_CONFIG: render.to_yaml(_compose_prometheus(spec), head),
        compose.TEMPO_CONFIG: render.to_yaml(compose.tempo_config(), head),
        compose.COLLECTOR_DOCKERFILE: dockerfiles.collector(spec, source),
        compose.DEMO_DOCKERFILE: dockerfiles.demo(source),
        **_chart(spec, head, collector_config, gateway_config, rule_groups, datasources, boards, policy),
        **({CORTEX_CONFIG: render.to_yaml(cortex.build(spec), head + _cortex_note(spec))} if cortex.wanted(spec) else {}),
    }


def _cortex_note(spec: Spec) -> str:
    return (f"# Cortex, one file for every process (-target=distributor|ingester|querier|store-gateway|ruler).\n"
            f"# The ruler reads {RULES} unchanged from {cortex.rules_path(spec.backends.remote_write.tenant_id)}.\n")


def _chart(spec: Spec, head: str, collector_config: str, gateway_config: str | None, rule_groups: str, datasources: str,
           boards: dict[str, str], policy: str) -> dict[str, str]:
    """The Helm chart: data from the spec, Helm templates as they are, files/ the texts built above."""
    c = helm.CHART
    return {
        f"{c}/Chart.yaml": render.to_yaml(helm.chart(spec), head),
        f"{c}/values.yaml": render.to_yaml(helm.values(spec), head),
        f"{c}/values.schema.json": render.to_json(helm.values_schema(spec)),
        f"{c}/files/otelcol.yaml": collector_config,
        f"{c}/files/redaction-policy.yaml": policy,
        **({f"{c}/files/gateway.yaml": gateway_config} if gateway_config else {}),
        f"{c}/README.md": helm.readme_text(),
        f"{c}/files/rules.yaml": rule_groups,
        f"{c}/files/alertmanagerconfig-routing.yaml": render.to_yaml(helm.alertmanager_routing(spec), head),
        f"{c}/files/datasources.yaml": datasources,
        **{f"{c}/files/dashboards/{uid}.json": text for uid, text in boards.items()},
        **{f"{c}/templates/{t}": helm.template_text(t) for t in helm.TEMPLATES},
        helm.EXAMPLE_APP: render.to_yaml_all(helm.example_app(spec), head),
    }


#: The salt in the Go components' testdata (the real one comes from $GENAI_O11Y_HASH_SALT).
TESTDATA_SALT = "test-salt"


def go_testdata(spec: Spec, source: str) -> dict[str, str]:
    """Each of our Go components' testdata/config.yaml: its section of the collector config generated
    from `spec`, as the collector reads it (confmap escapes undone, a fixed salt). Their Go tests
    load it, so a config the generator changes is tested by `go test ./...` as it ships."""
    cfg = collector.build(spec.model_copy(update={"collector": spec.collector.model_copy(update={"engine": "native"})}))
    sections = {**cfg["processors"], **cfg["connectors"], **{k.split("/")[0]: v for k, v in cfg["extensions"].items()}}
    head = render.header(source)
    out = {}
    for ctype, pkg in ocb.LOCAL_COMPONENTS.items():
        section = render.confmap_unescape(sections[ctype])
        if ctype == "genai_redaction":
            section = {**section, "salt": TESTDATA_SALT}
        out[f"{ocb.LOCAL_ROOT_IN_REPO}/{pkg}/testdata/config.yaml"] = render.to_yaml(section, head + f"# {ctype}: its section of collector/otelcol.yaml\n")
    return out


def _compose_prometheus(spec: Spec) -> dict:
    """Prometheus in compose scrapes the sidecar through the app service (they share a network namespace),
    and every gateway replica by its container's name."""
    port = lambda e: e.rsplit(":", 1)[1]  # noqa: E731
    c = spec.collector
    return prometheus_config.build(spec, [f"app:{port(c.metrics_endpoint)}"], [f"app:{port(c.telemetry_endpoint)}"], ["alertmanager:9093"],
                                   ["/etc/prometheus/rules.yaml"], gateway_targets=compose.gateway_replica_targets(spec))


def policy_in_effect(spec: Spec, source: str) -> str:
    """redaction/policy.yaml alone: what the app-side helper loads (the local stack hands it to the demo)."""
    return _policy_text(spec, render.header(source))


def _policy_text(spec: Spec, head: str) -> str:
    """The redaction policy in effect: the policy file, then what the spec adds (`from_spec`), so the
    app-side helper loaded from this file applies what the collector applies (tests/test_redaction.py)."""
    import yaml

    text = Path(spec.redaction.policy).read_text(encoding="utf-8") if spec.redaction.policy else redaction_policy.default_text()
    r = spec.redaction
    section = redaction_policy.from_spec_section(r.mode, r.max_content_chars, [(p.name, p.regex) for p in r.extra_patterns], r.metadata_keys)
    return (head + "# The redaction policy in effect, as the collector applies it. The app-side helper loads this file\n"
            "# (GENAI_O11Y_REDACTION_POLICY or setup(redaction_policy=...)). To change the policy: copy it, delete\n"
            "# `from_spec`, edit, set redaction.policy in the spec.\n" + text.rstrip("\n") + "\n\n"
            "# What the spec adds (redaction.mode, max_content_chars, extra_patterns, metadata_keys), generated for the\n"
            "# app-side helper (which applies `full` as `redacted`: the unredacted copy is the collector's).\n"
            + yaml.safe_dump(section, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000))
