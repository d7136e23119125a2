// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaidimensionsprocessor

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/tracestest"
)

const configEnv = "GENAI_DIMENSIONS_CONFIG"

func loadConfig(t *testing.T) *Config { return configtest.Config(t, configEnv, createDefaultConfig()) }
func example(t *testing.T) *Config    { return configtest.ExampleOf(t, configEnv, createDefaultConfig()) }

func run(t *testing.T, cfg *Config, build func(res pcommon.Map, span ptrace.Span)) (pcommon.Map, pcommon.Map) {
	t.Helper()
	out := tracestest.OneSpan(t, NewFactory(), cfg, func(rs ptrace.ResourceSpans, s ptrace.Span) { build(rs.Resource().Attributes(), s) })
	return out.Resource().Attributes(), out.ScopeSpans().At(0).Spans().At(0).Attributes()
}

func TestFoldingMarkersAndResource(t *testing.T) {
	res, a := run(t, example(t), func(res pcommon.Map, s ptrace.Span) {
		res.PutStr("service.name", "copilot")
		res.PutStr("deployment.environment.name", "prod")
		res.PutStr("service.instance.id", "pod-7")
		s.Attributes().PutStr("genai_o11y.stage", "model_call")
		s.Attributes().PutStr("genai_o11y.route", "legal")                 // not allowed: folds
		s.Attributes().PutStr("gen_ai.request.model", "gpt-4o-2024-08-06") // an alias
		s.Attributes().PutInt("gen_ai.usage.input_tokens", 10)
		s.Attributes().PutStr("genai_o11y.prompt.truncated", "true") // a string, not the bool: no marker
	})
	want := map[string]any{
		"genai_o11y.stage": "model_call", "genai_o11y.route": "_other", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": int64(10), "genai_o11y.prompt.truncated": "true", "genai_o11y.s2m.usage": true,
		"service.name": "copilot", "deployment.environment.name": "prod",
	}
	if got := a.AsRaw(); !equalMaps(got, want) {
		t.Errorf("span attributes\n got %v\nwant %v", got, want)
	}
	if got := res.AsRaw(); len(got) != 1 || got["service.name"] != "copilot" {
		t.Errorf("resource kept %v", got)
	}
	_, a = run(t, example(t), func(_ pcommon.Map, s ptrace.Span) {
		s.Attributes().PutStr("genai_o11y.stage", "model_call")
		s.Attributes().PutStr("gen_ai.request.model", "llama-3")
		s.Attributes().PutBool("genai_o11y.prompt.truncated", true)
	})
	if m, _ := a.Get("gen_ai.request.model"); m.Str() != "_other" {
		t.Errorf("unknown model kept: %v", a.AsRaw())
	}
	if _, ok := a.Get("genai_o11y.s2m.prompt"); !ok {
		t.Errorf("prompt marker missing: %v", a.AsRaw())
	}
}

func TestRequestSpans(t *testing.T) {
	_, a := run(t, example(t), func(_ pcommon.Map, s ptrace.Span) {
		s.Attributes().PutStr("genai_o11y.stage", "request")
		s.Attributes().PutStr("genai_o11y.route", "billing")
		tools := s.Attributes().PutEmptySlice("genai_o11y.tools.called")
		tools.AppendEmpty().SetStr("search_kb")
		tools.AppendEmpty().SetStr("lookup_invoices") // not the required tool: a prefix of nothing
		s.Attributes().PutStr("genai_o11y.failure.category", "hallucination")
	})
	for k, v := range map[string]any{
		"genai_o11y.tools.called": "search_kb,lookup_invoices", "genai_o11y.tool.required_missing": "lookup_invoice",
		"genai_o11y.answer.failed_after_tools": true, "genai_o11y.s2m.request": true,
	} {
		if got, ok := a.Get(k); !ok || got.AsRaw() != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got.AsRaw(), v, a.AsRaw())
		}
	}
	_, a = run(t, example(t), func(_ pcommon.Map, s ptrace.Span) {
		s.Attributes().PutStr("genai_o11y.stage", "request")
		s.Attributes().PutStr("genai_o11y.route", "billing")
		s.Attributes().PutStr("genai_o11y.tools.called", "search_kb , lookup_invoice")
		s.Attributes().PutStr("genai_o11y.failure.category", "timeout") // the tool's failure, not the answer's
	})
	for _, k := range []string{"genai_o11y.tool.required_missing", "genai_o11y.answer.failed_after_tools"} {
		if _, ok := a.Get(k); ok {
			t.Errorf("%s set: %v", k, a.AsRaw())
		}
	}
	_, a = run(t, example(t), func(_ pcommon.Map, s ptrace.Span) {
		s.Attributes().PutStr("genai_o11y.stage", "retrieval") // not a request: no request flags
		s.Attributes().PutStr("genai_o11y.route", "billing")
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Attributes().PutStr("genai_o11y.tools.called", "x")
	})
	for _, k := range []string{"genai_o11y.tool.required_missing", "genai_o11y.answer.failed_after_tools", "genai_o11y.s2m.request"} {
		if _, ok := a.Get(k); ok {
			t.Errorf("%s set on a retrieval span: %v", k, a.AsRaw())
		}
	}
}

