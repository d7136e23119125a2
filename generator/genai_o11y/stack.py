"""`genai-o11y up` (README command 1, `make run`): the whole stack as local processes, no Docker.

Generates from the spec (the embedded default unless given), starts a webhook receiver (the pager and
chat stand-in), an OTLP trace receiver (the Tempo stand-in), our collector, Alertmanager and
Prometheus with the generated configs, runs the demo app healthy and then with a fault scenario,
prints progress, the alerts firing and the notifications delivered, with the URLs to look at.
Ctrl-C (or --exit-when-paged) stops everything it started; nothing is left behind.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from concurrent import futures
from pathlib import Path

from . import localstack, render, toolchain
from .builders import alertmanager, collector, prometheus_config, rules
from .errors import ToolMissing
from .spec import Spec, load


class TraceReceiver:
    """OTLP/gRPC trace receiver on loopback that counts what the sidecar exports (Tempo stand-in)."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        outer = self
        self.spans = 0
        self.traces: set[bytes] = set()
        self.lock = threading.Lock()

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802
                with outer.lock:
                    for rs in request.resource_spans:
                        for ss in rs.scope_spans:
                            for s in ss.spans:
                                outer.spans += 1
                                outer.traces.add(s.trace_id)
                return trace_service_pb2.ExportTraceServiceResponse()

        self.port = localstack.free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def start(self) -> "TraceReceiver":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)


def local_spec(spec: Spec, work: Path, hook: localstack.WebhookReceiver, tempo: TraceReceiver, sustain_minutes: int | None) -> Spec:
    """The spec with loopback ports, the local stand-ins as backends, and the queue under `work`."""
    p = {k: localstack.free_port() for k in ("grpc", "http", "metrics", "telemetry", "health")}
    doc = spec.model_dump(mode="json", exclude_none=False)
    doc["collector"].update({
        "otlp_grpc_endpoint": f"127.0.0.1:{p['grpc']}", "otlp_http_endpoint": f"127.0.0.1:{p['http']}",
        "metrics_endpoint": f"127.0.0.1:{p['metrics']}", "telemetry_endpoint": f"127.0.0.1:{p['telemetry']}",
        "health_endpoint": f"127.0.0.1:{p['health']}", "queue_directory": str(work / "queue"), "metrics_flush_interval_seconds": 5,
    })
    doc["backends"]["tempo"]["endpoint"] = f"127.0.0.1:{tempo.port}"
    doc["alerting"]["receivers"] = {"pager": {"webhook_url": hook.url("pager")}, "chat": {"webhook_url": hook.url("chat")}}
    if sustain_minutes:
        doc["alerting"]["thresholds"]["sustain_minutes"] = sustain_minutes
    return Spec.model_validate(doc)


class Stack:
    def __init__(self, work: Path, spec_path: str | None = None, sustain_minutes: int | None = None, out=print) -> None:
        self.work = work
        self.spec_path = spec_path
        self.sustain_minutes = sustain_minutes
        self.out = out
        self.procs: list[localstack.Proc] = []
        self.hook = localstack.WebhookReceiver()
        self.tempo = TraceReceiver()
        self.spec: Spec | None = None
        self.prom_url = self.am_url = ""

    def start(self) -> None:
        binary = toolchain.collector_path()
        if binary is None:
            raise ToolMissing("the collector is not built: run `make collector` (make run does)")
        self.work.mkdir(parents=True, exist_ok=True)
        self.hook.__enter__()
        self.tempo.start()
        spec = self.spec = local_spec(load(self.spec_path), self.work, self.hook, self.tempo, self.sustain_minutes)
        c = spec.collector
        (self.work / "otelcol.yaml").write_text(render.to_yaml(collector.build(spec)))
        env = {**os.environ, **collector.runtime_env(spec)}
        if not env.get("GENAI_O11Y_HASH_SALT"):
            env["GENAI_O11Y_HASH_SALT"] = secrets.token_hex(16)
            self.out("  GENAI_O11Y_HASH_SALT is not set: using a random salt for this run (ids hash differently next run)")
        col = localstack._start("collector", [str(binary), f"--config={self.work / 'otelcol.yaml'}"], self.work / "collector",
                                f"http://{c.health_endpoint}", "/", env=env)
        self.procs.append(col)
        am = localstack.start_alertmanager(render.to_yaml(alertmanager.build(spec)), self.work / "alertmanager")
        self.procs.append(am)
        self.am_url = am.url
        cfg = prometheus_config.build(spec, [c.metrics_endpoint], [c.telemetry_endpoint], [am.url.split("//")[1]], ["rules.yaml"],
                                      scrape_interval="5s", evaluation_interval="15s")
        prom = localstack.start_prometheus(cfg, self.work / "prometheus", {"rules.yaml": render.to_yaml(rules.build(spec))})
        self.procs.append(prom)
        self.prom_url = prom.url
        (self.work / "pids").write_text("\n".join(str(p.proc.pid) for p in self.procs) + "\n")

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()
        try:
            self.tempo.stop()
        finally:
            self.hook.__exit__(None, None, None)

    def firing(self) -> list[str]:
        try:
            return sorted({f"{a['labels']['alertname']}({a['state']})" for a in localstack.prom_alerts(self.prom_url)})
        except OSError:
            return []


