"""`helm template` of the chart with fixed release name, namespace and Kubernetes version, so the
committed rendering (deploy/helm/rendered/) is reproducible. `python -m genai_o11y.k8s_render`.

`python -m genai_o11y.k8s_render --check [-f VALUES]... [--chart DIR]` (make helm-check VALUES=... [CHART=DIR]):
a team's values rendered as the chart would be (the repository's, or one generated with --out) and every
manifest checked by kubeconform -strict against the schemas `make k8s-tools` built (Kubernetes and the
operators' CRDs), offline. `--compare FILE` (make check): the committed rendering is the chart's."""

from __future__ import annotations

import argparse
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


def kubeconform(*files: Path) -> subprocess.CompletedProcess:
    """kubeconform -strict over files, offline: the schemas make k8s-tools generated."""
    binary = toolchain.k8s_tool_path("kubeconform")
    if binary is None:
        raise ToolMissing("kubeconform is not built: run `make k8s-tools`")
    loc = f"{toolchain.k8s_schema_dir()}/{{{{ .Group }}}}-{{{{ .ResourceKind }}}}-{{{{ .ResourceAPIVersion }}}}.json"
    return subprocess.run([str(binary), "-strict", "-summary", "-schema-location", loc, *map(str, files)], capture_output=True, text=True, timeout=120)


def _chart(chart: str | None) -> Path:
    path = Path(chart or helm.CHART)
    if not (path / "Chart.yaml").is_file():
        raise UserError(f"--chart {path}: no Chart.yaml there (a chart genai-o11y generated is <out>/{helm.CHART})")
    return path


def check(values: list[str], chart: str | None = None) -> int:
    """The chart rendered with these values files, every manifest through kubeconform; 0 when all pass."""
    import tempfile

    for v in values:
        if not Path(v).is_file():
            raise UserError(f"{v}: no such values file")
    path = _chart(chart)
    text = helm_template(path, [a for v in values for a in ("-f", v)])
    if not text.strip():
        raise UserError("helm template rendered nothing: nothing to check")
    # which chart: without --chart it is the repository's (a team that forgot CHART= thought its own chart passed)
    print(f"chart: {path}" + ("" if chart else " (the repository's; CHART=DIR for one generated elsewhere)")
          + (f", values: {', '.join(values)}" if values else ", its default values"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rendered.yaml"
        out.write_text(text)
        proc = kubeconform(out)
    print((proc.stdout + proc.stderr).strip())
    return 0 if proc.returncode == 0 else 1


def compare(committed: str, chart: str | None = None) -> int:
    """The chart's rendering (no values) against the committed one (make check): 0 when they are the same."""
    path = Path(committed)
    if not path.is_file():
        raise UserError(f"{committed}: no such file (make helm-render writes it)")
    fresh = helm_template(_chart(chart))
    if fresh == path.read_text():
        print(f"{committed}: up to date with the chart")
        return 0
    import difflib

    changed = sum(1 for line in difflib.unified_diff(path.read_text().splitlines(), fresh.splitlines(), lineterm="", n=0)
                  if line[:1] in "+-" and not line.startswith(("+++", "---")))
    print(f"{committed}: stale, {changed} lines differ from the chart's rendering; run: make helm-render", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """`python -m genai_o11y.k8s_render`: the chart's rendering on stdout (make helm-render); `--check`; `--compare`."""
    ap = argparse.ArgumentParser(prog="python -m genai_o11y.k8s_render")
    ap.add_argument("--check", action="store_true", help="render with the values files and run kubeconform -strict (offline schemas)")
    ap.add_argument("--compare", nargs="?", const=helm.RENDERED, metavar="FILE",
                    help=f"compare the chart's rendering with FILE (default: the committed one, {helm.RENDERED}); exit 1 if it differs")
    ap.add_argument("-f", "--values", action="append", default=[], help="a values file (repeatable), as helm -f")
    ap.add_argument("--chart", metavar="DIR", help=f"the chart (default: the repository's, {helm.CHART}; a generated one: <out>/{helm.CHART})")
    args = ap.parse_args(argv)
    if args.check:
        return exit_code(lambda: check(args.values, args.chart))
    if args.compare:
        return exit_code(lambda: compare(args.compare, args.chart))
    return exit_code(lambda: print(helm_template(_chart(args.chart), [a for v in args.values for a in ("-f", v)]), end=""))


if __name__ == "__main__":
    sys.exit(main())
