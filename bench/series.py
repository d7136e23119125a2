"""Series in Prometheus for 10, 100 and 1,000 tenants with 50 prompt versions: real spans through the
real collector (default spec budgets), scraped by a real Prometheus 3; prints series per metric and
checks them against cardinality.max_series_per_metric and max_tenants. Asserts nothing.

Run: .venv/bin/python bench/series.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from genai_o11y import localstack, render, toolchain  # noqa: E402
from genai_o11y.builders import prometheus_config, rules  # noqa: E402
from harness import OtlpSink, collector_ports, make_spec, run_collector, tracer_provider, wait_for  # noqa: E402

ROUTES = ["faq", "troubleshooting", "billing", "escalation"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]


def send(endpoint: str, tenants: int, versions: int, requests: int, seed: int) -> None:
    rnd = random.Random(seed)
    tp = tracer_provider(endpoint, {"service.name": "support-copilot", "service.version": "2026.11.1"})
    tracer = tp.get_tracer("bench.series")
    for i in range(requests):
        tenant = f"t{rnd.randrange(tenants):05d}"
        version = f"v{rnd.randrange(versions)}"
        route, model = rnd.choice(ROUTES), rnd.choice(MODELS)
        with tracer.start_as_current_span("POST /ask", attributes={"genai_o11y.route": route, "genai_o11y.tenant": tenant}):
            with tracer.start_as_current_span("retrieve", attributes={"genai_o11y.stage": "retrieval", "genai_o11y.route": route, "genai_o11y.retrieval.results": 3}):
                pass
            with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.provider.name": "openai",
                                                                   "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 50, "genai_o11y.route": route,
                                                                   "genai_o11y.prompt.template": "answer", "genai_o11y.prompt.version": version,
                                                                   "genai_o11y.tenant": tenant}):
                pass
        if i % 200 == 199:
            tp.force_flush()  # keep the SDK's queue from dropping spans
    tp.force_flush()
    tp.shutdown()


def measure(binary: Path, tenants: int, versions: int, requests: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint}, tmp))
        with run_collector(binary, spec, tmp) as col:
            host = lambda url: url.split("//")[1].split("/")[0]  # noqa: E731
            cfg = prometheus_config.build(spec, [host(col.metrics_url)], [host(col.telemetry_url)], [], ["rules.yaml"], scrape_interval="5s")
            prom = localstack.start_prometheus(cfg, tmp / "prometheus", {"rules.yaml": render.to_yaml(rules.build(spec))})
            try:
                send(col.otlp_grpc, tenants, versions, requests, seed=tenants)
                q = 'count by (__name__) ({__name__=~"genai_o11y_.*",job="genai-o11y-sidecar"})'
                last: dict = {}

                def settled():
                    cur = {r["metric"]["__name__"]: int(r["value"][1]) for r in localstack.prom_query(prom.url, q)}
                    nonlocal last
                    if os.environ.get("SERIES_DEBUG"):
                        print(sum(cur.values()), len(cur), localstack.prom_query(prom.url, 'scrape_duration_seconds{job="genai-o11y-sidecar"} or up{job="genai-o11y-sidecar"}'), file=sys.stderr)
                    stable = bool(cur) and cur == last
                    last = cur
                    return cur if stable else None

                per_metric = wait_for(settled, timeout=120, interval=4, what="series to settle")
                tenant_series = int(localstack.prom_query(prom.url, 'max(count by (__name__) ({__name__=~"genai_o11y_tenant_.*"}))')[0]["value"][1])
            finally:
                prom.stop()
    calls = per_metric.get("genai_o11y_span_calls_total", 0)
    # label sets per metric, as span_metrics counts them: a histogram's label set once (its _count)
    label_sets = {k: v for k, v in per_metric.items() if not k.endswith(("_bucket", "_sum"))}
    return {"tenants": tenants, "per_metric": per_metric, "label_sets": label_sets, "total": sum(per_metric.values()), "calls": calls,
            "tenants_tracked": tenant_series, "budget": spec.cardinality.max_series_per_metric, "max_tenants": spec.cardinality.max_tenants}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--versions", type=int, default=50)
    args = ap.parse_args()
    binary = toolchain.collector_path()
    if binary is None:
        sys.exit("build the collector first: make collector")
    print(f"# Series in Prometheus ({platform.machine()}, {os.cpu_count()} cores; {args.requests} requests, {args.versions} prompt versions, 4 routes, 3 models)\n")
    print("| tenants | span metrics label sets (budget + overflow) | most label sets of any other metric | tenants tracked per tenant metric (max_tenants) | all genai_o11y series | within budget |")
    print("|---|---|---|---|---|---|")
    for tenants in (10, 100, 1000):
        t0 = time.time()
        r = measure(binary, tenants, args.versions, args.requests)
        others = {k: v for k, v in r["label_sets"].items() if not k.startswith("genai_o11y_span_")}
        top = max(others, key=others.get)
        ok = r["calls"] <= r["budget"] + 1 and r["tenants_tracked"] <= r["max_tenants"] and others[top] <= r["budget"]
        print(f"| {tenants} | {r['calls']} ({r['budget']} + 1) | {others[top]} ({top}) | {r['tenants_tracked']} ({r['max_tenants']}) | {r['total']} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
