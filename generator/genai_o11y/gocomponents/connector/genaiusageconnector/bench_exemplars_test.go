// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkEvalScoreExemplars: the eval-score histogram (evalConfig) over batches of 100 eval spans with
// trace ids, with and without exemplars: what keeping the last observation's trace per stream costs.
// go test -run '^$' -bench EvalScoreExemplars -benchtime 20000x
func BenchmarkEvalScoreExemplars(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("exemplars=%v", on), func(b *testing.B) {
			cfg := evalConfig()
			cfg.Metrics[0].Exemplars = on
			f := start(b, cfg)
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "svc")
			ss := rs.ScopeSpans().AppendEmpty()
			for i := 0; i < 100; i++ {
				s := ss.Spans().AppendEmpty()
				s.SetTraceID(pcommon.TraceID{byte(i), 1})
				s.SetSpanID(pcommon.SpanID{byte(i), 2})
				s.Attributes().PutStr("gen_ai.evaluation.name", []string{"faithfulness", "relevance"}[i%2])
				s.Attributes().PutStr("gen_ai.request.model", []string{"gpt-4o", "gpt-4o-mini"}[i%3%2])
				s.Attributes().PutDouble("gen_ai.evaluation.score.value", float64(i%10)/10)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/span")
		})
	}
}
