// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
)

const configEnv = "GENAI_USAGE_CONFIG"

func loadConfig(t *testing.T) *Config { return configtest.Config(t, configEnv, createDefaultConfig()) }
func example(t *testing.T) *Config    { return configtest.ExampleOf(t, configEnv, createDefaultConfig()) }

type fixture struct {
	u      *usage
	sink   *consumertest.MetricsSink
	reader *sdkmetric.ManualReader
	set    connector.Settings
}

func start(t testing.TB, cfg *Config) *fixture {
	t.Helper()
	f := &fixture{sink: new(consumertest.MetricsSink), reader: sdkmetric.NewManualReader()}
	set := connectortest.NewNopSettings(Type)
	set.TelemetrySettings = componenttest.NewNopTelemetrySettings()
	set.TelemetrySettings.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), set, cfg, f.sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	f.u, f.set = c.(*sharedUsage).usage, set
	return f
}

// send one batch: one resource (service.name) with a span per attribute map.
func (f *fixture) send(t *testing.T, service string, spans ...map[string]any) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("service.instance.id", "pod-1")
	ss := rs.ScopeSpans().AppendEmpty()
	for _, a := range spans {
		if err := ss.Spans().AppendEmpty().Attributes().FromRaw(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

type point struct {
	attrs map[string]any
	res   map[string]any
	intV  int64
	dblV  float64
	count uint64
	bkts  []uint64
	start pcommon.Timestamp
}

// last: the latest data point of each (metric, label set) the sink received, after a flush (the
// end of a metrics_flush_interval).
func (f *fixture) last() map[string][]point {
	if err := f.u.flush(context.Background()); err != nil {
		panic(err)
	}
	out := map[string][]point{}
	seen := map[string]int{}
	for _, md := range f.sink.AllMetrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			ms := rm.ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				add := func(p point, attrs pcommon.Map) {
					p.attrs, p.res = attrs.AsRaw(), rm.Resource().Attributes().AsRaw()
					id := m.Name() + "|" + mapKey(p.res) + "|" + mapKey(p.attrs)
					if k, ok := seen[id]; ok {
						out[m.Name()][k] = p
						return
					}
					seen[id] = len(out[m.Name()])
					out[m.Name()] = append(out[m.Name()], p)
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					if m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
						panic("not cumulative")
					}
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						dp := m.Sum().DataPoints().At(k)
						add(point{intV: dp.IntValue(), dblV: dp.DoubleValue(), start: dp.StartTimestamp()}, dp.Attributes())
					}
				case pmetric.MetricTypeHistogram:
					for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
						dp := m.Histogram().DataPoints().At(k)
						add(point{count: dp.Count(), dblV: dp.Sum(), bkts: dp.BucketCounts().AsRaw(), start: dp.StartTimestamp()}, dp.Attributes())
					}
				}
			}
		}
	}
	return out
}

func mapKey(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := pcommon.NewValueEmpty()
		_ = v.FromRaw(m[k])
		b.WriteString(k + "=" + v.Type().String() + ":" + v.AsString() + ";")
	}
	return b.String()
}

func find(t *testing.T, pts []point, attrs map[string]any) point {
	t.Helper()
	for _, p := range pts {
		if mapKey(p.attrs) == mapKey(attrs) {
			return p
		}
	}
	t.Fatalf("no data point with %v among %v", attrs, pts)
	return point{}
}

