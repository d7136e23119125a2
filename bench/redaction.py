"""Redaction benchmark: prints figures, asserts nothing (figures go to bench/RESULTS.md).

1. Leaks and decoy survival per detector: the PII corpus through the real collector.
2. Collector cost of the redaction stage: the same build and load, generated config with and
   without the redaction stage (genai_redaction, or transform/redact with collector.engine: ottl), in one run; steady-state throughput (spans/s) and CPU per span, as
   ratios (the method of bench/collector.py: senders in a loop, a window after a warm-up).
3. The app-side helper's cost to redact a 4 KB prompt.

Run: .venv/bin/python bench/redaction.py [--spans 20000]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import tempfile
import timeit
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

import collector as bench_collector  # noqa: E402
import pii_corpus as corpus  # noqa: E402
from genai_o11y import names, toolchain  # noqa: E402
from genai_o11y.builders import collector as builder  # noqa: E402
from genai_o11y.redact import Redactor  # noqa: E402
from harness import OtlpSink, collector_ports, make_spec, run_collector, wait_for  # noqa: E402
from test_redaction import _kv, case_span, exported_text, send, span_pb  # noqa: E402


def leaks_and_decoys(binary: Path) -> None:
    print("\n## 1. Leaks and decoy survival (PII corpus through the real collector)\n")
    tmp = Path(tempfile.mkdtemp())
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, "gateway.decision_wait_seconds": 1}, tmp))
        with run_collector(binary, spec, tmp) as col:
            cases = corpus.cases()
            items = [case_span(c, "corpus") for c in cases]
            decoys = corpus.decoy_texts()
            for i, (_d, text) in enumerate(decoys):
                items.append(({"service.name": "decoys"}, span_pb(5_000_000 + i, "chat", {"gen_ai.input.messages": text, "decoy": i})))
            for k in range(0, len(items), 100):
                send(col.otlp_grpc, items[k:k + 100])
            wait_for(lambda: len(sink.spans()) >= len(items), timeout=60, what="corpus at the sink")
            time.sleep(2)
            everything = exported_text(sink) + col.metrics_text() + col.log()
    # decoy survival per detector: each detector of the policy alone, on every decoy text
    from genai_o11y.builders.collector import policy_for

    rules = {r.name: r.python() for r in policy_for(spec).detectors}
    print("| detector | cases | leaks | decoys kept by this detector |\n|---|---|---|---|")
    total = 0
    for kind in corpus.SECRETS:
        ks = [c for c in cases if c.kind == kind]
        n = sum(1 for c in ks for needle in c.needles() if needle in everything)
        total += n
        pattern, repl = rules[kind]
        kept_by = sum(1 for d, t in decoys if d in pattern.sub(repl, t))
        print(f"| {kind} | {len(ks)} | {n} | {kept_by}/{len(decoys)} |")
    kept = {s.attributes["decoy"]: s.attributes["gen_ai.input.messages"] for s in sink.spans() if "decoy" in s.attributes}
    survived = [d for i, (d, _t) in enumerate(decoys) if d in kept.get(i, "")]
    print(f"\nleaks: {total} of {len(cases)} cases; decoys surviving: {len(survived)}/{len(decoys)} ({100 * len(survived) / len(decoys):.1f}%)")
    lost = sorted(set(d for d, _ in decoys) - set(survived))
    if lost:
        print("decoys lost:", ", ".join(lost))


def _load(n_spans: int) -> list[bytes]:
    """Pre-serialised OTLP requests: realistic GenAI spans with a 1 KB prompt holding some PII."""
    prompt = ("Summarise the ticket. Customer jane.doe@example.com called from +1 202-555-0143 about order ORD-2024-118233. " * 9)[:1024]
    per_req = 500
    reqs = []
    for r in range(n_spans // per_req):
        spans = [
            span_pb(r * per_req + i + 1, "chat gpt-4o", {
                "genai_o11y.stage": "model_call", "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 120,
                "genai_o11y.route": "faq", "gen_ai.input.messages": prompt, "gen_ai.output.messages": "Sure, I can help with that.",
            }, error=False)
            for i in range(per_req)
        ]
        from opentelemetry.proto.resource.v1 import resource_pb2

        req = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(
            resource=resource_pb2.Resource(attributes=[_kv("service.name", "bench")]), scope_spans=[trace_pb2.ScopeSpans(spans=spans)])])
        reqs.append(req.SerializeToString())
    return reqs


def collector_overhead(binary: Path, n_spans: int) -> None:
    print(f"\n## 2. Collector cost of the redaction stage ({n_spans} spans in a loop, 1 KB prompt each, same build, one run)\n")
    reqs = _load(n_spans)
    rows = []
    sink_tmp = Path(tempfile.mkdtemp())
    sink_port, sink_health = bench_collector.free_port(), f"127.0.0.1:{bench_collector.free_port()}"
    sink = bench_collector._start(binary, bench_collector.sink_config(sink_port, sink_health), sink_tmp, sink_health)
    try:
        for label in ("without redaction", "with redaction", "without redaction (again)", "with redaction (again)"):
            tmp = Path(tempfile.mkdtemp())
            spec = make_spec(collector_ports({"backends.tempo.endpoint": f"127.0.0.1:{sink_port}", "gateway.decision_wait_seconds": 2}, tmp))
            cfg = copy.deepcopy(builder.build(spec))
            if label.startswith("without"):
                stage = names.redact_processor(spec.collector.engine)
                for pl in cfg["service"]["pipelines"].values():  # traces/ingest, and the logs pipelines (no logs in this load)
                    if stage in pl["processors"]:
                        pl["processors"].remove(stage)
                del cfg["processors"][stage]
            rows.append(bench_collector.run(binary, label, cfg, spec, reqs, tmp, senders=3, warmup=4, window=12))
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    print("| config | spans/s | CPU µs per span | peak RSS MiB |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['rate']:,.0f} | {r['cpu_us']:.1f} | {r['rss_mib']:.0f} |")
    without = [r for r in rows if r["label"].startswith("without")]
    with_ = [r for r in rows if r["label"].startswith("with ")]
    print(f"\nthroughput ratio with/without: {max(r['rate'] for r in with_) / max(r['rate'] for r in without):.2f}; "
          f"CPU per span ratio with/without: {min(r['cpu_us'] for r in with_) / min(r['cpu_us'] for r in without):.2f}")


def helper_cost() -> None:
    print("\n## 3. App-side helper: redacting a 4 KB prompt\n")
    r = Redactor(salt="bench")
    prompt = ("You are a support assistant. Customer Jane (jane.doe@example.com, +44 20 7946 0958) asks about order "
              "ORD-2024-118233 paid with card 4111 1111 1111 1111 from 203.0.113.45. Context: " + "lorem ipsum dolor sit amet " * 200)[:4096]
    attrs = {"gen_ai.input.messages": prompt, "gen_ai.request.model": "gpt-4o", "user.id": "u-1"}
    n = 2000
    per_mask = timeit.timeit(lambda: r.mask(prompt), number=n) / n
    per_attrs = timeit.timeit(lambda: r.attributes(attrs), number=n) / n
    base = timeit.timeit(lambda: prompt.lower(), number=n) / n
    print(f"mask(4 KB prompt): {per_mask * 1e6:.0f} µs; attributes({{prompt, model, user.id}}): {per_attrs * 1e6:.0f} µs "
          f"(str.lower on the same text: {base * 1e6:.1f} µs)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=20_000, help="spans in the load (sent in a loop)")
    args = ap.parse_args()
    binary = toolchain.collector_path()
    if binary is None:
        sys.exit("build the collector first: make collector")
    print(f"# redaction benchmark\n\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, collector {binary.name}")
    leaks_and_decoys(binary)
    collector_overhead(binary, args.spans)
    helper_cost()


if __name__ == "__main__":
    main()
