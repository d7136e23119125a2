"""prometheus.yml for a Prometheus that scrapes the sidecar and evaluates our rules.

Scrape jobs named as the spec says (the self-watch alerts select on them): the sidecar's span
metrics (collector.metrics_endpoint), the collector's own telemetry (collector.telemetry_endpoint) and,
with gateway.enabled, the gateways' own telemetry (gateway.telemetry_port), one target per replica
(static: the Prometheus we build and test with has no service discovery compiled in).
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
    gateway_targets: list[str] | None = None,
) -> dict:
    jobs = spec.backends.prometheus
    gateway_jobs = [{"job_name": jobs.gateway_job, "static_configs": [{"targets": list(gateway_targets)}]}] if spec.gateway.enabled and gateway_targets else []
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]},
        "scrape_configs": [
            # Prometheus negotiates OpenMetrics by default: exemplars (trace ids) on the latency
            # buckets come with it (stored with --enable-feature=exemplar-storage).
            {"job_name": jobs.sidecar_job, "static_configs": [{"targets": sidecar_targets}]},
            {"job_name": jobs.collector_job, "static_configs": [{"targets": collector_targets}]},
            *gateway_jobs,
        ],
    }
