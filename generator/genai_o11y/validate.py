"""Run every real validator we can find over a generated directory, and say which ran."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import artifacts, toolchain


@dataclass
class Result:
    name: str
    status: str  # "ok" | "failed" | "missing" | "skipped"
    detail: str = ""


def _collector(out: Path) -> Result:
    cfg = out / artifacts.COLLECTOR_CONFIG
    if not cfg.is_file():
        return Result("otelcol validate", "skipped", f"{cfg} not found")
    binary = toolchain.collector_path()
    if not binary:
        return Result("otelcol validate", "missing", "collector not built (make collector)")
    proc = subprocess.run([str(binary), "validate", f"--config={cfg}"], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return Result("otelcol validate", "failed", (proc.stderr or proc.stdout).strip())
    return Result("otelcol validate", "ok", str(cfg))


VALIDATORS = [_collector]


def run(out: Path) -> list[Result]:
    return [v(out) for v in VALIDATORS]
