"""Redaction by construction: a secret in every string and bytes field of the OTLP trace and logs models.

The request is built by walking the protobuf descriptors of ExportTraceServiceRequest (installed
with the SDK), not by a list of fields we thought of: every string and bytes field gets a secret,
every attribute list gets every value shape (string, bytes, array, nested kvlist, a secret in the
key), so a field the OTLP model gains, or one the redaction forgets, fails here. Only the fields
in VERBATIM (reviewed: the data does not work without them) keep their value, and they get valid
ids, not secrets. The same request goes through the real collector (native engine, both modes;
OTTL engine, with its stated limits) and through the app-side RedactingSpanExporter. The logs
request (ExportLogsServiceRequest) is built the same way, with a log record per body shape, and
goes through the collector with `logs.export: otlp` (the helper exports no logs: no app-side
log redactor to hold to it).
"""

from __future__ import annotations

import itertools
import re
import time
import urllib.request

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor as FD
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2

from genai_o11y import localstack
from genai_o11y.builders import redaction
from genai_o11y.redact import RedactingSpanExporter, Redactor
from harness import OtlpSink, collector_ports, make_spec, run_collector, wait_for

TRACE = "opentelemetry.proto.trace.v1."
LOGS = "opentelemetry.proto.logs.v1."
COMMON = "opentelemetry.proto.common.v1."

#: Fields that pass verbatim, reviewed one by one: ids join spans into traces and links to their
#: targets (random, or derived from ids: no text can live there). Any other string or bytes field
#: of the model must be redacted; numbers, enums and timestamps carry no text.
VERBATIM = {
    TRACE + "Span.trace_id": "joins spans into a trace",
    TRACE + "Span.span_id": "identifies the span",
    TRACE + "Span.parent_span_id": "joins the span to its parent",
    TRACE + "Span.Link.trace_id": "the linked trace",
    TRACE + "Span.Link.span_id": "the linked span",
    LOGS + "LogRecord.trace_id": "joins the record to its trace (GenAI events to the evaluated call)",
    LOGS + "LogRecord.span_id": "joins the record to its span",
}
#: Every value shape a log record's body (an AnyValue of its own) can take: one record each.
BODY_SHAPES = ("string", "bytes", "array", "kvlist")

