"""`helm template` of the chart with fixed release name, namespace and Kubernetes version, so the
committed rendering (deploy/helm/rendered/) is reproducible. `python -m genai_o11y.k8s_render`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import toolchain
from .builders import helm
from .errors import ToolMissing, UserError, exit_code

RELEASE, NAMESPACE, KUBE_VERSION = "genai-o11y", "genai-o11y", "1.34.2"


def helm_template(chart_dir: Path, extra: list[str] | None = None) -> str:
    binary = toolchain.k8s_tool_path("helm")
    if binary is None:
        raise ToolMissing("helm is not built: run `make k8s-tools`")
    cmd = [str(binary), "template", RELEASE, str(chart_dir), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *(extra or [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise UserError(f"helm template failed: {proc.stderr.strip()}")
    return proc.stdout


def main() -> int:
    """`python -m genai_o11y.k8s_render`: the chart's rendering on stdout (make helm-render)."""
    return exit_code(lambda: print(helm_template(Path(helm.CHART)), end=""))


if __name__ == "__main__":
    sys.exit(main())
