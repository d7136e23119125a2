"""The Helm chart deploy/helm/genai-o11y, for clusters running the OpenTelemetry Operator and the
Prometheus Operator (kube-prometheus-stack):

- the sidecar: an OpenTelemetryCollector (mode: sidecar, v1beta1) whose `config` is the generated
  collector config byte for byte (collector/otelcol.yaml's text, indented), injected by the pod annotation
  sidecar.opentelemetry.io/inject;
- the gateway tier (gateway.enabled): an OpenTelemetryCollector (mode: statefulset) whose `config` is
  collector/gateway.yaml byte for byte, and the headless Service the sidecars' dns resolver looks up (its
  name and port read from the sidecar config in the template); the Operator makes the StatefulSet, the
  PodDisruptionBudget and the optional HorizontalPodAutoscaler from the CR (README.md of the chart says why);
- a PrometheusRule (labels kube-prometheus-stack selects on) with the generated rules;
- PodMonitors scraping the sidecars and the gateways with the job names the pipeline alerts select on;
- one ConfigMap per dashboard (label grafana_dashboard) and one for the datasources (grafana_datasource);
- the Alertmanager routing as an AlertmanagerConfig (chosen over a values snippet for
  kube-prometheus-stack: it ships with the app's namespace and needs no change to the central
  Alertmanager; webhook URLs come from a Secret).

Templates are Helm text (templates/helm/*, copied as they are); Chart.yaml, values.yaml and
values.schema.json are data from the spec; files/ holds the generated artifacts the templates read.
"""

from __future__ import annotations

import posixpath

from importlib import resources

from .. import __version__, names as n
from ..spec import Spec
from ..redact import POLICY_ENV
from . import alertmanager, collector as collector_builder, dockerfiles, gateway as gateway_builder, prometheus_config
from .compose import APP_POLICY_PATH

CHART = "deploy/helm/genai-o11y"
RENDERED = "deploy/helm/rendered/genai-o11y.yaml"
EXAMPLE_APP = "deploy/k8s/example-app.yaml"
#: The ConfigMap (and its key) holding the redaction policy in effect for the apps' helper
REDACTION_CONFIGMAP, REDACTION_KEY = "genai-o11y-redaction-policy", "policy.yaml"
TEMPLATES = ["_helpers.tpl", "sidecar.yaml", "gateway.yaml", "redaction-policy.yaml", "prometheusrule.yaml", "podmonitor.yaml", "dashboards.yaml", "datasources.yaml", "alertmanagerconfig.yaml", "NOTES.txt"]


#: Chart.yaml annotation of the smallest queue volume of each tier (values sidecar.queue.sizeLimit, gateway.queue.size):
#: the templates refuse a smaller one (_helpers.tpl genai-o11y.volumeFits)
QUEUE_VOLUME_ANNOTATION = "genai-o11y/min-queue-volume-{}"


def queue_volumes(spec: Spec) -> dict[str, str]:
    """The queue volume each tier needs (the persistent queues full: collector.volume_mib)."""
    return {"sidecar": f"{collector_builder.queue_volume_mib(spec)}Mi", "gateway": f"{collector_builder.volume_mib(spec.gateway.queue_mib)}Mi"}


def chart(spec: Spec) -> dict:
    return {
        "apiVersion": "v2",
        "name": "genai-o11y",
        "description": "Observability for LLM applications: collector sidecar, rules and alerts, Grafana dashboards, Alertmanager routing.",
        "type": "application",
        "version": __version__,
        "appVersion": n.COLLECTOR_VERSION,
        "keywords": ["opentelemetry", "llm", "genai", "observability", "prometheus", "grafana"],
        "kubeVersion": ">=1.27.0-0",
        "annotations": {QUEUE_VOLUME_ANNOTATION.format(tier): size for tier, size in queue_volumes(spec).items()},
    }


