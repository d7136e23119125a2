"""Cortex (Apache-2.0), the distributed store behind `backends.remote_write`: one config file for every
process (`-target=distributor|ingester|querier|store-gateway|ruler`), generated when the spec writes to
a store whose ruler runs our rules (`rules_on_store`).

- ingesters on a memberlist ring with replication factor 3: a write needs 2 of 3, so the ring takes
  the loss of one ingester without losing a sample or a query;
- blocks storage on a filesystem path shared by the processes (one host, or a shared volume; a cloud
  bucket is `blocks_storage.backend: s3|gcs|azure` instead);
- metric and label names validated as UTF-8, as Prometheus 3 scrapes them: the collector's own telemetry
  has labels such as `server.address`, and Cortex's default (legacy) validation refuses such a sample
  (HTTP 400: Prometheus drops the batch, counted in prometheus_remote_storage_samples_failed_total);
- the ruler loads alerts/rules.yaml, as generated, from `<RULES_DIR>/<tenant_id>/rules.yaml` and sends
  to the spec's Alertmanager. Prometheus does not forward the series those rules record
  (builders/prometheus_config.py), so the two never write the same series.

Per-process settings (ports, the ring's advertised address, data directories) are flags on the
command line; flags override the file. tests/test_cortex.py runs the processes with this file.
"""

from __future__ import annotations

from ..spec import Spec

RULES_DIR = "/etc/cortex/rules"  # <tenant>/rules.yaml under it: Cortex's local rule storage layout
DATA_DIR = "/data"
GOSSIP_PORT = 7946
GOSSIP_MEMBERS = f"cortex-gossip-ring:{GOSSIP_PORT}"  # a name resolving to every process (compose alias, k8s headless Service)
REPLICATION_FACTOR = 3


def rules_path(tenant: str) -> str:
    """Where Cortex's ruler (local rule storage) reads the tenant's rule file from."""
    return f"{RULES_DIR}/{tenant}/rules.yaml"


def wanted(spec: Spec) -> bool:
    rw = spec.backends.remote_write
    return rw is not None and rw.rules_on_store


def build(spec: Spec) -> dict:
    ring = {"kvstore": {"store": "memberlist"}}
    return {
        "auth_enabled": True,  # the tenant comes from X-Scope-OrgID (backends.remote_write.tenant_id)
        "name_validation_scheme": "utf8",
        "server": {"http_listen_port": 8080, "grpc_listen_port": 9095},
        "distributor": {"shard_by_all_labels": True, "ring": ring},
        "ingester": {
            "lifecycler": {
                "ring": {**ring, "replication_factor": REPLICATION_FACTOR},
                "join_after": "0s",
                "final_sleep": "0s",
            },
        },
        "memberlist": {"bind_port": GOSSIP_PORT, "join_members": [GOSSIP_MEMBERS], "abort_if_cluster_join_fails": False},
        "blocks_storage": {
            "backend": "filesystem",
            "filesystem": {"dir": f"{DATA_DIR}/blocks"},
            "tsdb": {"dir": f"{DATA_DIR}/tsdb"},
            "bucket_store": {"sync_dir": f"{DATA_DIR}/tsdb-sync"},
        },
        "store_gateway": {"sharding_enabled": True, "sharding_ring": ring},
        "compactor": {"data_dir": f"{DATA_DIR}/compactor", "sharding_ring": ring},
        "ruler": {
            "alertmanager_url": spec.backends.alertmanager.url,
            "rule_path": f"{DATA_DIR}/ruler",
            "enable_api": True,
            "ring": ring,
        },
        "ruler_storage": {"backend": "local", "local": {"directory": RULES_DIR}},
    }
