"""Collector throughput and memory: the full generated pipeline vs a pass-through config of the same
build, same load, in one run. Prints figures and ratios (targets: throughput ratio >= 0.5, peak RSS
< 300 MiB); asserts nothing.

Load: the demo app's real spans (every stage of the support copilot, content captured on model calls,
PII in a share of the questions), pre-serialised as OTLP requests of 500 spans. Sink: a second
instance of our collector that drops everything (otlp -> filter: drop all), so the sink is never the
bottleneck. Both configs under test export to it.

Senders: --senders concurrent OTLP/gRPC clients (default 3), so the collector, not one client's
round trips, sets the pace. Rounds alternate the configs; the best round of each is compared.
--ablate adds runs of the full pipeline without one stage each, to show where the CPU goes.

Run: .venv/bin/python bench/collector.py [--requests 3000] [--rounds 2] [--senders 3] [--ablate]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import grpc  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from genai_o11y import render, toolchain  # noqa: E402
from genai_o11y.builders import collector as builder  # noqa: E402
from genai_o11y.demo import scenarios  # noqa: E402
from genai_o11y.demo.app import SupportCopilot  # noqa: E402
from genai_o11y.instrument.core import EnrichingSpanProcessor, Observability  # noqa: E402
from harness import TEST_SALT, collector_ports, free_port, make_spec, samples_at, wait_for, wait_healthy, Collector  # noqa: E402

PER_REQUEST = 500


def load(requests: int) -> tuple[list[bytes], int]:
    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(EnrichingSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(mem))
    app = SupportCopilot(Observability(tp), scenarios.get("healthy"), seed=11, time_scale=0)
    for _ in range(requests):
        app.ask()
    spans = list(mem.get_finished_spans())
    bodies = [encode_spans(spans[i:i + PER_REQUEST]).SerializeToString() for i in range(0, len(spans), PER_REQUEST)]
    return bodies, len(spans)


def _proc_stat(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return cpu, hwm * 1024


def _start(binary: Path, cfg: dict, tmp: Path, health: str) -> subprocess.Popen:
    path = tmp / "cfg.yaml"
    path.write_text(render.to_yaml(cfg))
    proc = subprocess.Popen([str(binary), f"--config={path}"], stdout=(tmp / "log").open("w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, GENAI_O11Y_HASH_SALT=TEST_SALT))
    wait_healthy(Collector(proc, path, tmp / "log", "", "", "", "", f"http://{health}/"))
    return proc


def sink_config(port: int, health: str) -> dict:
    return {
        "extensions": {"health_check": {"endpoint": health}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{port}", "max_recv_msg_size_mib": 64}}}},
        "processors": {"filter/drop": {"error_mode": "ignore", "traces": {"span": ["true"]}}},
        "exporters": {"otlp_grpc/never": {"endpoint": "127.0.0.1:1", "tls": {"insecure": True}}},
        "service": {"extensions": ["health_check"], "telemetry": {"metrics": {"level": "none"}},
                    "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["filter/drop"], "exporters": ["otlp_grpc/never"]}}},
    }


def passthrough_config(spec, sink: str) -> dict:
    c = spec.collector
    tele_host, tele_port = c.telemetry_endpoint.rsplit(":", 1)
    return {
        "extensions": {"health_check": {"endpoint": c.health_endpoint}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": c.otlp_grpc_endpoint}}}},
        "processors": {"batch": {"send_batch_size": 1024, "send_batch_max_size": 2048, "timeout": "1s"}},
        "exporters": {"otlp_grpc/sink": {"endpoint": sink, "tls": {"insecure": True}}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"level": "detailed", "readers": [{"pull": {"exporter": {"prometheus": {"host": tele_host, "port": int(tele_port)}}}}]}},
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_grpc/sink"]}},
        },
    }


#: Full pipeline minus one stage: (label, processor to drop from every pipeline | connector to drop).
ABLATIONS = [
    ("without redaction", "transform/redact"),
    ("without normalisation", "transform/normalise"),
    ("without cost", "transform/cost"),
    ("without tail sampling", "tail_sampling"),
    ("without label folding", "transform/dimensions"),
    ("without signal_to_metrics", "signal_to_metrics"),
    ("without span_metrics", "span_metrics"),
]


def ablate(cfg: dict, component: str) -> dict:
    pipelines = cfg["service"]["pipelines"]
    for key, pl in list(pipelines.items()):
        if component in pl.get("processors", []):
            pl["processors"].remove(component)
        if component in pl["exporters"]:
            pl["exporters"].remove(component)
        if component in pl["receivers"]:
            del pipelines[key]
    return cfg


def run(binary: Path, label: str, cfg: dict, spec, bodies: list[bytes], n: int, tmp: Path, done_metric: tuple[str, dict], senders: int) -> dict:
    c = spec.collector
    proc = _start(binary, cfg, tmp, c.health_endpoint)
    try:
        export = grpc.insecure_channel(c.otlp_grpc_endpoint, options=[("grpc.max_send_message_length", 64 << 20)]).unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        cpu0, _ = _proc_stat(proc.pid)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(senders) as pool:
            for _ in pool.map(lambda body: export(body, timeout=120), bodies):
                pass
        name, labels = done_metric
        url = f"http://{c.telemetry_endpoint}/metrics"
        wait_for(lambda: samples_at(url, name, **labels) >= n, timeout=600, interval=0.05, what=f"{label}: all spans through")
        wall = time.perf_counter() - t0
        cpu1, hwm = _proc_stat(proc.pid)
        return {"label": label, "rate": n / wall, "cpu_us": (cpu1 - cpu0) / n * 1e6, "rss_mib": hwm / 2**20}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000, help="demo requests turned into spans (about 17 spans each)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--senders", type=int, default=3, help="concurrent OTLP/gRPC clients")
    ap.add_argument("--ablate", action="store_true", help="also run the full pipeline without each stage")
    args = ap.parse_args()
    binary = toolchain.collector_path()
    if binary is None:
        sys.exit("build the collector first: make collector")
    bodies, n = load(args.requests)
    print(f"# Collector throughput and memory ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {binary.name})\n")
    print(f"load: {n} spans from {args.requests} demo requests, {len(bodies)} OTLP requests of {PER_REQUEST} spans, "
          f"{sum(map(len, bodies)) / n:.0f} bytes per span on the wire; {args.senders} concurrent senders\n")
    sink_tmp = Path(tempfile.mkdtemp())
    sink_port, sink_health = free_port(), f"127.0.0.1:{free_port()}"
    sink = _start(binary, sink_config(sink_port, sink_health), sink_tmp, sink_health)
    rows = []
    try:
        labels = ["pass-through", "full pipeline"] + ([a for a, _ in ABLATIONS] if args.ablate else [])
        for r in range(args.rounds):
            for label in labels:
                tmp = Path(tempfile.mkdtemp())
                spec = make_spec(collector_ports({"backends.tempo.endpoint": f"127.0.0.1:{sink_port}", "sampling.decision_wait_seconds": 2}, tmp))
                if label == "pass-through":
                    cfg, done = passthrough_config(spec, f"127.0.0.1:{sink_port}"), ("otelcol_exporter_sent_spans_total", {})
                else:
                    # every span is through once the receiver accepted it and the batch processor sent it on
                    cfg, done = copy.deepcopy(builder.build(spec)), ("otelcol_processor_batch_batch_send_size_sum", {})
                    for a, component in ABLATIONS:
                        if a == label:
                            cfg = ablate(cfg, component)
                rows.append(run(binary, f"{label} (round {r + 1})", cfg, spec, bodies, n, tmp, done, args.senders))
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    print("| config | spans/s | collector CPU µs per span | peak RSS MiB |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['label']} | {row['rate']:,.0f} | {row['cpu_us']:.1f} | {row['rss_mib']:.0f} |")
    full = [r for r in rows if r["label"].startswith("full")]
    thru = [r for r in rows if r["label"].startswith("pass")]
    ratio = max(r["rate"] for r in full) / max(r["rate"] for r in thru)
    cpu_ratio = min(r["cpu_us"] for r in full) / min(r["cpu_us"] for r in thru)
    rss = max(r["rss_mib"] for r in full)
    print(f"\nthroughput ratio full/pass-through: {ratio:.2f} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}); "
          f"CPU per span ratio: {cpu_ratio:.1f}x; peak RSS of the full pipeline: {rss:.0f} MiB (target < 300: {'met' if rss < 300 else 'NOT met'})")
    if args.ablate:
        best_full = min(r["cpu_us"] for r in full)
        print("\n| stage removed | best CPU µs per span | the stage's share |\n|---|---|---|")
        for a, _ in ABLATIONS:
            cpu = min(r["cpu_us"] for r in rows if r["label"].startswith(a))
            print(f"| {a.removeprefix('without ')} | {cpu:.1f} | {best_full - cpu:+.1f} µs |")


if __name__ == "__main__":
    main()