def values(spec: Spec) -> dict:
    c = spec.collector
    port = lambda e: int(e.rsplit(":", 1)[1])  # noqa: E731
    return {
        "sidecar": {
            "enabled": True,
            "name": "genai-o11y",
            "image": {"repository": "genai-o11y/otelcol", "tag": n.COLLECTOR_VERSION},
            "hashSaltSecret": {"name": "genai-o11y-hash-salt", "key": "salt"},
            "release": "",
            "ports": {"metrics": port(c.metrics_endpoint), "telemetry": port(c.telemetry_endpoint)},
            "resources": {"requests": {"cpu": "100m", "memory": f"{c.memory_limit_mib // 2}Mi"}, "limits": {"memory": f"{int(c.memory_limit_mib * 1.25)}Mi"}},
            "goMemLimit": collector_builder.runtime_env(spec)["GOMEMLIMIT"],
            "goGC": collector_builder.runtime_env(spec)["GOGC"],
            "queue": {"path": c.queue_directory, "sizeLimit": queue_volumes(spec)["sidecar"]},
            "evalDataset": eval_dataset_values(spec, "sidecar"),
        },
        "gateway": gateway_values(spec),
        # the policy in effect for the apps' helper (GENAI_O11Y_REDACTION_POLICY), as a ConfigMap the app mounts
        "redactionPolicy": {"enabled": True, "configMapName": REDACTION_CONFIGMAP, "key": REDACTION_KEY},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "namespaceLabel": True},
        "podMonitor": {
            "enabled": True,
            "labels": {"release": "kube-prometheus-stack"},
            "selector": {"matchLabels": {"genai-o11y/sidecar": "true"}},
            "sidecarJob": spec.backends.prometheus.sidecar_job,
            "collectorJob": spec.backends.prometheus.collector_job,
            "gatewayJob": spec.backends.prometheus.gateway_job,
            # start times and exemplars come with the protobuf exposition (prometheus_config.FEATURES)
            "sidecarScrapeProtocols": list(prometheus_config.SIDECAR_SCRAPE_PROTOCOLS),
        },
        "dashboards": {"enabled": True, "labels": {"grafana_dashboard": "1"}, "folder": "GenAI"},
        "datasources": {"enabled": True, "labels": {"grafana_datasource": "1"}},
        "alertmanagerConfig": {
            "enabled": True,
            "labels": {"alertmanagerConfig": "genai-o11y"},
            "pager": {"urlSecret": {"name": "genai-o11y-alert-webhooks", "key": "pager"}},
            "chat": {"urlSecret": {"name": "genai-o11y-alert-webhooks", "key": "chat"}},
        },
    }


def gateway_values(spec: Spec) -> dict:
    g = spec.gateway
    return {
        "enabled": g.enabled,
        "name": "genai-o11y-gateway",
        "replicas": g.replicas,
        "ports": {"telemetry": g.telemetry_port},
        "resources": {"requests": {"cpu": "500m", "memory": f"{g.memory_limit_mib // 2}Mi"}, "limits": {"memory": f"{int(g.memory_limit_mib * 1.25)}Mi"}},
        "goMemLimit": gateway_builder.runtime_env(spec)["GOMEMLIMIT"],
        "queue": {"path": g.queue_directory, "size": queue_volumes(spec)["gateway"], "storageClassName": ""},
        "podDisruptionBudget": {"maxUnavailable": 1},
        # the image runs as COLLECTOR_UID: a fresh volume is root's, fsGroup makes it writable for the queue
        "podSecurityContext": {"runAsNonRoot": True, "fsGroup": dockerfiles.COLLECTOR_UID},
        "autoscaling": {"enabled": False, "maxReplicas": max(g.replicas * 3, g.replicas + 1), "targetCPUUtilization": 70, "targetMemoryUtilization": 70},
        "evalDataset": eval_dataset_values(spec, "gateway"),
    }


def eval_dataset_values(spec: Spec, tier: str) -> dict:
    """The eval dataset's directory (evals.dataset.path's) as a volume of the tier that samples (the gateway,
    or the sidecar with gateway.enabled: false) when the spec enables the dataset: the file exporter does
    not start without it. An emptyDir sized for the rotated files (max_megabytes x (max_backups + 1))
    unless `volume` names another source (a PersistentVolumeClaim keeps the files past the pod)."""
    d = spec.evals.dataset
    samples = spec.gateway.enabled == (tier == "gateway")
    return {
        "enabled": d.enabled and samples,
        "path": posixpath.dirname(d.path),
        "sizeLimit": f"{d.max_megabytes * (d.max_backups + 1)}Mi",
        "volume": {},
    }


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": props, "required": list(props) if required is None else required}