def up(spec_path: str | None, work: Path, scenario: str, baseline_s: int, rps: float, exit_when_paged: bool, timeout_s: int,
       sustain_minutes: int | None, out=print) -> int:
    from . import instrument
    from .demo import scenarios
    from .demo.run import Traffic

    fault = scenarios.get(scenario)
    stack = Stack(work, spec_path, sustain_minutes, out)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    traffic = None
    try:
        out("genai-o11y: starting the local stack (collector, Prometheus, Alertmanager, webhook, Tempo stand-in)")
        stack.start()
        spec = stack.spec
        assert spec is not None
        c = spec.collector
        out(f"  Prometheus     {stack.prom_url}   (alerts: {stack.prom_url}/alerts)")
        out(f"  Alertmanager   {stack.am_url}")
        out(f"  sidecar        OTLP {c.otlp_grpc_endpoint}, metrics http://{c.metrics_endpoint}/metrics, own telemetry http://{c.telemetry_endpoint}/metrics")
        out(f"  webhooks       {stack.hook.url('pager')}  {stack.hook.url('chat')}")
        out(f"  logs           {work}/*/*.log")
        os.environ.setdefault("GENAI_O11Y_HASH_SALT", secrets.token_hex(16))
        obs = instrument.setup(spec.app.services[0], endpoint=c.otlp_grpc_endpoint, release=os.environ.get("GENAI_O11Y_RELEASE", "demo-1"), set_global=False)
        traffic = Traffic(obs, rps=rps).start()
        out(f"ready: demo traffic at {rps:g} requests/s, healthy for {baseline_s}s, then scenario {fault.describe()}  (Ctrl-C stops)")
        started = time.monotonic()
        injected_at = injected_wall = None
        seen: set[tuple[str, str]] = set()
        paged = None
        while not stop.is_set():
            stop.wait(5)
            now = time.monotonic()
            if injected_at is None and now - started >= baseline_s:
                traffic.switch(fault)
                injected_at, injected_wall = now, time.time()
                out(f"[{now - started:5.0f}s] injected: {fault.describe()}")
            for receiver in ("pager", "chat"):
                for note in stack.hook.received(receiver):
                    for name in sorted(note.alertnames()):
                        if (receiver, name) not in seen:
                            seen.add((receiver, name))
                            since = f"{note.received_at - injected_wall:.0f}s after injection" if injected_wall else "before injection"
                            out(f"[{now - started:5.0f}s] NOTIFIED {receiver}: {name} ({since})")
                            if receiver == "pager" and paged is None:
                                paged = name
            s = traffic.stats
            out(f"[{now - started:5.0f}s] requests {s.sent} (failed {s.failed}), traces at Tempo {len(stack.tempo.traces)}, "
                f"dropped by the helper {obs.dropped_spans}; alerts: {', '.join(stack.firing()) or 'none'}")
            if exit_when_paged and paged:
                out(f"paged: {paged}; stopping (--exit-when-paged)")
                break
            if timeout_s and now - started > timeout_s:
                out(f"timeout after {timeout_s}s without a page")
                return 1
        return 0
    finally:
        out("stopping: demo, Prometheus, Alertmanager, collector")
        if traffic is not None:
            traffic.close()
            traffic.obs.provider.shutdown()
        stack.stop()
        signal.signal(signal.SIGINT, previous)
        out("stopped; nothing left running")

