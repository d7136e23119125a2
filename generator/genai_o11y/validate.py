"""Run every real validator we can find over a generated directory, and say which ran."""

from __future__ import annotations

import os
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
    env = dict(os.environ)
    note = ""
    if not env.get("GENAI_O11Y_HASH_SALT"):  # the config requires it at startup; validate the rest
        env["GENAI_O11Y_HASH_SALT"] = "placeholder-for-validation"
        note = " (GENAI_O11Y_HASH_SALT unset: checked with a placeholder; the collector will not start without it)"
    proc = subprocess.run([str(binary), "validate", f"--config={cfg}"], capture_output=True, text=True, timeout=120, env=env)
    if proc.returncode != 0:
        return Result("otelcol validate", "failed", (proc.stderr or proc.stdout).strip())
    return Result("otelcol validate", "ok", str(cfg) + note)


def _promtool(out: Path) -> Result:
    path = out / artifacts.RULES
    if not path.is_file():
        return Result("promtool check rules", "skipped", f"{path} not found")
    tool = toolchain.go_tool_path("promtool")
    if not tool:
        return Result("promtool check rules", "missing", "promtool not found (make prometheus)")
    proc = subprocess.run([str(tool), "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return Result("promtool check rules", "failed", (proc.stderr or proc.stdout).strip())
    return Result("promtool check rules", "ok", proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else str(path))


VALIDATORS = [_collector, _promtool]


def run(out: Path) -> list[Result]:
    return [v(out) for v in VALIDATORS]