STR, INT, BOOL = {"type": "string"}, {"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "boolean"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
#: the Prometheus Operator's ScrapeProtocol values
SCRAPE_PROTOCOLS = ["PrometheusProto", "OpenMetricsText0.0.1", "OpenMetricsText1.0.0", "PrometheusText0.0.4", "PrometheusText1.0.0"]
SECRET_REF = _obj({"name": {"type": "string", "minLength": 1}, "key": {"type": "string", "minLength": 1}})


def _eval_dataset_schema(path: str) -> dict:
    return _obj({
        "enabled": {**BOOL, "description": "Mount the eval dataset's directory (evals.dataset.enabled in the spec, on the tier that samples)."},
        "path": _fixed(path, "The directory of evals.dataset.path, where the file exporter writes."),
        "sizeLimit": {**STR, "description": "Size of the emptyDir (max_megabytes x (max_backups + 1))."},
        "volume": {"type": "object", "description": "Another volume source, e.g. persistentVolumeClaim: {claimName: ...}; empty: an emptyDir of sizeLimit."},
    })


#: a quantity (Kubernetes accepts a string or a number)
QUANTITY = {"type": ["string", "number"], "pattern": "^[0-9.]+([eE][0-9]+|[KMGTPE]i?|m)?$"}
_RESOURCE_LIST = _obj({k: QUANTITY for k in ("cpu", "memory", "ephemeral-storage")}, required=[])


def _resources(what: str) -> dict:
    """A container's resources, strict: a misspelt key (limit, memroy) fails here, not at the API server."""
    return {**_obj({"requests": _RESOURCE_LIST, "limits": _RESOURCE_LIST, "claims": {"type": "array"}}, required=[]),
            "description": f"Container resources of {what} (requests, limits: cpu, memory, ephemeral-storage)."}


def _fixed(value, what: str) -> dict:
    """A value the generated configs were built with: the schema accepts only it (change the spec, regenerate)."""
    return {"const": value, "description": f"{what} Fixed by the spec this chart was generated from: change the spec and regenerate."}


def values_schema(spec: Spec) -> dict:
    v = values(spec)
    sc, gw, pm = v["sidecar"], v["gateway"], v["podMonitor"]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": "Code generated by genai-o11y. DO NOT EDIT (regenerate it with genai-o11y generate).",
        "title": "genai-o11y chart values",
        **_obj({
            "sidecar": _obj({
                "enabled": BOOL, "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "image": _obj({"repository": STR, "tag": STR}),
                "hashSaltSecret": {**SECRET_REF, "description": "Secret holding GENAI_O11Y_HASH_SALT (required: the sidecar will not start without it)."},
                "release": {**STR, "description": "service.version for telemetry that has none (GENAI_O11Y_RELEASE)."},
                "ports": _obj({"metrics": _fixed(sc["ports"]["metrics"], "The port of the sidecar's metrics (collector.metrics_endpoint)."),
                               "telemetry": _fixed(sc["ports"]["telemetry"], "The port of the sidecar's own telemetry (collector.telemetry_endpoint).")}),
                "resources": _resources("the sidecar"),
                "goMemLimit": {"type": "string", "pattern": "^$|^[0-9]+(B|KiB|MiB|GiB)$",
                               "description": "GOMEMLIMIT of the sidecar (50% of collector.memory_limit_mib; empty: unset)."},
                "goGC": {"type": "string", "pattern": "^$|^[0-9]+$|^off$",
                         "description": "GOGC of the sidecar (spec collector.gogc; empty: Go's default 100)."},
                "queue": _obj({"path": _fixed(sc["queue"]["path"], "The sidecar's queue directory (where genai_queue_storage writes its logs)."),
                               "sizeLimit": {**STR, "description": f"Size of the queue's emptyDir: {collector_builder.QUEUE_DISK_FACTOR} x collector.queue_mib + {collector_builder.QUEUE_DISK_SLACK_MIB}Mi per queue, "
                                                          "the bytes the collector's queues hold (change that in the spec: a smaller volume gets the pod evicted)."}}),
                "evalDataset": _eval_dataset_schema(sc["evalDataset"]["path"]),
            }),
            "gateway": _obj({
                "enabled": _fixed(gw["enabled"], "The gateway tier (gateway.enabled: the sidecar config sends to it, or samples itself)."),
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 40,
                         "description": "The OpenTelemetryCollector's name (the Operator names the pods <name>-collector-N)."},
                "replicas": _fixed(gw["replicas"], "Replicas (gateway.replicas: the gateway alerts expect this many); the autoscaler's minimum."),
                "ports": _obj({"telemetry": _fixed(gw["ports"]["telemetry"], "The port of a replica's own telemetry (gateway.telemetry_port).")}),
                "resources": _resources("a gateway replica"),
                "goMemLimit": {"type": "string", "pattern": "^$|^[0-9]+(B|KiB|MiB|GiB)$",
                               "description": "GOMEMLIMIT of a replica (50% of gateway.memory_limit_mib; empty: unset)."},
                "queue": _obj({"path": _fixed(gw["queue"]["path"], "A replica's queue directory (where genai_queue_storage writes its log)."),
                               "size": {"type": "string", "pattern": "^[0-9]+(Mi|Gi|Ti)$",
                                                      "description": f"Size of each replica's queue volume: {collector_builder.QUEUE_DISK_FACTOR} x gateway.queue_mib + "
                                                                     f"{collector_builder.QUEUE_DISK_SLACK_MIB}Mi (change that in the spec: the queue must fit)."},
                               "storageClassName": {**STR, "description": "StorageClass of the queue volumes; empty: the cluster's default."}}),
                "podSecurityContext": {"type": "object", "description": "Pod securityContext of the gateways (fsGroup: the image's user, so the queue volume is writable)."},
                "podDisruptionBudget": _obj({"maxUnavailable": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]+%$"}]}}),
                "autoscaling": _obj({
                    "enabled": {**BOOL, "description": "A HorizontalPodAutoscaler (made by the Operator from spec.autoscaler) between replicas and maxReplicas."},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "targetCPUUtilization": {"type": "integer", "minimum": 1, "maximum": 100},
                    "targetMemoryUtilization": {"type": "integer", "minimum": 1, "maximum": 100},
                }),
                "evalDataset": _eval_dataset_schema(gw["evalDataset"]["path"]),
            }),
            "redactionPolicy": _obj({"enabled": {**BOOL, "description": "A ConfigMap with the redaction policy in effect (redaction/policy.yaml) "
                                                                       "for the apps' helper: mount it and point GENAI_O11Y_REDACTION_POLICY at it."},
                                     "configMapName": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
                                     "key": {"type": "string", "pattern": "^[-._a-zA-Z0-9]+$"}}),
            "prometheusRule": _obj({"enabled": BOOL, "labels": {**LABELS, "description": "Labels the Prometheus ruleSelector matches (kube-prometheus-stack: release)."},
                                    "namespaceLabel": {**BOOL, "description": "Give every alert the label namespace=<the release's namespace>: the Operator "
                                                       "routes an AlertmanagerConfig's alerts only where namespace matches its own (alertmanagerConfigMatcherStrategy "
                                                       "OnNamespace, the default), and the alerts aggregate the label away."}}),
            "podMonitor": _obj({"enabled": BOOL, "labels": LABELS,
                                  "selector": _obj({"matchLabels": {**LABELS, "minProperties": 1, "description": "Pod labels the sidecar PodMonitors select "
                                                                    "(empty would select every pod of the namespace). Helm merges maps: set a default key to null to drop it."}}),
                                  "sidecarJob": _fixed(pm["sidecarJob"], "The sidecar's job name (backends.prometheus.sidecar_job: the rules and boards select it)."),
                                  "collectorJob": _fixed(pm["collectorJob"], "The collectors' telemetry job (backends.prometheus.collector_job)."),
                                  "gatewayJob": _fixed(pm["gatewayJob"], "The gateways' job (backends.prometheus.gateway_job)."),
                                  "sidecarScrapeProtocols": {"type": "array", "minItems": 1, "items": {"enum": SCRAPE_PROTOCOLS}, "description":
                                                             "How Prometheus scrapes the sidecar's metrics, most preferred first: PrometheusProto carries "
                                                             "the start times the zero-sample feature reads (README: what your Prometheus needs)."}}),
            "dashboards": _obj({"enabled": BOOL, "labels": LABELS, "folder": STR}),
            "datasources": _obj({"enabled": BOOL, "labels": LABELS}),
            "alertmanagerConfig": _obj({"enabled": BOOL, "labels": LABELS, "pager": _obj({"urlSecret": SECRET_REF}), "chat": _obj({"urlSecret": SECRET_REF})}),
        }),
    }


