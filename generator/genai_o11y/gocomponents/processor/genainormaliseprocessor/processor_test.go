// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genainormaliseprocessor

import (
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/tracestest"
)

const configEnv = "GENAI_NORMALISE_CONFIG"

func loadConfig(t *testing.T) *Config { return configtest.Config(t, configEnv, createDefaultConfig()) }
func example(t *testing.T) *Config    { return configtest.ExampleOf(t, configEnv, createDefaultConfig()) }

type spanIn struct {
	attrs  map[string]any
	child  bool
	failed bool
	kind   ptrace.SpanKind
	events []map[string]any // exception events
}

// run one span (and its resource) through the processor; returns the span's and resource's attributes.
func run(t *testing.T, cfg *Config, res map[string]any, in spanIn) (map[string]any, map[string]any) {
	t.Helper()
	out := tracestest.OneSpan(t, NewFactory(), cfg, func(rs ptrace.ResourceSpans, sp ptrace.Span) { build(t, rs, sp, res, in) })
	return out.ScopeSpans().At(0).Spans().At(0).Attributes().AsRaw(), out.Resource().Attributes().AsRaw()
}

func build(t *testing.T, rs ptrace.ResourceSpans, sp ptrace.Span, res map[string]any, in spanIn) {
	if err := rs.Resource().Attributes().FromRaw(res); err != nil {
		t.Fatal(err)
	}
	if err := sp.Attributes().FromRaw(in.attrs); err != nil {
		t.Fatal(err)
	}
	if in.child {
		sp.SetParentSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	}
	if in.failed {
		sp.Status().SetCode(ptrace.StatusCodeError)
	}
	sp.SetKind(in.kind)
	for _, ev := range in.events {
		e := sp.Events().AppendEmpty()
		e.SetName("exception")
		if err := e.Attributes().FromRaw(ev); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLegacyKeysBecomeCurrentOnes(t *testing.T) {
	got, _ := run(t, example(t), map[string]any{"service.name": "svc"}, spanIn{child: true, attrs: map[string]any{
		"gen_ai.system": "Az.AI.OpenAI", "llm.vendor": "other", // the first legacy key present wins; lower-cased, then mapped
		"llm.usage.prompt_tokens": "120", "gen_ai.usage.completion_tokens": 30.9, "llm.usage.total_tokens": 150,
		"llm.model_name": "gpt-4o-2024-08-06", "llm.request.type": "chat",
	}})
	want := map[string]any{
		"gen_ai.provider.name": "azure.ai.openai", "gen_ai.usage.input_tokens": int64(120), "gen_ai.usage.output_tokens": int64(30),
		"gen_ai.request.model": "gpt-4o-2024-08-06", "gen_ai.operation.name": "chat", "genai_o11y.stage": "model_call", "llm.request.type": "chat",
		// gpt-4o (alias): (120 - 0) * 2.5e-6 + 0 * 1.25e-6 + 30 * 1e-5, in doubles
		"genai_o11y.cost.usd": runtimeCost(120, 0, 30, 0.0000025, 0.00000125, 0.00001),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestCurrentKeysWinAndNothingElseChanges(t *testing.T) {
	in := map[string]any{"gen_ai.provider.name": "openai", "gen_ai.system": "anthropic", "genai_o11y.stage": "retrieval", "x": "y"}
	got, _ := run(t, example(t), map[string]any{}, spanIn{child: true, attrs: in})
	want := map[string]any{"gen_ai.provider.name": "openai", "genai_o11y.stage": "retrieval", "x": "y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestStageToolOutcomeAndRoot(t *testing.T) {
	cfg := example(t)
	cases := []struct {
		in   spanIn
		want map[string]any
	}{
		{spanIn{attrs: map[string]any{}}, map[string]any{"genai_o11y.stage": "request"}},
		{spanIn{attrs: map[string]any{"genai_o11y.request.delegated": true}}, map[string]any{"genai_o11y.request.delegated": true}},
		{spanIn{child: true, attrs: map[string]any{}}, map[string]any{}},
		// roots that are no request: a call made outside any request, a health check, a metrics scrape
		{spanIn{kind: ptrace.SpanKindClient, attrs: map[string]any{"db.system.name": "postgresql"}}, map[string]any{"db.system.name": "postgresql"}},
		{spanIn{kind: ptrace.SpanKindProducer, attrs: map[string]any{}}, map[string]any{}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"http.route": "/healthz"}}, map[string]any{"http.route": "/healthz"}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"url.path": "/metrics/"}}, map[string]any{"url.path": "/metrics/"}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"http.route": "/chat", "url.path": "/chat"}},
			map[string]any{"http.route": "/chat", "url.path": "/chat", "genai_o11y.stage": "request"}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"http.route": "/healthzz"}}, map[string]any{"http.route": "/healthzz", "genai_o11y.stage": "request"}},
		{spanIn{kind: ptrace.SpanKindConsumer, attrs: map[string]any{}}, map[string]any{"genai_o11y.stage": "request"}},
		// a gRPC health check, by service (older semantic conventions) or by fully-qualified method (newer)
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"rpc.service": "grpc.health.v1.Health", "rpc.method": "Check"}},
			map[string]any{"rpc.service": "grpc.health.v1.Health", "rpc.method": "Check"}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"rpc.method": "grpc.health.v1.Health/Watch"}}, map[string]any{"rpc.method": "grpc.health.v1.Health/Watch"}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"rpc.service": "chat.v1.Chat", "rpc.method": "Ask"}},
			map[string]any{"rpc.service": "chat.v1.Chat", "rpc.method": "Ask", "genai_o11y.stage": "request"}},
		{spanIn{kind: ptrace.SpanKindServer, attrs: map[string]any{"rpc.method": "grpc.health.v1.HealthX/Check"}},
			map[string]any{"rpc.method": "grpc.health.v1.HealthX/Check", "genai_o11y.stage": "request"}},
		// a model call made outside any request keeps its stage (its request view is the connector's)
		{spanIn{kind: ptrace.SpanKindClient, attrs: map[string]any{"genai_o11y.stage": "model_call"}}, map[string]any{"genai_o11y.stage": "model_call"}},
		{spanIn{child: true, attrs: map[string]any{"openinference.span.kind": "TOOL", "error.type": "ReadTimeoutError"}},
			map[string]any{"openinference.span.kind": "TOOL", "error.type": "ReadTimeoutError", "gen_ai.operation.name": "execute_tool",
				"genai_o11y.stage": "tool_call", "genai_o11y.tool.outcome": "timeout", "genai_o11y.failure.category": "timeout"}},
		{spanIn{child: true, failed: true, attrs: map[string]any{"genai_o11y.stage": "tool_call"}},
			map[string]any{"genai_o11y.stage": "tool_call", "genai_o11y.tool.outcome": "error"}},
		{spanIn{child: true, attrs: map[string]any{"genai_o11y.stage": "tool_call", "genai_o11y.tool.outcome": "skipped"}},
			map[string]any{"genai_o11y.stage": "tool_call", "genai_o11y.tool.outcome": "skipped"}},
		{spanIn{child: true, attrs: map[string]any{"traceloop.span.kind": "tool", "traceloop.entity.name": "search_kb"}},
			map[string]any{"traceloop.span.kind": "tool", "traceloop.entity.name": "search_kb", "gen_ai.tool.name": "search_kb",
				"gen_ai.operation.name": "execute_tool", "genai_o11y.stage": "tool_call", "genai_o11y.tool.outcome": "ok"}},
		{spanIn{child: true, attrs: map[string]any{"traceloop.span.kind": "workflow", "traceloop.entity.name": "answer"}},
			map[string]any{"traceloop.span.kind": "workflow", "traceloop.entity.name": "answer"}},
	}
	for i, c := range cases {
		if got, _ := run(t, cfg, map[string]any{}, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("case %d: got %v, want %v", i, got, c.want)
		}
	}
}