// A root span that is not a request gets one request view, made from the span as it came and folded
// like any span; children, requests, linked stages and delegating spans get none.
func TestRequestView(t *testing.T) {
	cases := []struct {
		name  string
		build func(s ptrace.Span)
		view  bool
	}{
		{"root model call", func(s ptrace.Span) { s.Attributes().PutStr("genai_o11y.stage", "model_call") }, true},
		{"root, a stage that folds", func(s ptrace.Span) { s.Attributes().PutStr("genai_o11y.stage", "warmup") }, true},
		{"root, a stage that is not a string", func(s ptrace.Span) { s.Attributes().PutInt("genai_o11y.stage", 3) }, true},
		{"root request", func(s ptrace.Span) { s.Attributes().PutStr("genai_o11y.stage", "request") }, false},
		{"root feedback", func(s ptrace.Span) { s.Attributes().PutStr("genai_o11y.stage", "feedback") }, false},
		{"root without a stage", func(s ptrace.Span) { s.Attributes().PutStr("genai_o11y.route", "faq") }, false},
		{"root, empty stage", func(s ptrace.Span) { s.Attributes().PutEmpty("genai_o11y.stage") }, false},
		{"child model call", func(s ptrace.Span) {
			s.Attributes().PutStr("genai_o11y.stage", "model_call")
			s.SetParentSpanID(pcommon.SpanID{1})
		}, false},
		{"delegating root", func(s ptrace.Span) {
			s.Attributes().PutStr("genai_o11y.stage", "model_call")
			s.Attributes().PutBool("genai_o11y.request.delegated", true)
		}, false},
	}
	for _, c := range cases {
		out := tracestest.OneSpan(t, NewFactory(), example(t), func(rs ptrace.ResourceSpans, s ptrace.Span) {
			rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
			s.SetSpanID(pcommon.SpanID{9})
			s.Attributes().PutStr("genai_o11y.route", "legal")
			s.Attributes().PutInt("gen_ai.usage.input_tokens", 10)
			s.Attributes().PutStr("genai_o11y.failure.category", "timeout")
			s.Events().AppendEmpty().SetName("gen_ai.evaluation.result")
			s.Events().AppendEmpty().SetName("exception")
			c.build(s)
		}).ScopeSpans().At(0).Spans()
		if got := out.Len() == 2; got != c.view {
			t.Errorf("%s: %d spans out, a view: %v", c.name, out.Len(), c.view)
			continue
		}
		if !c.view {
			continue
		}
		orig, v := out.At(0), out.At(1)
		want := map[string]any{"genai_o11y.stage": "request", "genai_o11y.route": "_other", "deployment.environment.name": "prod", "genai_o11y.s2m.request": true}
		if got := v.Attributes().AsRaw(); !equalMaps(got, want) {
			t.Errorf("%s: the view\n got %v\nwant %v", c.name, got, want)
		}
		if v.SpanID() != orig.SpanID() || v.Events().Len() != 1 || v.Events().At(0).Name() != "exception" || orig.Events().Len() != 2 {
			t.Errorf("%s: view id %v, events %d (the span's: %d)", c.name, v.SpanID(), v.Events().Len(), orig.Events().Len())
		}
		if tok, ok := orig.Attributes().Get("gen_ai.usage.input_tokens"); !ok || tok.Int() != 10 {
			t.Errorf("%s: the span itself lost its attributes: %v", c.name, orig.Attributes().AsRaw())
		}
	}
}

