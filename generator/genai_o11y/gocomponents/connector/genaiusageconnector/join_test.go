// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const respKey = "gen_ai.response.id"

func joinConfig(entries int, ttl time.Duration) *Config {
	cfg := evalConfig()
	cfg.Join = Join{MaxEntries: entries, TTL: ttl, ResponseIDKey: respKey}
	return cfg
}

// logsOf: the logs side of the fixture's connector (the same usage).
func logsOf(t *testing.T, f *fixture, cfg *Config) connector.Logs {
	t.Helper()
	lc, err := NewFactory().CreateLogsToMetrics(context.Background(), f.set, cfg, f.sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Shutdown(context.Background()) })
	if err := lc.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	return lc
}

// span sends one span with this id and attributes, and these eval results as its span events.
func (f *fixture) span(t *testing.T, id byte, attrs map[string]any, results ...map[string]any) {
	t.Helper()
	f.child(t, id, 0, attrs, results...)
}

// child: span, under this parent span id (0: a root).
func (f *fixture) child(t *testing.T, id, parent byte, attrs map[string]any, results ...map[string]any) {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(pcommon.TraceID{1})
	s.SetSpanID(pcommon.SpanID{id})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{parent})
	}
	if err := s.Attributes().FromRaw(attrs); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		e := s.Events().AppendEmpty()
		e.SetName("gen_ai.evaluation.result")
		_ = e.Attributes().FromRaw(r)
	}
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

// record: an eval result as a log record, parented by span id (0: none), with these attributes.
type record struct {
	parent byte
	attrs  map[string]any
}

func sendRecords(t *testing.T, lc connector.Logs, records ...record) {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range records {
		lr := lrs.AppendEmpty()
		lr.SetEventName("gen_ai.evaluation.result")
		if r.parent != 0 {
			lr.SetTraceID(pcommon.TraceID{1})
			lr.SetSpanID(pcommon.SpanID{r.parent})
		}
		_ = lr.Attributes().FromRaw(r.attrs)
	}
	if err := lc.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
}

func with(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// counter: the sum of a join counter's points with this reason ("" for any).
func counter(t *testing.T, f *fixture, name, reason string) int64 {
	var n int64
	for _, sm := range collect(t, f).ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					if v, _ := dp.Attributes.Value("reason"); reason == "" || v.AsString() == reason {
						n += dp.Value
					}
				}
			}
		}
	}
	return n
}

func entries(t *testing.T, f *fixture) int64 {
	for _, sm := range collect(t, f).ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == "otelcol_genai_usage_join_entries" {
				return g.DataPoints[0].Value
			}
		}
	}
	return -1
}

