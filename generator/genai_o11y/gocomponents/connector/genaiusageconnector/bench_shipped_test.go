// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
)

// BenchmarkShippedConfig: the connector as shipped (testdata/config.yaml: the span metrics, usage,
// quality and tenant metrics, the join) over batches of 1,000 spans shaped as the metrics branch
// sees them (stage, model, route, prompt, tokens, cost, release; a request span and its 5 children; new span
// ids each batch, so the join remembers every span): the hot path of bench/profile.py's
// "genai_usage connector" row, with its allocations.
// go test -run '^$' -bench ShippedConfig -benchmem -benchtime 2000x
func BenchmarkShippedConfig(b *testing.B) {
	f, td := shippedBatch(b)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		f.sendShipped(b, td, n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans.Len()), "ns/span")
}

// sendShipped: the batch again, as the n-th, with new span ids; each request span (every 6th) is the
// parent of the 5 spans after it.
func (f *fixture) sendShipped(tb testing.TB, td ptrace.Traces, n int) {
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	var root pcommon.SpanID
	for i := 0; i < spans.Len(); i++ {
		var id pcommon.SpanID
		binary.LittleEndian.PutUint64(id[:], uint64(n+1)<<16|uint64(i))
		spans.At(i).SetSpanID(id)
		if i%6 == 0 {
			root = id
		} else {
			spans.At(i).SetParentSpanID(root)
		}
	}
	if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
		tb.Fatal(err)
	}
}

// shippedBatch: the connector on the shipped config, and a batch of 1,000 spans as described above.
func shippedBatch(tb testing.TB) (*fixture, ptrace.Traces) {
	f := start(tb, configtest.Config(tb, configEnv, createDefaultConfig()))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "support-copilot")
	ss := rs.ScopeSpans().AppendEmpty()
	stages := []string{"request", "retrieval", "prompt_assembly", "model_call", "model_call", "tool_call"}
	for i := 0; i < 1000; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 1})
		s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
		s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(i%300)*int64(time.Millisecond)))
		a := s.Attributes()
		stage := stages[i%len(stages)]
		a.PutStr("genai_o11y.stage", stage)
		a.PutStr("service.name", "support-copilot")
		a.PutStr("deployment.environment.name", "prod")
		a.PutStr("service.version", "2026.11.1")
		a.PutStr("genai_o11y.route", []string{"faq", "billing", "order_status"}[i%3])
		a.PutStr("genai_o11y.tenant", []string{"t1", "t2", "t3", "t4"}[i%4])
		a.PutStr("genai_o11y.task.type", "support")
		a.PutStr("http.route", "/v1/answer")
		a.PutStr("thread.name", "worker-1")
		if stage == "model_call" {
			a.PutStr("gen_ai.operation.name", "chat")
			a.PutStr("gen_ai.provider.name", "openai")
			a.PutStr("gen_ai.request.model", []string{"gpt-4o", "gpt-4o-mini"}[i%2])
			a.PutStr("genai_o11y.prompt.template", "answer")
			a.PutStr("genai_o11y.prompt.version", "v3")
			a.PutInt("gen_ai.usage.input_tokens", int64(500+i%700))
			a.PutInt("gen_ai.usage.output_tokens", int64(50+i%300))
			a.PutDouble("genai_o11y.cost.usd", 0.001*float64(i%7))
			a.PutStr("gen_ai.response.id", fmt.Sprintf("resp-%04d", i)) // unique per call
		}
		if stage == "tool_call" {
			a.PutStr("gen_ai.tool.name", "search_kb")
			a.PutStr("genai_o11y.tool.outcome", "ok")
		}
		if i%20 == 0 {
			s.Status().SetCode(ptrace.StatusCodeError)
			a.PutStr("error.type", "timeout")
		}
	}
	return f, td
}
