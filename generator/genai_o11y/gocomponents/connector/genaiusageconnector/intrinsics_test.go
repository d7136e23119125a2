// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The span metrics as the span_metrics connector makes them: calls by service, status code and the
// dimensions present (an absent one is no label), duration in ms in explicit buckets.
func spanMetricsConfig(maxStreams int) *Config {
	labels := []Label{{Key: "service.name", Source: SourceResource}, {Key: "status.code", Source: SourceStatusCode},
		{Key: "genai_o11y.stage", Optional: true}, {Key: "genai_o11y.route", Optional: true}}
	when := []When{{Key: "genai_o11y.stage", Present: true}}
	return &Config{MaxStale: time.Hour, MetricsFlushInterval: time.Minute, Metrics: []Metric{
		{Name: "span.calls", When: when, Labels: labels, ResourceLabels: []string{"service.name"}, Value: Value{Type: "int"},
			Sum: &Sum{Monotonic: true}, MaxStreams: maxStreams, OnLimit: OnLimitOverflow},
		{Name: "span.duration", Unit: "ms", When: when, Labels: labels, ResourceLabels: []string{"service.name"},
			Value: Value{Source: SourceSpanDuration, Type: "double"}, Histogram: &Histogram{Buckets: []float64{5, 10}},
			MaxStreams: maxStreams, OnLimit: OnLimitOverflow, Exemplars: true},
	}}
}

type testSpan struct {
	attrs  map[string]any
	status ptrace.StatusCode
	dur    time.Duration // negative: the end before the start
}

func (f *fixture) sendSpans(t *testing.T, spans ...testSpan) { f.sendSpansOf(t, "svc", spans...) }

// sendSpansOf: one batch of spans of a resource with that service.name ("": none).
func (f *fixture) sendSpansOf(t *testing.T, service string, spans ...testSpan) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	if service != "" {
		rs.Resource().Attributes().PutStr("service.name", service)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	start := pcommon.Timestamp(1_700_000_000_000_000_000)
	for i, x := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.Status().SetCode(x.status)
		s.SetStartTimestamp(start)
		s.SetEndTimestamp(pcommon.Timestamp(int64(start) + int64(x.dur)))
		if err := s.Attributes().FromRaw(x.attrs); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

func TestSpanStatusAndDurationAsSpanMetricsMakesThem(t *testing.T) {
	cfg := spanMetricsConfig(0)
	cfg.Metrics[0].OnLimit, cfg.Metrics[1].OnLimit = "", ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f := start(t, cfg)
	stage := func(s string) map[string]any { return map[string]any{"service.name": "svc", "genai_o11y.stage": s} }
	f.sendSpans(t,
		testSpan{stage("tool"), ptrace.StatusCodeError, 5 * time.Millisecond},                 // a bound is in its bucket
		testSpan{stage("tool"), ptrace.StatusCodeError, 5*time.Millisecond + time.Nanosecond}, // just past it
		testSpan{stage("tool"), ptrace.StatusCodeOk, -time.Second},                            // end before start: 0
		testSpan{map[string]any{"service.name": "svc", "genai_o11y.stage": "tool", "genai_o11y.route": "faq"}, ptrace.StatusCodeUnset, time.Minute},
		// the service is the resource's, not a span attribute of that name
		testSpan{map[string]any{"service.name": "other", "genai_o11y.stage": "tool"}, ptrace.StatusCodeUnset, time.Millisecond},
		testSpan{map[string]any{"service.name": "svc"}, ptrace.StatusCodeUnset, time.Millisecond}, // no stage: not counted
	)
	f.sendSpansOf(t, "", testSpan{stage("tool"), ptrace.StatusCodeUnset, time.Millisecond}) // no service.name on the resource: not counted
	got := f.last()
	errs := map[string]any{"service.name": "svc", "status.code": "STATUS_CODE_ERROR", "genai_o11y.stage": "tool"}
	if p := find(t, got["span.calls"], errs); p.intV != 2 {
		t.Errorf("error calls: %+v", p)
	}
	h := find(t, got["span.duration"], errs)
	if h.count != 2 || !equalU(h.bkts, []uint64{1, 1, 0}) || math.Abs(h.dblV-10.000001) > 1e-9 {
		t.Errorf("error durations: %+v", h)
	}
	ok := find(t, got["span.duration"], map[string]any{"service.name": "svc", "status.code": "STATUS_CODE_OK", "genai_o11y.stage": "tool"})
	if ok.count != 1 || ok.dblV != 0 || !equalU(ok.bkts, []uint64{1, 0, 0}) {
		t.Errorf("an end before the start is 0 ms: %+v", ok)
	}
	routed := find(t, got["span.duration"], map[string]any{"service.name": "svc", "status.code": "STATUS_CODE_UNSET", "genai_o11y.stage": "tool", "genai_o11y.route": "faq"})
	if routed.count != 1 || routed.dblV != 60000 || !equalU(routed.bkts, []uint64{0, 0, 1}) {
		t.Errorf("a present optional label is a label: %+v", routed)
	}
	if p := find(t, got["span.calls"], map[string]any{"service.name": "svc", "status.code": "STATUS_CODE_UNSET", "genai_o11y.stage": "tool"}); p.intV != 1 {
		t.Errorf("the resource's service: %+v", p)
	}
	if n := len(got["span.calls"]); n != 4 {
		t.Errorf("label sets: %d %+v", n, got["span.calls"])
	}
}

// Past max_streams with on_limit: overflow, the data points go to one stream labelled only
// otel.metric.overflow=true, so the totals stay exact (span_metrics' aggregation_cardinality_limit).
func TestOverflowStreamKeepsTheTotals(t *testing.T) {
	f := start(t, spanMetricsConfig(2))
	route := func(r string) testSpan {
		return testSpan{map[string]any{"service.name": "svc", "genai_o11y.stage": "request", "genai_o11y.route": r}, ptrace.StatusCodeUnset, 20 * time.Millisecond}
	}
	f.sendSpans(t, route("a"), route("b"), route("c"), route("d"), route("a"))
	got := f.last()
	if p := find(t, got["span.calls"], map[string]any{OverflowKey: true}); p.intV != 2 {
		t.Errorf("overflow: %+v", p)
	}
	if p := find(t, got["span.calls"], map[string]any{"service.name": "svc", "status.code": "STATUS_CODE_UNSET", "genai_o11y.stage": "request", "genai_o11y.route": "a"}); p.intV != 2 {
		t.Errorf("tracked: %+v", p)
	}
	if h := find(t, got["span.duration"], map[string]any{OverflowKey: true}); h.count != 2 || !equalU(h.bkts, []uint64{0, 0, 2}) {
		t.Errorf("overflow histogram: %+v", h)
	}
	if n := dropped(t, f, "limit"); n != 0 {
		t.Errorf("overflowed points are not dropped: %d", n)
	}
	if n := gauge(t, f, "otelcol_genai_usage_streams_tracked", "span.calls"); n != 2 {
		t.Errorf("tracked: %d", n)
	}
}
