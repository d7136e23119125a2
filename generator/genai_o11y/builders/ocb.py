"""Our collector distribution: the OpenTelemetry Collector Builder (ocb) manifest.

One table lists every component our generated configs may use, with its Go module at the pinned
release. The manifest is built from it, and tests check that each generated config uses only these
component types (and that each type here is used by some config we generate).
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from .. import names

CORE = "go.opentelemetry.io/collector"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
V = f"v{names.COLLECTOR_VERSION}"
STABLE = f"v{names.COLLECTOR_CORE_STABLE_VERSION}"

#: Our own components: one Go module (processor/, connector/, internal/ as in collector-contrib),
#: shipped inside the Python package so that an installed genai-o11y builds its collector too, and
#: added to the build with a `replace` to its directory.
LOCAL_MODULE = "github.com/genai-o11y/genai-o11y/collector"
LOCAL_VERSION = "v0.0.0"
#: component type -> its package directory in the module
LOCAL_COMPONENTS = {
    "genai_normalise": "processor/genainormaliseprocessor",
    "genai_redaction": "processor/genairedactionprocessor",
    "genai_usage": "connector/genaiusageconnector",
    "genai_queue_storage": "extension/genaiqueuestorage",
}
#: Where the module lives in the repository (the committed manifest and the Dockerfile build from the root).
LOCAL_ROOT_IN_REPO = "generator/genai_o11y/gocomponents"


def _local(component_type: str) -> str:
    return f"{LOCAL_MODULE}/{LOCAL_COMPONENTS[component_type]} {LOCAL_VERSION}"


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
        ("groupbyattrs", f"{CONTRIB}/processor/groupbyattrsprocessor {V}"),  # ottl engine: drops entity refs (OTTL cannot reach them)
        ("genai_normalise", _local("genai_normalise")),
        ("genai_redaction", _local("genai_redaction")),
    ],
    "connectors": [
        ("forward", f"{CORE}/connector/forwardconnector {V}"),
        ("span_metrics", f"{CONTRIB}/connector/spanmetricsconnector {V}"),
        ("signal_to_metrics", f"{CONTRIB}/connector/signaltometricsconnector {V}"),
        ("genai_usage", _local("genai_usage")),
    ],
    "exporters": [
        ("otlp_grpc", f"{CORE}/exporter/otlpexporter {V}"),
        ("prometheus", f"{CONTRIB}/exporter/prometheusexporter {V}"),
        ("file", f"{CONTRIB}/exporter/fileexporter {V}"),  # the eval-dataset pipeline (evals.dataset)
        ("nop", f"{CORE}/exporter/nopexporter {V}"),  # the end of the logs pipeline: logs are accepted and dropped, counted
        ("load_balancing", f"{CONTRIB}/exporter/loadbalancingexporter {V}"),  # sidecar -> gateway tier, keyed by trace id
    ],
    "extensions": [
        ("health_check", f"{CONTRIB}/extension/healthcheckextension {V}"),
        ("genai_queue_storage", _local("genai_queue_storage")),  # the persistent queues' log (both tiers)
    ],
}
#: Module versions the build must use instead of what a component asks for: the servicediscovery
#: v1.48.0 the load_balancing exporter requires (for its AWS Cloud Map resolver) is refused by the
#: module proxy here; v1.49.0 is served and builds.
REPLACES = ["github.com/aws/aws-sdk-go-v2/service/servicediscovery => github.com/aws/aws-sdk-go-v2/service/servicediscovery v1.49.0"]
PROVIDERS = ["envprovider", "fileprovider", "httpprovider", "httpsprovider", "yamlprovider"]

DIST_NAME = "otelcol-genai-o11y"

def local_root() -> Path:
    """The installed package's copy of our Go components."""
    return Path(str(resources.files("genai_o11y") / "gocomponents"))


def local_sources_digest() -> str:
    """What our own components' source is, for the build cache key (a changed file rebuilds)."""
    h = hashlib.sha256()
    root = local_root()
    for f in sorted(root.rglob("*")):
        # what goes into the binary: the module files and the non-test Go source
        if f.is_file() and "testdata" not in f.parts and (f.name in ("go.mod", "go.sum") or (f.suffix == ".go" and not f.name.endswith("_test.go"))):
            h.update(f"{f.relative_to(root).as_posix()}\0".encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def component_types(kind: str) -> set[str]:
    return {t for t, _m in COMPONENTS[kind]}


def manifest(output_path: str = "./_build", local: str = LOCAL_ROOT_IN_REPO) -> dict:
    """The ocb manifest as data. `local`: the directory holding our own components (relative paths
    are resolved by the builder against its working directory)."""
    doc: dict = {
        "dist": {
            "name": DIST_NAME,
            "description": "genai-o11y OpenTelemetry Collector distribution",
            "version": names.COLLECTOR_VERSION,
            "output_path": output_path,
        }
    }
    for kind, comps in COMPONENTS.items():
        doc[kind] = [_module(mod) for _t, mod in comps]
    doc["providers"] = [{"gomod": f"{CORE}/confmap/provider/{p} {STABLE}"} for p in PROVIDERS]
    # go.mod is written into output_path: a relative replace is relative to it
    doc["replaces"] = [f"{LOCAL_MODULE} => {local if os.path.isabs(local) else os.path.relpath(local, output_path)}", *REPLACES]
    return doc


def _module(gomod: str) -> dict:
    """A manifest entry; ours name the package to import inside our one module (the module itself
    is replaced by its directory once, in `replaces`)."""
    path, version = gomod.split()
    if path.startswith(LOCAL_MODULE + "/"):
        return {"gomod": f"{LOCAL_MODULE} {version}", "import": path}
    return {"gomod": gomod}
