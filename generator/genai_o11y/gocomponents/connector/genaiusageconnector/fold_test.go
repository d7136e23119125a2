// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// foldConfig: the folding of the generated config in small (the ottl engine's statements, as data),
// with metrics whose labels show what was read.
func foldConfig() *Config {
	none := "_none"
	opt := func(k string) Label { return Label{Key: k, Optional: true} }
	def := func(k string) Label { return Label{Key: k, Default: &none} }
	event := &SpanEvent{Name: "gen_ai.evaluation.result", SpanLabels: []string{"gen_ai.request.model", "genai_o11y.stage"}}
	return &Config{MaxStale: time.Hour, MetricsFlushInterval: time.Minute, RequireKey: "genai_o11y.stage",
		CopyFromResource: []string{"deployment.environment.name"},
		Metrics: []Metric{
			{Name: "calls", When: []When{{Key: "genai_o11y.stage", Present: true}}, Value: Value{Type: "int"}, Sum: &Sum{Monotonic: true},
				Labels: []Label{def("genai_o11y.stage"), def("genai_o11y.route"), def("gen_ai.request.model"), def("deployment.environment.name"),
					opt("genai_o11y.tools.called"), opt("genai_o11y.answer.failed_after_tools"), opt("genai_o11y.tool.required_missing")}},
			{Name: "eval", When: []When{{Key: "gen_ai.evaluation.score.label", Present: true}}, Value: Value{Type: "int"}, Sum: &Sum{Monotonic: true},
				Labels: []Label{def("gen_ai.request.model"), def("genai_o11y.stage"), def("genai_o11y.quality.proxy")}, SpanEvent: event},
		},
		Fold: Fold{
			OverflowValue: "_other",
			AllowedValues: map[string][]string{"genai_o11y.stage": {"request", "retrieval", "model_call", "tool_call", "feedback"},
				"genai_o11y.route": {"faq", "billing"}, "genai_o11y.quality.proxy": {"regenerate"}},
			JoinLists:  []string{"genai_o11y.tools.called"},
			FoldEvents: []string{"gen_ai.evaluation.result"},
			Model:      Model{Key: "gen_ai.request.model", Aliases: []Alias{{Alias: "gpt-4o-2024-08-06", Name: "gpt-4o"}}, Known: []string{"gpt-4o", "gpt-4o-mini"}},
			Request: Request{
				Stage:            Equals{Key: "genai_o11y.stage", Value: "request"},
				FailedAfterTools: FailedAfterTools{Key: "genai_o11y.answer.failed_after_tools", CalledKey: "genai_o11y.tools.called", FailureKey: "genai_o11y.failure.category", Exempt: []string{"tool_failure", "timeout"}},
				RequiredTools:    RequiredTools{Key: "genai_o11y.tool.required_missing", RouteKey: "genai_o11y.route", CalledKey: "genai_o11y.tools.called", Tools: []RequiredTool{{Name: "lookup_invoice", Routes: []string{"billing"}}}},
			},
			RequestView: RequestView{StageKey: "genai_o11y.stage", Stage: "request", NotStages: []string{"request", "feedback"}, UnlessKey: "genai_o11y.request.delegated",
				KeepKeys: []string{"genai_o11y.stage", "genai_o11y.route", "gen_ai.request.model"}, DropEvents: []string{"gen_ai.evaluation.result"}},
		}}
}

type foldSpan struct {
	attrs  map[string]any
	child  bool
	err    bool
	events []map[string]any // gen_ai.evaluation.result events
}