// A log record takes the labels of the span it names (its parent span id, else the response id it
// carries), and then feeds exactly the series the same result gives as that span's span event;
// its own attributes win label by label; a record naming no span, or one not seen, keeps the
// defaults and is counted.
func TestLogRecordsTakeTheirSpansLabels(t *testing.T) {
	dims := map[string]any{"gen_ai.request.model": "m1", "genai_o11y.route": "r1", respKey: "resp-1"}
	pass := map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.75, "gen_ai.evaluation.score.label": "pass"}
	fail := map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.25, "gen_ai.evaluation.score.label": "fail"}

	// the reference: the results as span events on the evaluated span
	ref := start(t, joinConfig(10, time.Minute))
	ref.span(t, 7, dims, pass, fail)
	want := ref.last()

	for _, by := range []string{"span id", "response id"} {
		t.Run(by, func(t *testing.T) {
			cfg := joinConfig(10, time.Minute)
			f := start(t, cfg)
			lc := logsOf(t, f, cfg)
			f.span(t, 7, dims)
			if by == "span id" {
				sendRecords(t, lc, record{7, pass}, record{7, fail})
			} else {
				sendRecords(t, lc, record{0, with(pass, respKey, "resp-1")}, record{0, with(fail, respKey, "resp-1")})
			}
			got := f.last()
			for _, name := range []string{"eval.score", "eval.results"} {
				if a, b := fmt.Sprint(sorted(got[name])), fmt.Sprint(sorted(want[name])); a != b {
					t.Errorf("%s by %s:\n got %s\nwant %s", name, by, a, b)
				}
			}
			if h := counter(t, f, "otelcol_genai_usage_join_hits", ""); h != 2 {
				t.Errorf("hits: %d", h)
			}
		})
	}

	cfg := joinConfig(10, time.Minute)
	f := start(t, cfg)
	lc := logsOf(t, f, cfg)
	f.span(t, 7, dims)
	sendRecords(t, lc,
		record{7, with(pass, "gen_ai.request.model", "m2")},                           // its own model, its span's route
		record{7, with(pass, "gen_ai.request.model", "m3", "genai_o11y.route", "r3")}, // all its own: no lookup
		record{9, pass}, // a span never seen
		record{0, with(pass, respKey, "resp-unknown")}, // a response never seen
		record{0, pass}, // names nothing
	)
	results := f.last()["eval.results"]
	for _, c := range []struct {
		model, route string
		n            int64
	}{{"m2", "r1", 1}, {"m3", "r3", 1}, {"_none", "_none", 3}} {
		pt := find(t, results, map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "pass", "gen_ai.request.model": c.model, "genai_o11y.route": c.route})
		if pt.intV != c.n {
			t.Errorf("%s/%s: %d, want %d", c.model, c.route, pt.intV, c.n)
		}
	}
	if len(results) != 3 {
		t.Errorf("series: %+v", results)
	}
	for reason, want := range map[string]int64{"not_found": 2, "no_reference": 1} {
		if got := counter(t, f, "otelcol_genai_usage_join_misses", reason); got != want {
			t.Errorf("misses %s: %d, want %d", reason, got, want)
		}
	}
	if h := counter(t, f, "otelcol_genai_usage_join_hits", ""); h != 1 {
		t.Errorf("hits: %d, want 1 (a record carrying every label looks nothing up)", h)
	}
}

func sorted(pts []point) []string {
	out := make([]string, 0, len(pts))
	for _, p := range pts {
		out = append(out, fmt.Sprintf("%s %d %g %d %v", mapKey(p.attrs), p.intV, p.dblV, p.count, p.bkts))
	}
	sort.Strings(out)
	return out
}

// The store is bounded: at most max_entries spans (the oldest forgotten first, counted), none
// older than the ttl; label sets are shared and freed with their last entry. Every order of
// puts, gets and expiries over a small key space is checked against a plain model.
func TestJoinStoreIsBoundedByEntriesAndTTL(t *testing.T) {
	const ttl = 10
	var a attrs
	a.vals[0], a.has[0] = pcommon.NewValueStr("m"), true
	for max := 1; max <= 4; max++ {
		j := newJoinStore(max, ttl)
		type entry struct{ at int64 }
		model := map[joinKey]entry{}
		var order []joinKey
		var evicted int64
		now := int64(0)
		for step := 0; step < 400; step++ {
			key := spanKey(pcommon.SpanID{byte(step*7%6 + 1)})
			enc := []byte{byte(step % 3)}
			switch step % 5 {
			case 0, 1, 3:
				if _, ok := model[key]; !ok {
					if len(order) == max {
						if now-model[order[0]].at <= ttl {
							evicted++
						}
						delete(model, order[0])
						order = order[1:]
					}
					model[key] = entry{now}
					order = append(order, key)
				}
				j.put(key, enc, []int{0}, &a, now)
			case 2:
				j.expire(now)
				for len(order) > 0 && now-model[order[0]].at > ttl {
					delete(model, order[0])
					order = order[1:]
				}
			}
			for _, k := range order {
				if got := j.get(k, now); (got != nil) != (now-model[k].at <= ttl) {
					t.Fatalf("max %d step %d: get %v = %v, entry at %d, now %d", max, step, k, got, model[k].at, now)
				}
			}
			if j.size != len(order) || len(j.byKey) != len(order) || j.size > max {
				t.Fatalf("max %d step %d: size %d, keys %d, want %d", max, step, j.size, len(j.byKey), len(order))
			}
			refs := 0
			for _, s := range j.sets {
				refs += s.refs
			}
			if refs != j.size {
				t.Fatalf("max %d step %d: %d label-set references for %d entries", max, step, refs, j.size)
			}
			now += int64(step % 4)
		}
		if j.evicted != evicted {
			t.Errorf("max %d: evicted %d, want %d", max, j.evicted, evicted)
		}
		j.expire(now + ttl + 1)
		if j.size != 0 || len(j.byKey) != 0 || len(j.sets) != 0 {
			t.Errorf("max %d: after the ttl: %d entries, %d keys, %d label sets", max, j.size, len(j.byKey), len(j.sets))
		}
	}
}