func TestErrorTypesModelFromParametersAndFailureCategories(t *testing.T) {
	cfg := example(t)
	cases := []struct {
		in   spanIn
		want map[string]any
	}{
		// openai-v2's chat spans: Python's repr of the class; the 429 is rate_limited
		{spanIn{child: true, failed: true, attrs: map[string]any{"error.type": "<class 'openai.RateLimitError'>"}},
			map[string]any{"error.type": "RateLimitError", "genai_o11y.failure.category": "rate_limited"}},
		// OpenInference: only an exception event (the first one with a type), and the model in the invocation parameters
		{spanIn{child: true, failed: true, attrs: map[string]any{"llm.invocation_parameters": `{"model": "gpt-4o", "n": 1}`},
			events: []map[string]any{{"exception.message": "x"}, {"exception.type": "openai.APITimeoutError"}, {"exception.type": "openai.RateLimitError"}}},
			map[string]any{"llm.invocation_parameters": `{"model": "gpt-4o", "n": 1}`, "gen_ai.request.model": "gpt-4o",
				"error.type": "APITimeoutError", "genai_o11y.failure.category": "timeout"}},
		// an exception event on a span that did not fail is not its error
		{spanIn{child: true, attrs: map[string]any{}, events: []map[string]any{{"exception.type": "ValueError"}}}, map[string]any{}},
		// the app's own category wins; lowercase dotted names are not class paths
		{spanIn{child: true, failed: true, attrs: map[string]any{"error.type": "RateLimitError", "genai_o11y.failure.category": "refusal"}},
			map[string]any{"error.type": "RateLimitError", "genai_o11y.failure.category": "refusal"}},
		{spanIn{child: true, attrs: map[string]any{"error.type": "a.b"}}, map[string]any{"error.type": "a.b"}},
		// HTTP status (typed: the string "429" is not the integer), gRPC code, finish reasons as a list or one string
		{spanIn{child: true, attrs: map[string]any{"http.status_code": int64(429)}}, map[string]any{"http.status_code": int64(429), "genai_o11y.failure.category": "rate_limited"}},
		{spanIn{child: true, attrs: map[string]any{"http.response.status_code": "429"}}, map[string]any{"http.response.status_code": "429"}},
		{spanIn{child: true, attrs: map[string]any{"rpc.grpc.status_code": int64(4)}}, map[string]any{"rpc.grpc.status_code": int64(4), "genai_o11y.failure.category": "timeout"}},
		{spanIn{child: true, attrs: map[string]any{"gen_ai.response.finish_reasons": []any{"stop", "content_filter"}}},
			map[string]any{"gen_ai.response.finish_reasons": []any{"stop", "content_filter"}, "genai_o11y.failure.category": "guardrail_block"}},
		{spanIn{child: true, attrs: map[string]any{"gen_ai.response.finish_reasons": "length"}},
			map[string]any{"gen_ai.response.finish_reasons": "length", "genai_o11y.failure.category": "context_overflow"}},
		{spanIn{child: true, attrs: map[string]any{"gen_ai.response.finish_reasons": []any{"stop"}, "llm.invocation_parameters": "not json"}},
			map[string]any{"gen_ai.response.finish_reasons": []any{"stop"}, "llm.invocation_parameters": "not json"}},
	}
	for i, c := range cases {
		if got, _ := run(t, cfg, map[string]any{}, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("case %d: got %v, want %v", i, got, c.want)
		}
	}
}

