"""Time from fault injection to the page at the webhook: `genai-o11y up` (real collector, Prometheus 3,
Alertmanager, webhook) with the demo and a fault scenario; prints the seconds. Asserts nothing.

Run: .venv/bin/python bench/page_latency.py [--scenario error_burst] [--runs 1]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="error_burst")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    print(f"# Fault injection -> page ({args.scenario}, {args.runs} run(s))\n")
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as work:
            proc = subprocess.run([sys.executable, "-m", "genai_o11y", "up", "--scenario", args.scenario, "--baseline-seconds", "30",
                                   "--exit-when-paged", "--timeout", "900", "--workdir", work], capture_output=True, text=True)
        pages = re.findall(r"NOTIFIED pager: (\w+) \((\d+)s after injection\)", proc.stdout)
        if proc.returncode != 0 or not pages:
            print(f"run {i + 1}: no page (exit {proc.returncode})\n{proc.stdout[-2000:]}")
            continue
        for name, seconds in pages:
            print(f"run {i + 1}: {name} paged {seconds} s after injection")


if __name__ == "__main__":
    main()
