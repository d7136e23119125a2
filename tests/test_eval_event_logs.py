"""GenAI evaluation results as OTel events on log records feed the same series as span events.

The same results go through the real collector twice, with each engine: once as
`gen_ai.evaluation.result` span events on the evaluated span, once as log records (the event name,
or the attribute `event.name` of older SDKs; parented by trace and span id, or carrying
gen_ai.response.id). The evaluation metrics at the sidecar's Prometheus endpoint must be the same
series with the same values. A log record is on no span, so the evaluated call's model, route and
prompt are `_none` there: the evaluated span here carries none, and the records' own attributes of
those names are ignored.
"""

from __future__ import annotations

import time

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from genai_o11y import names as n
from harness import collector_ports, make_spec, run_collector, wait_for

#: (evaluation name, score or None, label or None): scores and labels alone and together.
RESULTS = [("relevance", 0.9, "pass"), ("relevance", 0.3, "fail"), ("relevance", 0.8, "pass"), ("tone", None, "pass"), ("faithfulness", 0.55, None)]
LABELLED = sum(1 for r in RESULTS if r[2] is not None)
SCORED = sum(1 for r in RESULTS if r[1] is not None)
TRACE, SPAN = bytes(range(1, 17)), bytes(range(1, 9))
PROM = {m: m.replace(".", "_") for m in (n.METRIC_EVAL_SCORE, n.METRIC_EVAL_RESULTS)}


def _kv(key: str, value) -> common_pb2.KeyValue:
    v = common_pb2.AnyValue(double_value=value) if isinstance(value, float) else common_pb2.AnyValue(string_value=value)
    return common_pb2.KeyValue(key=key, value=v)


def _result_attrs(name: str, score, label) -> list[common_pb2.KeyValue]:
    out = [_kv(n.EVAL_NAME, name)]
    if score is not None:
        out.append(_kv(n.EVAL_SCORE, score))
    if label is not None:
        out.append(_kv(n.EVAL_LABEL, label))
    return out


def _resource(spec) -> resource_pb2.Resource:
    return resource_pb2.Resource(attributes=[_kv(n.SERVICE_NAME, spec.app.services[0]), _kv(n.ENVIRONMENT, "staging"), _kv(n.SERVICE_VERSION, "v7")])


def as_span_events(spec) -> trace_service_pb2.ExportTraceServiceRequest:
    now = time.time_ns()
    # two evaluated spans (the OTTL engine counts up to collector.EVAL_EVENT_STAGES eval events per span)
    spans = [trace_pb2.Span(trace_id=TRACE, span_id=bytes([i + 1]) * 8, name="evaluated", start_time_unix_nano=now - 1_000_000, end_time_unix_nano=now,
                            attributes=[_kv(n.STAGE, spec.all_stages[0])],
                            events=[trace_pb2.Span.Event(name=n.EVAL_EVENT, time_unix_nano=now, attributes=_result_attrs(*r)) for r in RESULTS[i::2]])
             for i in range(2)]
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(
        resource=_resource(spec), scope_spans=[trace_pb2.ScopeSpans(spans=spans)])])


def as_log_records(spec) -> logs_service_pb2.ExportLogsServiceRequest:
    now = time.time_ns()
    records = []
    for i, r in enumerate(RESULTS):
        rec = logs_pb2.LogRecord(time_unix_nano=now, observed_time_unix_nano=now, attributes=_result_attrs(*r))
        if i % 2 == 0:
            rec.event_name = n.EVAL_EVENT
            rec.trace_id, rec.span_id = TRACE, SPAN  # parented by the evaluated span
        else:  # an older SDK: the attribute event.name, and the evaluated call's response id
            rec.attributes.extend([_kv("event.name", n.EVAL_EVENT), _kv("gen_ai.response.id", f"resp-{i}")])
        rec.attributes.extend([_kv(n.REQUEST_MODEL, "a-model-on-the-record"), _kv(n.ROUTE, "a-route-on-the-record")])  # not the evaluated call's
        records.append(rec)
    # other events and plain logs feed nothing
    records.append(logs_pb2.LogRecord(time_unix_nano=now, event_name="gen_ai.client.inference.operation.details", attributes=_result_attrs("relevance", 0.1, "fail")))
    records.append(logs_pb2.LogRecord(time_unix_nano=now, body=common_pb2.AnyValue(string_value="plain log"), attributes=_result_attrs("relevance", 0.1, "fail")))
    return logs_service_pb2.ExportLogsServiceRequest(resource_logs=[logs_pb2.ResourceLogs(
        resource=_resource(spec), scope_logs=[logs_pb2.ScopeLogs(log_records=records)])])


def eval_series(col) -> dict[tuple, float]:
    """The evaluation metrics' samples at the collector's Prometheus endpoint: (name, labels) -> value."""
    out = {}
    for s in col.samples():
        if any(s.name.startswith(p) for p in PROM.values()) and not s.name.endswith("_created"):
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _complete(series: dict) -> bool:
    results = sum(v for (name, _), v in series.items() if name == PROM[n.METRIC_EVAL_RESULTS] + "_total")
    scores = sum(v for (name, _), v in series.items() if name == PROM[n.METRIC_EVAL_SCORE] + "_count")
    return results >= LABELLED and scores >= SCORED


def through(otelcol, tmp, engine: str, shape: str) -> dict:
    tmp.mkdir()
    spec = make_spec(collector_ports({"collector.engine": engine, "gateway.decision_wait_seconds": 1}, tmp))
    with run_collector(otelcol, spec, tmp) as col:
        with grpc.insecure_channel(col.otlp_grpc) as ch:
            if shape == "span events":
                trace_service_pb2_grpc.TraceServiceStub(ch).Export(as_span_events(spec), timeout=30)
            else:
                logs_service_pb2_grpc.LogsServiceStub(ch).Export(as_log_records(spec), timeout=30)
        wait_for(lambda: _complete(eval_series(col)), timeout=60, what=f"the eval series from {shape}")
        time.sleep(2)  # anything more would show now
        return eval_series(col)


@pytest.mark.collector
@pytest.mark.parametrize("engine", ["native", "ottl"])
def test_eval_results_as_log_records_give_the_span_events_series(otelcol, tmp_path, engine):
    from_spans = through(otelcol, tmp_path / "spans", engine, "span events")
    from_logs = through(otelcol, tmp_path / "logs", engine, "log records")
    assert from_logs == from_spans, {"only from spans": set(from_spans) - set(from_logs), "only from logs": set(from_logs) - set(from_spans)}
    labels = [dict(k[1]) for k in from_spans if k[0] == PROM[n.METRIC_EVAL_RESULTS] + "_total"]
    # exactly the results sent, with the resource's service, environment and release and no call dimensions
    assert sorted((x[n.EVAL_NAME.replace(".", "_")], x[n.EVAL_LABEL.replace(".", "_")]) for x in labels) == [("relevance", "fail"), ("relevance", "pass"), ("tone", "pass")]
    for x in labels:
        assert x[n.ENVIRONMENT.replace(".", "_")] == "staging" and x[n.SERVICE_VERSION.replace(".", "_")] == "v7", x
        assert x[n.REQUEST_MODEL.replace(".", "_")] == n.NONE_VALUE and x[n.ROUTE.replace(".", "_")] == n.NONE_VALUE, x
    passes = sum(v for (name, lab), v in from_spans.items() if name == PROM[n.METRIC_EVAL_RESULTS] + "_total" and dict(lab)[n.EVAL_LABEL.replace(".", "_")] == "pass")
    assert passes == 3
