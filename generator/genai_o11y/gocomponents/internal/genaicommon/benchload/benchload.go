// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package benchload builds the batches our processors' Go benchmarks run: the shape of
// bench/collector.py's `metadata` load (the demo's requests with only Tier 1 and identifier
// attributes: no content), so a benchmark here measures what bench/profile.py's rows measure.
package benchload

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// SpansPerRequest: the spans of one demo request in Metadata.
const SpansPerRequest = 16

// Metadata: n demo-shaped requests (SpansPerRequest spans each, the request span their root) in one
// resource and scope, as the batch processor hands them on. Attribute values vary by request (routes, tokens, tool call ids)
// as they do in the demo.
func Metadata(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res := rs.Resource().Attributes()
	res.PutStr("service.name", "support-copilot")
	res.PutStr("deployment.environment.name", "production")
	res.PutStr("service.version", "1.4.2")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("genai_o11y.demo")
	ss.Scope().SetVersion("0.1.0")
	spans := ss.Spans()
	routes := []string{"billing", "troubleshooting", "escalation", "faq"}
	tools := []string{"lookup_order", "search_kb", "create_ticket"}
	for r := 0; r < n; r++ {
		var tid pcommon.TraceID
		tid[0], tid[1], tid[15] = byte(r>>8), byte(r), 1
		route, tool := routes[r%len(routes)], tools[r%len(tools)]
		common := func(name, stage string) pcommon.Map {
			s := spans.AppendEmpty()
			s.SetName(name)
			s.SetTraceID(tid)
			s.SetSpanID(pcommon.SpanID{byte(r), byte(spans.Len()), 1})
			if stage != "request" { // the request span is the trace's root, as in the demo
				s.SetParentSpanID(pcommon.SpanID{byte(r), 0, 2})
			}
			s.SetKind(ptrace.SpanKindInternal)
			s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + r*1000))
			s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + r*1000 + 500))
			a := s.Attributes()
			a.PutStr("genai_o11y.tenant", "h_0a96abb33b07")
			a.PutStr("genai_o11y.task.type", "support_chat")
			a.PutStr("genai_o11y.route", route)
			a.PutStr("genai_o11y.stage", stage)
			return a
		}
		model := func(a pcommon.Map, m string) {
			a.PutStr("gen_ai.request.model", m)
			a.PutStr("gen_ai.provider.name", "openai")
			a.PutStr("genai_o11y.prompt.template", "answer")
			a.PutStr("genai_o11y.prompt.version", "v7")
		}
		a := common("query_rewrite", "query_rewrite")
		model(a, "gpt-4o-mini")
		a.PutStr("genai_o11y.prompt.hash", "adb2ba37243e5c23")
		a.PutInt("gen_ai.usage.input_tokens", int64(20+r%10))
		a.PutInt("gen_ai.usage.output_tokens", int64(20+r%7))
		a = common("embeddings text-embedding-3-small", "embedding")
		a.PutStr("gen_ai.operation.name", "embeddings")
		a.PutStr("gen_ai.request.model", "text-embedding-3-small")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutInt("gen_ai.usage.input_tokens", int64(20+r%9))
		a.PutBool("genai_o11y.cache.hit", r%2 == 0)
		a = common("retrieval", "retrieval")
		a.PutStr("genai_o11y.retriever.version", "bm25+dense-2")
		a.PutStr("genai_o11y.index.version", "idx-2026-11-15")
		a.PutInt("genai_o11y.retrieval.results", 8)
		ids := a.PutEmptySlice("genai_o11y.retrieval.document_ids")
		for d := 1; d <= 8; d++ {
			ids.AppendEmpty().SetStr(fmt.Sprintf("kb-%d", (d+r)%8+1))
		}
		a.PutDouble("genai_o11y.retrieval.top_score", 0.7)
		a = common("rerank", "rerank")
		a.PutDouble("genai_o11y.rerank.displacement", 1.5)
		a = common("prompt_assembly", "prompt_assembly")
		a.PutStr("genai_o11y.prompt.template", "answer")
		a.PutStr("genai_o11y.prompt.version", "v7")
		a.PutStr("genai_o11y.prompt.hash", "5e69c9ec857914a7")
		a.PutInt("genai_o11y.chunks.included", 4)
		a.PutBool("genai_o11y.prompt.truncated", true)
		common("routing", "routing")
		a = common("chat gpt-4o", "model_call")
		model(a, "gpt-4o")
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutInt("gen_ai.usage.input_tokens", int64(100+r%30))
		a.PutInt("gen_ai.usage.output_tokens", int64(50+r%20))
		a.PutInt("gen_ai.usage.cache_read.input_tokens", 60)
		a.PutStr("gen_ai.response.model", "gpt-4o")
		a.PutEmptySlice("gen_ai.response.finish_reasons").AppendEmpty().SetStr("stop")
		a = common("execute_tool "+tool, "tool_call")
		a.PutStr("gen_ai.operation.name", "execute_tool")
		a.PutStr("gen_ai.tool.name", tool)
		a.PutStr("gen_ai.tool.call.id", fmt.Sprintf("call_%08x", r*2654435761))
		a.PutStr("genai_o11y.tool.outcome", "ok")
		for _, st := range []string{"validation", "moderation", "post_processing"} {
			common(st, st)
		}
		a = common("genai.request", "request")
		spans.At(spans.Len() - 1).SetSpanID(pcommon.SpanID{byte(r), 0, 2})
		a.PutStr("genai_o11y.tools.called", tool)
		a.PutStr("user.id", fmt.Sprintf("u-%d", r%50))
		a.PutStr("session.id", fmt.Sprintf("s-%d", r))
		a = common("feedback", "feedback")
		model(a, "gpt-4o")
		a.PutStr("genai_o11y.feedback.sentiment", "positive")
		for _, ev := range []string{"faithfulness", "answer_length_ok"} {
			a = common("evaluation "+ev, "evaluation")
			model(a, "gpt-4o")
			a.PutStr("gen_ai.evaluation.name", ev)
			a.PutDouble("gen_ai.evaluation.score.value", 0.9)
		}
		a = common("user_action copy_answer", "user_action")
		model(a, "gpt-4o")
		a.PutStr("genai_o11y.quality.proxy", "copy_answer")
	}
	if spans.Len() != n*SpansPerRequest {
		panic(fmt.Sprintf("benchload: %d spans for %d requests, SpansPerRequest is %d", spans.Len(), n, SpansPerRequest))
	}
	return td
}

// Copies: n independent copies of td (a processor changes its input in place).
func Copies(n int, td ptrace.Traces) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = ptrace.NewTraces()
		td.CopyTo(out[i])
	}
	return out
}