func TestCumulativeSumsAndHistograms(t *testing.T) {
	f := start(t, example(t))
	model := map[string]any{"genai_o11y.stage": "model_call", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": int64(100),
		"gen_ai.usage.output_tokens": int64(20), "genai_o11y.cost.usd": 0.25}
	f.send(t, "svc", model, map[string]any{"genai_o11y.stage": "retrieval"})
	first := f.last()
	f.send(t, "svc", model,
		// values read as OTTL's Int()/Double() read them: a numeric string, a double truncated
		map[string]any{"genai_o11y.stage": "model_call", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": 64.0},
		map[string]any{"gen_ai.usage.input_tokens": 2.9},    // no model: the default label value
		map[string]any{"gen_ai.usage.input_tokens": "many"}, // not a number: dropped, counted
	)
	got := f.last()

	in := got["genai_o11y.tokens.input"]
	p := find(t, in, map[string]any{"gen_ai.request.model": "gpt-4o", "genai_o11y.route": "_none"})
	if p.intV != 100+100+7 || p.res["service.name"] != "svc" || len(p.res) != 1 {
		t.Errorf("input tokens: %+v", p)
	}
	if p.start != find(t, first["genai_o11y.tokens.input"], p.attrs).start || p.start == 0 {
		t.Errorf("the start time must stay the stream's first sighting: %v", p.start)
	}
	if p := find(t, in, map[string]any{"gen_ai.request.model": "_none", "genai_o11y.route": "_none"}); p.intV != 2 {
		t.Errorf("truncated double: %+v", p)
	}
	if c := find(t, got["genai_o11y.cost.usd"], map[string]any{"gen_ai.request.model": "gpt-4o"}); c.dblV != 0.5 {
		t.Errorf("cost: %+v", c)
	}
	h := find(t, got["genai_o11y.response.tokens"], map[string]any{"gen_ai.request.model": "gpt-4o"})
	// buckets 16, 64, 256, 1024: 20 twice -> (16,64]; 64 -> (16,64] (a bound is in its own bucket)
	if h.count != 3 || h.dblV != 104 || !equalU(h.bkts, []uint64{0, 3, 0, 0, 0}) {
		t.Errorf("histogram: %+v", h)
	}
	if _, ok := got["genai_o11y.failures"]; ok {
		t.Error("a metric whose required label is missing got data")
	}
	if n := dropped(t, f, "value"); n != 1 {
		t.Errorf("dropped for value: %d", n)
	}
}

func TestConditionsAndRequiredLabels(t *testing.T) {
	f := start(t, example(t))
	f.send(t, "svc",
		map[string]any{"genai_o11y.stage": "tool_call", "genai_o11y.failure.category": "timeout"},
		map[string]any{"genai_o11y.failure.category": "timeout"},
		map[string]any{"genai_o11y.stage": "tool_call", "gen_ai.usage.output_tokens": int64(5)}, // not a model call: no histogram
		map[string]any{"genai_o11y.stage": true},                                                // equals is typed: not "request"
	)
	got := f.last()
	if p := find(t, got["genai_o11y.failures"], map[string]any{"genai_o11y.failure.category": "timeout", "genai_o11y.stage": "tool_call"}); p.intV != 1 {
		t.Errorf("%+v", p)
	}
	if p := find(t, got["genai_o11y.failures"], map[string]any{"genai_o11y.failure.category": "timeout", "genai_o11y.stage": "_none"}); p.intV != 1 {
		t.Errorf("%+v", p)
	}
	for _, name := range []string{"genai_o11y.response.tokens", "genai_o11y.tenant.requests", "genai_o11y.tokens.input"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s got data", name)
		}
	}
}

func TestStreamBudgetKeepsTrackedTotalsAndCountsTheRest(t *testing.T) {
	f := start(t, example(t)) // tenant.requests: max_streams 2
	for i := 0; i < 3; i++ {
		for _, tenant := range []string{"a", "b", "c", "d"} {
			f.send(t, "svc", map[string]any{"genai_o11y.stage": "request", "genai_o11y.tenant": tenant})
		}
	}
	got := f.last()["genai_o11y.tenant.requests"]
	if len(got) != 2 || find(t, got, map[string]any{"genai_o11y.tenant": "a"}).intV != 3 || find(t, got, map[string]any{"genai_o11y.tenant": "b"}).intV != 3 {
		t.Errorf("tracked tenants: %+v", got)
	}
	if n := dropped(t, f, "limit"); n != 6 {
		t.Errorf("dropped over the budget: %d", n)
	}
	if tr, lim := gauge(t, f, "otelcol_genai_usage_streams_tracked", "genai_o11y.tenant.requests"), gauge(t, f, "otelcol_genai_usage_streams_limit", "genai_o11y.tenant.requests"); tr != 2 || lim != 2 {
		t.Errorf("tracked %d, limit %d", tr, lim)
	}
	if lim := gauge(t, f, "otelcol_genai_usage_streams_limit", "genai_o11y.cost.usd"); lim != -1 {
		t.Errorf("a metric without a budget reports a limit: %d", lim)
	}
	// stale streams are forgotten and free the budget
	f.u.expire(time.Now().Add(f.u.maxStale + time.Second))
	f.send(t, "svc", map[string]any{"genai_o11y.stage": "request", "genai_o11y.tenant": "d"})
	got = f.last()["genai_o11y.tenant.requests"]
	if p := find(t, got, map[string]any{"genai_o11y.tenant": "d"}); p.intV != 1 {
		t.Errorf("after expiry: %+v", p)
	}
	if tr := gauge(t, f, "otelcol_genai_usage_streams_tracked", "genai_o11y.tenant.requests"); tr != 1 {
		t.Errorf("tracked after expiry: %d", tr)
	}
}