def _luhn(digits: str) -> str:
    """digits + the Luhn check digit."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


#: Secret n of each kind, unique per planting (so a leak names its field): the value and what must
#: never leave of it.
KINDS = {
    "EMAIL": lambda n: (f"user{n}.doe@example.com",) * 2,
    "CARD": lambda n: (_luhn(f"411111{n:09d}"),) * 2,
    "OPENAI_KEY": lambda n: (f"sk-proj-{n:06d}Ab3dEf6hIj9kLm2nOp5qRs8t",) * 2,
    "JWT": lambda n: (f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi{n:06d}In0.SflKxwRJSMeKKF2QT4fw",) * 2,
    "PHONE": lambda n: (f"+1 202-555-{n:04d}",) * 2,
    "US_SSN": lambda n: (f"219-45-{n:04d}",) * 2,
    "IBAN": lambda n: (f"DE89 3704 0044 0532 {n:04d} 00",) * 2,
    "IPV4": lambda n: (f"10.{n // 250}.{n % 250}.77",) * 2,
    "URL_CREDENTIALS": lambda n: (f"https://deploy{n}:hunter2pw{n}@git.example.com/r", f"deploy{n}:hunter2pw{n}"),
    "GITHUB_TOKEN": lambda n: (f"ghp_{n:06d}1A2b3C4d5E6f7G8h9I0j1K2l3M4n5O6",) * 2,
}


class Planter:
    """Fills a message from its descriptor: a secret in every string/bytes field, every shape of
    attribute value in every attribute list; records the fields it planted."""

    def __init__(self) -> None:
        self.kinds = itertools.cycle(KINDS.items())
        self.n = itertools.count(1)
        self.planted: set[str] = set()
        self.needles: dict[str, list[str]] = {}
        self.ids = itertools.count(1)
        self.body_shape = BODY_SHAPES[0]

    def secret(self, field: str) -> str:
        _kind, make = next(self.kinds)
        value, needle = make(next(self.n))
        self.planted.add(field)
        self.needles.setdefault(field, []).append(needle)
        return f"note {value}"

    def raw(self, kind: str, label: str) -> str:
        """A secret of this kind, bare (shaped like an id where the kind allows), under `label`."""
        value, needle = KINDS[kind](next(self.n))
        self.needles.setdefault(label, []).append(needle)
        return value

    def tier1(self) -> list[common_pb2.KeyValue]:
        """Tier 1 keys carrying secrets: bare secrets that keep the key's shape (only a
        high-confidence detector can tell), text that breaks it, and our own free-text keys."""
        s = lambda v: common_pb2.AnyValue(string_value=v)  # noqa: E731
        t1 = {
            "gen_ai.request.model": self.raw("EMAIL", "tier1 model_id"),  # model ids may hold @
            "gen_ai.response.id": self.raw("OPENAI_KEY", "tier1 identifier"),
            "gen_ai.conversation.id": self.raw("JWT", "tier1 identifier"),
            "gen_ai.tool.call.id": self.raw("CARD", "tier1 identifier"),
            "host.name": self.raw("IBAN", "tier1 host").replace(" ", ""),
            "genai_o11y.route": f"refund for {self.raw('PHONE', 'tier1 broken shape')}",
            "genai_o11y.feedback.comment": f"wrong answer, email me at {self.raw('EMAIL', 'free text we emit')}",
            "gen_ai.evaluation.explanation": f"the answer leaked {self.raw('US_SSN', 'free text we emit')}",
            "service.owner_note": f"ask {self.raw('EMAIL', 'free text under a resource namespace')}",
        }
        self.needles["tier1 host"] = [n.replace(" ", "") for n in self.needles["tier1 host"]]
        return [common_pb2.KeyValue(key=k, value=s(v)) for k, v in t1.items()]

    def fill(self, msg) -> None:
        for f in msg.DESCRIPTOR.fields:
            name = f.full_name
            if name in VERBATIM:
                n = next(self.ids)
                setattr(msg, f.name, (n + 1000).to_bytes(16 if f.name == "trace_id" else 8, "big"))
            elif f.type == FD.TYPE_STRING:
                if f.is_repeated:
                    getattr(msg, f.name).extend([self.secret(name), self.secret(name)])
                else:
                    setattr(msg, f.name, self.secret(name))
            elif f.type == FD.TYPE_BYTES:
                if f.is_repeated:
                    getattr(msg, f.name).append(self.secret(name).encode())
                else:
                    setattr(msg, f.name, self.secret(name).encode())
            elif f.type == FD.TYPE_MESSAGE:
                if f.message_type.full_name == COMMON + "KeyValue":
                    getattr(msg, f.name).extend(self.shapes())
                elif f.message_type.full_name == COMMON + "AnyValue" and name == LOGS + "LogRecord.body":
                    getattr(msg, f.name).CopyFrom(self.value(self.body_shape))
                elif f.message_type.full_name == COMMON + "AnyValue":
                    raise AssertionError(f"{name}: an AnyValue outside a KeyValue: extend the planter")
                elif f.is_repeated:
                    self.fill(getattr(msg, f.name).add())
                else:
                    self.fill(getattr(msg, f.name))

    def value(self, shape: str, depth: int = 0) -> common_pb2.AnyValue:
        if shape == "string":
            return common_pb2.AnyValue(string_value=self.secret(COMMON + "AnyValue.string_value"))
        if shape == "bytes":
            return common_pb2.AnyValue(bytes_value=self.secret(COMMON + "AnyValue.bytes_value").encode())
        inner = ["string", "bytes"] + (["array", "kvlist"] if depth < 2 else [])
        if shape == "array":
            return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[self.value(s, depth + 1) for s in inner]))
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[
            common_pb2.KeyValue(key=f"k{i}", value=self.value(s, depth + 1)) for i, s in enumerate(inner)
        ] + [common_pb2.KeyValue(key=self.secret(COMMON + "KeyValue.key"), value=common_pb2.AnyValue(int_value=1))]))

    def shapes(self) -> list[common_pb2.KeyValue]:
        """One attribute per value shape, and one whose key is the secret."""
        kvs = [common_pb2.KeyValue(key=f"app.{s}", value=self.value(s)) for s in ("string", "bytes", "array", "kvlist")]
        return kvs + [common_pb2.KeyValue(key=self.secret(COMMON + "KeyValue.key"), value=common_pb2.AnyValue(string_value="v"))] + self.tier1()


def text_fields(desc, seen=None) -> set[str]:
    """Every string and bytes field reachable from a message descriptor."""
    seen = set() if seen is None else seen
    out = set()
    for f in desc.fields:
        if f.type in (FD.TYPE_STRING, FD.TYPE_BYTES):
            out.add(f.full_name)
        elif f.type == FD.TYPE_MESSAGE and f.message_type.full_name not in seen:
            seen.add(f.message_type.full_name)
            out |= text_fields(f.message_type, seen)
    return out


def planted_request() -> tuple[trace_service_pb2.ExportTraceServiceRequest, Planter]:
    p = Planter()
    req = trace_service_pb2.ExportTraceServiceRequest()
    p.fill(req)
    now = time.time_ns()
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                s.start_time_unix_nano, s.end_time_unix_nano = now - 5_000_000, now
                s.status.code = s.status.STATUS_CODE_ERROR
                s.kind = s.SPAN_KIND_SERVER
                for e in s.events:
                    e.time_unix_nano = now
    return req, p


def planted_logs_request() -> tuple[logs_service_pb2.ExportLogsServiceRequest, Planter]:
    """Every field of the logs model planted, and one more log record per other body shape."""
    p = Planter()
    req = logs_service_pb2.ExportLogsServiceRequest()
    p.fill(req)
    records = req.resource_logs[0].scope_logs[0].log_records
    for shape in BODY_SHAPES[1:]:
        p.body_shape = shape
        p.fill(records.add())
    now = time.time_ns()
    for r in records:
        r.time_unix_nano = r.observed_time_unix_nano = now
        r.severity_number = 9  # INFO
    return req, p


def leaks(planter: Planter, text: bytes) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field, needles in planter.needles.items():
        for n in needles:
            if n.encode() in text:
                out.setdefault(field, []).append(n)
    return out


def test_the_planter_reaches_every_text_field_of_the_model():
    req, p = planted_request()
    every = text_fields(trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR)
    models = every | text_fields(logs_service_pb2.ExportLogsServiceRequest.DESCRIPTOR)
    assert set(VERBATIM) <= models, set(VERBATIM) - models  # no stale exception
    assert p.planted == every - set(VERBATIM), sorted(every - set(VERBATIM) - p.planted)
    assert len(every) >= 20
    # and every secret is in the request it sends
    raw = req.SerializeToString()
    assert all(n.encode() in raw for ns in p.needles.values() for n in ns)


def test_the_planter_reaches_every_text_field_of_the_logs_model():
    req, p = planted_logs_request()
    every = text_fields(logs_service_pb2.ExportLogsServiceRequest.DESCRIPTOR)
    assert p.planted == every - set(VERBATIM), sorted(every - set(VERBATIM) - p.planted)
    assert {LOGS + "LogRecord.event_name", LOGS + "LogRecord.severity_text", COMMON + "AnyValue.bytes_value"} <= p.planted
    bodies = [r.body.WhichOneof("value") for r in req.resource_logs[0].scope_logs[0].log_records]
    assert bodies == ["string_value", "bytes_value", "array_value", "kvlist_value"]
    raw = req.SerializeToString()
    assert all(n.encode() in raw for ns in p.needles.values() for n in ns)


# --- the collector ----------------------------------------------------------------------------------

def through_collector(otelcol, tmp, overrides: dict) -> tuple[bytes, str]:
    """The planted request through the real collector; what left it (the sink's requests, both
    metrics endpoints and the collector's log)."""
    req, _ = planted_request()
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, "gateway.decision_wait_seconds": 1, **overrides}, tmp))
        with run_collector(otelcol, spec, tmp) as col:
            with grpc.insecure_channel(col.otlp_grpc) as ch:
                trace_service_pb2_grpc.TraceServiceStub(ch).Export(req, timeout=30)
            wait_for(lambda: len(sink.spans()) >= 1, timeout=60, what="the span at the sink")
            time.sleep(2)  # metrics flush
            other = col.metrics_text() + urllib.request.urlopen(col.telemetry_url, timeout=5).read().decode() + col.log()
        with sink.servicer.lock:
            out = b"".join(r.SerializeToString() for r in sink.servicer.requests)
    return out, other


