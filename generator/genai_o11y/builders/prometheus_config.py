"""prometheus.yml for a Prometheus that scrapes the sidecar (and the gateways) and evaluates our rules.

Scrape jobs named as the spec says (the self-watch alerts select on them): the sidecar's span metrics
(collector.metrics_endpoint), the collector's own telemetry (collector.telemetry_endpoint) and, with
gateway.enabled, the gateways' own telemetry (gateway.telemetry_port): every replica, found by DNS
(gateway.host resolves to each of them: the compose service, a headless Service) unless the caller
lists them (the local stack, tests). `honor_labels: false` keeps the target's `job`; the exporter's
own job label becomes exported_job.
"""

from __future__ import annotations

from ..spec import Spec


def gateway_job(spec: Spec, targets: list[str] | None = None) -> list[dict]:
    """The gateways' scrape job: `targets` (host:port) if given, else every address gateway.host resolves to."""
    g = spec.gateway
    if not g.enabled:
        return []
    sd = ({"static_configs": [{"targets": list(targets)}]} if targets is not None
          else {"dns_sd_configs": [{"names": [g.host], "type": "A", "port": g.telemetry_port, "refresh_interval": "15s"}]})
    return [{"job_name": spec.backends.prometheus.gateway_job, **sd}]


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
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]},
        "scrape_configs": [
            # Prometheus negotiates OpenMetrics by default: exemplars (trace ids) on the latency
            # buckets come with it (stored with --enable-feature=exemplar-storage).
            {"job_name": jobs.sidecar_job, "static_configs": [{"targets": sidecar_targets}]},
            {"job_name": jobs.collector_job, "static_configs": [{"targets": collector_targets}]},
            *gateway_job(spec, gateway_targets),
        ],
    }
