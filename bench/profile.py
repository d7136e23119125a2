"""Where the sidecar's CPU goes: a Go CPU profile of one config under bench/collector.py's load.

Builds once (cached under ~/.cache/genai-o11y, keyed by the manifest like `make collector`) our distribution
plus the contrib pprof extension, which stays out of the shipped build and configs; runs the config as
bench/collector.py does (the generated sidecar of the default spec as it ships, or the pass-through, the
drop-all sink standing in for the gateways), with the extension on loopback; takes a CPU profile over
the window and prints the CPU per span of each stage: pprof's cumulative time of the stage's entry
function divided by the spans the receiver accepted meanwhile. Stages overlap nothing but "of which"
rows; what no row names (gRPC, the batch processor, the runtime's allocation) is the rest of the total.
The profiler samples 100 times a second: a row under ~0.1 µs is noise.

Run: .venv/bin/python bench/profile.py [--config sidecar|pass-through] [--load metadata|1kb] [--rate 2000]
                                       [--seconds 20] [--out cpu.pb.gz]   (then: go tool pprof -top BINARY cpu.pb.gz)
                                       [--set processors.batch.send_batch_size=4096] [--env GOGC=200]
--set changes one setting of the generated config (a dotted path, a YAML value) and --env sets a variable of
the collector's environment, to measure a change before it goes into the spec: the figure is printed with them
(without either, it is the config as it ships).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import collector as bench  # noqa: E402
from genai_o11y import names, render, toolchain  # noqa: E402
from genai_o11y.builders import ocb  # noqa: E402
from harness import collector_ports, free_port, make_spec  # noqa: E402

PPROF = f"github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension v{names.COLLECTOR_VERSION}"

#: (row, [entry-function regexes]): the largest cumulative time among a row's alternatives; "-" subtracts what follows.
STAGES = [
    ("decode the OTLP request (receiver)", [r"otelgrpc\.\(\*codecV2\)\.Unmarshal$"]),
    ("genai_normalise (+ cost)", [r"genainormaliseprocessor\.\(\*normaliser\)\.processTraces$"]),
    ("genai_redaction", [r"genairedactionprocessor\.\(\*redactor\)\.processTraces$"]),
    ("fan-out copies of each batch", [r"fanoutconsumer\.cloneTraces$"]),
    ("filter processors", [r"filterprocessor\.\(\*filterSpanProcessor\)\.processTraces$"]),
    ("transform processors", [r"transformprocessor.*\.processTraces$"]),
    ("span_metrics connector", [r"spanmetricsconnector\.\(\*connectorImp\)\.ConsumeTraces$"]),
    ("genai_usage connector (folding, request view, span and usage metrics)", [r"genaiusageconnector\.\(\*usage\)\.ConsumeTraces$"]),
    ("prometheus exporter (metrics in)", [r"prometheusexporter\.\(\*prometheusExporter\)\.ConsumeMetrics$"]),
    ("persistent queue: marshal", [r"queuebatch\.tracesEncoding\.Marshal$"]),
    # genai_queue_storage (before it, file_storage's bbolt: the same row reads either)
    ("persistent queue: storage", [r"genaiqueuestorage\.\(\*logClient\)\.Batch$|filestorage\.\(\*fileStorageClient\)\.Batch$"]),
    ("persistent queue: unmarshal on read", [r"queuebatch\.tracesEncoding\.Unmarshal$"]),
    ("load balancer: split by trace id", [r"loadbalancingexporter\.\(\*traceExporterImp\)\.consumeTracesByID$", "-",
                                          r"loadbalancingexporter\.\(\*traceExporterImp\)\.exportToBackend$"]),
    ("export: encode, compress, send", [r"loadbalancingexporter\.\(\*traceExporterImp\)\.exportToBackend$|otlpexporter\.\(\*baseExporter\)\.pushTraces$"]),
    ("  of which compression", [r"^google\.golang\.org/grpc\.compress$"]),
    ("GC (background mark workers)", [r"runtime\.gcBgMarkWorker$"]),
]


def build() -> Path:
    """Our distribution plus the pprof extension, cached by its manifest."""
    out = toolchain.cache_root() / f"otelcol-pprof-{names.COLLECTOR_VERSION}"
    work = Path(tempfile.mkdtemp(prefix="ocb-pprof-"))
    manifest = ocb.manifest(output_path=str(work / "out"), local=str(ocb.local_root()))
    manifest["extensions"].append({"gomod": PPROF})
    binary = out / toolchain.manifest_hash(manifest) / ocb.DIST_NAME
    if binary.is_file():
        return binary
    builder = toolchain.cache_root() / "go-bin" / "builder"
    if not builder.is_file():
        sys.exit("build the collector first (make collector): it installs ocb")
    (work / "manifest.yaml").write_text(render.to_yaml(manifest))
    log = toolchain.cache_root() / "collector-pprof-build.log"
    print(f"building {ocb.DIST_NAME} with the pprof extension (log: {log})", flush=True)
    env = dict(os.environ, GOFLAGS=os.environ.get("GOFLAGS", "-buildvcs=false"))
    with log.open("w") as fh:
        subprocess.run([str(builder), "--config", str(work / "manifest.yaml")], stdout=fh, stderr=subprocess.STDOUT, env=env, check=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / "out" / ocb.DIST_NAME, binary)
    shutil.rmtree(work, ignore_errors=True)
    return binary


def stage_table(binary: Path, profile: Path, spans: float) -> str:
    top = subprocess.run(["go", "tool", "pprof", "-top", "-cum", "-nodecount=100000", str(binary), str(profile)],
                         capture_output=True, text=True, check=True).stdout
    cum: dict[str, float] = {}
    total = 0.0
    for line in top.splitlines():
        if m := re.search(r"Total samples = ([\d.]+)(m?s)", line):
            total = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
        parts = line.split()
        if len(parts) >= 6 and parts[4].endswith("%") and re.fullmatch(r"[\d.]+m?s", parts[3]):
            cum[" ".join(parts[5:])] = float(parts[3][:-2]) / 1000 if parts[3].endswith("ms") else float(parts[3][:-1])

    def seconds(patterns: list[str]) -> float:
        sign, s = 1, 0.0
        for p in patterns:
            if p == "-":
                sign = -1
                continue
            s += sign * max([v for k, v in cum.items() if re.search(p, k)] or [0.0])
        return s

    rows = [f"| {name} | {seconds(p) / spans * 1e6:.2f} |" for name, p in STAGES]
    return "\n".join(["| stage | CPU µs per span |", "|---|---|", *rows, f"| **the whole process** | **{total / spans * 1e6:.1f}** |"])


def parse_change(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        sys.exit(f"{flag} {text!r}: expected NAME=VALUE")
    return name, value


def args_pairs(sets: list[str]) -> list[tuple[str, str]]:
    return [parse_change(c, "--set") for c in sets]


def apply_change(cfg: dict, path: str, value: str) -> None:
    """Set cfg at the dotted path to the YAML value; every part but the last must exist (a typo is an error)."""
    import yaml

    node, parts = cfg, path.split(".")
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            sys.exit(f"--set {path}: the config has no {'.'.join(parts[:i + 1])}")
        node = node[part]
    if not isinstance(node, dict):
        sys.exit(f"--set {path}: {'.'.join(parts[:-1])} is not a mapping")
    node[parts[-1]] = yaml.safe_load(value)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=["sidecar", "pass-through"], default="sidecar")
    ap.add_argument("--load", choices=["metadata", "1kb", "demo"], default="metadata")
    ap.add_argument("--rate", type=float, help="spans/s offered (default: unthrottled)")
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--seconds", type=int, default=20, help="the profile's (and the measurement's) window")
    ap.add_argument("--out", type=Path, default=Path("cpu.pb.gz"))
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="change a setting of the generated config (dotted path, YAML value); repeatable")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set a variable of the collector's environment")
    args = ap.parse_args()
    changes = [parse_change(c, "--set") for c in args.set]
    envs = [parse_change(e, "--env") for e in args.env]
    for name, value in envs:
        os.environ[name] = value  # bench._start passes the environment on
    binary = build()
    bodies, _n = bench.load(args.requests, args.load)
    sink_tmp, tmp = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    sink_port, sink_health = free_port(), f"127.0.0.1:{free_port()}"
    sink = bench._start(binary, bench.sink_config(sink_port, sink_health), sink_tmp, sink_health)
    sink_ep = f"127.0.0.1:{sink_port}"
    try:
        # collector_ports alone is the sidecar-only topology (the tests of the sampling branch): the shipped one sends to the gateways
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink_ep, "gateway.enabled": True, "gateway.static_endpoints": [sink_ep]}, tmp))
        cfg = bench.passthrough_config(spec, sink_ep) if args.config == "pass-through" else copy.deepcopy(bench.builder.build(spec))
        pprof = f"127.0.0.1:{free_port()}"
        cfg["extensions"]["pprof"] = {"endpoint": pprof}
        cfg["service"]["extensions"].append("pprof")
        for path, value in changes:
            apply_change(cfg, path, value)

        def grab() -> None:
            time.sleep(args.warmup)
            url = f"http://{pprof}/debug/pprof/profile?seconds={args.seconds}"
            args.out.write_bytes(urllib.request.urlopen(url, timeout=args.seconds + 60).read())

        t = threading.Thread(target=grab)
        t.start()
        row = bench.run(binary, args.config, cfg, spec, bodies, tmp, 3, args.warmup, args.seconds, args.rate)
        t.join()
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    at = f"{args.rate:,.0f} spans/s offered" if args.rate else "unthrottled"
    changed = ", ".join([f"{p}={v}" for p, v in args_pairs(args.set)] + list(args.env)) or "as shipped"
    print(f"# {args.config} ({changed}), {bench.LOADS[args.load]}, {at} ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}): "
          f"{row['rate']:,.0f} spans/s, {row['cpu_us']:.1f} µs CPU per span (schedstat), peak RSS {row['rss_mib']:.0f} MiB, "
          f"with the profiler on; profile {args.out}\n")
    print(stage_table(binary, args.out, row["rate"] * args.seconds))


if __name__ == "__main__":
    main()