func foldTraces(t *testing.T, env string, spans ...foldSpan) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	if env != "" {
		rs.Resource().Attributes().PutStr("deployment.environment.name", env)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	for i, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if s.child {
			sp.SetParentSpanID(pcommon.SpanID{9, 9})
		}
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		if err := sp.Attributes().FromRaw(s.attrs); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.events {
			ev := sp.Events().AppendEmpty()
			ev.SetName("gen_ai.evaluation.result")
			if err := ev.Attributes().FromRaw(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	return td
}

// calls: the label set of a "calls" data point, the optional labels only where given.
func calls(stage, route, model, env string, extra ...any) map[string]any {
	m := map[string]any{"genai_o11y.stage": stage, "genai_o11y.route": route, "gen_ai.request.model": model, "deployment.environment.name": env}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func TestFoldReadsFoldedValuesAndChangesNothing(t *testing.T) {
	cfg := foldConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f := start(t, cfg)
	td := foldTraces(t, "prod",
		// bounded values, the model's alias, a list joined; a child: no request view
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "warmup", "genai_o11y.route": "legal", "gen_ai.request.model": "gpt-4o-2024-08-06", "genai_o11y.tools.called": []any{"a", "b"}}, child: true},
		foldSpan{attrs: map[string]any{"genai_o11y.stage": int64(3), "gen_ai.request.model": "llama-3"}, child: true},
		// request spans: failed after tools (error status), exempt failure, required tool missing, listed
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "request", "genai_o11y.route": "faq", "genai_o11y.tools.called": "search"}, err: true},
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "request", "genai_o11y.route": "faq", "genai_o11y.tools.called": "search", "genai_o11y.failure.category": "timeout"}},
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "request", "genai_o11y.route": "billing", "genai_o11y.tools.called": "search, lookup_invoices"}},
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "request", "genai_o11y.route": "billing", "genai_o11y.tools.called": " lookup_invoice ,x", "deployment.environment.name": "canary"}},
		// a root model call: also its request view (kept keys only; its eval event counted once)
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "model_call", "genai_o11y.route": "faq", "gen_ai.request.model": "gpt-4o", "genai_o11y.tools.called": "t"},
			events: []map[string]any{{"gen_ai.evaluation.score.label": "pass", "genai_o11y.quality.proxy": "thumbs"}}},
		// no view: a feedback root (not_stages), a delegated root
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "feedback"}},
		foldSpan{attrs: map[string]any{"genai_o11y.stage": "retrieval", "genai_o11y.request.delegated": true}},
		// no stage: feeds nothing, not even its events
		foldSpan{attrs: map[string]any{"genai_o11y.route": "faq"}, events: []map[string]any{{"gen_ai.evaluation.score.label": "fail"}}},
	)
	before := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	raw := make([]map[string]any, before.Len())
	for i := range raw {
		raw[i] = before.At(i).Attributes().AsRaw()
	}
	td.MarkReadOnly() // the fan-out shares read-only data: any write panics
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		if got := before.At(i).Attributes().AsRaw(); !reflect.DeepEqual(got, raw[i]) {
			t.Errorf("span %d changed: %v -> %v", i, raw[i], got)
		}
	}
	got := f.last()
	want := []map[string]any{
		calls("_other", "_other", "gpt-4o", "prod", "genai_o11y.tools.called", "a,b"),
		calls("_other", "_none", "_other", "prod"),
		calls("request", "faq", "_none", "prod", "genai_o11y.tools.called", "search", "genai_o11y.answer.failed_after_tools", true),
		calls("request", "faq", "_none", "prod", "genai_o11y.tools.called", "search"),
		calls("request", "billing", "_none", "prod", "genai_o11y.tools.called", "search, lookup_invoices", "genai_o11y.tool.required_missing", "lookup_invoice"),
		calls("request", "billing", "_none", "canary", "genai_o11y.tools.called", " lookup_invoice ,x"),
		calls("model_call", "faq", "gpt-4o", "prod", "genai_o11y.tools.called", "t"),
		calls("request", "faq", "gpt-4o", "prod"), // the view: tools.called not kept; the resource's environment read again
		calls("feedback", "_none", "_none", "prod"),
		calls("retrieval", "_none", "_none", "prod"),
	}
	for _, w := range want {
		if p := find(t, got["calls"], w); p.intV != 1 {
			t.Errorf("calls%v = %d, want 1", w, p.intV)
		}
	}
	if len(got["calls"]) != len(want) {
		t.Errorf("%d label sets, want %d: %+v", len(got["calls"]), len(want), got["calls"])
	}
	// the event: once (the view drops it), its own proxy folded, the span's labels folded
	if e := got["eval"]; len(e) != 1 || e[0].intV != 1 || !reflect.DeepEqual(e[0].attrs, map[string]any{"gen_ai.request.model": "gpt-4o", "genai_o11y.stage": "model_call", "genai_o11y.quality.proxy": "_other"}) {
		t.Errorf("eval: %+v", e)
	}
}

// A log record's values are folded as a span's (not the request flags: they are a request span's).
func TestFoldReadsLogRecordsFolded(t *testing.T) {
	cfg := foldConfig()
	f := start(t, cfg)
	lc := logsOf(t, f, cfg)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "svc")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("gen_ai.evaluation.result")
	_ = lr.Attributes().FromRaw(map[string]any{"gen_ai.evaluation.score.label": "pass", "gen_ai.request.model": "gpt-4o-2024-08-06", "genai_o11y.stage": "nope",
		"genai_o11y.quality.proxy": "regenerate"})
	raw := lr.Attributes().AsRaw()
	if err := lc.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lr.Attributes().AsRaw(), raw) {
		t.Errorf("the record changed")
	}
	if e := f.last()["eval"]; len(e) != 1 || !reflect.DeepEqual(e[0].attrs, map[string]any{"gen_ai.request.model": "gpt-4o", "genai_o11y.stage": "_other", "genai_o11y.quality.proxy": "regenerate"}) {
		t.Errorf("eval: %+v", e)
	}
}

func TestFoldValidateNamesTheField(t *testing.T) {
	cfg := foldConfig()
	cfg.Fold.OverflowValue = ""
	cfg.Fold.AllowedValues["genai_o11y.route"] = nil
	cfg.Fold.Model.Key = ""
	cfg.Fold.Request.FailedAfterTools.CalledKey = ""
	cfg.Fold.RequestView.KeepKeys = nil
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"fold.overflow_value: empty", "fold.allowed_values.genai_o11y.route: empty list", "fold.model.key: empty",
		"fold.request.failed_after_tools: called_key and failure_key are required", "fold.request_view: stage and keep_keys are required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
