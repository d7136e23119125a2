"""Run every real validator we can find over a generated directory, and say which ran."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import artifacts, toolchain


@dataclass
class Result:
    name: str
    status: str  # "ok" | "failed" | "missing" | "skipped"
    detail: str = ""


def _named(name: str):
    """The validator's name, typed once: its results carry it and `genai-o11y validate --help` lists it."""
    def deco(f):
        f.validator = name
        return f
    return deco


@_named("otelcol validate")
def _collector(out: Path) -> Result:
    return _otelcol(out / artifacts.COLLECTOR_CONFIG, _collector.validator)


@_named("otelcol validate (gateway)")
def _gateway(out: Path) -> Result:
    return _otelcol(out / artifacts.GATEWAY_CONFIG, _gateway.validator)


def _otelcol(cfg: Path, name: str) -> Result:
    if not cfg.is_file():
        return Result(name, "skipped", f"{cfg} not found")
    binary = toolchain.collector_path()
    if not binary:
        return Result(name, "missing", "collector not built (make collector)")
    env = dict(os.environ)
    note = ""
    if not env.get("GENAI_O11Y_HASH_SALT") and "GENAI_O11Y_HASH_SALT" in cfg.read_text(encoding="utf-8"):  # the config requires it at startup; validate the rest
        env["GENAI_O11Y_HASH_SALT"] = "placeholder-for-validation"
        note = " (GENAI_O11Y_HASH_SALT unset: checked with a placeholder; the collector will not start without it)"
    proc = subprocess.run([str(binary), "validate", f"--config={cfg}"], capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0:
        return Result(name, "failed", (proc.stderr or proc.stdout).strip())
    return Result(name, "ok", str(cfg) + note)


@_named("promtool check rules")
def _promtool(out: Path) -> Result:
    path = out / artifacts.RULES
    if not path.is_file():
        return Result(_promtool.validator, "skipped", f"{path} not found")
    tool = toolchain.go_tool_path("promtool")
    if not tool:
        return Result(_promtool.validator, "missing", "promtool not found (make prometheus)")
    proc = subprocess.run([str(tool), "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return Result(_promtool.validator, "failed", (proc.stderr or proc.stdout).strip())
    return Result(_promtool.validator, "ok", proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else str(path))


@_named("amtool check-config")
def _amtool(out: Path) -> Result:
    path = out / artifacts.ALERTMANAGER
    if not path.is_file():
        return Result(_amtool.validator, "skipped", f"{path} not found")
    tool = toolchain.amtool_path()
    if not tool:
        return Result(_amtool.validator, "missing", "amtool not found (make alertmanager: Debian package prometheus-alertmanager)")
    text, note = path.read_text(encoding="utf-8"), ""
    if "url_file:" in text and not toolchain.alertmanager_supports_url_file(tool):
        # Debian's amtool 0.25 predates url_file (0.26): check the rest with placeholder URLs.
        text = re.sub(r"url_file: (\S+)", r"url: http://secret-from-file.invalid/\1", text)
        note = " (url_file receivers checked as placeholder URLs: this amtool predates url_file, Alertmanager >= 0.26 needs it)"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "alertmanager.yml"
        cfg.write_text(text, encoding="utf-8")
        proc = subprocess.run([str(tool), "check-config", str(cfg)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return Result(_amtool.validator, "failed", (proc.stdout + proc.stderr).strip())
    return Result(_amtool.validator, "ok", str(path) + note)


@_named("helm template + kubeconform (the chart)")
def _chart(out: Path) -> Result:
    """The generated chart rendered with its default values, every manifest through kubeconform -strict
    against the offline schemas (what make helm-check does for a values file)."""
    from . import k8s_render
    from .builders import helm
    from .errors import UserError

    name, chart = _chart.validator, out / helm.CHART
    if not (chart / "Chart.yaml").is_file():
        return Result(name, "skipped", f"{chart} not found")
    if not (toolchain.k8s_tool_path("helm") and toolchain.k8s_tool_path("kubeconform")):
        return Result(name, "missing", "helm and kubeconform not built (make k8s-tools)")
    try:
        text = k8s_render.helm_template(chart)
    except UserError as e:
        return Result(name, "failed", str(e))
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "rendered.yaml"
        rendered.write_text(text, encoding="utf-8")
        proc = k8s_render.kubeconform(rendered)
    summary = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        return Result(name, "failed", summary)
    return Result(name, "ok", f"{chart}: {summary.splitlines()[-1] if summary else 'valid'}")


VALIDATORS = [_collector, _gateway, _promtool, _amtool, _chart]


def names() -> list[str]:
    return [v.validator for v in VALIDATORS]


def run(out: Path) -> list[Result]:
    return [v(out) for v in VALIDATORS]