// Through the connector: a full store forgets its oldest span first and counts it; the entries
// gauge reports the store's size; a record of the forgotten span is a miss.
func TestJoinForgetsTheOldestWhenFull(t *testing.T) {
	cfg := joinConfig(3, time.Hour)
	f := start(t, cfg)
	lc := logsOf(t, f, cfg)
	for id := byte(1); id <= 5; id++ {
		f.span(t, id, map[string]any{"gen_ai.request.model": fmt.Sprintf("m%d", id)})
	}
	f.span(t, 6, map[string]any{"genai_o11y.stage": "tool_call"}) // no join label: remembered too (a record on it is found)
	if e := entries(t, f); e != 3 {
		t.Errorf("entries: %d, want 3", e)
	}
	result := map[string]any{"gen_ai.evaluation.name": "x", "gen_ai.evaluation.score.label": "pass"}
	sendRecords(t, lc, record{1, result}, record{5, result}, record{6, result})
	if ev := counter(t, f, "otelcol_genai_usage_join_evicted", ""); ev != 3 {
		t.Errorf("evicted: %d, want 3", ev)
	}
	if m, h := counter(t, f, "otelcol_genai_usage_join_misses", "not_found"), counter(t, f, "otelcol_genai_usage_join_hits", ""); m != 1 || h != 2 {
		t.Errorf("misses: %d, hits %d, want 1 and 2", m, h)
	}
	if pt := find(t, f.last()["eval.results"], map[string]any{"gen_ai.evaluation.name": "x", "gen_ai.evaluation.score.label": "pass", "gen_ai.request.model": "m5", "genai_o11y.route": "_none"}); pt.intV != 1 {
		t.Errorf("m5: %+v", pt)
	}
}