func TestResourcesStaySeparate(t *testing.T) {
	f := start(t, example(t))
	span := map[string]any{"gen_ai.usage.input_tokens": int64(1)}
	f.send(t, "a", span)
	f.send(t, "b", span, span)
	got := f.last()["genai_o11y.tokens.input"]
	sums := map[any]int64{}
	for _, p := range got {
		sums[p.res["service.name"]] += p.intV
	}
	if sums["a"] != 1 || sums["b"] != 2 || len(got) != 2 {
		t.Errorf("%+v", got)
	}
}

func TestGeneratedConfigLoads(t *testing.T) {
	cfg := loadConfig(t)
	if len(cfg.Metrics) < 15 {
		t.Fatalf("generated config incomplete: %d metrics", len(cfg.Metrics))
	}
	if _, err := newUsage(cfg, componenttest.NewNopTelemetrySettings(), new(consumertest.MetricsSink)); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cfg := example(t)
	cfg.MaxStale = 0
	cfg.Metrics[0].When = nil
	cfg.Metrics[1].Value.Type = "float"
	cfg.Metrics[2].Histogram.Buckets = []float64{1, 1}
	cfg.Metrics[3].Sum = nil
	cfg.Metrics[4].When[0].Equals = 1.5
	cfg.Metrics[4].Name = cfg.Metrics[0].Name
	cfg.Metrics = append(cfg.Metrics, Metric{Name: "x", When: []When{{Key: "genai_o11y.stage", Present: true, Equals: "request"}}, Value: Value{Type: "int"}, Sum: &Sum{}})
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"max_stale: must be a positive duration",
		"metrics[0] (genai_o11y.tokens.input).when: empty",
		`metrics[1] (genai_o11y.cost.usd).value.type: "float" must be int or double`,
		"metrics[2] (genai_o11y.response.tokens).histogram.buckets[1]: 1 not above 1",
		"metrics[3] (genai_o11y.failures): exactly one of sum and histogram",
		"metrics[4] (genai_o11y.tokens.input).when[0]: value of genai_o11y.stage: 1.5 (float64) must be a string, bool or integer",
		"metrics[5] (x).when[0]: genai_o11y.stage: exactly one of present: true and equals",
		"metrics[4] (genai_o11y.tokens.input).name: also metrics[0]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func collect(t *testing.T, f *fixture) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// gauge: the value for this metric attribute, -1 when not reported.
func gauge(t *testing.T, f *fixture, name, metric string) int64 {
	for _, sm := range collect(t, f).ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name {
				for _, dp := range g.DataPoints {
					if v, _ := dp.Attributes.Value("metric"); v.AsString() == metric {
						return dp.Value
					}
				}
			}
		}
	}
	return -1
}

func dropped(t *testing.T, f *fixture, reason string) int64 {
	var n int64
	for _, sm := range collect(t, f).ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "otelcol_genai_usage_datapoints_dropped" {
				for _, dp := range s.DataPoints {
					if v, _ := dp.Attributes.Value("reason"); v.AsString() == reason {
						n += dp.Value
					}
				}
			}
		}
	}
	return n
}

