"""Our collector distribution: the OpenTelemetry Collector Builder (ocb) manifest.

One table lists every component our generated configs may use, with its Go module at the pinned
release. The manifest is built from it, and tests check that each generated config uses only these
component types (and that each type here is used by some config we generate).
"""

from __future__ import annotations

from .. import names

CORE = "go.opentelemetry.io/collector"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
V = f"v{names.COLLECTOR_VERSION}"
STABLE = f"v{names.COLLECTOR_CORE_STABLE_VERSION}"

# kind -> [(component type as configs name it, Go module)], as of collector v0.161.0.
# Exactly what the generated configs use (tests check both directions); add a row when a config
# needs a new component, and the next `make collector` rebuilds.
COMPONENTS: dict[str, list[tuple[str, str]]] = {
    "receivers": [
        ("otlp", f"{CORE}/receiver/otlpreceiver {V}"),
    ],
    "processors": [
        ("batch", f"{CORE}/processor/batchprocessor {V}"),
        ("memory_limiter", f"{CORE}/processor/memorylimiterprocessor {V}"),
        ("transform", f"{CONTRIB}/processor/transformprocessor {V}"),
        ("tail_sampling", f"{CONTRIB}/processor/tailsamplingprocessor {V}"),
        ("resource", f"{CONTRIB}/processor/resourceprocessor {V}"),
        ("filter", f"{CONTRIB}/processor/filterprocessor {V}"),
        ("delta_to_cumulative", f"{CONTRIB}/processor/deltatocumulativeprocessor {V}"),
    ],
    "connectors": [
        ("forward", f"{CORE}/connector/forwardconnector {V}"),
        ("span_metrics", f"{CONTRIB}/connector/spanmetricsconnector {V}"),
        ("signal_to_metrics", f"{CONTRIB}/connector/signaltometricsconnector {V}"),
    ],
    "exporters": [
        ("otlp_grpc", f"{CORE}/exporter/otlpexporter {V}"),
        ("prometheus", f"{CONTRIB}/exporter/prometheusexporter {V}"),
    ],
    "extensions": [
        ("health_check", f"{CONTRIB}/extension/healthcheckextension {V}"),
        ("file_storage", f"{CONTRIB}/extension/storage/filestorage {V}"),
    ],
}
PROVIDERS = ["envprovider", "fileprovider", "httpprovider", "httpsprovider", "yamlprovider"]

DIST_NAME = "otelcol-genai-o11y"


def component_types(kind: str) -> set[str]:
    return {t for t, _m in COMPONENTS[kind]}


def manifest(output_path: str = "./_build") -> dict:
    """The ocb manifest as data."""
    doc: dict = {
        "dist": {
            "name": DIST_NAME,
            "description": "genai-o11y OpenTelemetry Collector distribution",
            "version": names.COLLECTOR_VERSION,
            "output_path": output_path,
        }
    }
    for kind, comps in COMPONENTS.items():
        doc[kind] = [{"gomod": mod} for _t, mod in comps]
    doc["providers"] = [{"gomod": f"{CORE}/confmap/provider/{p} {STABLE}"} for p in PROVIDERS]
    return doc