// Memory per remembered span at the generated config's max_entries (testdata/config.yaml, the
// shipped default), each span with its own span id and response id, 20 label sets between them.
func TestJoinMemoryPerEntry(t *testing.T) {
	max := loadConfig(t).Join.MaxEntries
	if max == 0 {
		t.Skip("the join is off in this config")
	}
	var a attrs
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	j := newJoinStore(max, time.Hour)
	for i := 0; i < max/2; i++ {
		a.vals[0], a.has[0] = pcommon.NewValueStr(fmt.Sprintf("model-%d", i%20)), true
		enc := appendValue(nil, a.vals[0])
		var id pcommon.SpanID
		id[0], id[1], id[2] = byte(i), byte(i>>8), byte(i>>16)
		j.put(spanKey(id), enc, []int{0}, &a, 0)
		j.put(responseKey(fmt.Sprintf("chatcmpl-%024d", i)), enc, []int{0}, &a, 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(j.size)
	t.Logf("%d entries (half span ids, half 33-byte response ids): %.0f bytes each, %.1f MiB", j.size, per, per*float64(j.size)/(1<<20))
	if j.size != max || per > 256 {
		t.Errorf("%d entries, %.0f bytes each (want %d, at most 256)", j.size, per, max)
	}
	runtime.KeepAlive(j)
}

// A record sent before its span (SDKs export log records every second, spans every 5 s) waits for it
// (join.wait): it counts with the span's labels once the span passes; one whose span never comes counts
// after the wait without them (a miss); past max_waiting a record counts at once; shutdown counts every
// waiting record before the last flush.
func TestJoinWaitsForASpanThatComesLater(t *testing.T) {
	dims := map[string]any{"gen_ai.request.model": "m1", "genai_o11y.route": "r1"}
	pass := map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.75, "gen_ai.evaluation.score.label": "pass"}
	cfg := joinConfig(10, time.Minute)
	cfg.Join.Wait, cfg.Join.MaxWaiting = time.Hour, 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f := start(t, cfg)
	lc := logsOf(t, f, cfg)
	sendRecords(t, lc, record{7, pass}, record{8, pass}) // spans 7 and 8 not seen yet: both wait
	if got := f.last()["eval.results"]; len(got) != 0 || len(f.u.pending) != 2 {
		t.Fatalf("counted before its span: %+v (waiting %d)", got, len(f.u.pending))
	}
	sendRecords(t, lc, record{9, pass}) // past max_waiting: counts at once, without the span's labels
	if p := find(t, f.last()["eval.results"], map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "pass",
		"gen_ai.request.model": "_none", "genai_o11y.route": "_none"}); p.intV != 1 {
		t.Errorf("the record past max_waiting: %d", p.intV)
	}
	f.span(t, 7, dims) // its span passes: the waiting record takes its labels
	got := f.last()["eval.results"]
	if p := find(t, got, map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "pass",
		"gen_ai.request.model": "m1", "genai_o11y.route": "r1"}); p.intV != 1 || len(f.u.pending) != 1 {
		t.Errorf("after its span: %+v (waiting %d)", got, len(f.u.pending))
	}
	if h, m := counter(t, f, "otelcol_genai_usage_join_hits", ""), counter(t, f, "otelcol_genai_usage_join_misses", "not_found"); h != 1 || m != 1 {
		t.Errorf("hits %d, misses %d; want 1 and 1", h, m)
	}
	if err := f.u.retryWaiting(context.Background(), false); err != nil || len(f.u.pending) != 1 {
		t.Errorf("a record not yet due went: waiting %d", len(f.u.pending))
	}
	if err := f.u.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := find(t, f.last()["eval.results"], map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "pass",
		"gen_ai.request.model": "_none", "genai_o11y.route": "_none"}); p.intV != 2 || len(f.u.pending) != 0 {
		t.Errorf("shutdown: %d without labels, %d waiting", p.intV, len(f.u.pending))
	}
	if m := counter(t, f, "otelcol_genai_usage_join_misses", "not_found"); m != 2 {
		t.Errorf("misses %d, want 2", m)
	}
}

// A record whose wait is over counts without its span's labels at the next retry.
func TestJoinWaitEnds(t *testing.T) {
	cfg := joinConfig(10, time.Minute)
	cfg.Join.Wait, cfg.Join.MaxWaiting = time.Nanosecond, 10
	f := start(t, cfg)
	lc := logsOf(t, f, cfg)
	sendRecords(t, lc, record{7, map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "fail"}})
	time.Sleep(time.Millisecond)
	if err := f.u.retryWaiting(context.Background(), false); err != nil || len(f.u.pending) != 0 {
		t.Fatalf("waiting %d after its wait", len(f.u.pending))
	}
	if p := find(t, f.last()["eval.results"], map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": "fail",
		"gen_ai.request.model": "_none", "genai_o11y.route": "_none"}); p.intV != 1 {
		t.Errorf("%d", p.intV)
	}
}

