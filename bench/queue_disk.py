"""The sidecar's persistent queue on disk: fill it with the gateways down and compare the queue directory's
size with the bytes the queue holds (sizer: bytes). The Helm emptyDir's sizeLimit is derived from
collector.queue_mib with the factor this measures (builders/collector.py QUEUE_DISK_FACTOR). Prints figures.

Shipped sidecar config except collector.queue_mib (printed; filling the shipped 320 MiB takes long here)
and a load_balancing exporter whose only gateway is down (static resolver, a closed port): every span
stays queued until enqueueing fails (the queue is full).

Run: .venv/bin/python bench/queue_disk.py [--queue-mib 64] [--content 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import harness  # noqa: E402

from genai_o11y import toolchain  # noqa: E402
from genai_o11y.builders import collector as collector_builder  # noqa: E402


def metric(url: str, name: str) -> float | None:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    m = re.findall(rf'^{name}(?:_total)?\{{[^}}]*exporter="load_balancing"[^}}]*\}} (\S+)$', text, re.M)
    return float(m[0]) if m else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queue-mib", type=int, default=64)
    ap.add_argument("--content", type=int, default=300, help="characters of prompt content per span")
    args = ap.parse_args()
    binary = toolchain.collector_path()
    assert binary, "make collector"
    tmp = Path(tempfile.mkdtemp(prefix="queuedisk-"))
    spec = harness.make_spec(harness.collector_ports({"gateway.enabled": True, "gateway.static_endpoints": [f"127.0.0.1:{harness.free_port()}"],
                                                     "collector.queue_mib": args.queue_mib}, tmp))
    print(f"# sidecar queue on disk: {platform.machine()}, {os.cpu_count()} cores; collector.queue_mib {args.queue_mib} (shipped "
          f"{harness.make_spec().collector.queue_mib}), {args.content} characters of content per span, the only gateway down")
    with harness.run_collector(binary, spec, tmp) as col:
        tp = harness.tracer_provider(col.otlp_grpc)
        tracer = tp.get_tracer("queue-disk")
        sent, failed = 0, None
        while not failed:
            for _ in range(2000):
                with tracer.start_as_current_span(f"chat {sent}", attributes={"gen_ai.prompt": "x" * args.content}):
                    pass
                sent += 1
            tp.force_flush()
            failed = metric(col.telemetry_url, "otelcol_exporter_enqueue_failed_spans")
        time.sleep(3)
        queued, cap = metric(col.telemetry_url, "otelcol_exporter_queue_size"), metric(col.telemetry_url, "otelcol_exporter_queue_capacity")
        disk = sum(f.stat().st_size for f in Path(spec.collector.queue_directory).rglob("*") if f.is_file())
    mib = 1024 * 1024
    print(f"full after {sent} spans ({failed:.0f} refused by the full queue): {queued / mib:.1f} of {cap / mib:.1f} MiB queued, "
          f"the directory {disk / mib:.1f} MiB = {disk / queued:.2f} x the queued bytes")
    limit = collector_builder.queue_volume_mib(spec)
    print(f"the derived volume (sizeLimit) for this queue_mib: {limit} MiB = {limit * mib / disk:.2f} x this directory "
          f"(the bound: twice the queued bytes, plus an open segment and a frame per queue)")


if __name__ == "__main__":
    main()
