"""prometheus.yml for a Prometheus that scrapes the sidecar and evaluates our rules.

Scrape jobs named as the spec says (the self-watch alerts select on them): the sidecar's span
metrics (collector.metrics_endpoint), the collector's own telemetry (collector.telemetry_endpoint) and,
with gateway.enabled, the gateways' own telemetry (gateway.telemetry_port), one target per replica
(static: the Prometheus we build and test with has no service discovery compiled in).
`honor_labels: false` keeps the target's `job`; the exporter's own job label becomes exported_job.

With `backends.remote_write` the same Prometheus also writes to a distributed store (Cortex). When the
store's ruler runs our rules (`rules_on_store`), the series our rules record here and Prometheus' own
ALERTS / ALERTS_FOR_STATE are not forwarded: the ruler writes those names itself, and one series
written by two evaluators would interleave two sets of timestamps.
"""

from __future__ import annotations

from .. import names as n
from ..spec import Spec
from . import rules

# what Prometheus' rule manager writes into its own TSDB for alerting rules
ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")

#: The Prometheus features every Prometheus we run or deploy enables (`--enable-feature`), and a platform
#: team's own Prometheus needs (README): exemplar storage (trace ids on the latency and eval-score buckets),
#: and a zero sample at each counter's and histogram's start time. Without the latter a label set's first
#: scrape is already its first value (a new route's first 0.33 USD, a tenant's first tokens) and
#: increase()/rate() never count it: the sidecar's metrics carry their start time, which Prometheus reads
#: from the protobuf exposition (the collector's OpenMetrics text has no `_created` lines).
FEATURES = ("exemplar-storage", "created-timestamp-zero-ingestion")
FEATURE_FLAG = "--enable-feature=" + ",".join(FEATURES)

#: The sidecar's metrics are scraped in protobuf first (start times and exemplars both come with it); the
#: collectors' own telemetry keeps Prometheus 3's text default, the names our self-watch alerts select.
SIDECAR_SCRAPE_PROTOCOLS = ["PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText0.0.4"]
TELEMETRY_SCRAPE_PROTOCOLS = ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"]


def recorded_names(spec: Spec) -> list[str]:
    """Every series name our rules write (recording rules' `record`, then the alert series), in order, once."""
    seen = [r["record"] for g in rules.build(spec)["groups"] for r in g["rules"] if "record" in r]
    return list(dict.fromkeys([*seen, *ALERT_SERIES]))


def remote_write(spec: Spec) -> list[dict]:
    """prometheus.yml `remote_write` for backends.remote_write (none without it)."""
    rw = spec.backends.remote_write
    if rw is None:
        return []
    headers = {**({"X-Scope-OrgID": rw.tenant_id} if rw.tenant_id else {}), **rw.headers}
    q = rw.queue
    out: dict = {
        "url": rw.url,
        "name": "genai-o11y-store",
        "queue_config": {"capacity": q.capacity, "min_shards": q.min_shards, "max_shards": q.max_shards,
                         "max_samples_per_send": q.max_samples_per_send, "batch_send_deadline": f"{q.batch_send_deadline_seconds:g}s"},
    }
    if headers:
        out["headers"] = headers
    if rw.rules_on_store:
        out["write_relabel_configs"] = [{"source_labels": ["__name__"], "regex": "|".join(recorded_names(spec)), "action": "drop"}]
    return [out]


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
    gateway_jobs = [{"job_name": jobs.gateway_job, "scrape_protocols": TELEMETRY_SCRAPE_PROTOCOLS, "static_configs": [{"targets": list(gateway_targets)}]}] \
        if spec.gateway.enabled and gateway_targets else []
    cfg = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]},
        "scrape_configs": [
            # exemplars (trace ids) on the latency buckets and start times come with the protobuf exposition (FEATURES)
            {"job_name": jobs.sidecar_job, "scrape_protocols": SIDECAR_SCRAPE_PROTOCOLS, "static_configs": [{"targets": sidecar_targets}]},
            {"job_name": jobs.collector_job, "scrape_protocols": TELEMETRY_SCRAPE_PROTOCOLS, "static_configs": [{"targets": collector_targets}]},
            *gateway_jobs,
            # Alertmanager's own: GenAIAlertDeliveryFailing reads its failed notifications
            {"job_name": n.JOB_ALERTMANAGER, "static_configs": [{"targets": alertmanagers}]},
        ],
    }
    if spec.backends.remote_write is not None:
        cfg["remote_write"] = remote_write(spec)
    return cfg
