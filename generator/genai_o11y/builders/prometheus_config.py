"""prometheus.yml for a Prometheus that scrapes the sidecar and evaluates our rules.

Two scrape jobs, named as the spec says (the self-watch alerts select on them): the sidecar's span
metrics (collector.metrics_endpoint) and the collector's own telemetry (collector.telemetry_endpoint).
`honor_labels: false` keeps the target's `job`; the exporter's own job label becomes exported_job.
"""

from __future__ import annotations

from ..spec import Spec


def build(
    spec: Spec,
    sidecar_targets: list[str],
    collector_targets: list[str],
    alertmanagers: list[str],
    rule_files: list[str],
    scrape_interval: str = "15s",
    evaluation_interval: str = "30s",
) -> dict:
    jobs = spec.backends.prometheus
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]},
        "scrape_configs": [
            # Prometheus negotiates OpenMetrics by default: exemplars (trace ids) on the latency
            # buckets come with it (stored with --enable-feature=exemplar-storage).
            {"job_name": jobs.sidecar_job, "static_configs": [{"targets": sidecar_targets}]},
            {"job_name": jobs.collector_job, "static_configs": [{"targets": collector_targets}]},
        ],
    }