def alertmanager_routing(spec: Spec) -> dict:
    """route and inhibitRules of the AlertmanagerConfig, from the same routing as alerts/alertmanager.yml."""
    am = alertmanager.build(spec)

    def matchers(items: list[str]) -> list[dict]:
        out = []
        for m in items:
            name, op, value = (m.split('=~"', 1)[0], "=~", m.split('=~"', 1)[1]) if '=~"' in m else (m.split('="', 1)[0], "=", m.split('="', 1)[1])
            # "=" is the default matchType: left out, as a bare `=` trips YAML 1.1 parsers
            out.append({"name": name, "value": value.rstrip('"'), **({"matchType": op} if op != "=" else {})})
        return out

    r = am["route"]
    return {
        "route": {
            "receiver": r["receiver"], "groupBy": r["group_by"], "groupWait": r["group_wait"], "groupInterval": r["group_interval"],
            "repeatInterval": r["repeat_interval"],
            "routes": [{"receiver": s["receiver"], "matchers": matchers(s["matchers"]), "groupWait": s["group_wait"], "repeatInterval": s["repeat_interval"],
                        **({"continue": True} if s.get("continue") else {})} for s in r["routes"]],
        },
        "inhibitRules": [
            {"sourceMatch": matchers(i["source_matchers"]), "targetMatch": matchers(i["target_matchers"]), **({"equal": i["equal"]} if i.get("equal") else {})}
            for i in am["inhibit_rules"]
        ],
    }


