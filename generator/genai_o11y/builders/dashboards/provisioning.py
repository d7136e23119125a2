"""Grafana provisioning: datasources with fixed uids (Prometheus with exemplar links to Tempo,
Tempo with traces-to-metrics and service map, Alertmanager) and the dashboards provider.

Grafana expands $VAR in provisioning files: literal dollars are written $$.
"""

from __future__ import annotations

from ... import catalog
from ... import names as n
from ...spec import Spec

DASHBOARDS_PATH = "/var/lib/grafana/dashboards/genai-o11y"


def datasources(spec: Spec) -> dict:
    stage = n.prom_label(n.STAGE)
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus", "uid": n.DS_PROMETHEUS, "type": "prometheus", "access": "proxy", "url": spec.backends.prometheus.url,
                "isDefault": True, "editable": False,
                "jsonData": {
                    "httpMethod": "POST", "prometheusType": "Prometheus", "timeInterval": "15s",
                    # exemplars carry trace_id (the prometheus exporter): a click opens the trace in Tempo
                    "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": n.DS_TEMPO}],
                },
            },
            {
                "name": "Tempo", "uid": n.DS_TEMPO, "type": "tempo", "access": "proxy", "url": spec.backends.tempo.query_url, "editable": False,
                "jsonData": {
                    "tracesToMetrics": {
                        "datasourceUid": n.DS_PROMETHEUS, "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m",
                        "tags": [{"key": "service.name", "value": "service_name"}, {"key": n.STAGE, "value": stage}],
                        "queries": [
                            {"name": "Stage latency p95", "query": f"histogram_quantile(0.95, sum by (le) (rate({catalog.PROM['duration_bucket']}{{$$__tags}}[5m])))"},
                            {"name": "Stage error ratio", "query": f"sum(rate({catalog.PROM['calls']}{{$$__tags,status_code=\"STATUS_CODE_ERROR\"}}[5m])) / sum(rate({catalog.PROM['calls']}{{$$__tags}}[5m]))"},
                        ],
                    },
                    "serviceMap": {"datasourceUid": n.DS_PROMETHEUS},
                    "nodeGraph": {"enabled": True},
                    "search": {"hide": False},
                    "tracesToLogsV2": {},
                },
            },
            {
                "name": "Alertmanager", "uid": n.DS_ALERTMANAGER, "type": "alertmanager", "access": "proxy", "url": spec.backends.alertmanager.url, "editable": False,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
            },
        ],
    }


def providers() -> dict:
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "genai-o11y", "folder": "GenAI", "type": "file", "disableDeletion": True, "allowUiUpdates": False,
            "updateIntervalSeconds": 30, "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
        }],
    }