func TestCostAndUnpriced(t *testing.T) {
	cfg := example(t)
	tok := map[string]any{"gen_ai.usage.input_tokens": int64(1000), "gen_ai.usage.cache_read.input_tokens": int64(400), "gen_ai.usage.output_tokens": int64(10)}
	with := func(m map[string]any) map[string]any {
		out := map[string]any{"genai_o11y.stage": "model_call"}
		for k, v := range tok {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	got, _ := run(t, cfg, map[string]any{}, spanIn{child: true, attrs: with(map[string]any{"gen_ai.request.model": "gpt-4o-mini"})})
	if want := runtimeCost(1000, 400, 10, 0.00000015, 0.000000075, 0.0000006); got["genai_o11y.cost.usd"] != want {
		t.Errorf("cost %v, want %v", got["genai_o11y.cost.usd"], want)
	}
	// reasoning tokens are part of the output tokens: priced at their own price, taken out of the output's; plus the fee per call
	got, _ = run(t, cfg, map[string]any{}, spanIn{child: true, attrs: map[string]any{"gen_ai.request.model": "o4-mini",
		"gen_ai.usage.input_tokens": int64(100), "gen_ai.usage.output_tokens": int64(50), "gen_ai.usage.reasoning.output_tokens": int64(30)}})
	if want := runtimeSum(float64(runtime(100)*1.1e-06), float64(runtime(50-30)*4.4e-06), float64(runtime(30)*8.8e-06), 0.001); got["genai_o11y.cost.usd"] != want {
		t.Errorf("reasoning cost %v, want %v", got["genai_o11y.cost.usd"], want)
	}
	// a reasoning count that is not a number prices nothing where the model prices reasoning, and is not read where it does not
	got, _ = run(t, cfg, map[string]any{}, spanIn{child: true, attrs: map[string]any{"gen_ai.request.model": "o4-mini",
		"gen_ai.usage.input_tokens": int64(100), "gen_ai.usage.output_tokens": int64(50), "gen_ai.usage.reasoning.output_tokens": "n/a"}})
	if got["genai_o11y.cost.unpriced"] != true || got["genai_o11y.cost.usd"] != nil {
		t.Errorf("a reasoning count that is not a number prices nothing: %v", got)
	}
	got, _ = run(t, cfg, map[string]any{}, spanIn{child: true, attrs: with(map[string]any{"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.reasoning.output_tokens": "n/a"})})
	if want := runtimeCost(1000, 400, 10, 0.00000015, 0.000000075, 0.0000006); got["genai_o11y.cost.usd"] != want {
		t.Errorf("cost %v, want %v: a model without a reasoning price does not read the count", got["genai_o11y.cost.usd"], want)
	}
	got, _ = run(t, cfg, map[string]any{}, spanIn{child: true, attrs: with(map[string]any{"gen_ai.request.model": "llama-3"})})
	if got["genai_o11y.cost.unpriced"] != true || got["genai_o11y.cost.usd"] != nil {
		t.Errorf("an unknown model must be unpriced, not costed: %v", got)
	}
	got, _ = run(t, cfg, map[string]any{}, spanIn{child: true, attrs: with(map[string]any{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": "lots"})})
	if got["genai_o11y.cost.unpriced"] != true || got["genai_o11y.cost.usd"] != nil {
		t.Errorf("a token count that is not a number prices nothing: %v", got)
	}
	got, _ = run(t, cfg, map[string]any{}, spanIn{child: true, attrs: map[string]any{"genai_o11y.stage": "retrieval", "gen_ai.request.model": "gpt-4o"}})
	if _, ok := got["genai_o11y.cost.unpriced"]; ok {
		t.Errorf("no tokens, no cost step: %v", got)
	}
}

// runtime: a value the compiler cannot fold (Go folds constant expressions exactly).
func runtime(v float64) float64 { return v }

// runtimeCost: the default terms in float64 operations at run time.
func runtimeCost(in, cached, out, pin, pc, pout float64) float64 {
	return runtimeSum(float64(runtime(in-cached)*pin), float64(runtime(cached)*pc), float64(runtime(out)*pout))
}

// runtimeSum: the terms added left to right, each rounded.
func runtimeSum(terms ...float64) float64 {
	total := terms[0]
	for _, v := range terms[1:] {
		total = float64(total + v)
	}
	return total
}

func TestResource(t *testing.T) {
	cfg := example(t)
	_, res := run(t, cfg, map[string]any{"service.name": "unknown_service:python", "deployment.environment": "staging"}, spanIn{child: true, attrs: map[string]any{}})
	if want := map[string]any{"service.name": "support-copilot", "deployment.environment.name": "staging"}; !reflect.DeepEqual(res, want) {
		t.Errorf("got %v, want %v", res, want)
	}
	_, res = run(t, cfg, map[string]any{"service.name": "billing-bot"}, spanIn{child: true, attrs: map[string]any{}})
	if want := map[string]any{"service.name": "billing-bot", "deployment.environment.name": "production"}; !reflect.DeepEqual(res, want) {
		t.Errorf("got %v, want %v", res, want)
	}
}

func TestGeneratedConfigLoads(t *testing.T) {
	cfg := loadConfig(t)
	if len(cfg.Renames) < 10 || len(cfg.Derive) < 10 || len(cfg.Cost.Models) == 0 {
		t.Fatalf("generated config incomplete: %+v", cfg)
	}
	if _, err := newNormaliser(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cfg := example(t)
	cfg.Renames[0].To = ""
	cfg.Derive[1].When.Value = 1.5
	cfg.ToolOutcome.TimeoutPattern = "(?i)time(out"
	cfg.Resource.ServiceName.ReplacePattern = "["
	cfg.Cost.Models[1].Names = append(cfg.Cost.Models[1].Names, cfg.Cost.Models[0].Names[0])
	cfg.Cost.Models[2].Terms[2].USD = -1
	cfg.ErrorType.Rewrites[0].Pattern = "(x"
	cfg.Failure.Rules[0].Values = []any{429}
	cfg.FromJSON[0].Field = ""
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"renames[0]: from and to are required",
		"derive[1].when: value of llm.request.type: 1.5 (float64) must be a string, bool or integer",
		"tool_outcome.timeout_pattern: does not compile",
		"resource.service_name.replace_pattern: does not compile",
		"cost.models[1].names: gpt-4o is also in cost.models[0]",
		"cost.models[2].terms[2].usd ([claude-sonnet-4-5], output): a negative price",
		"error_type.rewrites[0].pattern: does not compile",
		"failure.rules[0]: exactly one of pattern and values",
		"from_json[0]: from, field and to are required",
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

// A log record (an OTel event naming the call it is about) gets the attribute steps a span gets:
// for every rename, fill and value map of the config, a record carrying that key alone leaves
// with exactly the attributes a child span carrying it leaves with, but for the keys only a span's
// shape decides (stage, operation, tool outcome, failure, cost); its resource is normalised as a
// span's resource.
func TestLogRecordsGetTheSpansAttributeSteps(t *testing.T) {
	cfg := loadConfig(t)
	spanOnly := map[string]bool{cfg.Root.Key: true, cfg.ToolOutcome.Key: true, cfg.Failure.Key: true, cfg.Cost.CostKey: true, cfg.Cost.UnpricedKey: true}
	for _, d := range cfg.Derive {
		spanOnly[d.Key] = true
	}
	var inputs []map[string]any
	for _, r := range append(append([]Rename(nil), cfg.Renames...), cfg.FillFrom...) {
		in := map[string]any{r.From: "Some-Value"}
		if r.When != nil {
			in[r.When.Key] = r.When.Value
		}
		inputs = append(inputs, in)
	}
	for _, m := range cfg.ValueMaps {
		for from := range m.Values {
			inputs = append(inputs, map[string]any{m.Key: strings.ToUpper(from)})
		}
	}
	for _, k := range cfg.Integers {
		inputs = append(inputs, map[string]any{k: "12"})
	}
	if len(inputs) < 10 {
		t.Fatalf("only %d inputs from the config", len(inputs))
	}
	res := map[string]any{"deployment.environment": "staging"}
	for _, in := range inputs {
		span, spanRes := run(t, cfg, res, spanIn{child: true, attrs: in})
		for k := range span {
			if spanOnly[k] {
				delete(span, k)
			}
		}
		out := tracestest.OneRecord(t, NewFactory(), cfg, func(rl plog.ResourceLogs, r plog.LogRecord) {
			_ = rl.Resource().Attributes().FromRaw(res)
			_ = r.Attributes().FromRaw(in)
		})
		if got := out.ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw(); !reflect.DeepEqual(got, span) {
			t.Errorf("%v: record %v, span %v", in, got, span)
		}
		if got := out.Resource().Attributes().AsRaw(); !reflect.DeepEqual(got, spanRes) {
			t.Errorf("%v: record's resource %v, span's %v", in, got, spanRes)
		}
	}
}
