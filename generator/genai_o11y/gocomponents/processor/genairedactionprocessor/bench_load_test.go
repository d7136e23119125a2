// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchSpans redacts batches of 100 model-call spans, each carrying content under gen_ai.input.messages and
// the attributes set puts on it, and reports the time per span.
func benchSpans(b *testing.B, content string, set func(at map[string]any)) {
	r, err := newRedactor(policyConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	extra := map[string]any{}
	if set != nil {
		set(extra)
	}
	batch := func() ptrace.Traces {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "bench")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := 0; i < 100; i++ {
			a := spans.AppendEmpty()
			a.SetName("chat gpt-4o")
			at := a.Attributes()
			at.PutStr("genai_o11y.stage", "model_call")
			at.PutStr("gen_ai.request.model", "gpt-4o")
			_ = at.FromRaw(mergeRaw(at.AsRaw(), extra))
			at.PutStr("gen_ai.input.messages", content)
		}
		return td
	}
	tds := make2(b.N, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = r.processTraces(context.Background(), tds[i])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100)/1000, "us/span")
}

func mergeRaw(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// The worst-case load of bench/redaction.py: 1 KB of content with PII in every span.
func BenchmarkWorstCaseLoad(b *testing.B) {
	prompt := strings.Repeat("Summarise the ticket. Customer jane.doe@example.com called from +1 202-555-0143 about order ORD-2024-118233. ", 10)[:1024]
	benchSpans(b, prompt, func(at map[string]any) {
		at["gen_ai.operation.name"] = "chat"
		at["gen_ai.provider.name"] = "openai"
		at["gen_ai.usage.input_tokens"] = int64(900)
		at["gen_ai.usage.output_tokens"] = int64(120)
		at["genai_o11y.route"] = "faq"
		at["gen_ai.output.messages"] = "Sure, I can help with that."
	})
}

// The load of bench/collector.py's 1 KB content: an e-mail address in every sentence, no digits.
func BenchmarkCollectorBenchContent(b *testing.B) {
	benchSpans(b, strings.Repeat("Hello, I am jane.roe@example.org and my order has not arrived. ", 17)[:1024], nil)
}

func make2(n int, f func() ptrace.Traces) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = f()
	}
	return out
}
