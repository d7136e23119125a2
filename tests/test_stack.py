"""`genai-o11y up` (README command 1): the real stack as local processes, the demo, a fault, the page
at the webhook; Ctrl-C stops everything; no process is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.collector
CLI = [sys.executable, "-m", "genai_o11y"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not running; /proc says so on Linux
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _pids(work: Path) -> list[int]:
    return [int(x) for x in (work / "pids").read_text().split()]


def test_up_pages_on_an_error_burst_and_leaves_nothing_running(tmp_path):
    work = tmp_path / "local"
    proc = subprocess.run(CLI + ["up", "--scenario", "error_burst", "--baseline-seconds", "15", "--exit-when-paged", "--timeout", "480", "--workdir", str(work)],
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "ready: demo traffic" in out and "injected: error_burst" in out
    assert "NOTIFIED pager: GenAIErrorBudgetBurnFast" in out, out[-4000:]
    assert "Prometheus     http://127.0.0.1:" in out and "Alertmanager   http://127.0.0.1:" in out
    assert "stopped; nothing left running" in out
    pids = _pids(work)
    assert len(pids) == 3
    time.sleep(0.5)
    assert not [p for p in pids if _alive(p)], "collector, Prometheus or Alertmanager still running"


def test_ctrl_c_stops_everything(tmp_path):
    work = tmp_path / "local"
    proc = subprocess.Popen(CLI + ["up", "--scenario", "healthy", "--workdir", str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("ready:") or proc.poll() is not None:
            break
    assert any(x.startswith("ready:") for x in lines), "".join(lines)
    # the collector runs as it does in compose and Helm: GOMEMLIMIT below the memory limiter
    collector_env = Path(f"/proc/{_pids(work)[0]}/environ").read_bytes().split(b"\0")
    assert any(e.startswith(b"GOMEMLIMIT=") and e.endswith(b"MiB") for e in collector_env)
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopped; nothing left running" in rest
    time.sleep(0.5)
    assert not [p for p in _pids(work) if _alive(p)]