func TestGeneratedConfigLoads(t *testing.T) {
	cfg := loadConfig(t)
	// markers are for signal_to_metrics; genai-o11y's native engine (genai_usage) generates none
	if len(cfg.AllowedValues) < 2 || cfg.Request.Stage.Value != "request" || len(cfg.Request.RequiredTools.Tools) == 0 {
		t.Fatalf("generated config incomplete: %+v", cfg)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cfg := example(t)
	cfg.OverflowValue = ""
	cfg.Markers[0].WhenPresent = nil
	cfg.Markers[1].WhenEquals[0].Value = 1.5
	cfg.AllowedValues["x"] = nil
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"overflow_value: empty", "markers[0] (genai_o11y.s2m.usage): no condition", "markers[1].when_equals[0]: value of genai_o11y.stage", "allowed_values.x: empty list"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func equalMaps(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The configs in testdata/ (configtest.Testdata): the generated one, the example, the invalid ones.
func TestTestdataConfigs(t *testing.T) {
	configtest.Testdata(t, configEnv, createDefaultConfig, loadConfig)
}

// A log record's attributes are folded as a span's (labels copied from the resource, bounded
// values, the model's aliases and overflow), without the markers and request flags only spans
// get. Every allowed-values key and the model, each with an allowed, an aliased and an unknown
// value, as a record and as a (non-request) span.
func TestLogRecordsAreFoldedAsSpans(t *testing.T) {
	cfg := loadConfig(t)
	spanOnly := map[string]bool{cfg.Request.FailedAfterTools.Key: true, cfg.Request.RequiredTools.Key: true}
	for _, m := range cfg.Markers {
		spanOnly[m.Key] = true
	}
	var inputs []map[string]any
	for k, vs := range cfg.AllowedValues {
		if k == cfg.Request.Stage.Key {
			continue // a request span gets its flags: not a record's shape
		}
		inputs = append(inputs, map[string]any{k: vs[0]}, map[string]any{k: "not-allowed"})
	}
	for _, a := range cfg.Model.Aliases {
		inputs = append(inputs, map[string]any{cfg.Model.Key: a.Alias})
	}
	inputs = append(inputs, map[string]any{cfg.Model.Key: "unknown-model"}, map[string]any{"gen_ai.evaluation.name": "relevance"})
	if len(inputs) < 6 {
		t.Fatalf("only %d inputs from the config", len(inputs))
	}
	resource := func(res pcommon.Map) {
		res.PutStr("service.name", "svc")
		res.PutStr("deployment.environment.name", "prod")
		res.PutStr("service.instance.id", "pod-7")
	}
	for _, in := range inputs {
		spanRes, span := run(t, cfg, func(res pcommon.Map, s ptrace.Span) { resource(res); _ = s.Attributes().FromRaw(in) })
		want := span.AsRaw()
		for k := range want {
			if spanOnly[k] {
				delete(want, k)
			}
		}
		out := tracestest.OneRecord(t, NewFactory(), cfg, func(rl plog.ResourceLogs, r plog.LogRecord) {
			resource(rl.Resource().Attributes())
			_ = r.Attributes().FromRaw(in)
		})
		if got := out.ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw(); !equalMaps(got, want) {
			t.Errorf("%v: record %v, span %v", in, got, want)
		}
		if got := out.Resource().Attributes().AsRaw(); !equalMaps(got, spanRes.AsRaw()) {
			t.Errorf("%v: record's resource %v, span's %v", in, got, spanRes.AsRaw())
		}
	}
}

// Span events of the fold_events names (they feed metrics with their own attributes: a quality
// proxy's kind) are folded as the span's attributes are: every allowed-values key of the generated
// config, an allowed and an unknown value; an event of another name is left alone.
func TestFoldEventsAreFolded(t *testing.T) {
	cfg := loadConfig(t)
	if len(cfg.FoldEvents) == 0 {
		t.Skip("no fold_events in this config")
	}
	for k, vs := range cfg.AllowedValues {
		for _, v := range []string{vs[0], "not-allowed"} {
			var span ptrace.Span
			run(t, cfg, func(_ pcommon.Map, s ptrace.Span) {
				for _, name := range append([]string{"other.event"}, cfg.FoldEvents...) {
					e := s.Events().AppendEmpty()
					e.SetName(name)
					e.Attributes().PutStr(k, v)
				}
				span = s
			})
			want := map[bool]string{true: v, false: cfg.OverflowValue}[v == vs[0]]
			evs := span.Events()
			for i := 0; i < evs.Len(); i++ {
				got, _ := evs.At(i).Attributes().Get(k)
				if exp := map[bool]string{true: v, false: want}[evs.At(i).Name() == "other.event"]; got.Str() != exp {
					t.Errorf("%s=%s on event %s: %s, want %s", k, v, evs.At(i).Name(), got.Str(), exp)
				}
			}
		}
	}
}

// view.make copies the span without copying the attributes it drops: the view is exactly the
// reference (the whole span copied, then the attributes outside keep_keys removed), on a span with
// every field set, and the span itself is left as it was.
func TestRequestViewIsTheCopyWithKeptKeys(t *testing.T) {
	v := &view{stageKey: "genai_o11y.stage", stage: "request", keep: newSet([]string{"genai_o11y.route", "gen_ai.request.model", "genai_o11y.stage"}),
		drop: newSet([]string{"genai_o11y.user_action"})}
	build := func(spans ptrace.SpanSlice) ptrace.Span {
		s := spans.AppendEmpty()
		s.SetName("chat gpt-4o")
		s.SetTraceID(pcommon.TraceID{1, 2})
		s.SetSpanID(pcommon.SpanID{3})
		s.TraceState().FromRaw("k=v")
		s.SetFlags(1)
		s.SetKind(ptrace.SpanKindClient)
		s.SetStartTimestamp(5)
		s.SetEndTimestamp(9)
		s.SetDroppedAttributesCount(2)
		s.SetDroppedEventsCount(3)
		s.SetDroppedLinksCount(4)
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage("boom")
		a := s.Attributes()
		a.PutStr("genai_o11y.route", "faq")
		a.PutStr("genai_o11y.tenant", "h_1")
		a.PutStr("gen_ai.request.model", "gpt-4o")
		a.PutInt("gen_ai.usage.input_tokens", 10)
		a.PutStr("genai_o11y.stage", "model_call")
		s.Events().AppendEmpty().SetName("genai_o11y.user_action")
		e := s.Events().AppendEmpty()
		e.SetName("exception")
		e.Attributes().PutStr("exception.type", "Timeout")
		l := s.Links().AppendEmpty()
		l.SetTraceID(pcommon.TraceID{7})
		l.Attributes().PutStr("x", "y")
		return s
	}
	got, want := ptrace.NewSpanSlice(), ptrace.NewSpanSlice()
	v.make(build(got), got)
	ref := want.AppendEmpty()
	build(ptrace.NewSpanSlice()).CopyTo(ref)
	ref.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool { return !v.keep.has(k) })
	ref.Attributes().PutStr(v.stageKey, v.stage)
	ref.Events().RemoveIf(func(e ptrace.SpanEvent) bool { return v.drop.has(e.Name()) })
	source := ptrace.NewSpanSlice()
	build(source)
	tdGot, tdWant, tdSrc := ptrace.NewTraces(), ptrace.NewTraces(), ptrace.NewTraces()
	got.At(1).CopyTo(tdGot.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	ref.CopyTo(tdWant.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	got.At(0).CopyTo(tdSrc.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	tdOrig := ptrace.NewTraces()
	source.At(0).CopyTo(tdOrig.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	m := &ptrace.JSONMarshaler{}
	for _, c := range []struct {
		what      string
		got, want ptrace.Traces
	}{{"the view", tdGot, tdWant}, {"the span", tdSrc, tdOrig}} {
		g, _ := m.MarshalTraces(c.got)
		w, _ := m.MarshalTraces(c.want)
		if string(g) != string(w) {
			t.Errorf("%s\n got %s\nwant %s", c.what, g, w)
		}
	}
}

// copy_from_resource, every case by construction: each of three labels set on the span, on the
// resource, on both or on neither (4^3 cases), with the labels listed once and one listed twice;
// the span gets exactly what the reference gives (a label the span lacks and the resource has is
// copied; the span's own value wins), and each key once.
func TestCopyFromResourceEveryCase(t *testing.T) {
	labels := []string{"service.name", "deployment.environment.name", "service.version"}
	for _, list := range [][]string{labels, {labels[0], labels[1], labels[0], labels[2]}} {
		d, err := newDimensions(&Config{CopyFromResource: list, OverflowValue: "_other"})
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 64; c++ {
			span, res := pcommon.NewMap(), pcommon.NewMap()
			span.PutStr("genai_o11y.route", "faq")
			want := map[string]any{"genai_o11y.route": "faq"}
			for i, k := range labels {
				state := c >> (2 * i) & 3
				if state&1 != 0 {
					span.PutStr(k, "span-"+k)
					want[k] = "span-" + k
				}
				if state&2 != 0 {
					res.PutStr(k, "res-"+k)
					if state&1 == 0 {
						want[k] = "res-" + k
					}
				}
			}
			var vals [maxKeys]pcommon.Value
			var has [maxKeys]bool
			d.fold(span, d.fromResource(res), 0, &vals, &has)
			if got := span.AsRaw(); !equalMaps(got, want) || span.Len() != len(want) {
				t.Errorf("list %v, case %d: got %v (%d keys), want %v", list, c, got, span.Len(), want)
			}
		}
	}
}