func equalU(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func evalConfig() *Config {
	none := "_none"
	event := &SpanEvent{Name: "gen_ai.evaluation.result", SpanLabels: []string{"gen_ai.request.model", "genai_o11y.route"}}
	return &Config{MaxStale: time.Hour, MetricsFlushInterval: time.Minute, Metrics: []Metric{
		{Name: "eval.score", When: []When{{Key: "gen_ai.evaluation.score.value", Present: true}},
			Labels: []Label{{Key: "gen_ai.evaluation.name", Default: &none}, {Key: "gen_ai.request.model", Default: &none}, {Key: "genai_o11y.route", Default: &none}},
			Value:  Value{Key: "gen_ai.evaluation.score.value", Type: "double"}, Histogram: &Histogram{Buckets: []float64{0.5, 1}}, SpanEvent: event},
		{Name: "eval.results", When: []When{{Key: "gen_ai.evaluation.score.label", Present: true}},
			Labels: []Label{{Key: "gen_ai.evaluation.name", Default: &none}, {Key: "gen_ai.evaluation.score.label"}, {Key: "gen_ai.request.model", Default: &none}, {Key: "genai_o11y.route", Default: &none}},
			Value:  Value{Type: "int"}, Sum: &Sum{Monotonic: true}, SpanEvent: event},
		{Name: "spans.only", When: []When{{Key: "gen_ai.evaluation.score.value", Present: true}},
			Labels: []Label{{Key: "gen_ai.evaluation.name", Default: &none}}, Value: Value{Type: "int"}, Sum: &Sum{Monotonic: true}},
	}}
}

// sendEvents: one span with these attributes and span events (name, attributes).
func (f *fixture) sendEvents(t *testing.T, span map[string]any, events ...any) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	if err := s.Attributes().FromRaw(span); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(events); i += 2 {
		e := s.Events().AppendEmpty()
		e.SetName(events[i].(string))
		if err := e.Attributes().FromRaw(events[i+1].(map[string]any)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

func TestSpanEventsFeedTheMetricWithTheSpansDimensions(t *testing.T) {
	f := start(t, evalConfig())
	// an eval span (the span carries the result and its dimensions)
	f.sendEvents(t, map[string]any{"genai_o11y.stage": "evaluation", "gen_ai.request.model": "m1", "genai_o11y.route": "r1",
		"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.7, "gen_ai.evaluation.score.label": "pass"})
	// the evaluated span with its eval events: the span's dimensions, the event's result
	f.sendEvents(t, map[string]any{"genai_o11y.stage": "model_call", "gen_ai.request.model": "m1", "genai_o11y.route": "r1"},
		"gen_ai.evaluation.result", map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.7, "gen_ai.evaluation.score.label": "pass"},
		"gen_ai.evaluation.result", map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.2, "gen_ai.evaluation.score.label": "fail",
			"gen_ai.request.model": "not-the-span's"},
		"exception", map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9, "gen_ai.evaluation.score.label": "pass"},
		"gen_ai.evaluation.result", map[string]any{"gen_ai.evaluation.name": "tone", "gen_ai.evaluation.score.label": "pass"},
		"gen_ai.evaluation.result", map[string]any{"error.type": "timeout"},
	)
	// a span whose own evaluation keys must not leak into its events' results
	f.sendEvents(t, map[string]any{"genai_o11y.stage": "model_call", "gen_ai.evaluation.name": "span-own", "gen_ai.evaluation.score.label": "x"},
		"gen_ai.evaluation.result", map[string]any{"gen_ai.evaluation.score.value": 1})
	got := f.last()
	score := got["eval.score"]
	rel := find(t, score, map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.request.model": "m1", "genai_o11y.route": "r1"})
	if rel.count != 3 || math.Abs(rel.dblV-1.6) > 1e-9 || !equalU(rel.bkts, []uint64{1, 2, 0}) {
		t.Errorf("relevance: %+v", rel)
	}
	anon := find(t, score, map[string]any{"gen_ai.evaluation.name": "_none", "gen_ai.request.model": "_none", "genai_o11y.route": "_none"})
	if anon.count != 1 || anon.dblV != 1 {
		t.Errorf("event without a name on a span with one: %+v", anon)
	}
	if len(score) != 2 {
		t.Errorf("score series: %+v", score)
	}
	results := got["eval.results"]
	want := map[string]int64{"relevance|pass|m1": 2, "relevance|fail|m1": 1, "tone|pass|m1": 1, "span-own|x|_none": 1}
	for k, v := range want {
		p := strings.Split(k, "|")
		pt := find(t, results, map[string]any{"gen_ai.evaluation.name": p[0], "gen_ai.evaluation.score.label": p[1], "gen_ai.request.model": p[2],
			"genai_o11y.route": map[bool]string{true: "r1", false: "_none"}[p[2] == "m1"]})
		if pt.intV != v {
			t.Errorf("%s: %d, want %d", k, pt.intV, v)
		}
	}
	if len(results) != len(want) {
		t.Errorf("results series: %+v", results)
	}
	// a metric without span_event reads spans only
	if only := got["spans.only"]; len(only) != 1 || only[0].intV != 1 {
		t.Errorf("spans.only: %+v", only)
	}
}

func TestValidateNamesTheSpanEventField(t *testing.T) {
	cfg := evalConfig()
	cfg.Metrics[0].SpanEvent = &SpanEvent{SpanLabels: []string{"gen_ai.request.model", "tenant", "gen_ai.request.model"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"metrics[0] (eval.score).span_event.name: empty",
		`metrics[0] (eval.score).span_event.span_labels[1]: "tenant" is not one of the metric's labels`,
		"metrics[0] (eval.score).span_event.span_labels[2]: gen_ai.request.model listed twice",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// The configs in testdata/ (configtest.Testdata): the generated one, the example, the invalid ones.
func TestTestdataConfigs(t *testing.T) {
	configtest.Testdata(t, configEnv, createDefaultConfig, loadConfig)
}

// An OTel event as a log record (the event name, else the attribute event.name) feeds the same
// series as the span event, in the same connector: span labels from the record's own attributes,
// else from the record's resource where log_resource_labels says so, the default otherwise (the
// join is off here: join_test.go).
func TestLogRecordEventsFeedTheSameSeries(t *testing.T) {
	cfg := evalConfig()
	for i := range cfg.Metrics[:2] {
		e := *cfg.Metrics[i].SpanEvent
		e.LogResourceLabels = []string{"genai_o11y.route"}
		cfg.Metrics[i].SpanEvent = &e
	}
	f := start(t, cfg)
	lc, err := NewFactory().CreateLogsToMetrics(context.Background(), f.set, cfg, f.sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Shutdown(context.Background()) })
	if err := lc.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if lc.(*sharedUsage).usage != f.u {
		t.Fatal("traces and logs of one genai_usage must share its streams")
	}
	result := map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.7, "gen_ai.evaluation.score.label": "pass"}
	f.sendEvents(t, map[string]any{"genai_o11y.route": "r1"}, "gen_ai.evaluation.result", result)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc")
	rl.Resource().Attributes().PutStr("genai_o11y.route", "r1")
	records := rl.ScopeLogs().AppendEmpty().LogRecords()
	named := records.AppendEmpty()
	named.SetEventName("gen_ai.evaluation.result")
	_ = named.Attributes().FromRaw(result)
	named.Attributes().PutStr("gen_ai.request.model", "m-own") // a span label the record carries itself
	byAttr := records.AppendEmpty()
	_ = byAttr.Attributes().FromRaw(result)
	byAttr.Attributes().PutStr("event.name", "gen_ai.evaluation.result")
	other := records.AppendEmpty()
	other.SetEventName("gen_ai.client.inference.operation.details")
	_ = other.Attributes().FromRaw(result)
	if err := lc.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	got := f.last()
	rel := find(t, got["eval.score"], map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.request.model": "_none", "genai_o11y.route": "r1"})
	own := find(t, got["eval.score"], map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.request.model": "m-own", "genai_o11y.route": "r1"})
	if rel.count != 2 || math.Abs(rel.dblV-1.4) > 1e-9 || own.count != 1 || len(got["eval.score"]) != 2 {
		t.Errorf("score: %+v", got["eval.score"])
	}
	pass := find(t, got["eval.results"], map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "pass", "gen_ai.request.model": "_none", "genai_o11y.route": "r1"})
	if pass.intV != 2 || len(got["eval.results"]) != 2 {
		t.Errorf("results: %+v", got["eval.results"])
	}
	if only := got["spans.only"]; len(only) != 0 {
		t.Errorf("a metric without span_event reads no log record: %+v", only)
	}
}

func TestHistogramsWithExemplarsCarryTheLastObservationsTrace(t *testing.T) {
	cfg := evalConfig()
	cfg.Metrics[0].Exemplars = true
	cfg.Metrics = append(cfg.Metrics, Metric{Name: "eval.score.plain", When: cfg.Metrics[0].When, Labels: cfg.Metrics[0].Labels[:1],
		Value: cfg.Metrics[0].Value, Histogram: cfg.Metrics[0].Histogram})
	f := start(t, cfg)
	batch := func(spans ...[3]any) { // (trace id byte, span id byte, score)
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		ss := rs.ScopeSpans().AppendEmpty()
		for _, x := range spans {
			s := ss.Spans().AppendEmpty()
			if b := x[0].(byte); b != 0 {
				s.SetTraceID(pcommon.TraceID{b, 1})
				s.SetSpanID(pcommon.SpanID{x[1].(byte), 2})
			}
			s.Attributes().PutStr("gen_ai.evaluation.name", "relevance")
			s.Attributes().PutDouble("gen_ai.evaluation.score.value", x[2].(float64))
		}
		if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
	}
	exemplars := func(name string) []pmetric.Exemplar { // of the data point of the next flush
		if err := f.u.flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		all := f.sink.AllMetrics()
		var out []pmetric.Exemplar
		ms := all[len(all)-1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() == name {
				ex := ms.At(j).Histogram().DataPoints().At(0).Exemplars()
				for k := 0; k < ex.Len(); k++ {
					out = append(out, ex.At(k))
				}
			}
		}
		return out
	}
	// two batches in one flush interval: the point carries the exemplar of the last observation, at its time
	batch([3]any{byte(5), byte(6), 0.7})
	before := pcommon.NewTimestampFromTime(time.Now())
	batch([3]any{byte(7), byte(8), 0.9}, [3]any{byte(9), byte(10), 0.3})
	after := pcommon.NewTimestampFromTime(time.Now())
	ex := exemplars("eval.score")
	if len(ex) != 1 || ex[0].TraceID() != (pcommon.TraceID{9, 1}) || ex[0].SpanID() != (pcommon.SpanID{10, 2}) || ex[0].DoubleValue() != 0.3 {
		t.Fatalf("exemplar of the interval's last observation: %+v", ex)
	}
	if ts := ex[0].Timestamp(); ts < before || ts > after {
		t.Errorf("exemplar time %v is not its observation's batch (%v..%v)", ts, before, after)
	}
	if plain := exemplars("eval.score.plain"); len(plain) != 0 {
		t.Errorf("a histogram without exemplars carries %d", len(plain))
	}
	// the next interval's point carries the next exemplar only; a span without a trace id gives none
	batch([3]any{byte(0), byte(0), 0.4})
	if ex := exemplars("eval.score"); len(ex) != 0 {
		t.Errorf("no trace id, no exemplar: %+v", ex)
	}
	batch([3]any{byte(11), byte(12), 0.1})
	if ex := exemplars("eval.score"); len(ex) != 1 || ex[0].TraceID() != (pcommon.TraceID{11, 1}) {
		t.Errorf("third interval: %+v", ex)
	}
	bad := evalConfig()
	bad.Metrics[1].Exemplars = true
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "metrics[1] (eval.results).exemplars: only a histogram carries exemplars") {
		t.Errorf("validate: %v", err)
	}
}

// The streams are sent on once per metrics_flush_interval (flush), not per batch: the batches of one
// interval are all counted in its single data point per stream; a stream not updated since is not
// sent again (the exporter keeps its value); shutdown sends what the last interval updated.
func TestFlushSendsEachIntervalsUpdatesOnceAndShutdownTheLast(t *testing.T) {
	cfg := example(t)
	f := &fixture{sink: new(consumertest.MetricsSink)}
	c, err := NewFactory().CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(Type), cfg, f.sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	f.u = c.(*sharedUsage).usage
	call := func(model string, tokens int64) map[string]any {
		return map[string]any{"genai_o11y.stage": "model_call", "gen_ai.request.model": model, "gen_ai.usage.input_tokens": tokens}
	}
	points := func(md pmetric.Metrics) map[string]int64 { // model -> input tokens
		out := map[string]int64{}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
			for j := 0; j < ms.Len(); j++ {
				if m := ms.At(j); m.Name() == "genai_o11y.tokens.input" {
					for k := 0; k < m.Sum().DataPoints().Len(); k++ {
						dp := m.Sum().DataPoints().At(k)
						model, _ := dp.Attributes().Get("gen_ai.request.model")
						if _, dup := out[model.Str()]; dup {
							t.Errorf("two points of one stream in one flush: %s", model.Str())
						}
						out[model.Str()] = dp.IntValue()
					}
				}
			}
		}
		return out
	}
	for i := int64(1); i <= 3; i++ {
		f.send(t, "svc", call("gpt-4o", i), call("o1", 10*i))
	}
	if n := len(f.sink.AllMetrics()); n != 0 {
		t.Fatalf("%d sends before the interval ended: metrics must not go out per batch", n)
	}
	if err := f.u.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sink.AllMetrics()); n != 1 {
		t.Fatalf("one flush, %d sends", n)
	}
	if got := points(f.sink.AllMetrics()[0]); got["gpt-4o"] != 1+2+3 || got["o1"] != 10+20+30 || len(got) != 2 {
		t.Errorf("first interval: %v", got)
	}
	if err := f.u.flush(context.Background()); err != nil || len(f.sink.AllMetrics()) != 1 {
		t.Errorf("a flush with nothing updated sends nothing: %d sends, %v", len(f.sink.AllMetrics()), err)
	}
	f.send(t, "svc", call("gpt-4o", 100))
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := f.sink.AllMetrics()
	if len(all) != 2 {
		t.Fatalf("shutdown must send the last interval's updates: %d sends", len(all))
	}
	// cumulative: the total since the stream began, only the stream updated
	if got := points(all[1]); got["gpt-4o"] != 106 || len(got) != 1 {
		t.Errorf("at shutdown: %v", got)
	}
}

// max_stale with the interval flush: a stream updated since the last flush is not forgotten before
// it is sent (its last values would be lost); once sent and stale it is, and seen again it restarts
// from zero with a new start time (the exporter's series is cumulative again from there).
func TestExpiryKeepsUnsentStreamsAndRestartsFromZero(t *testing.T) {
	f := start(t, example(t))
	call := map[string]any{"genai_o11y.stage": "model_call", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": int64(100)}
	f.send(t, "svc", call)
	f.u.expire(time.Now().Add(f.u.maxStale + time.Second))
	f.send(t, "svc", call) // the same series before the flush: one stream, 200
	if err := f.u.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pts := points(f.sink.AllMetrics()[0], "genai_o11y.tokens.input"); len(pts) != 1 || pts[0] != 200 {
		t.Fatalf("a stream not yet sent was expired (its series sent twice, restarted): %v", pts)
	}
	first := find(t, f.last()["genai_o11y.tokens.input"], map[string]any{"gen_ai.request.model": "gpt-4o", "genai_o11y.route": "_none"})
	f.u.expire(time.Now().Add(f.u.maxStale + time.Second))
	if n := gauge(t, f, "otelcol_genai_usage_streams_tracked", "genai_o11y.tokens.input"); n != 0 {
		t.Fatalf("a sent, stale stream is still tracked: %d", n)
	}
	call["gen_ai.usage.input_tokens"] = int64(7)
	f.send(t, "svc", call)
	again := find(t, f.last()["genai_o11y.tokens.input"], map[string]any{"gen_ai.request.model": "gpt-4o", "genai_o11y.route": "_none"})
	if again.intV != 7 || again.start <= first.start || first.intV != 200 {
		t.Errorf("seen again after expiry: %+v (first start %v)", again, first.start)
	}
}

// points: the int values of a sum metric's data points in one payload.
func points(md pmetric.Metrics, name string) []int64 {
	var out []int64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if m := ms.At(j); m.Name() == name {
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					out = append(out, m.Sum().DataPoints().At(k).IntValue())
				}
			}
		}
	}
	return out
}