@pytest.mark.collector
@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_no_secret_leaves_the_collector_from_any_field(otelcol, tmp_path, mode):
    out, other = through_collector(otelcol, tmp_path, {"redaction.mode": mode})
    _, p = planted_request()
    assert b"<EMAIL>" in out or mode == "metadata-only"  # the span arrived, masked
    assert not leaks(p, out), leaks(p, out)
    assert not leaks(p, other.encode()), leaks(p, other.encode())
    # fail closed, counted: what could not be classified (bytes values, Tier 1 values out of shape) is
    # masked and counted for the alert GenAIRedactionUnclassified
    counted = {r: sum(float(v) for v in re.findall(rf'otelcol_genai_redaction_values_unclassified(?:_total)?{{[^}}]*reason="{r}"[^}}]*}} (\S+)', other))
               for r in ("bytes", "contract")}
    assert counted["contract"] >= 9 and (counted["bytes"] >= 1 or mode == "metadata-only"), counted


#: Fields the OTTL engine has no path to: resource entity references. It removes them after the
#: redaction stage (collector.ENTITY_REFS_DROP, stated in redaction.OTTL_LIMITS), so they must not leak
#: either: the planter fills them (test_the_planter_reaches_every_text_field_of_the_model).
OTTL_NO_PATH = {COMMON + "EntityRef.schema_url", COMMON + "EntityRef.type",
                COMMON + "EntityRef.id_keys", COMMON + "EntityRef.description_keys"}


