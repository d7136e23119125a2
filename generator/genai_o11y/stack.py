"""`genai-o11y up` (README command 1, `make run`): the whole stack as local processes, no Docker.

Generates from the spec (the embedded default unless given), starts a webhook receiver (the pager and
chat stand-in), an OTLP trace receiver (the Tempo stand-in), the topology a deploy runs (with
gateway.enabled, the default: gateway.replicas gateway processes, then our collector as the sidecar,
its load_balancing exporter listing every gateway: static resolver on loopback), Alertmanager and
Prometheus (scraping the sidecar and every gateway) with the generated configs, runs the demo app healthy and then with a fault scenario,
prints progress, the alerts firing and the notifications delivered, with the URLs to look at.
Ctrl-C (or --exit-when-paged) stops everything it started; nothing is left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import threading
import time
from concurrent import futures
from pathlib import Path

from . import artifacts, localstack, names as n, render, toolchain
from .builders import alertmanager, collector, gateway, prometheus_config, rules, runbook
from .builders import sampling
from .errors import ToolMissing, UserError
from .spec import Spec, load


class TraceReceiver:
    """OTLP/gRPC trace receiver on loopback standing in for Tempo: counts what the sampling tier exports,
    writes every span as a JSON line to `spans_file` (what Tempo would hold, after redaction), and keeps
    the spans of the last few traces with an error, to show the on-call one."""

    KEEP_FAILED = 20

    def __init__(self, spans_file: Path | None = None) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        outer = self
        self.spans = 0
        self.traces: set[bytes] = set()
        self.failed: dict[str, list[dict]] = {}  # trace id (hex) -> its spans, newest traces last
        self._by_trace: dict[str, list[dict]] = {}
        self.lock = threading.Lock()
        self.spans_file = spans_file
        self._out = None
        if spans_file is not None:
            spans_file.parent.mkdir(parents=True, exist_ok=True)
            self._out = spans_file.open("w", encoding="utf-8")

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802
                with outer.lock:
                    for rs in request.resource_spans:
                        service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
                        for ss in rs.scope_spans:
                            for s in ss.spans:
                                outer.spans += 1
                                outer.traces.add(s.trace_id)
                                outer._keep(service, s)
                    if outer._out:
                        outer._out.flush()
                return trace_service_pb2.ExportTraceServiceResponse()

        self.port = localstack.free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def _keep(self, service: str, s) -> None:
        attrs = {a.key: localstack.otlp_value(a.value) for a in s.attributes}
        row = {
            "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(), "parent_span_id": s.parent_span_id.hex(), "service": service,
            "name": s.name, "stage": attrs.get(n.STAGE, ""), "start_ns": s.start_time_unix_nano, "end_ns": s.end_time_unix_nano,
            "status": {0: "unset", 1: "ok", 2: "error"}.get(s.status.code, str(s.status.code)), "attributes": attrs,
        }
        if self._out:
            self._out.write(json.dumps(row, default=str) + "\n")
        tid = row["trace_id"]
        spans = self._by_trace.setdefault(tid, [])
        spans.append(row)
        if len(self._by_trace) > 500:  # bounded: the oldest trace goes
            self._by_trace.pop(next(iter(self._by_trace)))
        if row["status"] == "error" or tid in self.failed:
            self.failed[tid] = spans
            while len(self.failed) > self.KEEP_FAILED:
                self.failed.pop(next(iter(self.failed)))

    def failed_trace(self) -> tuple[str, list[dict]] | None:
        """The most recent failing trace whose root span has arrived: (trace id, spans)."""
        with self.lock:
            for tid in reversed(list(self.failed)):
                spans = list(self.failed[tid])
                if any(not r["parent_span_id"] for r in spans):
                    return tid, spans
        return None

    def trace_where(self, pred) -> tuple[str, list[dict]] | None:
        """The most recent trace (of the last few hundred) whose root span has arrived and one of whose spans
        satisfies `pred` (a span row): (trace id, spans)."""
        with self.lock:
            for tid in reversed(list(self._by_trace)):
                spans = list(self._by_trace[tid])
                if any(not r["parent_span_id"] for r in spans) and any(pred(r) for r in spans):
                    return tid, spans
        return None

    def start(self) -> "TraceReceiver":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=None)
        if self._out:
            self._out.close()


def waterfall(spans: list[dict], width: int = 40) -> list[str]:
    """A trace as text, spans in start order indented under their parents, each bar placed in time."""
    if not spans:
        return []
    t0 = min(r["start_ns"] for r in spans)
    total = max(max(r["end_ns"] for r in spans) - t0, 1)
    children: dict[str, list[dict]] = {}
    ids = {r["span_id"] for r in spans}
    for r in sorted(spans, key=lambda r: r["start_ns"]):
        children.setdefault(r["parent_span_id"] if r["parent_span_id"] in ids else "", []).append(r)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for r in children.get(parent, []):
            a = int((r["start_ns"] - t0) / total * width)
            b = max(a + 1, int((r["end_ns"] - t0) / total * width))
            label = ("  " * depth + (r["stage"] or r["name"]))[:28]
            mark = " ERROR " + str(r["attributes"].get(n.ERROR_TYPE, "")) if r["status"] == "error" else ""
            lines.append(f"{label:28} |{' ' * a}{'#' * (b - a)}{' ' * (width - b)}| {(r['end_ns'] - r['start_ns']) / 1e6:7.1f} ms{mark}")
            walk(r["span_id"], depth + 1)

    walk("", 0)
    return lines


def local_spec(spec: Spec, work: Path, hook: localstack.WebhookReceiver, tempo: TraceReceiver, sustain_minutes: int | None) -> Spec:
    """The spec with loopback ports, the local stand-ins as backends, and the queue under `work`."""
    p = {k: localstack.free_port() for k in ("grpc", "http", "metrics", "telemetry", "health")}
    doc = spec.model_dump(mode="json", exclude_none=False)
    doc["collector"].update({
        "otlp_grpc_endpoint": f"127.0.0.1:{p['grpc']}", "otlp_http_endpoint": f"127.0.0.1:{p['http']}",
        "metrics_endpoint": f"127.0.0.1:{p['metrics']}", "telemetry_endpoint": f"127.0.0.1:{p['telemetry']}",
        "health_endpoint": f"127.0.0.1:{p['health']}", "queue_directory": str(work / "queue"), "metrics_flush_interval_seconds": 5,
    })
    if doc["evals"]["dataset"]["enabled"]:  # the file exporter writes into an existing directory
        doc["evals"]["dataset"]["path"] = str(work / "evals" / "traces.jsonl")
        (work / "evals").mkdir(parents=True, exist_ok=True)
    if doc["gateway"]["enabled"]:
        # the replicas listen on loopback ports of their own (gateway_specs); the sidecar lists them all
        doc["gateway"]["static_endpoints"] = [f"127.0.0.1:{localstack.free_port()}" for _ in range(doc["gateway"]["replicas"])]
    doc["backends"]["tempo"]["endpoint"] = f"127.0.0.1:{tempo.port}"
    doc["alerting"]["receivers"] = {"pager": {"webhook_url": hook.url("pager")}, "chat": {"webhook_url": hook.url("chat")}}
    if sustain_minutes:
        doc["alerting"]["thresholds"]["sustain_minutes"] = sustain_minutes
    return Spec.model_validate(doc)


def gateway_specs(spec: Spec, work: Path) -> list[Spec]:
    """One spec per local gateway replica: its OTLP port from gateway.static_endpoints (local_spec), its own
    telemetry and health ports, queue and eval-dataset file under `work`/gateways/<i>."""
    out = []
    for i, endpoint in enumerate(spec.gateway.static_endpoints, 1):
        d = work / "gateways" / str(i)
        g = spec.gateway.model_copy(update={"otlp_grpc_port": int(endpoint.rsplit(":", 1)[1]), "telemetry_port": localstack.free_port(),
                                            "health_port": localstack.free_port(), "queue_directory": str(d / "queue")})
        update = {"gateway": g}
        if spec.evals.dataset.enabled:  # replicas cannot share a file: each writes its own
            (d / "evals").mkdir(parents=True, exist_ok=True)
            update["evals"] = spec.evals.model_copy(update={"dataset": spec.evals.dataset.model_copy(update={"path": str(d / "evals" / "traces.jsonl")})})
        out.append(spec.model_copy(update=update))
    return out


RUN_DIRS = ("collector", "prometheus", "alertmanager", "queue", "tempo", "webhook", "evals", "gateways")
RUN_FILES = ("otelcol.yaml", "runbook.md", "pids", "pids.last")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")  # a zombie is not running
    try:
        return stat.read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def prepare_workdir(work: Path) -> bool:
    """Make `work` ready for a new run: refuse while another `up` runs in it (its pids are alive), else
    clear what a previous run left (Prometheus' TSDB, the export queue, logs), so old alerts and spans
    cannot leak into this run. Returns whether anything was cleared."""
    pids_file = work / "pids"
    if pids_file.is_file():
        running = [int(p) for p in pids_file.read_text().split() if p.isdigit() and _alive(int(p))]
        if running:
            raise UserError(f"{work}: another `genai-o11y up` is using this directory (pids {', '.join(map(str, running))} are "
                            "running); stop it (Ctrl-C) or give this run its own --workdir")
    cleared = False
    for d in RUN_DIRS:
        if (work / d).exists():
            shutil.rmtree(work / d)
            cleared = True
    for f in RUN_FILES:
        if (work / f).exists():
            (work / f).unlink()
            cleared = True
    return cleared


class Stack:
    def __init__(self, work: Path, spec_path: str | None = None, sustain_minutes: int | None = None, out=print) -> None:
        self.work = work.resolve()  # handed to processes that run in their own directories: never relative
        self.spec_path = spec_path
        self.sustain_minutes = sustain_minutes
        self.out = out
        self.procs: list[localstack.Proc] = []
        self.hook = localstack.WebhookReceiver(on_notification=self._log_notification)
        self.tempo: TraceReceiver | None = None
        self.spec: Spec | None = None
        self.gateways: list[Spec] = []  # one spec per local gateway replica (its ports)
        self.prom_url = self.am_url = ""
        self._hook_log = None
        self._hook_started = False

    def _log_notification(self, note: localstack.Notification) -> None:
        if self._hook_log:
            self._hook_log.write(json.dumps({"receiver": note.receiver.strip("/"), "received_at": note.received_at, "payload": note.payload}) + "\n")
            self._hook_log.flush()

    @property
    def webhook_log(self) -> Path:
        return self.work / "webhook" / "notifications.jsonl"

    @property
    def runbook_path(self) -> Path:
        return self.work / "runbook.md"

    @property
    def policy_path(self) -> Path:
        return self.work / "redaction-policy.yaml"

    def start(self) -> None:
        binary = toolchain.collector_path()
        if binary is None:
            raise ToolMissing("the collector is not built: run `make collector` (make run does)")
        self.work.mkdir(parents=True, exist_ok=True)
        if prepare_workdir(self.work):
            self.out(f"  cleared the previous run's data in {self.work}")
        self.webhook_log.parent.mkdir(parents=True, exist_ok=True)
        self._hook_log = self.webhook_log.open("w", encoding="utf-8")
        self.hook.__enter__()
        self._hook_started = True
        self.tempo = TraceReceiver(self.work / "tempo" / "spans.jsonl").start()
        spec = self.spec = local_spec(load(self.spec_path), self.work, self.hook, self.tempo, self.sustain_minutes)
        self.runbook_path.write_text(runbook.render(spec, self.spec_path or "the embedded default spec"), encoding="utf-8")
        # the demo app's redactor applies the spec's policy in effect, as an app given redaction/policy.yaml does
        self.policy_path.write_text(artifacts.policy_in_effect(spec, self.spec_path or "the embedded default spec"), encoding="utf-8")
        c = spec.collector
        self.gateways = gateway_specs(spec, self.work) if spec.gateway.enabled else []
        for i, gspec in enumerate(self.gateways, 1):
            d = self.work / "gateways" / str(i)
            d.mkdir(parents=True, exist_ok=True)
            (d / "gateway.yaml").write_text(render.to_yaml(gateway.build(gspec, listen_host="127.0.0.1")))
            self.procs.append(localstack._start(f"gateway-{i}", [str(binary), f"--config={d / 'gateway.yaml'}"], d,
                                                f"http://127.0.0.1:{gspec.gateway.health_port}", "/",
                                                env={**os.environ, **gateway.runtime_env(gspec), "HOSTNAME": f"gateway-{i}"}))
            self._write_pids()
        (self.work / "otelcol.yaml").write_text(render.to_yaml(collector.build(spec, shared=True)))  # the demo and your own apps: default_service
        env = {**os.environ, **collector.runtime_env(spec)}
        if not env.get("GENAI_O11Y_HASH_SALT"):
            env["GENAI_O11Y_HASH_SALT"] = secrets.token_hex(16)
            self.out("  GENAI_O11Y_HASH_SALT is not set: using a random salt for this run (ids hash differently next run)")
        col = localstack._start("collector", [str(binary), f"--config={self.work / 'otelcol.yaml'}"], self.work / "collector",
                                f"http://{c.health_endpoint}", "/", env=env)
        self.procs.append(col)
        self._write_pids()
        am = localstack.start_alertmanager(render.to_yaml(alertmanager.build(spec)), self.work / "alertmanager")
        self.procs.append(am)
        self._write_pids()
        self.am_url = am.url
        cfg = prometheus_config.build(spec, [c.metrics_endpoint], [c.telemetry_endpoint], [am.url.split("//")[1]], ["rules.yaml"],
                                      scrape_interval="5s", evaluation_interval="15s",
                                      gateway_targets=[f"127.0.0.1:{g.gateway.telemetry_port}" for g in self.gateways])
        prom = localstack.start_prometheus(cfg, self.work / "prometheus", {"rules.yaml": render.to_yaml(rules.build(spec))})
        self.procs.append(prom)
        self.prom_url = prom.url
        self._write_pids()

    def _write_pids(self) -> None:
        self._wrote_pids = True
        (self.work / "pids").write_text("\n".join([str(os.getpid())] + [str(p.proc.pid) for p in self.procs]) + "\n")

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()
        try:
            if self.tempo is not None:
                self.tempo.stop()
        finally:
            if self._hook_started:  # shutdown() of a server never started would wait forever
                self.hook.__exit__(None, None, None)
                self._hook_started = False
            if self._hook_log:
                self._hook_log.close()
            # kept as pids.last: what ran, for a check that nothing still does. Only this run's: a run refused
            # because another one uses the directory must leave that one's lock alone.
            if getattr(self, "_wrote_pids", False) and (self.work / "pids").exists():
                (self.work / "pids").replace(self.work / "pids.last")

    def firing(self) -> list[str]:
        try:
            label = n.prom_label(n.SERVICE_NAME)  # the service: the demo's, or your own app's beside it
            return sorted({f"{a['labels']['alertname']}({a['state']}" + (f", {a['labels'][label]}" if label in a["labels"] else "") + ")"
                           for a in localstack.prom_alerts(self.prom_url)})
        except OSError:
            return []


PAGE_TIMEOUT_S = 600  # --exit-when-paged without --timeout: the default fault pages in about 3 minutes


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def explain_page(stack: Stack, alertname: str, note: localstack.Notification, out) -> None:
    """After the first page: what it means, the runbook section, and one failing trace to start from."""
    alert = next((a for a in runbook.grouped_alerts(stack.spec) if a.name == alertname), None) if stack.spec else None
    firing = next((a for a in note.alerts if a.get("labels", {}).get("alertname") == alertname), {})
    out(f"--- page: {alertname} ---")
    if firing.get("annotations", {}).get("summary"):
        out(f"  summary   {firing['annotations']['summary']}")
    out(f"  delivered {note.receiver.strip('/')} webhook; every notification is in {_rel(stack.webhook_log)}")
    out(f"  alert     {stack.prom_url}/alerts?search={alertname}   (Alertmanager: {stack.am_url}/#/alerts)")
    if alert is not None:
        out(f"  runbook   {_rel(stack.runbook_path)}#{alert.anchor}   (online: {firing.get('annotations', {}).get('runbook_url', '')})")
        out(f"  means     {alert.runbook.meaning}")
        for i, step in enumerate(alert.runbook.actions, 1):
            out(f"  step {i}    {step}")
    if stack.tempo:
        what, found = trace_for(stack.tempo, firing.get("labels", {}), stack.spec)
        if found:
            tid, spans = found
            out(f"  {what}, trace {tid} ({len(spans)} spans, as the trace store holds it after redaction;"
                f" all spans: {_rel(stack.tempo.spans_file)}):")
            for line in waterfall(spans):
                out(f"    {line}")
        else:
            out(f"  no trace to show: {what}")
    out("---")


def trace_for(tempo: TraceReceiver, labels: dict, spec) -> tuple[str, tuple[str, list[dict]] | None]:
    """(what it is, (trace id, spans) or None) of one trace the page is about, by the alert's labels: a latency SLO's
    (stage and threshold_ms) a trace with a span of that stage over it; an evaluator's (its name) a trace with a score
    of it past the spec's floor; anything else a trace with an error. Only error pages printed a trace (an on-call's
    trial: a slow-tool page printed none, and did not say why)."""
    stage, threshold = labels.get(n.prom_label(n.STAGE)), labels.get("threshold_ms")
    evaluator = labels.get(n.prom_label(n.EVAL_NAME))
    if stage and threshold:
        limit_ns = float(threshold) * 1e6

        def slow(r: dict) -> bool:
            of_stage = r["stage"] == stage or (stage == n.REQUEST_STAGE and not r["parent_span_id"])
            return of_stage and r["end_ns"] - r["start_ns"] > limit_ns

        found = tempo.trace_where(slow)
        return (f"a request whose {stage} took over {threshold} ms" if found else
                f"no trace with a {stage} span over {threshold} ms has reached the trace store yet"), found
    if evaluator:
        ev = next((e for e in spec.evals.evaluators if e.name == evaluator), None) if spec else None
        if ev is None or ev.floor is None:
            return f"the spec sets no floor for evaluator {evaluator}", None

        def low(r: dict) -> bool:
            score = r["attributes"].get(n.EVAL_SCORE)
            return (r["attributes"].get(n.EVAL_NAME) == evaluator and isinstance(score, (int, float)) and not isinstance(score, bool)
                    and (score < ev.floor if ev.direction == "higher" else score > ev.floor))

        found = tempo.trace_where(low)
        return (f"an answer {evaluator} scored past its floor ({ev.floor:g})" if found else
                f"no trace with a {evaluator} score past {ev.floor:g} in the trace store (tail sampling keeps them only at "
                f"its baseline share unless sampling.keep_below_floor is on)"), found
    found = tempo.failed_trace()
    return ("a failing request" if found else "no failing request has reached the trace store yet"), found


def _not_the_demos(note, name: str, service: str, injected_wall: float | None, expect) -> str | None:
    """Why a page is not the one the demo's fault set off (None: it is): a page before the fault (the healthy
    minute should not page), another alert than the scenario's, or only another service's (your own app
    pointed at the stack; a new user's trial: --exit-when-paged had stopped on that)."""
    if injected_wall is None or note.received_at < injected_wall:
        return "before the fault: a false page"
    if expect is not None and name != expect.alert:
        return f"not {expect.alert}, the scenario's alert"
    label = n.prom_label(n.SERVICE_NAME)
    services = {a["labels"].get(label) for a in note.alerts if a.get("status") == "firing" and a["labels"].get("alertname") == name}
    if services and None not in services and service not in services:  # an alert without the label is not ruled out
        return f"another service's ({', '.join(sorted(str(s) for s in services))}), not the demo's ({service})"
    return None


def up(spec_path: str | None, work: Path, scenario: str, baseline_s: int, rps: float, exit_when_paged: bool, timeout_s: int,
       sustain_minutes: int | None, out=None) -> int:
    from . import instrument
    from .demo import scenarios
    from .demo.run import Traffic

    out = out or (lambda msg: print(msg, flush=True))  # piped through make or CI, progress must not wait for the end
    fault = scenarios.get(scenario)
    expect = scenarios.EXPECTED.get(fault.name)
    if exit_when_paged and expect is not None and (not expect.pages or expect.local):
        why = "it opens a ticket (chat), it does not page" if not expect.pages else ""
        if expect.local:
            why = (why + "; " if why else "") + expect.local.format(days=load(spec_path).alerting.thresholds.baseline_days)
        raise UserError(f"--exit-when-paged with scenario {fault.name}: its alert {expect.alert} cannot page here: {why}. "
                        f"Scenarios that page on a fresh local stack: "
                        f"{', '.join(k for k, e in scenarios.EXPECTED.items() if e.pages and not e.local)}")
    if exit_when_paged and not timeout_s:
        timeout_s = PAGE_TIMEOUT_S
    stack = Stack(work, spec_path, sustain_minutes, out)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    previous_hup = signal.signal(signal.SIGHUP, lambda *_: stop.set())  # a closed terminal: the children are in groups of their own
    traffic = None
    obs = None
    try:
        out("genai-o11y: starting the local stack (gateways, collector sidecar, Prometheus, Alertmanager, webhook, Tempo stand-in)")
        stack.start()
        spec = stack.spec
        assert spec is not None and stack.tempo is not None
        c = spec.collector
        w = stack.work
        out(f"  Prometheus     {stack.prom_url}   (alerts: {stack.prom_url}/alerts)")
        out(f"  Alertmanager   {stack.am_url}")
        out(f"  sidecar        OTLP/gRPC {c.otlp_grpc_endpoint}, OTLP/HTTP http://{c.otlp_http_endpoint}, metrics http://{c.metrics_endpoint}/metrics, own telemetry http://{c.telemetry_endpoint}/metrics")
        for i, g in enumerate(stack.gateways, 1):
            out(f"  gateway {i}      OTLP 127.0.0.1:{g.gateway.otlp_grpc_port} (tail sampling, decision wait {g.gateway.decision_wait_seconds}s), "
                f"own telemetry http://127.0.0.1:{g.gateway.telemetry_port}/metrics")
        out(f"  webhooks       {stack.hook.url('pager')}  {stack.hook.url('chat')}   (log: {_rel(stack.webhook_log)})")
        out(f"  traces         {_rel(stack.tempo.spans_file)}   (what the Tempo stand-in received, one span per line)")
        out(f"  runbook        {_rel(stack.runbook_path)}")
        if spec.evals.dataset.enabled:
            files = " ".join(_rel(Path(sampling.replica_dataset_path(g.evals.dataset.path, f"gateway-{i}"))) for i, g in enumerate(stack.gateways, 1)
                             ) or _rel(Path(spec.evals.dataset.path))
            out(f"  eval dataset   {files}   (eval-worthy traces: genai-o11y dataset build {files}; "
                "the next run clears it, copy it to keep it)")
        out(f"  logs           {_rel(w)}/*/*.log")
        os.environ.setdefault("GENAI_O11Y_HASH_SALT", secrets.token_hex(16))
        obs = instrument.setup(spec.app.services[0], endpoint=c.otlp_grpc_endpoint, release=os.environ.get("GENAI_O11Y_RELEASE", "demo-1"), set_global=False,
                                redaction_policy=stack.policy_path)
        traffic = Traffic(obs, rps=rps).start()
        limit = f"; gives up after {timeout_s}s without a page" if timeout_s else ""
        out(f"ready: demo traffic at {rps:g} requests/s, healthy for {baseline_s}s, then scenario {fault.describe()}  (Ctrl-C stops{limit})")
        out("  where to look: the alerts page above (pending, then firing), the webhook log for what was delivered; "
            "after the page this prints its runbook steps and a failing trace")
        if expect is not None:
            hint = (f"  expect: {expect.alert} ({'a page' if expect.pages else 'a ticket in chat'}) after the fault")
            if expect.local:
                hint += "; not on this fresh stack: " + expect.local.format(days=spec.alerting.thresholds.baseline_days)
            elif expect.alert == "GenAIEvalScoreBelowFloor" and not sustain_minutes:
                hint += f" and {spec.alerting.thresholds.sustain_minutes} minutes of it (--sustain-minutes 2 shortens that)"
            out(hint)
        started = time.monotonic()
        injected_at = injected_wall = None
        seen: set[tuple[str, str]] = set()
        exited: set[str] = set()
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
                    # each service's page is news (your own app's beside the demo's), each once
                    for name, service in sorted(note.alerts_by_service(), key=lambda x: (x[0], x[1] or "")):
                        if (receiver, name, service) not in seen:
                            seen.add((receiver, name, service))
                            since = f"{note.received_at - injected_wall:.0f}s after injection" if injected_wall else "before injection"
                            other = _not_the_demos(note, name, spec.app.services[0], injected_wall, expect)
                            why = f"; {other}" + ("; --exit-when-paged waits on" if exit_when_paged else "") if other and receiver == "pager" else ""
                            about = f" for {service}" if service else ""
                            out(f"[{now - started:5.0f}s] NOTIFIED {receiver}: {name}{about} ({since}{why})")
                            if receiver == "pager" and paged is None and not other:
                                paged = name
                                explain_page(stack, name, note, out)
            for proc in stack.procs:
                if proc.proc.poll() is not None and proc.name not in exited:
                    exited.add(proc.name)
                    out(f"[{now - started:5.0f}s] {proc.name} exited with {proc.proc.returncode}: the stack runs without it "
                        f"(log: {_rel(proc.log_path)})")
            s = traffic.stats
            out(f"[{now - started:5.0f}s] requests {s.sent} (failed {s.failed}), traces at Tempo {len(stack.tempo.traces)}, "
                f"dropped by the helper {obs.dropped_spans}; alerts: {', '.join(stack.firing()) or 'none'}")
            if exit_when_paged and paged:
                out(f"paged: {paged}; stopping (--exit-when-paged)")
                break
            if timeout_s and now - started > timeout_s:
                pages = sorted({name for receiver, name, _service in seen if receiver == "pager"})
                if pages and not exit_when_paged:  # --timeout alone: a run of that length, and it paged (a new user read "no page" after two pages)
                    out(f"stopping after {timeout_s}s (--timeout); paged: {', '.join(pages)}")
                    return 0
                other = f" (other pages: {', '.join(pages)})" if pages else ""
                out(f"timeout: no page{' from the fault' if pages else ''} within {timeout_s}s{other} (alerts: {', '.join(stack.firing()) or 'none'}; "
                    f"logs in {_rel(w)}/*/*.log)")
                return 1
        return 0
    finally:
        started = bool(stack.procs) or traffic is not None
        if started:
            out("stopping: demo, Prometheus, Alertmanager, collector, gateways")
        if traffic is not None:
            traffic.close()
        if obs is not None:
            obs.provider.shutdown()  # the demo's last batch, while the collector still runs
            ended, delivered = obs.delivery()
            out(f"demo: {delivered} of {ended} spans delivered to the sidecar")
            from .demo.run import undelivered_reason

            reason = undelivered_reason(obs, "the sidecar", traffic.stats.sent if traffic is not None else 0)
            if reason:
                out(f"demo: {reason}")
        stack.stop()
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGHUP, previous_hup)
        if started:
            out("stopped; nothing left running")
