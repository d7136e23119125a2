"""JSON schemas for kubeconform, from Go modules (no other network here): core kinds from the
Kubernetes OpenAPI spec (k8s.io/kubernetes api/openapi-spec/swagger.json), custom resources from
the operators' own CRDs (OpenTelemetry Operator, prometheus-operator).

Files are named as kubeconform's -schema-location template `{{ .Group }}-{{ .ResourceKind }}-{{ .ResourceAPIVersion }}.json`
expects. `int-or-string` becomes string-or-integer (as openapi2jsonschema does).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .errors import UserError

KUBERNETES = ("k8s.io/kubernetes", "v1.34.2")
OTEL_OPERATOR = ("github.com/open-telemetry/opentelemetry-operator", "v0.140.0")  # newest the module proxy serves
PROM_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
CRDS = [
    (OTEL_OPERATOR, "config/crd/bases/opentelemetry.io_opentelemetrycollectors.yaml"),
    (PROM_OPERATOR, "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"),
    (PROM_OPERATOR, "example/prometheus-operator-crd/monitoring.coreos.com_alertmanagerconfigs.yaml"),
    (PROM_OPERATOR, "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml"),
]
CORE_KINDS = ["ConfigMap", "Secret", "Service", "Deployment", "ServiceAccount", "Namespace"]
LOCATION = "{{ .Group }}-{{ .ResourceKind }}-{{ .ResourceAPIVersion }}.json"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` (an enum value in some CRDs) as the `value` tag: keep it a string."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def module_dir(module: tuple[str, str]) -> Path:
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module[0]}@{module[1]}"], capture_output=True, text=True, timeout=900)
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or "Dir" not in info:
        raise UserError(f"go mod download {module[0]}@{module[1]} failed: {info.get('Error') or proc.stderr.strip()}")
    return Path(info["Dir"])


def _fix(node):
    """int-or-string as string-or-integer; objects with declared properties closed (the strict variant,
    as openapi2jsonschema --strict makes it), unless they preserve unknown fields."""
    if isinstance(node, dict):
        if node.get("format") == "int-or-string":
            return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
        out = {k: _fix(v) for k, v in node.items()}
        if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_fix(v) for v in node]
    return node


def _write(out: Path, group: str, kind: str, version: str, schema: dict) -> None:
    # kubeconform's .Group is the part of apiVersion before the slash: "v1" for the core group
    (out / f"{group or version}-{kind.lower()}-{version}.json").write_text(json.dumps(schema))


def build(out: Path) -> Path:
    """Write the schema directory (idempotent)."""
    out.mkdir(parents=True, exist_ok=True)
    swagger = json.loads((module_dir(KUBERNETES) / "api" / "openapi-spec" / "swagger.json").read_text())
    defs = _fix(swagger["definitions"])
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            if gvk["kind"] in CORE_KINDS:
                _write(out, gvk["group"], gvk["kind"], gvk["version"], {"$ref": f"#/definitions/{name}", "definitions": defs})
    for module, rel in CRDS:
        crd = yaml.load((module_dir(module) / rel).read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            _write(out, group, kind, v["name"], _fix(v["schema"]["openAPIV3Schema"]))
    (out / ".complete").write_text("\n".join(f"{m}@{v}" for m, v in (KUBERNETES, OTEL_OPERATOR, PROM_OPERATOR)) + "\n")
    return out
