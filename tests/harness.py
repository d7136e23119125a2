"""Test harness: the real collector on free ports, a real OTLP sink standing in for Tempo, real spans.

Nothing here fakes the collector: spans go through opentelemetry-sdk's OTLP exporter into the built
binary running the generated config, and we read what leaves it (the sink, the Prometheus endpoint).
"""

from __future__ import annotations

import contextlib
import copy
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import grpc
import yaml
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

import pii_corpus as corpus
from genai_o11y import localstack, render
from genai_o11y.builders import collector as collector_builder
from genai_o11y.spec import Spec, default_text


TEST_SALT = "test-salt-0123456789"

SCHEMAS_ENV = "GENAI_O11Y_SCHEMAS"


def schema_file(name: str) -> Path:
    """A JSON schema the tests validate generated files against (Compose, Grafana, SchemaStore's; see
    their README): from $GENAI_O11Y_SCHEMAS, else `shared/schemas` beside the repository (where CI puts
    them). Missing is a failure that says where they are looked for, never a skip."""
    import pytest

    base = Path(os.environ.get(SCHEMAS_ENV) or Path(__file__).resolve().parents[2] / "shared" / "schemas")
    path = base / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the schema tests read {name} from ${SCHEMAS_ENV} or from shared/schemas "
                    "beside the repository (see shared/schemas/README.md for each file's public source)")
    return path


def free_port() -> int:
    from genai_o11y import localstack

    return localstack.free_port()  # below the ephemeral range: see there


def spec_dict() -> dict:
    return yaml.safe_load(default_text())


