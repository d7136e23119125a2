// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
)

// BenchmarkJoin: the generated config as shipped (testdata/config.yaml: every usage metric, the join
// at 100,000 entries / 600 s) over batches of 100 model-call spans, each with a new span id and
// response id and the call labels (3 models x 4 routes x 2 prompt versions), against the same config
// with the join off (join.max_entries: 0): what remembering every GenAI span costs on the hot path.
// go test -run '^$' -bench Join -benchtime 3000x
func BenchmarkJoin(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("join=%v", on), func(b *testing.B) {
			cfg := configtest.Config(b, configEnv, createDefaultConfig())
			if !on {
				cfg.Join.MaxEntries = 0
			}
			f := start(b, cfg)
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "svc")
			ss := rs.ScopeSpans().AppendEmpty()
			for i := 0; i < 100; i++ {
				s := ss.Spans().AppendEmpty()
				a := s.Attributes()
				a.PutStr("genai_o11y.stage", "model_call")
				a.PutStr("gen_ai.request.model", []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"}[i%3])
				a.PutStr("genai_o11y.route", []string{"faq", "troubleshooting", "billing", "escalation"}[i%4])
				a.PutStr("genai_o11y.prompt.template", "answer")
				a.PutStr("genai_o11y.prompt.version", []string{"v7", "v8"}[i%2])
				a.PutInt("gen_ai.usage.input_tokens", 800)
				a.PutInt("gen_ai.usage.output_tokens", 90)
				a.PutStr("gen_ai.response.id", "")
			}
			spans := ss.Spans()
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for i := 0; i < spans.Len(); i++ {
					var id pcommon.SpanID
					binary.LittleEndian.PutUint64(id[:], uint64(n*100+i+1))
					s := spans.At(i)
					s.SetSpanID(id)
					s.Attributes().PutStr("gen_ai.response.id", fmt.Sprintf("chatcmpl-%016x", n*100+i))
				}
				if err := f.u.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/span")
			if on {
				b.ReportMetric(float64(f.u.join.size), "entries")
			}
		})
	}
}