// A record on a span that carries no join label (a zero-code web app's server span: the judge runs in
// the request handler, outside the model call's span) takes the labels of that span's last labelled
// child, the call that made the answer; a span's own labels come first; a record waiting for its
// span is resolved by a child that comes later (a new user's trial: such records waited the whole
// wait and counted as not_found).
func TestARecordOnASpanWithoutLabelsTakesItsChildsLabels(t *testing.T) {
	res := func(label string) map[string]any {
		return map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.5, "gen_ai.evaluation.score.label": label}
	}
	series := func(label, model, route string) map[string]any {
		return map[string]any{"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.label": label, "gen_ai.request.model": model, "genai_o11y.route": route}
	}
	cfg := joinConfig(100, time.Minute)
	cfg.Join.Wait, cfg.Join.MaxWaiting = time.Hour, 10
	f := start(t, cfg)
	lc := logsOf(t, f, cfg)
	f.span(t, 20, map[string]any{"http.route": "/chat"})                                     // the server span: no join label
	f.child(t, 21, 20, map[string]any{"gen_ai.request.model": "m1", "genai_o11y.route": "r1"}) // a first call
	f.child(t, 22, 20, map[string]any{"gen_ai.request.model": "m2", "genai_o11y.route": "r2"}) // the answer's call
	f.child(t, 23, 22, map[string]any{"gen_ai.request.model": "m9", "genai_o11y.route": "r9"}) // a grandchild: not 20's child
	f.span(t, 30, map[string]any{"gen_ai.request.model": "m3", "genai_o11y.route": "r3"})
	f.child(t, 31, 30, map[string]any{"gen_ai.request.model": "m4", "genai_o11y.route": "r4"})
	sendRecords(t, lc, record{20, res("a")}, record{30, res("b")}, record{40, res("c")})
	got := f.last()["eval.results"]
	if p := find(t, got, series("a", "m2", "r2")); p.intV != 1 {
		t.Errorf("the record on the server span: %+v", got)
	}
	if p := find(t, got, series("b", "m3", "r3")); p.intV != 1 {
		t.Errorf("the record on a labelled span takes its own labels, not its child's: %+v", got)
	}
	if len(f.u.pending) != 1 {
		t.Fatalf("waiting %d, want the record on span 40", len(f.u.pending))
	}
	f.child(t, 41, 40, map[string]any{"gen_ai.request.model": "m5", "genai_o11y.route": "r5"}) // 40's child comes after the record
	if len(f.u.pending) != 1 {
		t.Fatalf("a record waits for its own span, not its child: waiting %d", len(f.u.pending))
	}
	f.span(t, 40, map[string]any{"http.route": "/chat"}) // then 40, without labels
	if err := f.u.retryWaiting(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if p := find(t, f.last()["eval.results"], series("c", "m5", "r5")); p.intV != 1 || len(f.u.pending) != 0 {
		t.Errorf("the waiting record, after its span and its child: %d (waiting %d)", p.intV, len(f.u.pending))
	}
	// a record on a span seen without labels and without a labelled child: found, no labels to take
	f.span(t, 50, map[string]any{"http.route": "/healthz"})
	sendRecords(t, lc, record{50, res("d")})
	if p := find(t, f.last()["eval.results"], series("d", "_none", "_none")); p.intV != 1 || len(f.u.pending) != 0 {
		t.Errorf("the record on a span without labels nor children: %d (waiting %d)", p.intV, len(f.u.pending))
	}
	// a record whose span never came but whose child did: when its wait is over, the child's labels
	f.child(t, 61, 60, map[string]any{"gen_ai.request.model": "m6", "genai_o11y.route": "r6"})
	sendRecords(t, lc, record{60, res("e")})
	if err := f.u.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := find(t, f.last()["eval.results"], series("e", "m6", "r6")); p.intV != 1 {
		t.Errorf("the record whose span never came, at the end of its wait: %d", p.intV)
	}
	if h, m := counter(t, f, "otelcol_genai_usage_join_hits", ""), counter(t, f, "otelcol_genai_usage_join_misses", ""); h != 5 || m != 0 {
		t.Errorf("hits %d, misses %d; want 5 and 0", h, m)
	}
}