def set_path(doc: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = doc
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
    cur[keys[-1]] = value


def make_spec(overrides: dict[str, Any] | None = None, base: dict | None = None) -> Spec:
    doc = copy.deepcopy(base or spec_dict())
    for k, v in (overrides or {}).items():
        set_path(doc, k, v)
    return Spec.model_validate(doc)


# --- OTLP sink ----------------------------------------------------------------------------------------

class _TraceSink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.lock = threading.Lock()
        self.fail_with: grpc.StatusCode | None = None

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        if self.fail_with is not None:
            context.abort(self.fail_with, "sink told to fail")
        with self.lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _LogsSink(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self) -> None:
        self.requests: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        with self.lock:
            self.requests.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()


@dataclass
class SinkSpan:
    trace_id: str
    span_id: str
    name: str
    attributes: dict
    resource: dict
    status_code: int
    events: list = field(default_factory=list)
    parent_span_id: str = ""  # hex; empty for a root span
    start_ns: int = 0  # unix nanoseconds
    end_ns: int = 0


def _attrs(kvs) -> dict:
    return {kv.key: localstack.otlp_value(kv.value) for kv in kvs}


class OtlpSink:
    """An OTLP/gRPC trace receiver on a free port (stands in for Tempo); it takes logs too (`logs`)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.servicer = _TraceSink()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self.servicer, self.server)
        self.logs = _LogsSink()
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(self.logs, self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def __enter__(self) -> "OtlpSink":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop(grace=None)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spans(self) -> list[SinkSpan]:
        out = []
        with self.servicer.lock:
            reqs = list(self.servicer.requests)
        for req in reqs:
            for rs in req.resource_spans:
                res = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(
                            SinkSpan(
                                s.trace_id.hex(), s.span_id.hex(), s.name, _attrs(s.attributes), res, s.status.code,
                                [(e.name, _attrs(e.attributes)) for e in s.events], s.parent_span_id.hex(),
                                s.start_time_unix_nano, s.end_time_unix_nano,
                            )
                        )
        return out

    def trace_ids(self) -> set[str]:
        return {s.trace_id for s in self.spans()}


# --- the collector -------------------------------------------------------------------------------------

@dataclass
class Collector:
    proc: subprocess.Popen
    config_path: Path
    log_path: Path
    otlp_grpc: str
    otlp_http: str
    metrics_url: str
    telemetry_url: str
    health_url: str

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            return r.read().decode()

    def samples(self, url: str | None = None) -> list:
        with urllib.request.urlopen(url or self.metrics_url, timeout=5) as r:
            text = r.read().decode()
        out = []
        for fam in text_string_to_metric_families(text):
            out.extend(fam.samples)
        return out

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def collector_ports(spec_overrides: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """A single sidecar on free ports. It samples itself (gateway.enabled: false) unless the overrides say
    otherwise: the single-sidecar tests check the sidecar's stages and the sampling branch, which is the
    same function on either tier; the gateway topology (sidecars -> gateways) is test_gateway_e2e.py's."""
    ports = {k: free_port() for k in ("grpc", "http", "metrics", "telemetry", "health")}
    o = {
        "gateway.enabled": False,
        "collector.otlp_grpc_endpoint": f"127.0.0.1:{ports['grpc']}",
        "collector.otlp_http_endpoint": f"127.0.0.1:{ports['http']}",
        "collector.metrics_endpoint": f"127.0.0.1:{ports['metrics']}",
        "collector.telemetry_endpoint": f"127.0.0.1:{ports['telemetry']}",
        "collector.health_endpoint": f"127.0.0.1:{ports['health']}",
        "collector.queue_directory": str(tmp / "queue"),
        "collector.metrics_flush_interval_seconds": 1,
    }
    o.update(spec_overrides)
    return o


@contextmanager
def run_collector(binary: Path, spec: Spec, tmp: Path, env: dict | None = None, config: dict | None = None) -> Iterator[Collector]:
    """The collector with the config generated from `spec` (or `config`, built from it by the caller)."""
    cfg = config or collector_builder.build(spec)
    path = tmp / "otelcol.yaml"
    path.write_text(render.to_yaml(cfg))
    log = tmp / "otelcol.log"
    c = spec.collector
    proc = subprocess.Popen(
        [str(binary), f"--config={path}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=dict(os.environ, **{"GENAI_O11Y_HASH_SALT": TEST_SALT, **(env or {})}),
    )
    col = Collector(
        proc, path, log, c.otlp_grpc_endpoint, c.otlp_http_endpoint,
        f"http://{c.metrics_endpoint}/metrics", f"http://{c.telemetry_endpoint}/metrics", f"http://{c.health_endpoint}/",
    )
    try:
        wait_healthy(col)
        yield col
    finally:
        stop(proc)


def gateway_ports(tmp: Path) -> dict[str, Any]:
    """One gateway replica's ports and queue (spec overrides), on loopback."""
    return {"gateway.otlp_grpc_port": free_port(), "gateway.telemetry_port": free_port(), "gateway.health_port": free_port(),
            "gateway.queue_directory": str(tmp / "queue")}


def gateway_spec(spec: Spec, ports: dict[str, Any]) -> Spec:
    """`spec` with one replica's ports (from gateway_ports)."""
    g = spec.gateway.model_copy(update={k.split(".", 1)[1]: v for k, v in ports.items()})
    return spec.model_copy(update={"gateway": g})


@contextmanager
def run_gateway(binary: Path, spec: Spec, tmp: Path, env: dict | None = None, host: str = "127.0.0.1") -> Iterator[Collector]:
    """One gateway replica with the config generated from `spec` (its ports: gateway_spec), on loopback
    address `host` (127.0.0.1, another 127/8 address, or ::1)."""
    from genai_o11y.builders import gateway as gateway_builder

    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "gateway.yaml"
    hp = f"[{host}]" if ":" in host else host  # host as it goes before :port
    cfg = gateway_builder.build(spec, listen_host=hp)
    cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["host"] = host
    path.write_text(render.to_yaml(cfg))
    log = tmp / "gateway.log"
    g = spec.gateway
    proc = subprocess.Popen([str(binary), f"--config={path}"], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, **gateway_builder.runtime_env(spec), **(env or {})))
    col = Collector(proc, path, log, f"{hp}:{g.otlp_grpc_port}", "", "", f"http://{hp}:{g.telemetry_port}/metrics",
                    f"http://{hp}:{g.health_port}/")
    try:
        wait_healthy(col)
        yield col
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a process we started (unless a test already killed it), killing it after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_healthy(col: Collector, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if col.proc.poll() is not None:
            raise RuntimeError(f"collector exited with {col.proc.returncode}:\n{col.log()[-4000:]}")
        try:
            with urllib.request.urlopen(col.health_url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"collector not healthy after {timeout}s:\n{col.log()[-4000:]}")


def wait_for(predicate, timeout: float = 20, interval: float = 0.25, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def prometheus_for(spec: Spec, col: Collector, tmp: Path, alertmanagers: list[str] = (), storage: Path | None = None,
                   gateways: list[Collector] = ()):
    """A real Prometheus 3 scraping `col` (span metrics and the collector's own) and `gateways` (job
    gateway_job) with the rules generated from `spec`, every 2 s, rules evaluated every 5 s;
    `alertmanagers`: host:port. Stop it."""
    from genai_o11y import localstack
    from genai_o11y.builders import prometheus_config, rules

    host = lambda url: url.split("//")[1].split("/")[0]  # noqa: E731
    cfg = prometheus_config.build(spec, sidecar_targets=[host(col.metrics_url)], collector_targets=[host(col.telemetry_url)],
                                  alertmanagers=list(alertmanagers), rule_files=["rules.yaml"], scrape_interval="2s", evaluation_interval="5s",
                                  gateway_targets=[host(g.telemetry_url) for g in gateways])
    return localstack.start_prometheus(cfg, tmp / "prometheus", {"rules.yaml": render.to_yaml(rules.build(spec))}, storage=storage)


# --- sending spans ---------------------------------------------------------------------------------------

def tracer_provider(endpoint: str, resource: dict | None = None):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    res = Resource.create(resource or {"service.name": "support-copilot", "service.version": "2026.11.1"})
    tp = TracerProvider(resource=res)
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://{endpoint}", insecure=True), max_export_batch_size=512, schedule_delay_millis=200))
    return tp


def metric_value(samples: list, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    found = False
    for s in samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
            found = True
    return total if found else float("nan")


def samples_at(url: str, name: str, **labels) -> float:
    """Sum of one metric's samples (with these labels) at a Prometheus endpoint; 0 when absent."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


# --- a fake OpenAI API on loopback ------------------------------------------------------------------------

class FakeOpenAI:
    """An OpenAI-compatible HTTP server on 127.0.0.1 (chat completions and embeddings) for the real
    `openai` client and the instrumentations wrapping it. `fail_every`: every n-th call (counted
    over all endpoints) is answered 429 with OpenAI's rate-limit error body; `fail_all` answers every
    call so (an error burst). Counts what it answered."""

    def __init__(self, fail_every: int = 0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.fail_every, self.fail_all = fail_every, False
        self.lock = threading.Lock()
        self.calls = self.failed = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                import json

                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with fake.lock:
                    fake.calls += 1
                    fail = fake.fail_all or (fake.fail_every > 0 and fake.calls % fake.fail_every == 0)
                    fake.failed += fail
                if fail:
                    status, body = 429, {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
                elif self.path.endswith("/embeddings"):
                    status, body = 200, {"object": "list", "model": req.get("model", "text-embedding-3-small"),
                                         "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                                         "usage": {"prompt_tokens": 8, "total_tokens": 8}}
                else:
                    status, body = 200, {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-2024-08-06",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Your order shipped."}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
                    }
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> "FakeOpenAI":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def client(self):
        """An openai client on this server that does not retry (a 429 is one failed call)."""
        import openai

        return openai.OpenAI(api_key="test-key", base_url=self.base_url, max_retries=0)


# --- OTLP JSON (the file exporter's format) and the demo's spans -----------------------------------------

def otlp_json(spans) -> str:
    """SDK spans as one line of OTLP JSON, as the collector's file exporter writes it (ids in hex)."""
    import base64
    import json

    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    def hexify(obj):
        if isinstance(obj, dict):
            return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str) else hexify(v))
                    for k, v in obj.items()}
        if isinstance(obj, list):
            return [hexify(x) for x in obj]
        return obj

    return json.dumps(hexify(MessageToDict(encode_spans(spans)))) + "\n"


def demo_spans(scenario: str, requests: int, seed: int = 1) -> list:
    """The demo app's real spans (stand-in model, no sleeping)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from genai_o11y.demo import scenarios
    from genai_o11y.demo.app import SupportCopilot
    from genai_o11y.instrument.core import EnrichingSpanProcessor, Observability

    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(EnrichingSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(mem))
    app = SupportCopilot(Observability(tp), scenarios.get(scenario), seed=seed, time_scale=0)
    for _ in range(requests):
        app.ask()
    return list(mem.get_finished_spans())


def write_otlp_json(path: Path, spans, per_line: int = 200) -> Path:
    path.write_text("".join(otlp_json(spans[i:i + per_line]) for i in range(0, len(spans), per_line)))
    return path


# --- raw OTLP spans, and the PII corpus as spans (shared by the redaction, engine and cost tests) -----------

#: What the redaction tests' collectors share: a short decision wait.
REDACTION_BASE = {"gateway.decision_wait_seconds": 1}
ID_PATH = "GET /users/123456/orders/3f2b8c1e-9d4a-4c7b-8e2f-1a2b3c4d5e6f for jane.doe@example.com"
#: Tier 1 metadata that looks like PII (a card-like response id, an IP-like conversation id): kept verbatim.
TIER1 = {
    "gen_ai.request.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "resp_4111111111111111",  # looks like a card: Tier 1 is never masked
    "gen_ai.conversation.id": "conv-192.168.1.1",
    "gen_ai.usage.input_tokens": 1234,
    "gen_ai.response.finish_reasons": ["stop"],
    "genai_o11y.route": "faq",
    "genai_o11y.prompt.version": "v7",
    "error.type": "TimeoutError",
}


def kv(key, value) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=av(value))


def av(value) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, bytes):
        return common_pb2.AnyValue(bytes_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[av(v) for v in value]))
    if isinstance(value, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[kv(k, v) for k, v in value.items()]))
    return common_pb2.AnyValue(string_value=str(value))


def span_pb(trace_id: int, name: str, attrs: dict, events: list[tuple[str, dict]] = (), error: bool = True) -> trace_pb2.Span:
    now = time.time_ns()
    return trace_pb2.Span(
        trace_id=trace_id.to_bytes(16, "big"), span_id=(trace_id & 0xFFFFFFFFFFFF | 1).to_bytes(8, "big"), name=name,
        start_time_unix_nano=now - 5_000_000, end_time_unix_nano=now,
        attributes=[kv(k, v) for k, v in attrs.items()],
        events=[trace_pb2.Span.Event(name=n, time_unix_nano=now, attributes=[kv(k, v) for k, v in a.items()]) for n, a in events],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR if error else trace_pb2.Status.STATUS_CODE_UNSET),
    )


def send(endpoint: str, items: list[tuple[dict, trace_pb2.Span]]) -> None:
    req = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=resource_pb2.Resource(attributes=[kv(k, v) for k, v in res.items()]), scope_spans=[trace_pb2.ScopeSpans(spans=[sp])])
            for res, sp in items
        ]
    )
    with grpc.insecure_channel(endpoint) as ch:
        trace_service_pb2_grpc.TraceServiceStub(ch).Export(req, timeout=30)


def case_span(case: corpus.Case, service: str) -> tuple[dict, trace_pb2.Span]:
    """Place the case's text where case.place says."""
    res = {"service.name": service}
    attrs: dict = {"genai_o11y.stage": "model_call", "corpus.case": case.id}
    name, events = "chat", []
    t = case.text
    if case.place == "content":
        attrs["gen_ai.input.messages"] = t
    elif case.place == "unknown_key":
        attrs["app.customer_note"] = t
    elif case.place == "event_message":
        events = [("exception", {"exception.type": "ValueError", "exception.message": t})]
    elif case.place == "event_stacktrace":
        events = [("exception", {"exception.type": "ValueError", "exception.stacktrace": f'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: {t}'})]
    elif case.place == "span_name":
        name = f"lookup {t}"
    elif case.place == "url":
        attrs["url.full"] = case.value if case.kind == "URL_CREDENTIALS" else f"https://api.example.com/v1/search?q={t}"
    elif case.place == "resource":
        res["app.owner_contact"] = t
    elif case.place == "nested_list":
        attrs["gen_ai.output.messages"] = [{"role": "assistant", "content": t}, "plain " + t]
    elif case.place == "url_encoded":  # a query string as a browser sends it: %XX, + for a space
        attrs["url.full"] = encoded_url(t)
    return res, span_pb(1_000_000 + case.id, name, attrs, events)


def encoded_url(text: str) -> str:
    return "https://api.example.com/v1/search?q=" + urllib.parse.quote_plus(text) + "&page=2"


def corpus_items(exclude_places: tuple[str, ...] = ()) -> list[tuple[dict, trace_pb2.Span]]:
    """The whole corpus, the decoys, and the Tier 1 and id probes, one span (and trace) each."""
    items = [case_span(c, "corpus-bot") for c in corpus.cases() if c.place not in exclude_places]
    for i, (_d, text) in enumerate(corpus.decoy_texts()):
        items.append(({"service.name": "decoy-bot"}, span_pb(5_000_000 + i, "chat", {"genai_o11y.stage": "model_call", "gen_ai.input.messages": text, "decoy": i})))
    items.append(({"service.name": "probe-bot", "user.id": "u-resource-7"}, span_pb(9_000_001, "probe", {
        **TIER1, "user.id": "user-8812", "session.id": 99120, "genai_o11y.account.id": "acct-55",
        "gen_ai.input.messages": "a" * 2000 + " mail jane.doe@example.com card 4111 1111 1111 1111 ip 10.0.0.7",
    }, events=[("exception", {"exception.type": "KeyError", "exception.message": "no user jane.doe@example.com", "user.id": "user-8812"})])))
    items.append(({"service.name": "probe-bot"}, span_pb(9_000_002, ID_PATH, {"genai_o11y.stage": "request"})))
    return items


@contextlib.contextmanager
def through_collector(otelcol, tmp, items, overrides: dict | None = None):
    """`items` through one collector with the default spec (+ overrides); yields it and its sink."""
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, "redaction.max_content_chars": 512, **REDACTION_BASE, **(overrides or {})}, tmp))
        with run_collector(otelcol, spec, tmp) as col:
            for k in range(0, len(items), 100):
                send(col.otlp_grpc, items[k:k + 100])
            wait_for(lambda: len(sink.spans()) >= len(items), timeout=60, what="every span at the sink")
            yield spec, col, sink


# --- dashboard queries as Prometheus runs them (test_dashboards, test_cortex) ----------------------------

#: Grafana's variables and macros, as a query here runs them (every variable: all values).
BOARD_SUBST = {"$__rate_interval": "2m", "$__range": "15m", "${datasource}": "", "$trace_id": ""}
BOARD_VARS = ["environment", "service", "model", "route", "tenant", "prompt_version"]


def board_exprs(boards: dict) -> Iterator[tuple[str, str, str, str, bool]]:
    """(board, what, expr, legend, exemplar) for every PromQL expression of every board."""
    for uid, b in boards.items():
        for p in b["panels"]:
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("type") == "prometheus":
                    yield uid, f"{p['title']} [{t['refId']}]", t["expr"], t.get("legendFormat", ""), bool(t.get("exemplar"))
        for a in b["annotations"]["list"]:
            if "expr" in a:
                yield uid, f"annotation {a['name']}", a["expr"], "", False


def substitute(expr: str) -> str:
    for k, v in BOARD_SUBST.items():
        expr = expr.replace(k, v)
    for v in BOARD_VARS:
        expr = expr.replace(f"${v}", ".*")
    return expr