def readme_text() -> str:
    """The chart's README.md (what it deploys, and why the gateway tier is built as it is)."""
    return template_text("README.md")


def template_text(name: str) -> str:
    return resources.files("genai_o11y").joinpath("templates", "helm", name).read_text(encoding="utf-8")


def _dns_label(text: str) -> str:
    """A Kubernetes object name (RFC 1123 label) from a service.name, which allows more (Ledger_API, a.b:c)."""
    import re

    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")[:63].rstrip("-") or "app"


def example_app(spec: Spec) -> list[dict]:
    """An example Deployment with the sidecar injected: the demo app, as the spec's first service."""
    service = spec.app.services[0]
    name = _dns_label(service)
    return [{
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {
                    "labels": {"app.kubernetes.io/name": name, "genai-o11y/sidecar": "true"},
                    "annotations": {"sidecar.opentelemetry.io/inject": "genai-o11y"},
                },
                "spec": {
                    "containers": [{
                        "name": "app",
                        "image": f"genai-o11y/demo:{__version__}",
                        "command": ["genai-o11y", "demo", "--endpoint", spec.collector.otlp_grpc_endpoint, "--service", service],
                        "env": [{"name": "GENAI_O11Y_HASH_SALT", "valueFrom": {"secretKeyRef": {"name": "genai-o11y-hash-salt", "key": "salt"}}},
                                # the app masks what the sidecar masks: the chart's ConfigMap of the policy in effect
                                {"name": POLICY_ENV, "value": APP_POLICY_PATH}],
                        "volumeMounts": [{"name": "redaction-policy", "mountPath": APP_POLICY_PATH, "subPath": REDACTION_KEY, "readOnly": True}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                    }],
                    "volumes": [{"name": "redaction-policy", "configMap": {"name": REDACTION_CONFIGMAP}}],
                },
            },
        },
    }]
