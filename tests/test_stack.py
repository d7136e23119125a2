"""`genai-o11y up` (README command 1, `make run`): the real stack as local processes, the demo, a fault,
the page at the webhook; Ctrl-C stops everything; no process is left behind.

The page test runs the command as `make run` does: from the repository root with the default
(relative) --workdir. A test that passes an absolute --workdir cannot see the bug where a relative path
was handed to a process started in another directory (make run failed on every fresh clone that way).
.ci/run also runs `make run UP_ARGS=--exit-when-paged` itself, exactly as the README writes it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import harness
import pytest

from genai_o11y import localstack, stack
from genai_o11y.errors import UserError
from genai_o11y.spec import load

CLI = [sys.executable, "-m", "genai_o11y"]
REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO / "out" / "local"  # the CLI's default, relative to where make run starts it


def _pids(work: Path, name: str = "pids.last") -> list[int]:
    return [int(x) for x in (work / name).read_text().split()]


@pytest.mark.collector
def test_up_as_make_run_starts_it_pages_and_leaves_nothing_running():
    # as `make run UP_ARGS=--exit-when-paged` runs it: cwd = repo root, no --workdir, no --timeout
    # (only the healthy minute is shortened, which touches no path)
    proc = subprocess.run(CLI + ["up", "--baseline-seconds", "15", "--exit-when-paged"], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "ready: demo traffic" in out and "injected: error_burst" in out
    assert "gives up after 600s without a page" in out  # --exit-when-paged bounds the wait by default
    assert f"NOTIFIED pager: GenAIErrorBudgetBurnFast for {load().app.services[0]}" in out, out[-4000:]  # each service's page, named
    # where to look, once paged: the runbook section and its steps, the delivered notification, a failing trace
    assert "runbook   out/local/runbook.md#genaierrorbudgetburnfast" in out, out[-4000:]
    assert "step 1    " in out
    assert "a failing request, trace " in out and " ERROR " in out, out[-4000:]
    assert (DEFAULT_WORKDIR / "webhook" / "notifications.jsonl").read_text().count('"GenAIErrorBudgetBurnFast"') >= 1
    assert (DEFAULT_WORKDIR / "tempo" / "spans.jsonl").stat().st_size > 0
    assert "## GenAIErrorBudgetBurnFast" in (DEFAULT_WORKDIR / "runbook.md").read_text()
    assert "stopped; nothing left running" in out
    pids = _pids(DEFAULT_WORKDIR)
    replicas = load().gateway.replicas
    assert len(pids) == 4 + replicas  # up itself, the gateways, collector, Alertmanager, Prometheus
    # the same topology as a deploy: the sidecar's spans reached the trace store through the gateways
    assert out.count("  gateway ") == replicas and "tail sampling, decision wait 30s" in out
    for i in range(1, replicas + 1):
        log = (DEFAULT_WORKDIR / "gateways" / str(i) / f"gateway-{i}.log").read_text()
        assert "Everything is ready" in log
    time.sleep(0.5)
    assert not [p for p in pids[1:] if stack._alive(p)], "collector, Prometheus or Alertmanager still running"


@pytest.mark.collector
def test_ctrl_c_stops_everything_and_a_second_run_on_the_same_workdir_is_refused(tmp_path):
    work = tmp_path / "local"
    # a session of its own, as a terminal runs it: Ctrl-C signals its whole foreground process group
    proc = subprocess.Popen(CLI + ["up", "--scenario", "healthy", "--workdir", "local"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("ready:") or proc.poll() is not None:
            break
    assert any(x.startswith("ready:") for x in lines), "".join(lines)
    try:
        # the banner gives both OTLP ports; the HTTP one answers an OTLP/HTTP export
        http = re.search(r"^  sidecar .*OTLP/HTTP (http://\S+),", "".join(lines), re.M).group(1)
        req = urllib.request.Request(http + "/v1/traces", data=b"{}", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        # the collector runs as it does in compose and Helm: GOMEMLIMIT below the memory limiter
        # the sidecar: the process run on <work>/otelcol.yaml (the gateways start first, on their own configs)
        (sidecar,) = [p for p in _pids(work, "pids")[1:]
                      if f"--config={work / 'otelcol.yaml'}".encode() in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")]
        collector_env = Path(f"/proc/{sidecar}/environ").read_bytes().split(b"\0")
        assert any(e.startswith(b"GOMEMLIMIT=") and e.endswith(b"MiB") for e in collector_env)
        from genai_o11y.builders import collector as collector_builder

        assert {f"{k}={v}".encode() for k, v in collector_builder.runtime_env(load()).items() if k != "GOMEMLIMIT"} <= set(collector_env)
        # a second stack on the same directory would wipe this one's data: refused, naming the pids
        second = subprocess.run(CLI + ["up", "--workdir", str(work)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "another `genai-o11y up` is using this directory" in second.stderr and "Traceback" not in second.stderr
        assert (work / "pids").is_file()  # the refused run left the running one's lock in place (it used to rename it away)
        # a child that dies is reported on the status line, not silently missing (the gateways start first)
        os.kill(_pids(work, "pids")[2], signal.SIGKILL)
        deadline = time.time() + 60
        while time.time() < deadline and not any("gateway-2 exited with -9" in x for x in lines):
            lines.append(proc.stdout.readline())
        assert any("gateway-2 exited with -9: the stack runs without it" in x for x in lines), "".join(lines[-20:])
    finally:
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the collector used to get it too and stop before the demo's last batch
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopped; nothing left running" in rest
    delivered, ended = (int(v) for v in re.search(r"demo: (\d+) of (\d+) spans delivered to the sidecar", rest).groups())
    assert delivered == ended > 0, rest
    time.sleep(0.5)
    assert not [p for p in _pids(work)[1:] if stack._alive(p)]


def test_a_new_run_clears_the_previous_runs_data(tmp_path):
    for d in stack.RUN_DIRS:
        (tmp_path / d / "data").mkdir(parents=True)
        (tmp_path / d / "data" / "old").write_text("x")
    (tmp_path / "pids.last").write_text(f"{os.getpid()}\n")  # a finished run's record is no lock
    (tmp_path / "mine.txt").write_text("a user's file")
    assert stack.prepare_workdir(tmp_path) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    assert stack.prepare_workdir(tmp_path) is False


def test_a_live_run_is_not_cleared(tmp_path):
    (tmp_path / "pids").write_text(f"{os.getpid()}\n")
    (tmp_path / "prometheus").mkdir()
    with pytest.raises(UserError, match=f"pids {os.getpid()} are running"):
        stack.prepare_workdir(tmp_path)
    assert (tmp_path / "prometheus").is_dir()


def test_relative_paths_are_refused_before_a_process_starts(tmp_path):
    # every process runs with cwd=its own directory; a relative path would resolve there
    with pytest.raises(ValueError, match="relative path"):
        localstack._start("x", ["/bin/true", "--config=out/local/otelcol.yaml"], tmp_path, "http://127.0.0.1:1", "/")
    assert not localstack._relative_path_arg("--web.listen-address=127.0.0.1:9090")
    assert not localstack._relative_path_arg("--cluster.listen-address=")
    assert not localstack._relative_path_arg(f"--config.file={tmp_path}/prometheus.yml")
    assert localstack._relative_path_arg("prometheus.yml")


def test_waterfall_places_spans_in_time_under_their_parents():
    ms = 1_000_000
    spans = [
        {"trace_id": "t", "span_id": "a", "parent_span_id": "", "name": "request", "stage": "request", "start_ns": 0, "end_ns": 100 * ms,
         "status": "error", "attributes": {}},
        {"trace_id": "t", "span_id": "c", "parent_span_id": "a", "name": "chat m", "stage": "model_call", "start_ns": 50 * ms, "end_ns": 100 * ms,
         "status": "error", "attributes": {"error.type": "RateLimitError"}},
        {"trace_id": "t", "span_id": "b", "parent_span_id": "a", "name": "retrieve", "stage": "retrieval", "start_ns": 0, "end_ns": 50 * ms,
         "status": "unset", "attributes": {}},
    ]
    lines = stack.waterfall(spans, width=10)
    assert [ln.split("|")[0].strip() for ln in lines] == ["request", "retrieval", "model_call"]
    assert lines[0].split("|")[1] == "#" * 10
    assert lines[1].split("|")[1] == "#####     " and lines[2].split("|")[1] == "     #####"
    assert lines[2].endswith("ERROR RateLimitError") and "ERROR" not in lines[1]


def test_exit_when_paged_refuses_a_scenario_that_cannot_page_here(tmp_path):
    """cost_spike alerts against days of history a fresh local stack lacks, and opens a ticket: waiting
    for a page would only time out, so up says so before starting anything."""
    proc = subprocess.run(CLI + ["up", "--scenario", "cost_spike", "--exit-when-paged", "--workdir", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "GenAICostSpike cannot page here" in proc.stderr and "error_burst, slow_tool" in proc.stderr
    assert "stopping" not in proc.stdout and not (tmp_path / "w").exists()


def test_only_the_faults_page_is_the_page_up_waits_for():
    """--exit-when-paged stops on the page the demo's fault set off. A page before the fault (the healthy
    minute must not page), another alert than the scenario's, or only another service's (your own app
    pointed at the stack: a new user's trial stopped on that) is printed with why, and the wait goes on."""
    from genai_o11y.demo import scenarios
    from genai_o11y.names import SERVICE_NAME, prom_label

    demo, expect = load().app.services[0], scenarios.EXPECTED["error_burst"]

    def note(at: float, name: str, *services: str) -> localstack.Notification:
        alerts = [{"status": "firing", "labels": {"alertname": name, **({prom_label(SERVICE_NAME): s} if s else {})}} for s in services]
        return localstack.Notification("/pager", at, {"alerts": alerts})

    fault = 1000.0
    assert stack._not_the_demos(note(1010, expect.alert, demo), expect.alert, demo, fault, expect) is None
    assert stack._not_the_demos(note(1010, expect.alert, "my-app", demo), expect.alert, demo, fault, expect) is None
    assert stack._not_the_demos(note(1010, expect.alert, ""), expect.alert, demo, fault, expect) is None  # no service label: not ruled out
    assert stack._not_the_demos(note(990, expect.alert, demo), expect.alert, demo, fault, expect) == "before the fault: a false page"
    assert stack._not_the_demos(note(1010, expect.alert, demo), expect.alert, demo, None, expect) == "before the fault: a false page"
    assert stack._not_the_demos(note(1010, "GenAILatencyBudgetBurnFast", demo), "GenAILatencyBudgetBurnFast", demo, fault, expect) == (
        f"not {expect.alert}, the scenario's alert")
    assert stack._not_the_demos(note(1010, expect.alert, "my-app"), expect.alert, demo, fault, expect) == (
        f"another service's (my-app), not the demo's ({demo})")
    # each service's page is reported (the status loop keys on alert and service): a trial's own app paged
    # after the demo's page of the same alert and up never said so
    assert note(1010, expect.alert, "my-app", demo, "").alerts_by_service() == {(expect.alert, "my-app"), (expect.alert, demo), (expect.alert, None)}
    # a scenario without an expectation: any page of the demo's after the fault
    assert stack._not_the_demos(note(1010, "GenAILatencyBudgetBurnFast", demo), "GenAILatencyBudgetBurnFast", demo, fault, None) is None


def test_the_local_trace_store_keeps_every_kind_of_attribute_value(tmp_path):
    """out/local/tempo/spans.jsonl wrote False for a score of 0.0 and for every list (finish reasons, tools called,
    document ids): an on-call reading it was misled (an on-call's trial). By construction: one attribute per kind of
    the OTLP AnyValue (every field of its `value` oneof, from the protobuf descriptor), each with its zero value and
    another, sent over gRPC as the trace store receives them, read back from the file as JSON."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    samples = {"string_value": ["", "x"], "bool_value": [False, True], "int_value": [0, 7], "double_value": [0.0, 0.25],
               "bytes_value": [b"", b"\x01"], "array_value": [[], ["stop", 0]], "kvlist_value": [{}, {"k": 0.0}],
               "string_value_strindex": [0, 3]}  # an index into a profile's string table: kept as the number
    kinds = [f.name for f in common_pb2.AnyValue.DESCRIPTOR.oneofs_by_name["value"].fields]
    assert set(kinds) == set(samples), f"a kind of AnyValue this test does not know: {sorted(set(kinds) - set(samples))}"

    def of_kind(kind: str, v) -> common_pb2.AnyValue:
        return harness.av(v) if kind in ("array_value", "kvlist_value") else common_pb2.AnyValue(**{kind: v})

    attrs = [common_pb2.KeyValue(key=f"{kind}.{i}", value=of_kind(kind, v)) for kind, vs in samples.items() for i, v in enumerate(vs)]
    span = trace_pb2.Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s", attributes=attrs)
    req = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])])
    store = stack.TraceReceiver(tmp_path / "spans.jsonl").start()
    try:
        export = grpc.insecure_channel(f"127.0.0.1:{store.port}").unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export", request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString)
        export(req, timeout=10)
    finally:
        store.stop()
    import json

    got = json.loads((tmp_path / "spans.jsonl").read_text().splitlines()[0])["attributes"]
    for kind, vs in samples.items():
        for i, v in enumerate(vs):
            want = str(v) if isinstance(v, bytes) else v  # bytes are written as their repr (json's default=str)
            assert got[f"{kind}.{i}"] == want and type(got[f"{kind}.{i}"]) is type(want), f"{kind} {v!r}: wrote {got[f'{kind}.{i}']!r}"


def test_a_page_shows_the_trace_it_is_about(tmp_path):
    """Only error pages printed a trace (an on-call's trial: a slow tool_call page printed none and did not say why).
    A latency SLO page shows a trace with a span of its stage over its threshold, an eval floor page one whose score
    is past the floor, any other page a failing one; with none in the store it says what it looked for."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    from genai_o11y import names
    from genai_o11y.names import prom_label

    spec = load()
    ev = next(e for e in spec.evals.evaluators if e.floor is not None and e.direction == "higher")
    ms = 1_000_000

    def kv(k, v):
        return common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(double_value=v) if isinstance(v, float) else common_pb2.AnyValue(string_value=v))

    def trace(tid: int, child_stage: str, child_ms: int, error=False, **attrs) -> list:
        t = bytes([tid]) * 16
        root = trace_pb2.Span(trace_id=t, span_id=bytes([tid, 1]) * 4, name="request", start_time_unix_nano=1, end_time_unix_nano=1 + (child_ms + 10) * ms,
                              attributes=[kv(names.STAGE, "request")])
        child = trace_pb2.Span(trace_id=t, span_id=bytes([tid, 2]) * 4, parent_span_id=root.span_id, name=child_stage, start_time_unix_nano=1,
                               end_time_unix_nano=1 + child_ms * ms, attributes=[kv(names.STAGE, child_stage), *(kv(k, v) for k, v in attrs.items())],
                               status=trace_pb2.Status(code=2 if error else 0))
        return [child, root]

    spans = (trace(1, "model_call", 200, error=True) + trace(2, "tool_call", 3500) + trace(3, "tool_call", 2000)
             + trace(4, "evaluation", 5, **{names.EVAL_NAME: ev.name, names.EVAL_SCORE: ev.floor / 2}) + trace(5, "evaluation", 5, **{names.EVAL_NAME: ev.name, names.EVAL_SCORE: 1.0}))
    req = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])])
    store = stack.TraceReceiver(tmp_path / "spans.jsonl").start()
    try:
        grpc.insecure_channel(f"127.0.0.1:{store.port}").unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export", request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString)(req, timeout=10)
    finally:
        store.stop()
    stage, eval_name = prom_label(names.STAGE), prom_label(names.EVAL_NAME)

    def picked(labels: dict) -> tuple[str, str | None]:
        what, found = stack.trace_for(store, labels, spec)
        return what, found[0] if found else None

    assert picked({"alertname": "GenAILatencyBudgetBurnFast", stage: "tool_call", "threshold_ms": "3000"}) == (
        "a request whose tool_call took over 3000 ms", "02" * 16)
    assert picked({stage: "request", "threshold_ms": "3000"})[1] == "02" * 16  # end to end: the root span's duration
    what, tid = picked({stage: "model_call", "threshold_ms": "6000"})
    assert tid is None and what == "no trace with a model_call span over 6000 ms has reached the trace store yet"
    assert picked({"alertname": "GenAIEvalScoreBelowFloor", eval_name: ev.name}) == (f"an answer {ev.name} scored past its floor ({ev.floor:g})", "04" * 16)
    assert picked({"alertname": "GenAIErrorBudgetBurnFast"}) == ("a failing request", "01" * 16)