// copy_from_resource: a span or a log record lacking the key reads its resource's value, in place
// (labels, conditions and span_event metrics' span labels alike); its own value wins; nothing is
// written onto the data; a key no metric reads costs nothing.
func TestCopyFromResourceFillsWhatTheDataLacks(t *testing.T) {
	none := "_none"
	event := &SpanEvent{Name: "gen_ai.evaluation.result", SpanLabels: []string{"deployment.environment.name"}, LogResourceLabels: []string{}}
	cfg := &Config{MaxStale: time.Hour, MetricsFlushInterval: time.Minute, CopyFromResource: []string{"deployment.environment.name", "never.read"},
		Metrics: []Metric{
			{Name: "calls", When: []When{{Key: "genai_o11y.stage", Present: true}},
				Labels: []Label{{Key: "deployment.environment.name", Default: &none}}, Value: Value{Type: "int"}, Sum: &Sum{Monotonic: true}},
			// a condition on the key: met by the resource's value
			{Name: "prod.calls", When: []When{{Key: "deployment.environment.name", Equals: "prod"}},
				Labels: []Label{{Key: "genai_o11y.stage", Default: &none}}, Value: Value{Type: "int"}, Sum: &Sum{Monotonic: true}},
			{Name: "eval.results", When: []When{{Key: "gen_ai.evaluation.score.label", Present: true}},
				Labels: []Label{{Key: "deployment.environment.name", Default: &none}}, Value: Value{Type: "int"}, Sum: &Sum{Monotonic: true}, SpanEvent: event},
		}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f := start(t, cfg)
	if _, ok := f.u.copySlots["never.read"]; ok || len(f.u.copyList) != 1 {
		t.Errorf("copy slots: %v", f.u.copySlots)
	}
	td := ptrace.NewTraces()
	for _, env := range []string{"prod", "", "staging"} { // "": the resource does not set it
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		if env != "" {
			rs.Resource().Attributes().PutStr("deployment.environment.name", env)
		}
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		plain := spans.AppendEmpty()
		plain.Attributes().PutStr("genai_o11y.stage", "request")
		own := spans.AppendEmpty() // its own value wins over the resource's
		own.Attributes().PutStr("genai_o11y.stage", "tool_call")
		own.Attributes().PutStr("deployment.environment.name", "canary")
		ev := plain.Events().AppendEmpty()
		ev.SetName("gen_ai.evaluation.result")
		ev.Attributes().PutStr("gen_ai.evaluation.score.label", "pass")
	}
	before := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Len()
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if n := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Len(); n != before {
		t.Errorf("the span's attributes changed: %d -> %d", before, n)
	}
	lc := logsOf(t, f, cfg)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc")
	rl.Resource().Attributes().PutStr("deployment.environment.name", "prod")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("gen_ai.evaluation.result")
	lr.Attributes().PutStr("gen_ai.evaluation.score.label", "fail")
	if err := lc.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	got := f.last()
	for env, want := range map[string]int64{"prod": 1, "staging": 1, "_none": 1, "canary": 3} {
		if p := find(t, got["calls"], map[string]any{"deployment.environment.name": env}); p.intV != want {
			t.Errorf("calls{%s} = %d, want %d", env, p.intV, want)
		}
	}
	if p := find(t, got["prod.calls"], map[string]any{"genai_o11y.stage": "request"}); p.intV != 1 || len(got["prod.calls"]) != 1 {
		t.Errorf("prod.calls: %+v", got["prod.calls"])
	}
	// the span events read their span's labels (filled); the log record its resource's
	if p := find(t, got["eval.results"], map[string]any{"deployment.environment.name": "prod"}); p.intV != 2 {
		t.Errorf("eval.results{prod} = %d, want 2 (one span event, one log record)", p.intV)
	}
	if p := find(t, got["eval.results"], map[string]any{"deployment.environment.name": "_none"}); p.intV != 1 {
		t.Errorf("eval.results{_none} = %d, want 1", p.intV)
	}
}
