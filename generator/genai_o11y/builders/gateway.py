"""The gateway tier's collector config, as data (gateway.enabled).

    traces/ingest   otlp (cluster network) -> memory_limiter -> forward
    traces/sample   forward -> tail_sampling (the spec's policies) -> batch -> otlp_grpc/tempo (persistent queue, retries)
    traces/eval_dataset  forward -> tail_sampling (eval-worthy) -> file      (evals.dataset.enabled; each replica
                    writes its own file, named after its host: traces-<host>.jsonl beside evals.dataset.path)

The sidecars send every span here with the load_balancing exporter keyed by trace id, so all spans of
a trace reach one replica whichever service emitted them, and the sampling decision sees the whole
trace. The spans arrive normalised, costed and redacted: the gateway only samples. The sampling
branch is sampling.sampling_branch(), the same function the sidecar uses with gateway.enabled false.
Its own telemetry (scrape job genai-o11y-gateway) on gateway.telemetry_port.
"""

from __future__ import annotations

from .. import names as n
from ..spec import Spec
from . import collector as collector_builder
from .sampling import FORWARD, QUEUE, queue_storage, sampling_branch

BATCH = "batch"
MAX_RECV_MIB = collector_builder.QUEUE_FRAME_MIB  # a sidecar's batch is at most this: also a queue frame's bound


def build(spec: Spec, listen_host: str = "0.0.0.0") -> dict:
    """The gateway replica's config. `listen_host`: the address its ports bind (the local stack and the
    tests run several replicas on loopback, each with its own ports in a copy of the spec)."""
    g = spec.gateway
    # bounded in bytes, like the sidecar's queues: the volume (helm.gateway_values) is derived from the same value
    processors, exporters, pipelines = sampling_branch(spec, FORWARD, g.queue_mib * collector_builder.MIB, batch=BATCH, per_replica=True,
                                                       sizer="bytes")
    return {
        "extensions": {
            "health_check": {"endpoint": f"{listen_host}:{g.health_port}"},
            QUEUE: queue_storage(g.queue_directory),
        },
        # a sidecar's batch (up to 2,048 spans, content up to redaction.max_content_chars per value) can pass
        # gRPC's default 4 MiB per message
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"{listen_host}:{g.otlp_grpc_port}", "max_recv_msg_size_mib": MAX_RECV_MIB}}}},
        "processors": {
            "memory_limiter": {"check_interval": "1s", "limit_mib": g.memory_limit_mib, "spike_limit_mib": max(16, g.memory_limit_mib // 5)},
            BATCH: {"send_batch_size": 1024, "send_batch_max_size": 2048, "timeout": "1s"},
            **processors,
        },
        "connectors": {FORWARD: {}},
        "exporters": exporters,
        "service": {
            "extensions": ["health_check", QUEUE],
            "telemetry": {
                "logs": {"level": "info", "encoding": "json"},
                "metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": {"host": listen_host, "port": g.telemetry_port}}}}]},
            },
            "pipelines": {
                "traces/ingest": {"receivers": ["otlp"], "processors": ["memory_limiter"], "exporters": [FORWARD]},
                **pipelines,
            },
        },
    }


def runtime_env(spec: Spec) -> dict[str, str]:
    """Environment of a gateway process wherever it runs (compose, Helm, local stack, benchmarks)."""
    return {"GOMEMLIMIT": f"{int(spec.gateway.memory_limit_mib * n.GOMEMLIMIT_SHARE)}MiB"}