@pytest.mark.collector
@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_the_ottl_engine_leaks_nothing_from_any_field(otelcol, tmp_path, mode):
    out, other = through_collector(otelcol, tmp_path, {"collector.engine": "ottl", "redaction.mode": mode})
    _, p = planted_request()
    assert b"<EMAIL>" in out or mode == "metadata-only"
    assert OTTL_NO_PATH <= set(p.needles)  # planted, so their absence below is the engine's doing
    assert not leaks(p, out), leaks(p, out)
    assert (b"<BYTES>" in out) == (mode == "redacted")  # bytes values masked whole, as in the native engine
    assert not leaks(p, other.encode())
    for words in (["links"], ["entity references"]):
        assert any(all(w in limit for w in words) for limit in redaction.OTTL_LIMITS), words


def logs_through_collector(otelcol, tmp, overrides: dict) -> tuple[bytes, str]:
    """The planted logs request through the real collector with logs.export: otlp; what left it."""
    req, _ = planted_logs_request()
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"logs.export": "otlp", "logs.endpoint": sink.endpoint, **overrides}, tmp))
        with run_collector(otelcol, spec, tmp) as col:
            with grpc.insecure_channel(col.otlp_grpc) as ch:
                logs_service_pb2_grpc.LogsServiceStub(ch).Export(req, timeout=30)
            wait_for(lambda: len(sink.logs.requests) >= 1, timeout=60, what="the log records at the sink")
            time.sleep(2)  # metrics flush
            other = col.metrics_text() + urllib.request.urlopen(col.telemetry_url, timeout=5).read().decode() + col.log()
        with sink.logs.lock:
            out = b"".join(r.SerializeToString() for r in sink.logs.requests)
            records = [r for rq in sink.logs.requests for rl in rq.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert len(records) == len(BODY_SHAPES), len(records)  # every record left, redacted: none was dropped
    return out, other


@pytest.mark.collector
@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_no_secret_leaves_the_collector_from_any_log_field(otelcol, tmp_path, mode):
    out, other = logs_through_collector(otelcol, tmp_path, {"redaction.mode": mode})
    _, p = planted_logs_request()
    assert re.search(rb"<(EMAIL|API_KEY|SSN|IBAN)>", out)  # the records arrived, masked
    assert (b"<BYTES>" in out) == (mode == "redacted")
    assert not leaks(p, out), leaks(p, out)
    assert not leaks(p, other.encode()), leaks(p, other.encode())


@pytest.mark.collector
@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_the_ottl_engine_leaks_no_log_field(otelcol, tmp_path, mode):
    out, other = logs_through_collector(otelcol, tmp_path, {"collector.engine": "ottl", "redaction.mode": mode})
    _, p = planted_logs_request()
    assert re.search(rb"<(EMAIL|API_KEY|SSN|IBAN)>", out)  # the records arrived, masked
    assert OTTL_NO_PATH <= set(p.needles)
    assert not leaks(p, out), leaks(p, out)
    assert (b"<BYTES>" in out) == (mode == "redacted")
    assert not leaks(p, other.encode())


# --- the app-side redactor ----------------------------------------------------------------------------

_py = localstack.otlp_value


def _attrs(kvs) -> dict:
    return {kv.key: _py(kv.value) for kv in kvs}


def sdk_spans(req: trace_service_pb2.ExportTraceServiceRequest) -> list:
    """The request as opentelemetry-sdk ReadableSpans, every field the SDK model can hold."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, TraceState
    from opentelemetry.trace.status import Status, StatusCode

    def ctx(trace_id: bytes, span_id: bytes, state: str = "") -> SpanContext:
        ts = TraceState([("vendor", state.split(" ", 1)[1])]) if state else None  # a valid pair: value without "note "
        return SpanContext(int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), False, trace_state=ts)

    out = []
    for rs in req.resource_spans:
        res = Resource(_attrs(rs.resource.attributes), rs.schema_url)
        for ss in rs.scope_spans:
            sc = InstrumentationScope(ss.scope.name, ss.scope.version, ss.schema_url, _attrs(ss.scope.attributes))
            for s in ss.spans:
                out.append(ReadableSpan(
                    name=s.name, context=ctx(s.trace_id, s.span_id, s.trace_state), parent=ctx(s.trace_id, s.parent_span_id),
                    resource=res, attributes=_attrs(s.attributes),
                    events=[Event(e.name, _attrs(e.attributes), e.time_unix_nano) for e in s.events],
                    links=[Link(ctx(link.trace_id, link.span_id, link.trace_state), _attrs(link.attributes)) for link in s.links],
                    kind=SpanKind.SERVER, status=Status(StatusCode.ERROR, s.status.message),
                    start_time=s.start_time_unix_nano, end_time=s.end_time_unix_nano, instrumentation_scope=sc,
                ))
    return out


class _Capture:
    def __init__(self) -> None:
        self.raw = b""

    def export(self, spans):
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        self.raw += encode_spans(spans).SerializeToString()
        # the SDK's OTLP encoder drops a link's trace state; other exporters may not
        self.raw += repr([(link.context.trace_state, link.attributes) for s in spans for link in s.links]).encode()

    def shutdown(self):
        pass


#: Fields of the OTLP model the SDK's span model has no place for (never exported by an SDK app).
SDK_CANNOT_CARRY = {
    COMMON + "EntityRef.schema_url", COMMON + "EntityRef.type", COMMON + "EntityRef.id_keys", COMMON + "EntityRef.description_keys",
}


@pytest.mark.parametrize("mode", ["redacted", "metadata-only"])
def test_no_secret_leaves_the_app_side_redactor_from_any_field(mode):
    req, p = planted_request()
    plain, redacted = _Capture(), _Capture()
    plain.export(sdk_spans(req))
    RedactingSpanExporter(redacted, Redactor(salt="s", mode=mode)).export(sdk_spans(req))
    # without the redactor, every field the SDK can carry leaks (and every Tier 1 probe): the test sees what it must
    assert set(leaks(p, plain.raw)) == set(p.needles) - SDK_CANNOT_CARRY, sorted(set(p.needles) - SDK_CANNOT_CARRY - set(leaks(p, plain.raw)))
    assert b"note" in redacted.raw or mode == "metadata-only"
    assert not leaks(p, redacted.raw), leaks(p, redacted.raw)


def test_generate_says_what_the_ottl_engine_cannot_redact():
    from genai_o11y.cli import redaction_notes

    notes = redaction_notes(make_spec({"collector.engine": "ottl"}))
    assert len(notes) == len(redaction.OTTL_LIMITS) and all("collector.engine ottl" in n for n in notes)
    assert redaction_notes(make_spec()) == []  # the native engine reaches every field


@pytest.mark.collector
def test_the_ottl_engine_masks_bytes_beside_a_nan_double(otelcol, tmp_path):
    """JSON has no NaN: the OTTL engine's bytes step makes such a span's values strings first. The span
    is accepted, its bytes value masked, its numbers kept as they are (the native engine does the same)."""
    import math

    from opentelemetry.proto.trace.v1 import trace_pb2

    kv = lambda k, **v: common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(**v))  # noqa: E731
    now = time.time_ns()
    spans = [trace_pb2.Span(trace_id=bytes(range(1, 17)), span_id=bytes([i + 1]) * 8, name="x", start_time_unix_nano=now - 1000, end_time_unix_nano=now,
                            status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR),  # kept by the sampler
                            attributes=[kv("app.x", double_value=x), kv("app.blob", bytes_value=b"note jane.doe@example.com"), kv("app.n", int_value=1234)])
             for i, x in enumerate((math.nan, math.inf, 1.5))]
    req = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])])
    with OtlpSink() as sink:
        spec = make_spec(collector_ports({"backends.tempo.endpoint": sink.endpoint, "gateway.decision_wait_seconds": 1, "collector.engine": "ottl"}, tmp_path))
        with run_collector(otelcol, spec, tmp_path) as col:
            with grpc.insecure_channel(col.otlp_grpc) as ch:
                trace_service_pb2_grpc.TraceServiceStub(ch).Export(req, timeout=30)  # accepted: raises if refused
            wait_for(lambda: len(sink.spans()) >= 3, timeout=60, what="the spans at the sink")
    got = sorted((s.attributes["app.x"], s.attributes["app.blob"], s.attributes["app.n"]) for s in sink.spans() if not math.isnan(s.attributes["app.x"]))
    assert got == [(1.5, "<BYTES>", 1234), (math.inf, "<BYTES>", 1234)], got
    nan = [s.attributes for s in sink.spans() if math.isnan(s.attributes["app.x"])]
    assert len(nan) == 1 and nan[0]["app.blob"] == "<BYTES>" and nan[0]["app.n"] == 1234, nan
